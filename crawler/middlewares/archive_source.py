"""Serve responses from an archive instead of the network: run and test spiders offline.

Shaped like Scrapy's HttpCacheMiddleware: an enabled flag, hit/miss stats, a read error degrades
to a miss, and served responses carry ``flags`` (``cached``, so the WARC capture middleware does
not archive a fetch that never happened, and ``archive``). Unlike a cache it never falls through
to the network: a URL the archive does not hold raises ``IgnoreRequest`` and is counted, rather
than faking a 404 that the spider would mistake for the site's answer.

Served bodies are the archived wire bytes, still content-encoded, so HttpCompressionMiddleware
(590) and RedirectMiddleware (600) treat them exactly as they treated the live response, and an
archived redirect leads to the next archived capture.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from scrapy import Request
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Headers, Response
from scrapy.responsetypes import responsetypes

from archive.replay import Capture, find_capture, index_files

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector
    from typing_extensions import Self

logger = logging.getLogger(__name__)

META_KEY = "newsarchive_archive_source"  # what this middleware served: {pointer, timestamp, revisit}
WARC_META_KEY = "newsarchive_warc"  # the record pointer items carry (set by the capture middleware)
FLAGS = ("cached", "archive")


class ArchiveSourceMiddleware:
    def __init__(self, root: Path, stats: StatsCollector, timestamp: str | None = None):
        self.root = root
        self.stats = stats
        self.timestamp = timestamp

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        s = crawler.settings
        if not s.getbool("NEWSARCHIVE_ARCHIVESOURCE_ENABLED"):
            raise NotConfigured("NEWSARCHIVE_ARCHIVESOURCE_ENABLED is off")
        uri = s.get("NEWSARCHIVE_ARCHIVESOURCE_URI")
        # Not NotConfigured: disabling ourselves would send an "offline" crawl to the live web.
        if not uri:
            raise ValueError("NEWSARCHIVE_ARCHIVESOURCE_ENABLED needs NEWSARCHIVE_ARCHIVESOURCE_URI "
                             "(the archive folder to serve responses from)")
        if str(uri).startswith("s3://"):
            raise ValueError("NEWSARCHIVE_ARCHIVESOURCE_URI: only a local archive folder is supported")
        root = Path(uri)
        if not index_files(root):
            raise ValueError(f"NEWSARCHIVE_ARCHIVESOURCE_URI: {root} has no index/*.cdxj "
                             f"(build it with `newsarchive index {root}`)")
        ts = s.get("NEWSARCHIVE_ARCHIVESOURCE_TIMESTAMP") or None
        return cls(root, crawler.stats, str(ts) if ts is not None else None)

    def process_request(self, request: Request) -> Response:
        capture = None
        # The index is keyed by URL alone: only a GET (or HEAD) capture can stand for a request.
        if request.method in ("GET", "HEAD"):
            try:
                capture = find_capture(self.root, request.url, self.timestamp)
            except OSError as e:  # an unreadable index: a miss, like HttpCache's read errors
                logger.warning("Archive lookup failed for %s: %s", request.url, e)
                self.stats.inc_value("newsarchive/archive_source/errors")
        if capture is None:
            self.stats.inc_value("newsarchive/archive_source/miss")
            raise IgnoreRequest(f"not in the archive: {request.method} {request.url}")
        self.stats.inc_value("newsarchive/archive_source/hit")
        if capture.is_revisit:
            self.stats.inc_value("newsarchive/archive_source/hit_revisit")
        request.meta[META_KEY] = {"pointer": capture.pointer, "timestamp": capture.timestamp,
                                  "revisit": capture.is_revisit}
        request.meta[WARC_META_KEY] = capture.pointer
        return self._response(request, capture)

    def process_response(self, request: Request, response: Response) -> Response:
        # The capture middleware (950) runs before us on the way back and clears its meta key;
        # put back the pointer of the record this response was served from.
        served = request.meta.get(META_KEY)
        if served and "archive" in response.flags:
            request.meta[WARC_META_KEY] = served["pointer"]
        return response

    @staticmethod
    def _response(request: Request, capture: Capture) -> Response:
        headers = Headers()
        for name, value in capture.headers:
            headers.appendlist(name, value)
        body = b"" if request.method == "HEAD" else capture.body
        cls = responsetypes.from_args(headers=headers, url=request.url, body=body)
        return cls(url=request.url, status=capture.status, headers=headers, body=body,
                   flags=list(FLAGS), request=request, protocol="HTTP/1.1")
