"""Settings that depend on other settings, resolved once when a crawler is built (a Scrapy add-on)."""

from __future__ import annotations

from crawler.version import __version__


def default_user_agent(contact_url: str) -> str:
    """``newsarchive/<version> (+<contact>)``: the form site operators grep their logs for."""
    contact = f" (+{contact_url})" if contact_url else ""
    return f"newsarchive/{__version__}{contact}"


class NewsarchiveAddon:
    """Fills ``USER_AGENT`` from ``NEWSARCHIVE_CONTACT_URL`` when the user did not set one, and
    enables the archive-source middleware when ``NEWSARCHIVE_ARCHIVESOURCE_ENABLED`` is on.

    An add-on rather than a middleware because RobotsTxtMiddleware (100) reads the User-Agent to pick
    the robots.txt group before any User-Agent middleware runs.
    """

    def update_settings(self, settings) -> None:  # Scrapy add-on hook
        if settings.getbool("NEWSARCHIVE_ARCHIVESOURCE_ENABLED"):
            # Only then: a middleware that is always listed but off logs a warning every crawl.
            settings["DOWNLOADER_MIDDLEWARES"].setdefault(
                "crawler.middlewares.archive_source.ArchiveSourceMiddleware", 900
            )
        # Only Scrapy's own default is replaced; a USER_AGENT set anywhere else wins.
        if (settings.getpriority("USER_AGENT") or 0) <= 0 or not settings.get("USER_AGENT"):
            settings.set("USER_AGENT", default_user_agent(settings.get("NEWSARCHIVE_CONTACT_URL", "")),
                         priority="addon")
