"""The ``news`` spider: discover articles from homepages, feeds and sitemaps, and fetch them.

Discovery documents (RSS/Atom feeds, sitemaps, sitemap indexes, Google News sitemaps, robots.txt)
are parsed by ``crawler.discovery``, which keeps the dates and titles Scrapy's own ``Sitemap``
drops. HTML pages are either hubs (homepages, section fronts: their links are followed to a bounded
depth) or article candidates (handed to the item pipelines, which extract in a process pool and make
the final content-level decision). Which links are followed is ``crawler.urlpolicy``'s job.

Every fetched exchange is archived by the capture middleware before this spider sees it; what the
spider skips is counted under ``newsarchive/skipped/<reason>`` so a manifest can say why.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import scrapy
from scrapy.exceptions import CloseSpider, IgnoreRequest
from scrapy.http import Request, Response, TextResponse
from twisted.python.failure import Failure

from crawler import discovery
from crawler.sites import SiteConfig, load_sites
from crawler.urlpolicy import (
    canonicalize,
    is_http_url,
    is_private_host,
    site_of,
    trap_reason,
    url_kind,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

# Schema.org types that mark a page as a news or blog article (the content-level check in the
# extraction worker is the final word; this only decides whether a page is worth extracting).
_ARTICLE_LD_TYPES = re.compile(
    rb'"@type"\s*:\s*\[?\s*"(?:News|Reportage|Analysis|Opinion|Review|Background|Satirical)?'
    rb'(?:Article|BlogPosting|LiveBlogPosting|Report)"'
)
_OG_ARTICLE = re.compile(rb'<meta[^>]+(?:property|name)=["\']og:type["\'][^>]+content=["\']article', re.I)
_OG_ARTICLE_REV = re.compile(rb'<meta[^>]+content=["\']article["\'][^>]+(?:property|name)=["\']og:type', re.I)


def parse_age(value: str | None, now: datetime | None = None) -> datetime | None:
    """``--since``: an age like ``90m``, ``36h``, ``7d``, ``2w`` or an ISO date; None when empty."""
    if not value:
        return None
    now = now or datetime.now(timezone.utc)
    m = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", value)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        delta = {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}
        return now - delta[unit]
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since: expected an age like 36h / 7d or an ISO date, got {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def looks_like_article(body: bytes) -> bool:
    """Cheap page-level signal: og:type=article or an Article-like ld+json type in the first 256 KB."""
    head = body[: 256 * 1024]
    return bool(_ARTICLE_LD_TYPES.search(head) or _OG_ARTICLE.search(head) or _OG_ARTICLE_REV.search(head))


class NewsSpider(scrapy.Spider):
    name = "news"

    def __init__(self, seeds: str | list[str] | None = None, sites: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.site_configs: list[SiteConfig] = []
        if sites:
            self.site_configs.extend(load_sites(sites))
        if isinstance(seeds, str):
            seeds = [s for s in re.split(r"[\s,]+", seeds) if s]
        for seed in seeds or []:
            self.site_configs.append(SiteConfig.from_seed(seed))
        if not self.site_configs:
            raise ValueError("the news spider needs seeds (-a seeds=URL[,URL...]) or a sites file (-a sites=FILE)")
        # Provenance of discovered URLs, so an article found first as a homepage link and later in the
        # news sitemap still gets the sitemap's date and title (the dupefilter drops the 2nd request).
        self._via: dict[str, dict] = {}
        self.articles_scheduled = 0

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any):
        spider = super().from_crawler(crawler, *args, **kwargs)
        s = crawler.settings
        spider.max_articles = s.getint("NEWSARCHIVE_MAX_ARTICLES", 0)
        spider.since = parse_age(s.get("NEWSARCHIVE_SINCE"))
        spider.follow_links = s.getbool("NEWSARCHIVE_DISCOVERY_FOLLOW_LINKS", True)
        spider.max_depth = s.getint("NEWSARCHIVE_DISCOVERY_MAX_DEPTH", 3)
        spider.follow_article_links = s.getbool("NEWSARCHIVE_DISCOVERY_FOLLOW_ARTICLE_LINKS", False)
        spider.robots_sitemaps = s.getbool("NEWSARCHIVE_DISCOVERY_ROBOTS_SITEMAPS", True)
        spider.max_sitemap_urls = s.getint("NEWSARCHIVE_DISCOVERY_MAX_SITEMAP_URLS", 50000)
        spider.allow_private = s.getbool("NEWSARCHIVE_DISCOVERY_ALLOW_PRIVATE", False)
        spider.extra_sites = {site_of(f"http://{d}/") for d in s.getlist("NEWSARCHIVE_DISCOVERY_ALLOWED_DOMAINS")}
        return spider

    @property
    def stats(self):
        return self.crawler.stats

    # -- start ---------------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Request]:
        for idx, site in enumerate(self.site_configs):
            if site.homepage:
                yield self._request(site.homepage, idx, self.parse_page, role="homepage", depth=0)
                yield self._robots_request(site.homepage, idx)
            for url in site.feeds + site.sitemaps:
                yield self._request(url, idx, self.parse_discovery, role="discovery", depth=0)
            for url in site.articles:
                via = {"kind": "seed", "source": url, "published": None, "title": None}
                yield self._request(url, idx, self.parse_page, role="article", depth=0, via=via)
            for url in site.seeds:
                yield self._request(url, idx, self.parse_seed, role="seed", depth=0)

    def _request(self, url: str, site_idx: int, callback, *, role: str, depth: int | None = None,
                 via: dict | None = None, priority: int = 0, dont_filter: bool = False) -> Request:
        meta: dict[str, Any] = {"newsarchive_site": site_idx, "newsarchive_role": role}
        if depth is not None:
            meta["newsarchive_depth"] = depth
        if via:
            meta["newsarchive_via"] = via
        return Request(url, callback=callback, errback=self.on_error, meta=meta,
                       priority=priority, dont_filter=dont_filter)

    def _robots_request(self, url: str, site_idx: int) -> Request:
        parts = urlsplit(url)
        return self._request(f"{parts.scheme}://{parts.netloc}/robots.txt", site_idx, self.parse_robots,
                             role="robots", depth=0, priority=10)

    # -- callbacks -----------------------------------------------------------------------------

    def parse_seed(self, response: Response) -> Iterable[Request | dict]:
        """A bare seed: find out what it is (feed, sitemap, robots.txt, homepage or article)."""
        kind = discovery.sniff(response.body, self._content_type(response), response.url)
        if kind in ("feed", "sitemap"):
            return self.parse_discovery(response)
        if kind == "robots":
            return self.parse_robots(response)
        if kind != "html":
            self._skip("not_html", response)
            return []
        path = urlsplit(response.url).path
        is_front = path in ("", "/") or url_kind(response.url) == "section"
        if is_front and not looks_like_article(response.body):
            response.meta["newsarchive_role"] = "homepage"
            return self._homepage(response)
        response.meta["newsarchive_role"] = "article"
        response.meta.setdefault("newsarchive_via", {"kind": "seed", "source": response.url,
                                                     "published": None, "title": None})
        return self.parse_page(response)

    def _homepage(self, response: Response) -> Iterable[Request | dict]:
        idx = response.meta["newsarchive_site"]
        yield self._robots_request(response.url, idx)
        if isinstance(response, TextResponse):
            for feed_url in discovery.html_feed_links(response.body[:256 * 1024], response.url):
                if self._on_site(feed_url, idx):
                    yield self._request(feed_url, idx, self.parse_discovery, role="discovery", depth=0)
        yield from self.parse_page(response)

    def parse_robots(self, response: Response) -> Iterable[Request]:
        if not self.robots_sitemaps:
            return
        idx = response.meta["newsarchive_site"]
        for url in discovery.parse_robots_sitemaps(response.body, response.url):
            if self._on_site(url, idx):
                yield self._request(url, idx, self.parse_discovery, role="discovery", depth=0)

    def parse_discovery(self, response: Response) -> Iterable[Request]:
        idx = response.meta["newsarchive_site"]
        kind = discovery.sniff(response.body, self._content_type(response), response.url)
        if kind == "feed":
            result = discovery.parse_feed(response.body, response.url)
        elif kind == "sitemap":
            result = discovery.parse_sitemap(response.body, response.url, max_urls=self.max_sitemap_urls)
        else:
            self._skip(f"discovery_{kind}", response)
            return
        self.stats.inc_value(f"newsarchive/discovery/documents/{result.doc_type}")
        if result.error:
            self.stats.inc_value(f"newsarchive/discovery/errors/{result.error}")
            self.logger.warning("Discovery document %s: %s (entries before the problem are used)",
                                response.url, result.error)
        for reason, n in result.skipped.items():
            self.stats.inc_value(f"newsarchive/discovery/skipped/{reason}", n)
        for url in result.sitemaps:
            if self._on_site(url, idx):
                yield self._request(url, idx, self.parse_discovery, role="discovery", depth=0)
        for link in result.links:
            when = _parse_iso(link.published) or _parse_iso(link.modified)
            if self.since and when and when < self.since:
                self.stats.inc_value("newsarchive/discovery/skipped/too_old")
                continue
            via = {"kind": link.kind, "source": link.source, "published": link.published, "title": link.title}
            if link.language:
                via["language"] = link.language
            if link.keywords:
                via["keywords"] = link.keywords
            req = self._follow(link.url, idx, depth=0, via=via, from_discovery=True)
            if req is not None:
                yield req

    def parse_page(self, response: Response) -> Iterable[Request | dict]:
        role = response.meta.get("newsarchive_role")
        idx = response.meta["newsarchive_site"]
        if not isinstance(response, TextResponse):
            self._skip("not_html", response)
            return
        ctype = self._content_type(response)
        if ctype and not any(t in ctype for t in ("html", "xml", "text/plain")):
            self._skip("not_html", response)
            return
        site = self.site_configs[idx]
        by_pattern = site.is_article_url(response.url)
        kind = url_kind(response.url) if by_pattern is None else None
        # A page is surely an article when the discovery document, the site's patterns, the URL
        # shape or its own metadata say so. A page whose URL says nothing either way (e.g.
        # /tricky/story.html with no og:type) is both: extraction decides if it is an article
        # (or counts it as a section front), and its links are followed like a hub's.
        article = role == "article" or by_pattern is True or (
            by_pattern is None and role != "homepage"
            and (kind == "article" or looks_like_article(response.body))
        )
        candidate = article or (by_pattern is None and role != "homepage" and kind == "unknown")
        if candidate:
            yield self._item(response)
        if not article:
            self.stats.inc_value("newsarchive/pages/hub")
        depth = response.meta.get("newsarchive_depth", 0)
        max_depth = site.max_depth if site.max_depth is not None else self.max_depth
        follow = self.follow_links and site.follow_links and depth < max_depth
        if follow and (not article or self.follow_article_links):
            yield from self._links(response, idx, depth, hub=not article)

    def _links(self, response: TextResponse, idx: int, depth: int, hub: bool) -> Iterable[Request]:
        """Follow a hub's article and section links; from an article only its article links."""
        try:
            anchors = response.xpath("//a[@href]")
        except ValueError:  # not parseable as HTML at all
            return
        source_kind = "homepage" if response.meta.get("newsarchive_role") == "homepage" else "link"
        for a in anchors:
            href = a.attrib.get("href", "").strip()
            if not href or href.startswith("#"):
                continue
            try:
                url = response.urljoin(href)
            except ValueError:
                self.stats.inc_value("newsarchive/discovery/skipped/bad_url")
                continue
            via = {"kind": source_kind, "source": response.url, "published": None, "title": None}
            req = self._follow(url, idx, depth=depth + 1, via=via, hubs=hub)
            if req is not None:
                yield req

    def _follow(self, url: str, idx: int, *, depth: int, via: dict, from_discovery: bool = False,
                hubs: bool = True) -> Request | None:
        """The link policy in one place: scheme, site, robots-like path rules, traps, private hosts."""
        if not is_http_url(url):
            self.stats.inc_value("newsarchive/discovery/skipped/not_http")
            return None
        url = canonicalize(url)
        site = self.site_configs[idx]
        if not self._on_site(url, idx):
            self.stats.inc_value("newsarchive/discovery/skipped/off_site")
            return None
        if site.denies(url) or not site.allows_path(url):
            self.stats.inc_value("newsarchive/discovery/skipped/not_allowed")
            return None
        trap = trap_reason(url)
        if trap:
            self.stats.inc_value(f"newsarchive/discovery/skipped/trap_{trap}")
            return None
        by_pattern = site.is_article_url(url)
        kind = "article" if by_pattern else ("section" if by_pattern is False else url_kind(url))
        if kind == "asset":
            self.stats.inc_value("newsarchive/discovery/skipped/asset")
            return None
        if from_discovery or kind == "article":
            known = self._via.get(url)
            if known is None or (via.get("published") and not known.get("published")):
                self._via[url] = via
            if known is not None:
                return None  # already scheduled; richer provenance kept above
            if self.max_articles and self.articles_scheduled >= self.max_articles * 2 + 20:
                self.stats.inc_value("newsarchive/discovery/skipped/max_articles")
                return None
            self.articles_scheduled += 1
            # Articles first: the frontier should not fill with section pages while news waits.
            return self._request(url, idx, self.parse_page, role="article", depth=depth, via=via, priority=5)
        if not hubs:
            return None
        return self._request(url, idx, self.parse_page, role="section", depth=depth)

    def _on_site(self, url: str, idx: int) -> bool:
        site = self.site_configs[idx]
        host = urlsplit(url).hostname or ""
        sites = site.sites | self.extra_sites
        if site_of(url) not in sites:
            return False
        if is_private_host(host) and not self.allow_private:
            # Only where a seed itself points: a page must not lead the crawler into the operator's network.
            return any((urlsplit(u).hostname or "") == host for u in site.start_urls)
        return True

    # -- items and skips -----------------------------------------------------------------------

    def _item(self, response: TextResponse) -> dict:
        redirects = response.meta.get("redirect_urls") or []
        url = redirects[0] if redirects else response.url
        via = self._via.get(canonicalize(url)) or response.meta.get("newsarchive_via") or {
            "kind": "link", "source": None, "published": None, "title": None}
        self.stats.inc_value("newsarchive/pages/article_candidate")
        return {
            "url": url,
            "final_url": response.url,
            "http_status": response.status,
            "content_type": self._content_type(response) or None,
            "body": response.body,
            "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "discovered_via": via,
            "warc": response.meta.get("newsarchive_warc"),
        }

    @staticmethod
    def _content_type(response: Response) -> str:
        return response.headers.get(b"Content-Type", b"").decode("latin-1").lower()

    def _skip(self, reason: str, response: Response) -> None:
        self.stats.inc_value(f"newsarchive/skipped/{reason}")
        self.logger.info("Skipped %s: %s", response.url, reason)

    def on_error(self, failure: Failure) -> None:
        """Count failed fetches by reason; they are archived when a response came back at all."""
        from scrapy.spidermiddlewares.httperror import HttpError

        request = failure.request
        if failure.check(HttpError):
            status = failure.value.response.status
            reason = f"http_{status}"
        elif failure.check(IgnoreRequest) and "robots.txt" in str(failure.value):
            reason = "robots_txt"
        else:
            reason = f"download_error/{failure.type.__name__}"
        self.stats.inc_value(f"newsarchive/skipped/{reason}")
        self.logger.info("Skipped %s: %s", request.url, reason)
        if failure.check(CloseSpider):
            raise failure.value
