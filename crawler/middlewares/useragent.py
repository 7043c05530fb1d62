"""An identifying User-Agent: who is crawling, and where a site operator can reach them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.useragent import UserAgentMiddleware

from crawler.version import __version__

if TYPE_CHECKING:
    from typing_extensions import Self

    from scrapy.crawler import Crawler


def default_user_agent(contact_url: str) -> str:
    """``newsarchive/<version> (+<contact>)``: the form robots.txt-aware operators grep their logs for."""
    contact = f" (+{contact_url})" if contact_url else ""
    return f"newsarchive/{__version__}{contact}"


class ContactUserAgentMiddleware(UserAgentMiddleware):
    """Scrapy's UserAgentMiddleware with a default built from ``NEWSARCHIVE_CONTACT_URL``.

    An explicit ``USER_AGENT`` setting still wins: operators who must present another identity can.
    """

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        ua = settings.get("USER_AGENT") or default_user_agent(settings.get("NEWSARCHIVE_CONTACT_URL", ""))
        return cls(ua)
