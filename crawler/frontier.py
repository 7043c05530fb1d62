"""A frontier shared by several crawler processes: scrapy-redis's scheduler and queue in Redis.

``newsarchive crawl --frontier redis://host:port/db`` (or ``NEWSARCHIVE_FRONTIER_URL``) swaps
Scrapy's in-memory scheduler for :class:`crawler.frontier_scheduler.FrontierScheduler`, a
scrapy-redis scheduler whose queue, duplicate filter and worker registry live in Redis, so any
number of processes on any machines pull from one frontier. Each process still writes its own
WARC and record files under its own ``crawl_id``.

What scrapy-redis does not do, and the ``frontier_*`` modules add (docs/frontier.md):

- ``frontier_queue``: a popped request is *claimed* by the worker in the same Redis step, so a
  worker that dies gives its requests back instead of losing them;
- ``frontier_dupefilter``: fingerprints expire, so scheduled re-polls and update checks happen;
- ``frontier_workers``: heartbeats, so every process exits by itself once the frontier is drained
  and no other worker has work in flight, and a dead worker's claims are requeued;
- ``frontier_state``: the incremental-crawl state shared by all workers.

This module holds what they share: the settings, the Redis key names, the connection, and the
Scrapy add-on that turns the frontier on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from collections.abc import Iterable

    from redis import Redis
    from scrapy.settings import BaseSettings

    from crawler.sites import SiteConfig

SCHEMES = ("redis", "rediss", "unix")
SCHEDULER = "crawler.frontier_scheduler.FrontierScheduler"
QUEUE_CLASS = "crawler.frontier_queue.ReliableQueue"
DUPEFILTER_CLASS = "crawler.frontier_dupefilter.ExpiringDupeFilter"
INSTALL_HINT = "pip install 'newsarchive[redis]'"


class FrontierError(Exception):
    """A frontier that cannot be used (no Redis client, a bad URL, a server that does not answer,
    another crawl's sites): one line for the user."""


@dataclass(frozen=True)
class FrontierConfig:
    url: str
    name: str = "newsarchive"
    worker_timeout: float = 60.0
    heartbeat: float = 5.0
    page_ttl: float = 600.0
    article_ttl: float = 21600.0
    password: str | None = None

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> FrontierConfig:
        url = settings.get("NEWSARCHIVE_FRONTIER_URL")
        if not url:
            raise FrontierError("NEWSARCHIVE_FRONTIER_URL is not set")
        check_url(url)
        timeout = settings.getfloat("NEWSARCHIVE_FRONTIER_WORKER_TIMEOUT", 60.0)
        heartbeat = settings.getfloat("NEWSARCHIVE_FRONTIER_HEARTBEAT", 5.0)
        if timeout <= 0 or heartbeat <= 0:
            raise FrontierError("NEWSARCHIVE_FRONTIER_WORKER_TIMEOUT and _HEARTBEAT must be positive")
        # A worker is declared dead after `timeout` without a heartbeat: it must beat several times
        # within it, or a slow beat looks like a death and its work is done twice.
        heartbeat = min(heartbeat, timeout / 3)
        return cls(
            url=url,
            name=settings.get("NEWSARCHIVE_FRONTIER_NAME") or "newsarchive",
            worker_timeout=timeout,
            heartbeat=heartbeat,
            page_ttl=settings.getfloat("NEWSARCHIVE_FRONTIER_PAGE_TTL", 600.0),
            article_ttl=settings.getfloat("NEWSARCHIVE_FRONTIER_ARTICLE_TTL", 21600.0),
            password=settings.get("NEWSARCHIVE_FRONTIER_PASSWORD") or None,
        )


@dataclass(frozen=True)
class FrontierKeys:
    """Every Redis key of one frontier, under ``<name>:<spider>:``.

    The queue and the filter keep scrapy-redis's ``%(spider)s`` templates (its scheduler fills
    them in); the rest are ours.
    """

    name: str
    spider: str = "news"

    @property
    def prefix(self) -> str:
        return f"{self.name}:{self.spider}"

    @property
    def queue_template(self) -> str:
        return f"{self.name}:%(spider)s:requests"

    @property
    def seen_template(self) -> str:
        return f"{self.name}:%(spider)s:seen"

    @property
    def queue(self) -> str:
        return f"{self.prefix}:requests"

    @property
    def seen(self) -> str:
        return f"{self.prefix}:seen"

    @property
    def workers(self) -> str:
        """Hash: worker id -> JSON (host, pid, crawl_id, counts, rates), rewritten each heartbeat."""
        return f"{self.prefix}:workers"

    @property
    def counters(self) -> str:
        """Hash: totals over every worker that ever ran (fetched, records, requeued, ...)."""
        return f"{self.prefix}:counters"

    @property
    def sites(self) -> str:
        """String: fingerprint of the sites the frontier's requests refer to (by index)."""
        return f"{self.prefix}:sites"

    def active(self, worker: str) -> str:
        """Hash: claim token -> ``score\\nrequest`` for requests the worker is working on."""
        return f"{self.prefix}:active:{worker}"

    def alive(self, worker: str) -> str:
        """String with a TTL, refreshed by the worker's heartbeat thread."""
        return f"{self.prefix}:alive:{worker}"


def check_url(url: str) -> None:
    scheme = urlsplit(url).scheme
    if scheme not in SCHEMES:
        raise FrontierError(f"frontier URL must be redis://host:port/db (or rediss://, unix://), got {redact(url)!r}")


def redact(url: str) -> str:
    """The URL without its password, for logs, the manifest and ``status``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{netloc}", parts.path, parts.query, parts.fragment))


def connect(url: str, *, password: str | None = None, params: dict[str, Any] | None = None) -> Redis:
    """A redis-py client for ``url``, with scrapy-redis's connection defaults (timeouts, retry on
    timeout) and ``REDIS_PARAMS`` on top; raises FrontierError when redis-py is missing."""
    check_url(url)
    try:
        from scrapy_redis import defaults
        from scrapy_redis.connection import get_redis
    except ImportError as e:
        raise FrontierError(f"the Redis frontier needs scrapy-redis and redis ({INSTALL_HINT}): {e}") from None
    kwargs = {**defaults.REDIS_PARAMS, **(params or {})}
    if password:
        kwargs["password"] = password
    return get_redis(url=url, **kwargs)


def connect_from_settings(settings: BaseSettings, config: FrontierConfig | None = None) -> Redis:
    config = config or FrontierConfig.from_settings(settings)
    return connect(config.url, password=config.password, params=settings.getdict("REDIS_PARAMS"))


def ping(client: Redis, url: str) -> None:
    from redis.exceptions import RedisError

    try:
        client.ping()
    except RedisError as e:
        raise FrontierError(f"cannot reach the frontier {redact(url)}: {e}") from None


def sites_fingerprint(sites: Iterable[SiteConfig]) -> str:
    """What a request's ``newsarchive_site`` index means: every worker must read the same sites in
    the same order, or a request queued by one worker would be judged by another site's rules."""
    data = [
        {
            "name": s.name, "start": s.start_urls, "paths": s.allowed_paths,
            "articles": [p.pattern for p in s.article_patterns], "deny": [p.pattern for p in s.deny_patterns],
            "domains": s.allowed_domains, "follow": s.follow_links, "depth": s.max_depth,
        }
        for s in sites
    ]
    return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()


def sites_conflict(client: Redis, keys: FrontierKeys, fingerprint: str) -> bool:
    """The frontier holds requests of a crawl with other sites (an idle frontier holds nothing:
    the next crawl may reuse it with other seeds)."""
    from crawler.frontier_queue import frontier_holds_work

    current = client.get(keys.sites)
    return current is not None and current.decode() != fingerprint and frontier_holds_work(client, keys)


def claim_sites(client: Redis, keys: FrontierKeys, fingerprint: str) -> None:
    """Make ``fingerprint`` the frontier's sites, or raise FrontierError when it holds another
    crawl's requests."""
    if sites_conflict(client, keys, fingerprint):
        raise _sites_error(keys)
    client.set(keys.sites, fingerprint)


def _sites_error(keys: FrontierKeys) -> FrontierError:
    return FrontierError(
        f"the frontier {keys.prefix!r} holds requests of a crawl with other seeds or sites; give every "
        "worker the same SEEDs and --sites file, or another NEWSARCHIVE_FRONTIER_NAME"
    )


def spider_sites(seeds: list[str], sites_file: str | None) -> list[SiteConfig]:
    """The sites the news spider builds from its arguments, in its order (sites file first)."""
    from crawler.sites import SiteConfig, load_sites

    return [*(load_sites(sites_file) if sites_file else []), *(SiteConfig.from_seed(s) for s in seeds)]


def preflight(settings: BaseSettings, seeds: list[str], sites_file: str | None) -> None:
    """Fail early, with one line, before a crawl starts: scrapy-redis installed, the server
    answers, the frontier is free for these sites."""
    from crawler.sites import SitesConfigError

    config = FrontierConfig.from_settings(settings)
    client = connect_from_settings(settings, config)
    ping(client, config.url)
    try:
        sites = spider_sites(seeds, sites_file)
    except SitesConfigError:
        return  # reported by the crawl itself, as without a frontier
    keys = FrontierKeys(config.name)
    if sites_conflict(client, keys, sites_fingerprint(sites)):
        raise _sites_error(keys)


class FrontierAddon:
    """Turns the Redis frontier on when ``NEWSARCHIVE_FRONTIER_URL`` is set, for ``newsarchive crawl
    --frontier`` and ``scrapy crawl news -s NEWSARCHIVE_FRONTIER_URL=...`` alike.

    An add-on because the scheduler class is read once when the engine is built; setting five
    scrapy-redis settings by hand is where deployments go wrong (a non-persistent queue is flushed
    by the first worker that finishes).
    """

    def update_settings(self, settings: BaseSettings) -> None:  # Scrapy add-on hook
        url = settings.get("NEWSARCHIVE_FRONTIER_URL")
        if not url:
            return
        keys = FrontierKeys(settings.get("NEWSARCHIVE_FRONTIER_NAME") or "newsarchive")
        for name, value in {
            "SCHEDULER": SCHEDULER,
            "SCHEDULER_QUEUE_CLASS": QUEUE_CLASS,
            "DUPEFILTER_CLASS": DUPEFILTER_CLASS,
            "SCHEDULER_QUEUE_KEY": keys.queue_template,
            "SCHEDULER_DUPEFILTER_KEY": keys.seen_template,
            # The queue outlives every worker: scrapy-redis flushes it on close otherwise.
            "SCHEDULER_PERSIST": True,
            "SCHEDULER_FLUSH_ON_START": False,
        }.items():
            settings.set(name, value, priority="addon")


def cli_overrides(url: str | None) -> dict[str, Any]:
    """``--frontier URL`` as settings."""
    if not url:
        return {}
    check_url(url)
    return {"NEWSARCHIVE_FRONTIER_URL": url}
