"""Conditional GET: ask "changed since?" with the validators of the URL's previous capture.

The spider puts the previous capture of a URL it has fetched before in
``request.meta["newsarchive_previous"]`` (from the crawl state); this middleware turns its
``ETag`` and ``Last-Modified`` into ``If-None-Match`` / ``If-Modified-Since``, and counts the
``304 Not Modified`` answers. What a ``304`` becomes in the WARC (a revisit record) is the capture
middleware's business, what it means for discovery the spider's. Headers the request already has
are left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response
    from scrapy.statscollectors import StatsCollector
    from typing_extensions import Self

PREVIOUS_KEY = "newsarchive_previous"


class ConditionalGetMiddleware:
    def __init__(self, stats: StatsCollector):
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("NEWSARCHIVE_CONDITIONAL_ENABLED", True):
            raise NotConfigured("NEWSARCHIVE_CONDITIONAL_ENABLED is off")
        assert crawler.stats is not None
        return cls(crawler.stats)

    def process_request(self, request: Request) -> None:
        previous = request.meta.get(PREVIOUS_KEY)
        if not previous or request.method not in ("GET", "HEAD"):
            return None
        added = False
        if previous.get("etag") and b"If-None-Match" not in request.headers:
            request.headers[b"If-None-Match"] = previous["etag"]
            added = True
        if previous.get("last_modified") and b"If-Modified-Since" not in request.headers:
            request.headers[b"If-Modified-Since"] = previous["last_modified"]
            added = True
        if added:
            self.stats.inc_value("newsarchive/conditional/requests")
        return None

    def process_response(self, request: Request, response: Response) -> Response:
        if response.status == 304 and request.meta.get(PREVIOUS_KEY):
            self.stats.inc_value("newsarchive/conditional/not_modified")
        return response
