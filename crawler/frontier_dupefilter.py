"""scrapy-redis's duplicate filter, with fingerprints that expire.

scrapy-redis keeps every fingerprint in a Redis set forever, so a URL seen once is never fetched
again: a homepage or feed could not be re-polled by the next scheduled crawl, and an article
never re-checked for updates. Here the filter is a sorted set, fingerprint -> the time until
which it counts as seen. Pages that announce news (homepages, sections, feeds, sitemaps, robots.txt)
expire after ``NEWSARCHIVE_FRONTIER_PAGE_TTL``, articles after ``NEWSARCHIVE_FRONTIER_ARTICLE_TTL``.
Expired members are trimmed as the filter is used, so the set stays as big as one TTL's worth of
URLs.

Fingerprints are Scrapy's own (``crawler.request_fingerprinter``), not scrapy-redis's, so the
frontier agrees with every other Scrapy component on what "the same request" is.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from scrapy_redis.dupefilter import RFPDupeFilter

from crawler.frontier import FrontierConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    from redis import Redis
    from scrapy import Request, Spider
    from scrapy.utils.request import RequestFingerprinterProtocol

# KEYS: seen ; ARGV: fingerprint, now, ttl -> 1 if seen (and still fresh), else 0 (now marked)
SEEN = """
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if expiry and tonumber(expiry) > tonumber(ARGV[2]) then return 1 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
return 0
"""

TRIM_EVERY = 1000  # requests between two trims of expired fingerprints


class ExpiringDupeFilter(RFPDupeFilter):
    def __init__(self, server: Redis, key: str, debug: bool = False, *, page_ttl: float = 600.0,
                 article_ttl: float = 21600.0, fingerprinter: RequestFingerprinterProtocol | None = None,
                 clock: Callable[[], float] = time.time):
        super().__init__(server, key, debug)
        self.page_ttl = page_ttl
        self.article_ttl = article_ttl
        self.fingerprinter = fingerprinter
        self.clock = clock
        self._seen = server.register_script(SEEN)
        self._calls = 0

    @classmethod
    def from_spider(cls, spider: Spider) -> ExpiringDupeFilter:
        """Called by scrapy-redis's scheduler once the spider (and so its name) is known."""
        from crawler.frontier import connect_from_settings

        settings = spider.crawler.settings
        config = FrontierConfig.from_settings(settings)
        key = settings.get("SCHEDULER_DUPEFILTER_KEY") % {"spider": spider.name}
        return cls(connect_from_settings(settings, config), key, settings.getbool("DUPEFILTER_DEBUG"),
                   page_ttl=config.page_ttl, article_ttl=config.article_ttl,
                   fingerprinter=spider.crawler.request_fingerprinter)

    def ttl_for(self, request: Request) -> float:
        return self.article_ttl if request.meta.get("newsarchive_role") == "article" else self.page_ttl

    def request_seen(self, request: Request) -> bool:
        now = self.clock()
        self._calls += 1
        if self._calls % TRIM_EVERY == 0:
            self.trim(now)
        return bool(self._seen(keys=[self.key], args=[self.request_fingerprint(request), repr(now),
                                                      repr(self.ttl_for(request))]))

    def request_fingerprint(self, request: Request) -> str:
        if self.fingerprinter is None:
            return super().request_fingerprint(request)
        return self.fingerprinter.fingerprint(request).hex()

    def trim(self, now: float | None = None) -> int:
        """Drop expired fingerprints."""
        return int(self.server.zremrangebyscore(self.key, "-inf", repr(self.clock() if now is None else now)))

    def close(self, reason: str = "") -> None:
        """Keep the fingerprints: other workers share them (scrapy-redis deletes them here)."""
