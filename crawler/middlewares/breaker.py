"""Stop fetching the rest of a discovery document whose links turn out to be dead.

A sitemap can list 50,000 URLs that all answer 404 (a stale sitemap, a generated trap). Once the
first links of one document have failed for good and none has worked, its remaining requests,
already in the scheduler, are dropped here before any connection: a counted skip
(``broken_source``), not thousands of 404s. The spider decides when a source is broken
(``NewsSpider.source_failed``); this middleware only enforces it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest, NotConfigured

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from typing_extensions import Self

BROKEN_SOURCE = "broken discovery source"


class SourceBreakerMiddleware:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if crawler.settings.getint("NEWSARCHIVE_DISCOVERY_BREAKER_FAILURES", 25) <= 0:
            raise NotConfigured("NEWSARCHIVE_DISCOVERY_BREAKER_FAILURES is 0")
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        via = request.meta.get("newsarchive_via")
        broken = getattr(self.crawler.spider, "broken_sources", None)
        if via and broken and via.get("source") in broken:
            raise IgnoreRequest(f"{BROKEN_SOURCE}: {via['source']}")
