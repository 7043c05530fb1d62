"""The incremental-crawl state in Redis, shared by every worker of a frontier.

:class:`RedisCrawlState` implements :class:`crawler.state.CrawlState` with the decisions of
:class:`crawler.state.SqliteCrawlState` (tests/crawler/test_frontier_state.py runs the same checks
against both), so that several crawler processes agree on what was recorded, which article URLs
are pending, when each feed, sitemap or homepage is next polled, and which update checks are due.

One key per URL, capture, document and article (``<name>:state:...``), so a read-modify-write
watches only the entity it changes (``WATCH``/``MULTI``: optimistic, retried on conflict), plus
two sorted sets: ``pending`` (article URLs not finished, in discovery order) and ``due`` (article
id -> next update check).

Where sharing changes the rules:

- ``due_articles`` *leases* what it hands out: each due article goes to one worker, and comes due
  again after ``lease`` seconds if that worker never checks it (it died), instead of every worker
  that starts checking every due article;
- captures nothing refers to expire after ``capture_ttl`` (Redis drops them) rather than being
  pruned at the end of a run: in a shared state there is no "end of the run";
- the crawls bookkeeping (which crawls finished their state writes, for recovery) is kept per
  archive: a worker recovers the crawls that wrote into its own archive folder, never a live
  worker's on another machine.

As the SQLite state, it counts and logs a failure (Redis unreachable) rather than raising it into
the crawl (``errors``); the decision is then lost, and the crawl does not count as complete.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from crawler.state import (
    FINISHED,
    PENDING,
    RECORDED,
    ArticleState,
    Capture,
    Document,
    PendingUrl,
    guarded_by,
    make_clock,
    next_check,
    parse_duration,
    parse_time,
    update_schedule,
)

if TYPE_CHECKING:
    from redis import Redis
    from redis.client import Pipeline
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

UPDATE_LEASE = 3600.0  # seconds an update check handed to one worker is not handed to another
CAPTURE_TTL = 7 * 86400.0  # seconds a capture nothing refers to is kept
PAGE = 1000

# KEYS: url, pending, seq ; ARGV: url record, url -> 1 when the URL was new
ADD_PENDING = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[2])
  return 1
end
return 0
"""

# KEYS: due ; ARGV: now, lease, count -> ids due now, each pushed back by the lease
LEASE_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local score = redis.call('ZSCORE', KEYS[1], id)
  redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), id)
  out[#out + 1] = id
  out[#out + 1] = score
end
return out
"""


_guarded = guarded_by(RedisError)


def _load(raw: bytes | None) -> dict[str, Any] | None:
    return json.loads(raw) if raw else None


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


class RedisCrawlState:
    """:class:`crawler.state.CrawlState` in Redis (see the module docstring)."""

    def __init__(self, client: Redis, prefix: str, *, clock: Callable[[], float] = time.time,
                 update_schedule: tuple[float, ...] = (), max_attempts: int = 3,
                 poll_interval: float = 0.0, poll_max_interval: float = 0.0,
                 lease: float = UPDATE_LEASE, capture_ttl: float = CAPTURE_TTL, archive: str = ""):
        self.client = client
        self.archive = archive
        self.prefix = prefix
        self.now = clock
        self.update_schedule = tuple(sorted(update_schedule))
        self.max_attempts = max(1, max_attempts)
        self.poll_interval = poll_interval
        self.poll_max_interval = max(poll_max_interval, poll_interval)
        self.lease = lease
        self.capture_ttl = max(1, int(capture_ttl))
        self._errors = 0
        self._add_pending = client.register_script(ADD_PENDING)
        self._lease_due = client.register_script(LEASE_DUE)

    # -- keys --------------------------------------------------------------------------------------

    def _url(self, url: str) -> str:
        return f"{self.prefix}:url:{url}"

    def _capture(self, record_id: str) -> str:
        return f"{self.prefix}:capture:{record_id}"

    def _doc(self, url: str) -> str:
        return f"{self.prefix}:doc:{url}"

    def _article(self, article_id: str) -> str:
        return f"{self.prefix}:article:{article_id}"

    @property
    def _pending(self) -> str:
        return f"{self.prefix}:pending"

    @property
    def _seq(self) -> str:
        return f"{self.prefix}:pending_seq"

    @property
    def _due(self) -> str:
        return f"{self.prefix}:due"

    def _crawl(self, crawl_id: str) -> str:
        return f"{self.prefix}:crawl:{crawl_id}"

    @property
    def _running(self) -> str:
        return f"{self.prefix}:running:{self.archive}"

    # -- transactions ------------------------------------------------------------------------------

    @property
    def errors(self) -> int:
        """Redis operations that failed (their decisions are lost)."""
        return self._errors

    def _failed(self, what: str, exc: RedisError) -> None:
        self._errors += 1
        if self._errors <= 5 or self._errors % 100 == 0:
            logger.error("Crawl state in Redis (%s): %s failed (%s); error %d", self.prefix, what, exc,
                         self._errors)

    def commit(self) -> None:
        """Every decision is written when it is made."""

    def close(self) -> None:
        """The state outlives this worker; the connection pool closes with the process."""

    def _tx(self, fn: Callable[[Pipeline], None], *keys: str) -> None:
        """Run ``fn`` (reads, then ``pipe.multi()``, then writes) watching ``keys``; retried
        when another worker changed one of them meanwhile."""
        self.client.transaction(fn, *keys)

    # -- crawls ------------------------------------------------------------------------------------

    @_guarded()
    def begin_crawl(self, crawl_id: str) -> None:
        row = {"archive": self.archive, "started": self.now(), "finished": None, "status": "running"}
        pipe = self.client.pipeline()
        pipe.set(self._crawl(crawl_id), _dump(row), nx=True)
        pipe.sadd(self._running, crawl_id)
        pipe.execute()

    @_guarded()
    def end_crawl(self, crawl_id: str) -> None:
        """The crawl ended with every decision written: nothing of it to reconcile later."""
        if self._errors:
            return
        self._set_crawl(crawl_id, "complete")

    @_guarded(default=[])
    def unfinished_crawls(self, exclude: str) -> list[str]:
        """Crawls of this archive that began and neither ended nor were reconciled. The crawl lock
        lets one crawl at a time write into an archive, so these are dead."""
        return sorted(c.decode() for c in self.client.smembers(self._running) if c.decode() != exclude)

    @_guarded()
    def crawl_reconciled(self, crawl_id: str) -> None:
        self._set_crawl(crawl_id, "reconciled")

    def _set_crawl(self, crawl_id: str, status: str) -> None:
        now = self.now()
        old = _load(self.client.get(self._crawl(crawl_id))) or {"archive": self.archive, "started": now}
        pipe = self.client.pipeline()
        pipe.set(self._crawl(crawl_id), _dump({**old, "finished": now, "status": status}))
        pipe.srem(self._running, crawl_id)
        pipe.execute()

    # -- frontier ----------------------------------------------------------------------------------

    @_guarded()
    def url_status(self, url: str) -> str | None:
        row = _load(self.client.get(self._url(url)))
        return row["status"] if row else None

    @_guarded()
    def add_pending(self, url: str, via: dict | None) -> None:
        now = self.now()
        row = {"status": PENDING, "article_id": None, "via": via, "reason": None, "attempts": 0,
               "first_seen": now, "updated": now}
        self._add_pending(keys=[self._url(url), self._pending, self._seq], args=[_dump(row), url])

    def pending(self) -> Iterator[PendingUrl]:
        """Pending URLs, oldest first, read in pages so the caller may write meanwhile."""
        last = "-inf"
        while True:
            try:
                page = self.client.zrangebyscore(self._pending, last, "+inf", start=0, num=PAGE, withscores=True)
                urls = [u.decode() for u, _ in page]
                rows = self.client.mget([self._url(u) for u in urls]) if urls else []
            except RedisError as exc:
                self._failed("pending", exc)
                return
            if not page:
                return
            for url, raw in zip(urls, rows, strict=True):
                row = _load(raw)
                if row and row["status"] == PENDING:
                    yield PendingUrl(url, row.get("via"), row.get("attempts", 0))
            last = f"({page[-1][1]!r}"

    @_guarded()
    def url_finished(self, url: str, status: str, *, article_id: str | None = None,
                     reason: str | None = None) -> None:
        if status not in FINISHED:
            raise ValueError(f"not a final URL status: {status!r}")
        now, key = self.now(), self._url(url)

        def tx(pipe: Pipeline) -> None:
            old = _load(pipe.get(key)) or {"first_seen": now, "attempts": 0, "article_id": None}
            row = {**old, "status": status, "article_id": article_id or old.get("article_id"),
                   "reason": reason, "via": None, "updated": now}
            pipe.multi()
            pipe.set(key, _dump(row))
            pipe.zrem(self._pending, url)

        self._tx(tx, key)

    @_guarded()
    def url_failed(self, url: str, reason: str) -> None:
        """A transient failure: the URL stays pending until it has failed ``max_attempts`` times."""
        now, key = self.now(), self._url(url)
        seq = self.client.incr(self._seq)

        def tx(pipe: Pipeline) -> None:
            old = _load(pipe.get(key))
            if old is not None and old["status"] != PENDING:
                return  # never downgrade a finished URL
            row = old or {"status": PENDING, "article_id": None, "via": None, "attempts": 0,
                          "first_seen": now}
            row = {**row, "attempts": row.get("attempts", 0) + 1, "reason": reason, "updated": now}
            pipe.multi()
            if row["attempts"] >= self.max_attempts:
                row.update(status="failed", via=None)
                pipe.zrem(self._pending, url)
            elif old is None:
                pipe.zadd(self._pending, {url: seq})
            pipe.set(key, _dump(row))

        self._tx(tx, key)

    # -- captures ----------------------------------------------------------------------------------

    @_guarded()
    def add_capture(self, capture: Capture) -> None:
        row = [capture.record_id, capture.url, capture.warc_date, capture.payload_digest, capture.etag,
               capture.last_modified, self.now()]
        self.client.set(self._capture(capture.record_id), json.dumps(row), ex=self.capture_ttl)

    @_guarded()
    def capture(self, record_id: str | None) -> Capture | None:
        if not record_id:
            return None
        raw = self.client.get(self._capture(record_id))
        return Capture(*json.loads(raw)[:6]) if raw else None

    def _refer(self, pipe: Pipeline, new: str | None, old: str | None) -> None:
        """An article or document now refers to capture ``new`` instead of ``old``: ``new`` is
        kept for good, ``old`` expires like any capture nothing refers to."""
        if not new or new == old:
            return
        pipe.persist(self._capture(new))
        if old:
            pipe.expire(self._capture(old), self.capture_ttl)

    # -- documents ---------------------------------------------------------------------------------

    @_guarded()
    def document(self, url: str) -> Document | None:
        row = _load(self.client.get(self._doc(url)))
        if row is None:
            return None
        return Document(url, row.get("role"), row.get("record_id"), row.get("children") or [],
                        row.get("next_poll"), row.get("unchanged_polls", 0))

    @_guarded()
    def document_polled(self, url: str, *, role: str | None, record_id: str | None,
                        children: list[list[Any]] | None, changed: bool) -> None:
        now, key = self.now(), self._doc(url)

        def tx(pipe: Pipeline) -> None:
            old = _load(pipe.get(key))
            streak = 0 if changed or old is None else old.get("unchanged_polls", 0) + 1
            interval = min(self.poll_interval * (2 ** min(streak, 30)), self.poll_max_interval)
            old = old or {}
            row = {
                "role": role or old.get("role"),
                "record_id": record_id or old.get("record_id"),
                "children": old.get("children") if children is None else children,
                "polled": now,
                "changed": now if changed else old.get("changed"),
                "unchanged_polls": streak,
                "next_poll": now + interval if interval > 0 else None,
            }
            pipe.multi()
            pipe.set(key, _dump(row))
            self._refer(pipe, record_id, old.get("record_id"))

        self._tx(tx, key)

    # -- articles ----------------------------------------------------------------------------------

    @staticmethod
    def _state(article_id: str, row: dict[str, Any]) -> ArticleState:
        return ArticleState(article_id, row["url"], row["version"], row.get("text_sha1"),
                            row.get("record_id"), row.get("record"), row.get("checks", 0),
                            row.get("next_check"))

    @_guarded()
    def article(self, article_id: str) -> ArticleState | None:
        row = _load(self.client.get(self._article(article_id)))
        return self._state(article_id, row) if row else None

    def due_articles(self) -> Iterator[ArticleState]:
        """Articles whose next update check is due, most overdue first; each is leased to this
        worker (see the module docstring)."""
        while True:
            try:
                flat = self._lease_due(keys=[self._due], args=[repr(self.now()), repr(self.lease), PAGE])
                ids = [flat[i].decode() for i in range(0, len(flat), 2)]
                rows = self.client.mget([self._article(i) for i in ids]) if ids else []
            except RedisError as exc:
                self._failed("due_articles", exc)
                return
            for article_id, raw in zip(ids, rows, strict=True):
                row = _load(raw)
                if row is not None:
                    yield self._state(article_id, row)
            if len(ids) < PAGE:
                return

    @_guarded()
    def article_recorded(self, record: dict, pointer: dict) -> None:
        """A record version was written: the article, its URLs and its schedule move on together."""
        now = self.now()
        article_id = record["id"]
        version = int(record.get("version") or 1)
        capture_id = (record.get("warc") or {}).get("record_id")
        published = record.get("published") or (record.get("discovered_via") or {}).get("published")
        key = self._article(article_id)
        urls = sorted(self._record_urls(record))
        url_keys = [self._url(u) for u in urls]

        def tx(pipe: Pipeline) -> None:
            old = _load(pipe.get(key))
            olds = [_load(raw) for raw in pipe.mget(url_keys)] if url_keys else []
            row: dict[str, Any] | None = None
            if old is None:
                base = parse_time(published) or now
                row = {"url": record.get("final_url") or record["url"], "canonical_url": record.get("canonical_url"),
                       "published": published, "base": base, "first_fetched": now, "last_fetched": now,
                       "version": version, "text_sha1": record.get("text_sha1"), "record_id": capture_id,
                       "record": pointer, "checks": 0,
                       "next_check": next_check(base, now, self.update_schedule)}
            elif old["version"] < version:
                row = self._checked_row(old, now, version=version, text_sha1=record.get("text_sha1"),
                                        record_id=capture_id, record=pointer)
            # else: a version seen already (recovery reconciling a record): only the URLs below
            pipe.multi()
            if row is not None:
                self._write_article(pipe, article_id, row)
                self._refer(pipe, capture_id, (old or {}).get("record_id"))
            for url, url_key, old_url in zip(urls, url_keys, olds, strict=True):
                pipe.set(url_key, _dump(self._recorded_url(old_url, article_id, now)))
                pipe.zrem(self._pending, url)

        self._tx(tx, key, *url_keys)

    @_guarded()
    def article_checked(self, article_id: str, *, record_id: str | None = None,
                        url: str | None = None) -> None:
        """An update check found nothing new to record (same payload, ``304`` or same text)."""
        now, key = self.now(), self._article(article_id)
        url_keys = [self._url(url)] if url else []

        def tx(pipe: Pipeline) -> None:
            old = _load(pipe.get(key))
            old_url = _load(pipe.get(url_keys[0])) if url_keys else None
            pipe.multi()
            if old is not None:
                self._write_article(pipe, article_id, self._checked_row(old, now, record_id=record_id))
                self._refer(pipe, record_id, old.get("record_id"))
            if url:
                pipe.set(url_keys[0], _dump(self._recorded_url(old_url, article_id, now)))
                pipe.zrem(self._pending, url)

        self._tx(tx, key, *url_keys)

    def _checked_row(self, row: dict[str, Any], now: float, *, version: int | None = None,
                     text_sha1: str | None = None, record_id: str | None = None,
                     record: dict | None = None) -> dict[str, Any]:
        # A check before the slot that was due (a new URL alias, say) does not use the slot up.
        used = row.get("next_check") is not None and row["next_check"] <= now
        return {**row, "last_fetched": now, "checks": row.get("checks", 0) + (1 if used else 0),
                "next_check": next_check(row["base"], now, self.update_schedule),
                "version": version or row["version"], "text_sha1": text_sha1 or row.get("text_sha1"),
                "record_id": record_id or row.get("record_id"), "record": record or row.get("record")}

    def _write_article(self, pipe: Pipeline, article_id: str, row: dict[str, Any]) -> None:
        pipe.set(self._article(article_id), _dump(row))
        if row["next_check"] is None:
            pipe.zrem(self._due, article_id)
        else:
            pipe.zadd(self._due, {article_id: row["next_check"]})

    @staticmethod
    def _recorded_url(old: dict[str, Any] | None, article_id: str, now: float) -> dict[str, Any]:
        return {**(old or {"first_seen": now, "attempts": 0}), "status": RECORDED, "article_id": article_id,
                "via": None, "reason": None, "updated": now}

    @staticmethod
    def _record_urls(record: dict) -> set[str]:
        from crawler.urlpolicy import canonicalize

        return {canonicalize(u) for u in (record.get("url"), record.get("final_url")) if u}


def open_frontier_state(settings: BaseSettings) -> RedisCrawlState:
    """The crawl state of ``NEWSARCHIVE_FRONTIER_URL``'s frontier, with the state settings that
    ``crawler.state.open_state`` reads for the SQLite one."""
    from crawler.frontier import FrontierConfig, connect_from_settings

    config = FrontierConfig.from_settings(settings)
    out = str(settings.get("NEWSARCHIVE_OUT") or "./archive")
    archive = out if "://" in out else str(Path(out).resolve())
    return RedisCrawlState(
        connect_from_settings(settings, config), f"{config.name}:state",
        # The crawls bookkeeping is per archive folder (and spool), so per machine.
        archive=f"{socket.gethostname()}:{archive}",
        clock=make_clock(settings.get("NEWSARCHIVE_STATE_CLOCK")),
        update_schedule=update_schedule(settings),
        max_attempts=settings.getint("NEWSARCHIVE_STATE_MAX_ATTEMPTS", 3),
        poll_interval=parse_duration(settings.get("NEWSARCHIVE_STATE_POLL_INTERVAL") or 0),
        poll_max_interval=parse_duration(settings.get("NEWSARCHIVE_STATE_POLL_MAX_INTERVAL") or 0),
    )
