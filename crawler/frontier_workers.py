"""Who works on a frontier: the worker registry, heartbeats, and the status report built from them.

Each crawler process is a worker named by its ``crawl_id``. It is listed in the ``workers`` hash
(host, pid, archive, counts and rates, rewritten every ``NEWSARCHIVE_FRONTIER_HEARTBEAT``) and
keeps an ``alive:<worker>`` key whose TTL (``NEWSARCHIVE_FRONTIER_WORKER_TIMEOUT``) a thread
refreshes. A thread and not the reactor: a callback that parses a 50,000-URL sitemap blocks the
reactor for seconds, and a worker that is merely busy must not be declared dead (its requests
would be fetched twice). A killed process stops refreshing, its key expires, and any other
worker then requeues its requests (``ReliableQueue.reap``).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis import Redis

    from crawler.frontier import FrontierKeys

logger = logging.getLogger(__name__)

RATE_WINDOW = 60.0  # seconds over which a worker's rates are measured

# Stats a worker publishes, by the name `status` shows.
PUBLISHED_STATS = {
    "fetched": "downloader/response_count",
    "records": "newsarchive/records/written",
    "claimed": "newsarchive/frontier/claimed",
}


class Heartbeat:
    """Refreshes ``alive:<worker>`` from a daemon thread until stopped."""

    def __init__(self, client: Redis, key: str, timeout: float, interval: float):
        self.client = client
        self.key = key
        self.timeout_ms = max(1, int(timeout * 1000))
        self.interval = interval
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        self.client.set(self.key, str(os.getpid()), px=self.timeout_ms)

    def start(self) -> None:
        self.beat()
        self._thread = threading.Thread(target=self._run, name=f"frontier heartbeat {self.key}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from redis.exceptions import RedisError

        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except RedisError as e:  # Redis away for a moment: keep trying, the TTL gives us time
                self.failures += 1
                logger.warning("Frontier heartbeat failed: %s", e)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + 5)
        self.client.delete(self.key)


@dataclass
class RateMeter:
    """Per-minute rates of growing counters, over the last ``window`` seconds."""

    window: float = RATE_WINDOW
    samples: deque[tuple[float, dict[str, float]]] = field(default_factory=deque)

    def add(self, now: float, counts: dict[str, float]) -> dict[str, float]:
        self.samples.append((now, dict(counts)))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window:
            self.samples.popleft()
        t0, first = self.samples[0]
        span = now - t0
        if span <= 0:
            return {k: 0.0 for k in counts}
        return {k: round((v - first.get(k, 0)) * 60.0 / span, 1) for k, v in counts.items()}


class WorkerRegistry:
    """One worker's entry in the frontier: register, publish, unregister."""

    def __init__(self, client: Redis, keys: FrontierKeys, worker: str, *, timeout: float,
                 interval: float, info: dict[str, Any] | None = None):
        self.client = client
        self.keys = keys
        self.worker = worker
        self.info = {"host": socket.gethostname(), "pid": os.getpid(), **(info or {})}
        self.started = time.time()
        self.heartbeat = Heartbeat(client, keys.alive(worker), timeout, interval)
        self.rates = RateMeter()
        self._last_counts: dict[str, float] = {}

    def register(self) -> None:
        self.publish({})
        self.heartbeat.start()

    def registered(self) -> bool:
        return bool(self.client.hexists(self.keys.workers, self.worker))

    def publish(self, stats: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write this worker's entry; add its new counts to the frontier's totals."""
        now = time.time()
        counts = {name: float(stats.get(key, 0) or 0) for name, key in PUBLISHED_STATS.items()}
        entry = {
            **self.info, "started": self.started, "updated": now,
            "counts": {k: int(v) for k, v in counts.items()},
            "per_minute": self.rates.add(now, counts),
            **(extra or {}),
        }
        pipe = self.client.pipeline()
        pipe.hset(self.keys.workers, self.worker, json.dumps(entry))
        for name, value in counts.items():
            delta = int(value - self._last_counts.get(name, 0))
            if delta:
                pipe.hincrby(self.keys.counters, name, delta)
        pipe.execute()
        self._last_counts = counts
        return entry

    def dead_workers(self) -> list[str]:
        """Registered workers whose heartbeat expired (their claims are to be reaped)."""
        workers = [w.decode() for w in self.client.hkeys(self.keys.workers)]
        others = [w for w in workers if w != self.worker]
        if not others:
            return []
        pipe = self.client.pipeline(transaction=False)
        for w in others:
            pipe.exists(self.keys.alive(w))
        return [w for w, alive in zip(others, pipe.execute(), strict=True) if not alive]

    def unregister(self) -> None:
        self.heartbeat.stop()
        self.client.hdel(self.keys.workers, self.worker)


def read_status(client: Redis, keys: FrontierKeys, now: float | None = None) -> dict[str, Any]:
    """The frontier as ``newsarchive status`` shows it: queue, seen URLs, workers, totals, rates."""
    now = time.time() if now is None else now
    pipe = client.pipeline(transaction=True)
    pipe.zcard(keys.queue)
    pipe.zcount(keys.seen, repr(now), "+inf")
    pipe.hgetall(keys.workers)
    pipe.hgetall(keys.counters)
    queued, seen, raw_workers, raw_counters = pipe.execute()
    names = sorted(w.decode() for w in raw_workers)
    pipe = client.pipeline(transaction=False)
    for w in names:
        pipe.pttl(keys.alive(w))
        pipe.hlen(keys.active(w))
    answers = pipe.execute()
    workers = []
    for i, w in enumerate(names):
        ttl, active = answers[2 * i: 2 * i + 2]
        try:
            entry = json.loads(raw_workers[w.encode()])
        except ValueError:
            entry = {}
        workers.append({
            "worker": w, "alive": ttl is not None and ttl > 0, **entry,
            "in_flight": active,
            "last_seen_s": round(now - entry["updated"], 1) if "updated" in entry else None,
        })
    alive = [w for w in workers if w["alive"]]
    per_minute: dict[str, float] = {}
    for w in alive:
        for k, v in (w.get("per_minute") or {}).items():
            per_minute[k] = round(per_minute.get(k, 0.0) + v, 1)
    return {
        "frontier": keys.prefix,
        "queued": queued,
        "seen": seen,
        "in_flight": sum(w["in_flight"] for w in workers),
        "workers_alive": len(alive),
        "workers_dead": len(workers) - len(alive),
        "per_minute": per_minute,
        "totals": {k.decode(): int(v) for k, v in raw_counters.items()},
        "workers": workers,
    }
