"""Retries that honour ``Retry-After`` on 429 and 503.

Scrapy's RetryMiddleware retries those codes at once, which is exactly what a server that says
"come back in 30 seconds" asked us not to do. This subclass waits the time the server gave
(capped by ``NEWSARCHIVE_RETRY_AFTER_MAX``) before handing the retry back, and gives up at once
(counted) when the server asks for longer than the cap: a crawl should not hang on one host.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.task import deferLater

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from typing_extensions import Self

logger = logging.getLogger(__name__)

RETRY_AFTER_CODES = {429, 503}


def parse_retry_after(value: str | bytes | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date); None when unusable."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


class RetryAfterMiddleware(RetryMiddleware):
    def __init__(self, settings, max_wait: float = 120.0):
        super().__init__(settings)
        self.max_wait = max_wait

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        o = cls(crawler.settings, crawler.settings.getfloat("NEWSARCHIVE_RETRY_AFTER_MAX", 120.0))
        o.crawler = crawler
        return o

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry", False):
            return response
        if response.status in RETRY_AFTER_CODES:
            wait = parse_retry_after(response.headers.get(b"Retry-After"))
            if wait is not None:
                stats = self.crawler.stats
                if wait > self.max_wait:
                    stats.inc_value("newsarchive/retry_after/too_long")
                    logger.info(
                        "Not retrying %s: Retry-After %.0fs is over NEWSARCHIVE_RETRY_AFTER_MAX (%.0fs)",
                        request.url, wait, self.max_wait,
                    )
                    return response
                retry = self._retry(request, f"{response.status} with Retry-After {wait:.0f}s")
                if retry is None:
                    return response
                stats.inc_value("newsarchive/retry_after/waited")
                if wait > 0:
                    from twisted.internet import (
                        reactor,  # the installed one; never install at import
                    )

                    await maybe_deferred_to_future(deferLater(reactor, wait, lambda: None))
                return retry
        return super().process_response(request, response)
