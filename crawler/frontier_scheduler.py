"""The frontier scheduler: scrapy-redis's scheduler, with claims, commits and a shared idle check.

scrapy-redis's ``Scheduler`` keeps the queue and the duplicate filter in Redis. This subclass adds
what several workers need to share one frontier safely (docs/frontier.md):

- every popped request is claimed (:mod:`crawler.frontier_queue`) and the claim is settled once
  the engine is finished with it; what a worker that dies had in flight goes back to the queue;
- a worker with nothing to do does not close while the frontier holds queued requests or another
  live worker has requests in flight (whose callbacks may queue more): it raises
  ``DontCloseSpider`` and looks again each heartbeat. When the frontier is drained, every worker
  closes by itself with the reason ``finished``;
- each heartbeat it publishes its counts and rates, and requeues the claims of workers whose
  heartbeat expired.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import CloseSpider, DontCloseSpider
from scrapy_redis.scheduler import Scheduler
from twisted.internet import task

from crawler.frontier import (
    DUPEFILTER_CLASS,
    QUEUE_CLASS,
    FrontierConfig,
    FrontierError,
    FrontierKeys,
    claim_sites,
    connect_from_settings,
    ping,
    redact,
    sites_fingerprint,
)
from crawler.frontier_queue import ReliableQueue
from crawler.frontier_workers import WorkerRegistry
from pipelines.session import ArchiveSession

if TYPE_CHECKING:
    from collections.abc import Container

    from redis import Redis
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from typing_extensions import Self

logger = logging.getLogger(__name__)


class _ReleasingSet(set):
    """The engine slot's ``inprogress`` set, telling the scheduler the moment a request leaves
    it: then the engine is done with it (downloaded, callback output queued, items through the
    pipelines), and its claim is settled right away rather than at the next heartbeat, when a
    kill in between would have the request fetched, and its article recorded, a second time."""

    def __init__(self, items, on_remove):
        super().__init__(items)
        self.on_remove = on_remove

    def remove(self, request) -> None:
        super().remove(request)
        self.on_remove(request)

    def discard(self, request) -> None:
        if request in self:
            self.remove(request)


class FrontierScheduler(Scheduler):
    def __init__(self, server: Redis, *, crawler: Crawler, config: FrontierConfig, **kwargs: Any):
        super().__init__(server, **kwargs)
        self.crawler = crawler
        self.config = config
        self.stats = crawler.stats
        self.keys: FrontierKeys | None = None
        self.worker: str | None = None
        self.registry: WorkerRegistry | None = None
        self._waiting = False
        self._redis_down_since: float | None = None
        self._loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        config = FrontierConfig.from_settings(settings)
        keys = FrontierKeys(config.name)
        server = connect_from_settings(settings, config)
        ping(server, config.url)
        o = cls(
            server, crawler=crawler, config=config,
            persist=True, flush_on_start=False, idle_before_close=0,
            queue_key=settings.get("SCHEDULER_QUEUE_KEY") or keys.queue_template,
            queue_cls=settings.get("SCHEDULER_QUEUE_CLASS") or QUEUE_CLASS,
            dupefilter_key=settings.get("SCHEDULER_DUPEFILTER_KEY") or keys.seen_template,
            dupefilter_cls=settings.get("DUPEFILTER_CLASS") or DUPEFILTER_CLASS,
        )
        crawler.signals.connect(o.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(o.engine_stopped, signal=signals.engine_stopped)
        crawler.signals.connect(o.item_scraped, signal=signals.item_scraped)
        return o

    # -- Scrapy scheduler interface ------------------------------------------------------------

    def open(self, spider: Spider) -> None:
        super().open(spider)
        if not isinstance(self.queue, ReliableQueue):
            raise FrontierError(f"SCHEDULER_QUEUE_CLASS must be {QUEUE_CLASS} (it claims what it pops)")
        self.keys = keys = FrontierKeys(self.config.name, spider.name)
        session = ArchiveSession.from_crawler(self.crawler)
        self.worker = session.crawl_id
        self.queue.bind(keys, self.worker)
        try:
            claim_sites(self.server, keys, sites_fingerprint(getattr(spider, "site_configs", [])))
        except FrontierError as e:
            self.stats.inc_value("newsarchive/frontier/errors")
            logger.error("%s", e)
            raise CloseSpider("frontier_sites_mismatch") from None
        # A crawl id used before (a resumed crawl): what that process held is ours to redo.
        leftovers = self.queue.reap(self.worker, force=True)
        if leftovers > 0:
            self.stats.inc_value("newsarchive/frontier/reaped_requests", leftovers)
        self.registry = WorkerRegistry(
            self.server, keys, self.worker, timeout=self.config.worker_timeout,
            interval=self.config.heartbeat, info={"crawl_id": self.worker, "out": session.uri},
        )
        self.registry.register()
        logger.info("Frontier %s on %s: worker %s, %d requests queued", keys.prefix,
                    redact(self.config.url), self.worker, len(self.queue))
        self._reap_dead()
        self._watch_engine()
        self._loop = task.LoopingCall(self.tick)
        self._loop.start(self.config.heartbeat, now=False)

    def close(self, reason: str) -> None:
        """The queue and the filter outlive this worker (scrapy-redis flushes them unless told to
        persist); the worker leaves the registry in ``engine_stopped``."""

    def enqueue_request(self, request: Request) -> bool:
        # scrapy-redis's own version passes `spider=` to the stats (deprecated in Scrapy 2.19).
        if not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.spider)
            self.stats.inc_value("dupefilter/filtered")
            return False
        self.queue.push(request)
        self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def next_request(self) -> Request | None:
        # Called by the engine after each request it finishes: the moment to settle claims.
        self._settle_finished()
        request = self.queue.pop()
        if request is not None:
            self.stats.inc_value("scheduler/dequeued/redis")
            self.stats.inc_value("newsarchive/frontier/claimed")
        if self.queue.undecodable:
            self.stats.inc_value("newsarchive/frontier/undecodable", self.queue.undecodable)
            self.queue.undecodable = 0
        return request

    # -- claims --------------------------------------------------------------------------------

    def _engine_requests(self) -> Container[Request] | None:
        """The requests the engine holds from the scheduler until their callbacks' output and
        items are processed. Scrapy has no public "request finished" signal, so this reads the
        engine slot's ``inprogress`` set (Scrapy 2.13-2.19; tests/crawler/test_frontier.py
        pins it). Without it claims are settled only when the worker is idle."""
        slot = getattr(self.crawler.engine, "_slot", None)
        return getattr(slot, "inprogress", None)

    def _watch_engine(self) -> None:
        slot = getattr(self.crawler.engine, "_slot", None)
        held = getattr(slot, "inprogress", None)
        if type(held) is set:
            slot.inprogress = _ReleasingSet(held, self.release)
        else:  # another Scrapy: claims settle on the next request, heartbeat or idle check
            logger.warning("Frontier: cannot follow the engine's requests in progress; claims settle late")

    def release(self, request: Request) -> None:
        """Settle ``request``'s claim now (if it is one of ours)."""
        token = self.queue.tokens.get(request)
        if token is not None:
            self._settle([token])

    def item_scraped(self, item: Any, response: Any) -> None:
        """The record of this response is written: settle its claim now, not once the rest of
        its callback's output is handled (a kill in between would record it twice)."""
        request = getattr(response, "request", None)
        if request is not None and request in self.queue.tokens:
            self.stats.inc_value("newsarchive/frontier/settled_on_record")
            self.release(request)

    def _settle_finished(self) -> None:
        if not self.queue.claims:
            return
        held = self._engine_requests()
        if held is None:
            return
        self._settle([t for t, r in self.queue.claims.items() if r not in held])

    def _settle(self, tokens: list[str]) -> None:
        if not tokens:
            return
        settled = self.queue.settle(tokens)
        self.stats.inc_value("newsarchive/frontier/settled", settled)
        if settled < len(tokens):
            # We were declared dead (a heartbeat gap longer than the timeout) and another worker
            # requeued these: they were fetched twice.
            self.stats.inc_value("newsarchive/frontier/claims_lost", len(tokens) - settled)

    # -- workers -------------------------------------------------------------------------------

    def _reap_dead(self) -> None:
        assert self.registry is not None
        for worker in self.registry.dead_workers():
            n = self.queue.reap(worker)
            if n >= 0:
                self.stats.inc_value("newsarchive/frontier/reaped_workers")
                self.stats.inc_value("newsarchive/frontier/reaped_requests", n)
                logger.warning("Frontier worker %s stopped sending heartbeats: %d of its requests "
                               "went back to the queue", worker, n)
                if n:
                    self._wake_engine()

    def _wake_engine(self) -> None:
        """Have the engine look at the queue now rather than at its next 5 s heartbeat."""
        slot = getattr(self.crawler.engine, "_slot", None)
        nextcall = getattr(slot, "nextcall", None)
        if nextcall is not None:
            nextcall.schedule()

    def tick(self) -> None:
        """Every heartbeat: settle, publish, reap the dead, wake a waiting engine."""
        from redis.exceptions import RedisError

        try:
            self._settle_finished()
            assert self.registry is not None
            if not self.registry.registered():
                self.stats.inc_value("newsarchive/frontier/declared_dead")
                logger.warning("Another worker declared this one dead (heartbeat gap over %.0fs); "
                               "requests it held are being fetched again elsewhere", self.config.worker_timeout)
            self.registry.publish(self.stats.get_stats(), {"in_flight": len(self.queue.claims)})
            self._reap_dead()
        except RedisError as e:
            self.stats.inc_value("newsarchive/frontier/redis_errors")
            logger.warning("Frontier heartbeat: %s", e)
        if self._waiting:
            self._wake_engine()

    def spider_idle(self) -> None:
        """Close only when the frontier is drained and no live worker has work in flight."""
        from redis.exceptions import RedisError

        try:
            self._settle(list(self.queue.claims))  # the engine holds nothing now
            state, who = self.queue.state()
            if state == "orphaned":
                self._reap_dead()
        except RedisError as e:
            # Redis away for a moment: wait for it, but not forever (the queue is safe in Redis).
            self.stats.inc_value("newsarchive/frontier/redis_errors")
            self._redis_down_since = self._redis_down_since or time.monotonic()
            if time.monotonic() - self._redis_down_since > self.config.worker_timeout:
                self.stats.inc_value("newsarchive/frontier/errors")
                logger.error("Frontier unreachable for %.0fs, giving up: %s", self.config.worker_timeout, e)
                return
            self._waiting = True
            raise DontCloseSpider from None
        self._redis_down_since = None
        if state == "drained":
            self._waiting = False
            return
        if not self._waiting:
            logger.info("Nothing to do here; waiting for the frontier (%s: %s)", state, who or "queue")
        self._waiting = True
        self.stats.inc_value("newsarchive/frontier/idle_waits")
        if state in ("queued", "orphaned"):
            self._wake_engine()  # work is there now; "busy" waits for the next heartbeat
        raise DontCloseSpider

    def engine_stopped(self) -> None:
        """Leave the registry (the engine has finished every claimed request)."""
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self.registry is None:
            return
        self._settle(list(self.queue.claims))
        self.registry.publish(self.stats.get_stats(), {"in_flight": 0})
        self.registry.unregister()
