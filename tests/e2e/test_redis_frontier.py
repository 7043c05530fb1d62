"""Issue 9: several crawler processes share one frontier in a real redis-server.

Each worker is the real CLI in its own process with its own archive folder (its own crawl id and
crawl state). What must hold: every article is recorded exactly once across the workers' record
files, the work is shared, every worker exits 0 by itself once the frontier is drained, and when a
worker is killed the others finish its work.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from crawler.frontier import FrontierKeys
from tests.support.generated_site import GatedSite, write_site
from tests.support.redis import redis_session_fixture, redis_url_fixture  # noqa: F401 - fixtures
from tests.support.servers import newsite, newsite_article_urls

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
KEYS = FrontierKeys("newsarchive", "news")
# Polite enough to take a while on a site with latency (so both workers get work), fast
# heartbeats so that idle checks and the death of a worker are seen within seconds.
WORKER_SETTINGS = {
    "DOWNLOAD_DELAY": "0", "AUTOTHROTTLE_ENABLED": "False", "CONCURRENT_REQUESTS": "8",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "4", "NEWSARCHIVE_EXTRACTION_WORKERS": "1",
    "NEWSARCHIVE_FRONTIER_HEARTBEAT": "0.5", "NEWSARCHIVE_FRONTIER_WORKER_TIMEOUT": "3",
}


@dataclass
class Worker:
    out: Path
    proc: subprocess.Popen
    log: Path

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"worker {self.out.name} did not exit by itself within {timeout}s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    @property
    def manifest(self) -> dict:
        [path] = (self.out / "crawls").glob("*.json")
        return json.loads(path.read_text())

    def records(self) -> list[dict]:
        out = []
        for path in sorted((self.out / "articles").rglob("*.jsonl.gz")):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                out.extend(json.loads(line) for line in f)
        return out

    def unfinished_records(self) -> list[dict]:
        """Complete records in the ``.open`` files of a killed worker (what recovery commits)."""
        from pipelines.recovery import complete_prefix

        out = []
        for path in sorted((self.out / "articles").rglob("*.jsonl.gz.open")):
            _, records = complete_prefix(path, "articles")
            out.extend(rec for _, _, rec in records)
        return out


def start_worker(out: Path, seed: str, redis_url: str, **settings: str) -> Worker:
    """``newsarchive crawl SEED --frontier URL`` (through the shared-state shim, see frontier_worker.py)."""
    args = [sys.executable, "-m", "tests.e2e.frontier_worker", "crawl", seed, "--out", str(out),
            "--frontier", redis_url]
    for k, v in {**WORKER_SETTINGS, **settings}.items():
        args += ["--set", f"{k}={v}"]
    out.mkdir(parents=True, exist_ok=True)
    log = out.with_suffix(".log")
    with open(log, "wb") as f:
        proc = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, cwd=REPO,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return Worker(out, proc, log)


def wait_for(predicate, timeout: float, what: str, workers: list[Worker] = ()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for w in workers:
            if w.proc.poll() is not None and w.proc.returncode != 0:
                pytest.fail(f"worker {w.out.name} exited {w.proc.returncode} while waiting for {what}:\n{w.tail()}")
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def responses(w: Worker) -> int:
    return int(w.manifest["counts"]["responses"])


def assert_once_each(records: list[dict], expected_urls: list[str]) -> None:
    counts = Counter(r["url"] for r in records)
    twice = {u: n for u, n in counts.items() if n > 1}
    assert not twice, f"recorded more than once: {twice}"
    missing = set(expected_urls) - set(counts)
    assert not missing, f"{len(missing)} of {len(expected_urls)} articles not recorded: {sorted(missing)[:5]}"


def assert_frontier_empty(client) -> None:
    assert client.zcard(KEYS.queue) == 0
    assert client.hlen(KEYS.workers) == 0, client.hkeys(KEYS.workers)
    assert not client.keys(f"{KEYS.prefix}:active:*")


@pytest.fixture
def generated(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    write_site(root, 120)
    with GatedSite(root, latency=0.1) as site:
        yield site


def start_gated(site: GatedSite, tmp_path: Path, redis_url: str, n: int = 2) -> list[Worker]:
    """Start ``n`` workers; open the site once all have joined the frontier (same head start)."""
    client = __import__("redis").Redis.from_url(redis_url)
    workers = [start_worker(tmp_path / f"worker{i}", site.url + "/", redis_url) for i in range(n)]
    wait_for(lambda: client.hlen(KEYS.workers) == n, 60, f"{n} workers to register", workers)
    site.gate.set()
    return workers


def test_two_workers_share_a_generated_site_and_record_each_article_once(generated, tmp_path, redis_url):
    started = time.monotonic()
    workers = start_gated(generated, tmp_path, redis_url)
    codes = [w.wait(120) for w in workers]
    elapsed = time.monotonic() - started
    assert codes == [0, 0], "\n\n".join(w.tail() for w in workers)
    assert_once_each([r for w in workers for r in w.records()], generated.article_urls)
    fetched = [responses(w) for w in workers]
    assert all(f >= sum(fetched) / 4 for f in fetched), f"work split {fetched}"
    for w in workers:
        m = w.manifest
        assert m["finish_reason"] == "finished"
        assert m["stats"]["newsarchive/frontier/settled"] == m["stats"]["newsarchive/frontier/claimed"]
        assert not list(w.out.rglob("*.open"))
    assert_frontier_empty(__import__("redis").Redis.from_url(redis_url))
    print(f"\n2 workers, generated site of 120 articles: fetches {fetched}, {elapsed:.1f}s")


def test_a_killed_worker_s_work_is_finished_by_the_other(generated, tmp_path, redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    survivor, victim = start_gated(generated, tmp_path, redis_url)
    victim_id = None

    def victim_has_recorded() -> bool:
        """At a heartbeat (not as a record is written: a kill then is no more likely than at
        any other moment)."""
        nonlocal victim_id
        for raw_id, raw in client.hgetall(KEYS.workers).items():
            entry = json.loads(raw)
            if entry.get("pid") == victim.proc.pid:
                victim_id = raw_id.decode()
                return entry["counts"]["records"] >= 10
        return False

    wait_for(victim_has_recorded, 60, "the victim to record 10 articles", [survivor, victim])
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    # What it had in flight when it died: the only requests that may be recorded twice.
    in_flight = {pickle.loads(v.partition(b"\n")[2])["url"] for v in client.hvals(KEYS.active(victim_id))}
    assert survivor.wait(120) == 0, survivor.tail()

    stats = survivor.manifest["stats"]
    assert stats["newsarchive/frontier/reaped_workers"] == 1
    assert stats["newsarchive/frontier/reaped_requests"] == len(in_flight)
    survived = survivor.records()
    dead = victim.unfinished_records()  # committed by recovery when that archive is crawled again
    assert len({r["url"] for r in survived}) == len(survived), "the survivor recorded an article twice"
    counts = Counter(r["url"] for r in survived + dead)
    assert set(counts) >= set(generated.article_urls), "an article was lost with the killed worker"
    # The killed worker registered each record in the shared state right after writing it: the
    # survivor, fetching again what was in flight, finds those recorded and does not record them.
    # The one gap is a kill between the two (one Redis round trip): then only the last record
    # the killed worker wrote can be recorded again.
    twice = {u for u, n in counts.items() if n > 1}
    assert twice <= {dead[-1]["url"]} & in_flight, f"recorded twice: {twice}"
    assert_frontier_empty(client)
    print(f"\nkilled worker: {len(dead)} records in its .open files, {len(in_flight)} requests in flight "
          f"requeued; survivor: {len(survived)} records; recorded twice: {len(twice)}")

    # The killed worker's next run on its archive commits what it had finished (recovery).
    again = start_worker(victim.out, generated.url + "/", redis_url)
    assert again.wait(120) == 0, again.tail()
    recovered = [r for r in victim.records() if r["url"] in {d["url"] for d in dead}]
    assert len(recovered) == len(dead)


def test_claims_are_held_until_items_are_through_the_pipelines(generated, tmp_path, redis_url):
    from scrapy.settings import Settings

    project = Settings()
    project.setmodule("crawler.settings")
    extensions = {**project.getdict("EXTENSIONS"), "tests.e2e.frontier_probe.ClaimProbe": 999}
    generated.gate.set()
    w = start_worker(tmp_path / "probe", generated.url + "/", redis_url, EXTENSIONS=json.dumps(extensions))
    assert w.wait(120) == 0, w.tail()
    stats = w.manifest["stats"]
    assert stats.get("probe/claim_held") == len(generated.article_urls)
    assert "probe/claim_missing" not in stats


def test_crawl_state_follows_the_frontier(redis_url, tmp_path):
    """In a ``--frontier`` crawl the incremental state must be the shared one, or a worker would
    record again what another recorded. Needs crawler.state.open_state to open
    crawler.frontier_state's state when NEWSARCHIVE_FRONTIER_URL is set."""
    from scrapy.settings import Settings

    from crawler.frontier_state import RedisCrawlState
    from crawler.state import open_state

    s = open_state(Settings({"NEWSARCHIVE_FRONTIER_URL": redis_url, "NEWSARCHIVE_OUT": str(tmp_path)}))
    try:
        assert isinstance(s, RedisCrawlState), "crawler.state.open_state ignores the frontier"
    finally:
        s.close()


def test_two_workers_on_the_benchmark_newsite(tmp_path, redis_url):
    """The issue's acceptance crawl: 181 real article pages with latency (skips without ../shared)."""
    n = 181
    with newsite(n, latency_ms=100) as url:
        started = time.monotonic()
        workers = [start_worker(tmp_path / f"worker{i}", url + "/", redis_url) for i in range(2)]
        codes = [w.wait(180) for w in workers]
        elapsed = time.monotonic() - started
    assert codes == [0, 0], "\n\n".join(w.tail() for w in workers)
    records = [r for w in workers for r in w.records()]
    article_records = [r for r in records if "/article-" in r["url"]]
    counts = Counter(r["url"] for r in records)
    assert not {u for u, c in counts.items() if c > 1}, "an article was recorded twice"
    # As the single-process acceptance crawl: the benchmark has two paywalled pages.
    assert len(article_records) >= 0.97 * n
    assert set(counts) <= set(newsite_article_urls(url, n))
    fetched = [responses(w) for w in workers]
    assert all(f >= sum(fetched) / 4 for f in fetched), f"work split {fetched}"
    print(f"\n2 workers, newsite 181 articles, 100 ms latency: fetches {fetched}, {elapsed:.1f}s")
