"""The ``news`` spider: discover articles from homepages, feeds and sitemaps, and fetch them.

Discovery documents (RSS/Atom feeds, sitemaps, sitemap indexes, Google News sitemaps, robots.txt)
are parsed by ``crawler.discovery``, which keeps the dates and titles Scrapy's own ``Sitemap``
drops. HTML pages are either hubs (homepages, section fronts: their links are followed to a bounded
depth) or article candidates (handed to the item pipelines, which extract in a process pool and make
the final content-level decision). Which links are followed is ``crawler.urlpolicy``'s job.

Every fetched exchange is archived by the capture middleware before this spider sees it; what the
spider skips is counted under ``newsarchive/skipped/<reason>`` so a manifest can say why.

With a crawl state (``crawler.state``, on by default) the spider is incremental: article URLs an
earlier run recorded (or found not to be articles) are skipped before any request is made; URLs a
killed or failed run left pending are fetched first; articles due for an update check are
re-fetched with conditional GET; discovery documents (feeds, sitemaps, homepages, section fronts)
are polled with conditional GET, and when one answers ``304`` the documents it led to last time
are polled in its place. docs/incremental.md has the whole picture.
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import (
    CloseSpider,
    DontCloseSpider,
    DownloadCancelledError,
    DropItem,
    IgnoreRequest,
)
from scrapy.http import HtmlResponse, Request, Response, TextResponse
from scrapy.utils.response import get_base_url
from twisted.python.failure import Failure

from crawler import discovery
from crawler.middlewares.breaker import BROKEN_SOURCE
from crawler.middlewares.safety import UnsafeRequest
from crawler.sites import SiteConfig, load_sites
from crawler.state import FAILED, RECORDED, REJECTED, CrawlState, state_from_crawler
from crawler.urlpolicy import (
    canonicalize,
    is_http_url,
    is_private_host,
    resolve_href,
    site_of,
    trap_reason,
    url_kind,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Iterator

    # A link waiting for its batch: (url, site index, depth, kind, published, title, language,
    # keywords); a tuple rather than a Request or a provenance dict (built on release).
    Waiting = tuple[str, int, int, str, str | None, str | None, str | None, tuple[str, ...] | None]

# Schema.org types that mark a page as a news or blog article (the content-level check in the
# extraction worker is the final word; this only decides whether a page is worth extracting).
_ARTICLE_LD_TYPES = re.compile(
    rb'"@type"\s*:\s*\[?\s*"(?:News|Reportage|Analysis|Opinion|Review|Background|Satirical)?'
    rb'(?:Article|BlogPosting|LiveBlogPosting|Report)"'
)
_OG_ARTICLE = re.compile(rb'<meta[^>]+(?:property|name)=["\']og:type["\'][^>]+content=["\']article', re.I)
_OG_ARTICLE_REV = re.compile(rb'<meta[^>]+content=["\']article["\'][^>]+(?:property|name)=["\']og:type', re.I)


# Reasons an item may be dropped for that say nothing about the page: it is tried again next run.
TRANSIENT_DROP_REASONS = frozenset({"timeout", "extractor_crashed"})
_DROP_REASON = re.compile(r"not recorded \((\w+)\)")
_TOO_LARGE = re.compile(r"DOWNLOAD_MAXSIZE|maxsize|max size|larger than", re.I)
# Doc roles: polled every run with conditional GET; article URLs are fetched once (and re-checked).
DOCUMENT_ROLES = frozenset({"homepage", "section", "discovery", "robots", "seed"})
# A 4xx that may heal (rate limiting, timeouts): retried in a later run like a download error.
_TRANSIENT_STATUS = frozenset({408, 425, 429})


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


def _hub_links(urls: deque[str], idx: int, depth: int, kind: str) -> Iterator[Waiting]:
    """A hub's article links waiting for their batch, each let go as it is released."""
    while urls:
        yield (urls.popleft(), idx, depth, kind, None, None, None, None)


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
        # Provenance of article requests not answered yet, so an article found first as a homepage
        # link and later in the news sitemap still gets the sitemap's date and title (the
        # dupefilter drops the 2nd request). Let go once the answer is in: from then on only
        # "seen in this run" matters, kept as the hash of the canonical URL (a 64-bit hash: a
        # fraction of the URL and its provenance, and a collision, about 1e-8 at a million URLs,
        # costs one article its fetch in this run only).
        self._via: dict[str, dict] = {}
        self._seen_articles: set[int] = set()
        self.articles_scheduled = 0
        # Discovery documents whose links are dead (see crawler/middlewares/breaker.py), and
        # per document [links that worked, links that failed for good].
        self.broken_sources: set[str] = set()
        self._source_health: dict[str, list[int]] = {}
        # A big feed or sitemap is released a batch at a time (NEWSARCHIVE_DISCOVERY_BATCH
        # article requests in flight per document), and a dead sitemap costs one batch. What
        # waits is an iterator per document: a feed's or sitemap's entries are read from its
        # body (discovery.LinkStream) only as their requests go out, a hub's article links wait
        # as URL strings. 50,000 sitemap entries are neither Requests in the scheduler nor a
        # parsed tree and a list of links in memory.
        self._backlog: dict[str, Iterator[Waiting]] = {}
        self._in_flight: dict[str, int] = {}
        # Feeds and sitemaps not read to their end yet: their counts go to the stats when they
        # are (or when the crawl closes first).
        self._reading: set[discovery.LinkStream] = set()
        self.state: CrawlState | None = None
        # Discovery documents handled in this run, so that replaying the children of unchanged
        # documents cannot loop (a homepage's section links back to the homepage).
        self._documents: set[str] = set()
        # Discovery documents requested in this run: a sitemap listing the homepage does not
        # make it an article URL (the dupefilter would drop that request, and it stay pending).
        self._document_urls: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any):
        spider = super().from_crawler(crawler, *args, **kwargs)
        s = crawler.settings
        spider.max_articles = s.getint("NEWSARCHIVE_MAX_ARTICLES", 0)
        spider.since = parse_age(s.get("NEWSARCHIVE_SINCE"))
        spider.follow_links = s.getbool("NEWSARCHIVE_DISCOVERY_FOLLOW_LINKS", True)
        spider.max_depth = s.getint("NEWSARCHIVE_DISCOVERY_MAX_DEPTH", 3)
        spider.breaker_failures = s.getint("NEWSARCHIVE_DISCOVERY_BREAKER_FAILURES", 25)
        spider.discovery_batch = max(1, s.getint("NEWSARCHIVE_DISCOVERY_BATCH", 200))
        spider.follow_article_links = s.getbool("NEWSARCHIVE_DISCOVERY_FOLLOW_ARTICLE_LINKS", False)
        spider.robots_sitemaps = s.getbool("NEWSARCHIVE_DISCOVERY_ROBOTS_SITEMAPS", True)
        spider.max_sitemap_urls = s.getint("NEWSARCHIVE_DISCOVERY_MAX_SITEMAP_URLS", 50000)
        # One switch opens private hosts for both link following and the safety middleware.
        spider.allow_private = (s.getbool("NEWSARCHIVE_DISCOVERY_ALLOW_PRIVATE", False)
                                or s.getbool("NEWSARCHIVE_SAFETY_ALLOW_PRIVATE", False))
        spider.extra_sites = {site_of(f"http://{d}/") for d in s.getlist("NEWSARCHIVE_DISCOVERY_ALLOWED_DOMAINS")}
        spider.max_updates = s.getint("NEWSARCHIVE_UPDATES_MAX_PER_RUN", 0)
        spider.state = state_from_crawler(crawler)
        if spider.state is not None:
            crawler.signals.connect(spider.item_dropped, signal=signals.item_dropped)
            crawler.signals.connect(spider.item_error, signal=signals.item_error)
        crawler.signals.connect(spider.spider_idle, signal=signals.spider_idle)
        return spider

    @property
    def stats(self):
        return self.crawler.stats

    # -- start ---------------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Request]:
        if getattr(self.crawler, "_newsarchive_state_error", None):
            # Without its state an incremental crawl would record every known article again.
            self.stats.inc_value("newsarchive/state/errors")
            raise CloseSpider("state_error")
        for idx, site in enumerate(self.site_configs):
            if site.homepage:
                for req in self._request(site.homepage, idx, self.parse_page, role="homepage", depth=0):
                    yield req
                for req in self._robots_request(site.homepage, idx):
                    yield req
            for url in site.feeds + site.sitemaps:
                for req in self._request(url, idx, self.parse_discovery, role="discovery", depth=0):
                    yield req
            for url in site.articles:
                via = {"kind": "seed", "source": url, "published": None, "title": None}
                for req in self._schedule_article(canonicalize(url), idx, depth=0, via=via):
                    yield req
            for url in site.seeds:
                for req in self._request(url, idx, self.parse_seed, role="seed", depth=0):
                    yield req
        if self.state is not None:
            for req in self._resumed_requests():
                yield req
            for req in self._update_requests():
                yield req

    def _resumed_requests(self) -> Iterable[Request]:
        """Article URLs an earlier run discovered but did not finish (killed, failed, capped)."""
        assert self.state is not None
        for pending in self.state.pending():
            url = pending.url
            idx = self._site_index(url)
            if idx is None or hash(url) in self._seen_articles:
                continue  # another site's, or already scheduled by this run's seeds
            if url in self._document_urls or self.state.document(url) is not None:
                self.state.url_finished(url, REJECTED, reason="document")
                continue
            via = pending.via or {"kind": "link", "source": None, "published": None, "title": None}
            self._seen_articles.add(hash(url))
            self._via[url] = via
            self.articles_scheduled += 1
            self.stats.inc_value("newsarchive/incremental/resumed")
            yield self._article_request(url, idx, depth=0, via=via)

    def _update_requests(self) -> Iterable[Request]:
        """Recorded articles due for an update check: conditional GET against their last capture."""
        assert self.state is not None
        scheduled = 0
        for article in self.state.due_articles():
            if self.max_updates and scheduled >= self.max_updates:
                self.stats.inc_value("newsarchive/incremental/updates_deferred")
                continue
            idx = self._site_index(article.url)
            if idx is None:
                continue
            capture = self.state.capture(article.record_id)
            meta: dict[str, Any] = {"newsarchive_refetch": article.id}
            if capture is not None:
                meta["newsarchive_previous"] = capture.as_meta()
                meta["handle_httpstatus_list"] = [304]
            scheduled += 1
            self.stats.inc_value("newsarchive/incremental/update_checks")
            yield Request(article.url, callback=self.parse_page, errback=self.on_error,
                          meta={"newsarchive_site": idx, "newsarchive_role": "article",
                                "newsarchive_depth": 0, **meta},
                          priority=5, dont_filter=True)

    def _site_index(self, url: str) -> int | None:
        for idx in range(len(self.site_configs)):
            if self._on_site(url, idx):
                return idx
        return None

    def _request(self, url: str, site_idx: int, callback, *, role: str, depth: int = 0,
                 priority: int = 0) -> list[Request]:
        """Requests for a discovery document (homepage, section, feed, sitemap, robots.txt, seed).

        With a state: a conditional GET against the capture last parsed; and a document not due
        for polling yet (``NEWSARCHIVE_STATE_POLL_INTERVAL``) is not fetched at all, the documents
        it led to last time are polled in its place.
        """
        meta: dict[str, Any] = {"newsarchive_site": site_idx, "newsarchive_role": role,
                                "newsarchive_depth": depth, "newsarchive_parse": callback.__name__}
        self._document_urls.add(canonicalize(url))
        doc = self.state.document(canonicalize(url)) if self.state is not None else None
        if doc is not None:
            if doc.next_poll is not None and doc.next_poll > self.state.now():
                self.stats.inc_value("newsarchive/incremental/documents_not_due")
                return list(self._replay_children(canonicalize(url), doc.children, site_idx))
            capture = self.state.capture(doc.record_id)
            if capture is not None:
                meta["newsarchive_previous"] = capture.as_meta()
                meta["handle_httpstatus_list"] = [304]
        if role == "discovery":
            # Feeds and sitemaps before the articles they list (5): read after them, their
            # dates and titles (a news sitemap's above all) never reached the records.
            priority = max(priority, 7)
        return [Request(url, callback=self.parse_document, errback=self.on_error, meta=meta,
                        priority=priority)]

    def _article_request(self, url: str, idx: int, *, depth: int, via: dict) -> Request:
        # Articles first: the frontier should not fill with section pages while news waits.
        return Request(url, callback=self.parse_page, errback=self.on_error, priority=5,
                       meta={"newsarchive_site": idx, "newsarchive_role": "article",
                             "newsarchive_depth": depth, "newsarchive_via": via})

    def _robots_request(self, url: str, site_idx: int) -> list[Request]:
        parts = urlsplit(url)
        return self._request(f"{parts.scheme}://{parts.netloc}/robots.txt", site_idx, self.parse_robots,
                             role="robots", depth=0, priority=10)

    # -- discovery documents -------------------------------------------------------------------

    def parse_document(self, response: Response) -> Iterable[Request | dict]:
        """Every discovery document's callback: a ``304`` replays the documents it led to last
        time; otherwise the real callback (``newsarchive_parse``) runs, and what it led to is
        kept for next time once it has run to the end (a run killed halfway keeps the old)."""
        url = canonicalize(self._requested_url(response))
        self._documents.add(url)
        idx = response.meta["newsarchive_site"]
        if response.status == 304:
            self.stats.inc_value("newsarchive/incremental/documents_not_modified")
            doc = self.state.document(url) if self.state is not None else None
            if doc is not None:
                yield from self._replay_children(url, doc.children, idx)
                self.state.document_polled(url, role=None, record_id=None, children=None, changed=False)
            return
        revisit = response.meta.get("newsarchive_revisit")
        if revisit:
            self.stats.inc_value("newsarchive/incremental/documents_unchanged")
        children: list[list[Any]] = []
        for out in getattr(self, response.meta["newsarchive_parse"])(response):
            if isinstance(out, Request) and out.meta.get("newsarchive_parse"):
                children.append([out.url, out.meta["newsarchive_role"], out.meta.get("newsarchive_depth", 0),
                                 out.meta["newsarchive_parse"]])
            yield out
        if self.state is not None:
            record_id = revisit["refers_to"] if revisit else (response.meta.get("newsarchive_warc") or {}).get("record_id")
            self.state.document_polled(url, role=response.meta.get("newsarchive_role"), record_id=record_id,
                                       children=children, changed=not revisit)

    def _replay_children(self, parent: str, children: list[list[Any]], idx: int) -> Iterable[Request]:
        self._documents.add(parent)
        for url, role, depth, parse in children:
            if canonicalize(url) in self._documents or not self._on_site(url, idx):
                continue
            yield from self._request(url, idx, getattr(self, parse), role=role, depth=depth)

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
        yield from self._robots_request(response.url, idx)
        if isinstance(response, TextResponse):
            for feed_url in discovery.html_feed_links(response.body[:256 * 1024], response.url):
                if self._on_site(feed_url, idx):
                    yield from self._request(feed_url, idx, self.parse_discovery, role="discovery", depth=0)
        yield from self.parse_page(response)

    def parse_robots(self, response: Response) -> Iterable[Request]:
        if not self.robots_sitemaps:
            return
        idx = response.meta["newsarchive_site"]
        for url in discovery.parse_robots_sitemaps(response.body, response.url):
            if self._on_site(url, idx):
                yield from self._request(url, idx, self.parse_discovery, role="discovery", depth=0)

    def parse_discovery(self, response: Response) -> Iterable[Request]:
        idx = response.meta["newsarchive_site"]
        kind = discovery.sniff(response.body, self._content_type(response), response.url)
        if kind == "feed":
            stream = discovery.stream_feed(response.body, response.url)
        elif kind == "sitemap":
            stream = discovery.stream_sitemap(response.body, response.url, max_urls=self.max_sitemap_urls)
        else:
            self._skip(f"discovery_{kind}", response)
            return
        result = stream.open()
        if result.error or result.doc_type == "sitemapindex":
            # Nothing to wait for, or an index: its child sitemaps are this document's children,
            # requested (and remembered for the next run) now.
            for _link in stream:
                pass
            self._document_read(stream)
            for url in result.sitemaps:
                if self._on_site(url, idx):
                    yield from self._request(url, idx, self.parse_discovery, role="discovery", depth=0)
            return
        self._reading.add(stream)
        self._queue(response.url, self._document_links(stream, idx))
        yield from self._release(response.url)

    def _document_links(self, stream: discovery.LinkStream, idx: int) -> Iterator[Waiting]:
        """A feed's or sitemap's links waiting for their batch, read from it as they are asked for."""
        for link in stream:
            if self.since:
                when = _parse_iso(link.published) or _parse_iso(link.modified)
                if when and when < self.since:
                    self.stats.inc_value("newsarchive/discovery/skipped/too_old")
                    continue
            yield (link.url, idx, 0, link.kind, link.published, link.title, link.language,
                   tuple(link.keywords) if link.keywords else None)
        self._document_read(stream)

    def _document_read(self, stream: discovery.LinkStream) -> None:
        """A feed's or sitemap's counts, once read to its end (or at close, as far as it was read)."""
        self._reading.discard(stream)
        result = stream.result
        self.stats.inc_value(f"newsarchive/discovery/documents/{result.doc_type}")
        if result.error:
            self.stats.inc_value(f"newsarchive/discovery/errors/{result.error}")
            self.logger.warning("Discovery document %s: %s (entries before the problem are used)",
                                stream.source, result.error)
        for reason, n in result.skipped.items():
            self.stats.inc_value(f"newsarchive/discovery/skipped/{reason}", n)

    def closed(self, reason: str) -> None:
        # A crawl that ends early (NEWSARCHIVE_MAX_ARTICLES, a timeout) leaves documents unread.
        for stream in list(self._reading):
            self._document_read(stream)

    def _queue(self, source: str, links: Iterator[Waiting]) -> None:
        waiting = self._backlog.get(source)
        self._backlog[source] = links if waiting is None else itertools.chain(waiting, links)

    def _release(self, source: str) -> Iterable[Request]:
        """Article requests from one discovery document or hub, up to the batch size in flight."""
        waiting = self._backlog.get(source)
        if waiting is None:
            return
        if source in self.broken_sources:
            del self._backlog[source]
            # Counted, not fetched (a document is read to its end for the count).
            dropped = sum(1 for _entry in waiting)
            if dropped:
                self.stats.inc_value("newsarchive/skipped/broken_source", dropped)
            return
        while self._in_flight.get(source, 0) < self.discovery_batch:
            entry = next(waiting, None)
            if entry is None:
                if self._backlog.get(source) is waiting:
                    del self._backlog[source]
                return
            url, idx, depth, kind, published, title, language, keywords = entry
            via = {"kind": kind, "source": source, "published": published, "title": title}
            if language:
                via["language"] = language
            if keywords:
                via["keywords"] = list(keywords)
            from_discovery = kind in ("feed", "sitemap", "news_sitemap")
            for req in self._follow(url, idx, depth=depth, via=via, from_discovery=from_discovery):
                if req.meta.get("newsarchive_role") == "article":
                    req.meta["newsarchive_batch"] = source
                    self._in_flight[source] = self._in_flight.get(source, 0) + 1
                yield req

    def _batch_done(self, request: Request) -> list[Request]:
        """One article of a released batch is through (fetched or failed): release the next."""
        source = request.meta.get("newsarchive_batch")
        if not source:
            return []
        self._in_flight[source] = max(0, self._in_flight.get(source, 0) - 1)
        return list(self._release(source))

    def spider_idle(self) -> None:
        """Requests that never came back (dropped by the dupefilter after a redirect, say) must
        not strand a backlog: when nothing else is left, release the next batches."""
        released = []
        for source in list(self._backlog):
            self._in_flight[source] = 0
            released.extend(self._release(source))
        for req in released:
            self.crawler.engine.crawl(req)
        if released:
            raise DontCloseSpider

    def parse_page(self, response: Response) -> Iterable[Request | dict]:
        role = response.meta.get("newsarchive_role")
        idx = response.meta["newsarchive_site"]
        via = None
        if role == "article":
            # Answered: the provenance kept while the request was out goes with the item.
            via = self._via.pop(canonicalize(self._requested_url(response)), None)
            self._source_result(response.meta.get("newsarchive_via"), ok=True)
            yield from self._batch_done(response.request)
        if role == "article" and (response.status == 304 or response.meta.get("newsarchive_revisit")):
            # An update check that found the very payload of the last capture: the WARC has a
            # revisit record, the records nothing new.
            self._unchanged(response)
            return
        if not isinstance(response, TextResponse):
            self._skip("not_html", response)
            return
        ctype = self._content_type(response)
        if ctype and not any(t in ctype for t in ("html", "xml", "text/plain")):
            self._skip("not_html", response)
            return
        if discovery.sniff(response.body, ctype, response.url) in ("feed", "sitemap"):
            # A feed or sitemap reached by a link (a "Sitemap" footer link, an RSS icon): read it
            # as what it is, not as a page.
            yield from self.parse_discovery(response)
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
        if candidate and not response.meta.get("newsarchive_revisit"):
            # (A hub whose payload is unchanged was recorded, if it is an article, last time.)
            yield self._item(response, via)
        if not article:
            self.stats.inc_value("newsarchive/pages/hub")
        depth = response.meta.get("newsarchive_depth", 0)
        max_depth = site.max_depth if site.max_depth is not None else self.max_depth
        follow = self.follow_links and site.follow_links and depth < max_depth
        if follow and (not article or self.follow_article_links):
            yield from self._links(response, idx, depth, hub=not article)

    def _links(self, response: TextResponse, idx: int, depth: int, hub: bool) -> Iterable[Request]:
        """Follow a hub's article and section links; from an article only its article links.

        Article links join the page's backlog and are released a batch at a time like a
        sitemap's (a homepage can list 20,000 stories); section links go out at once.
        """
        hrefs: Iterable[str | None]
        if isinstance(response, HtmlResponse):
            # Read from a pull parser whose tree does not grow (a homepage listing 20,000 stories
            # would otherwise be a 20 MB tree), not from response.selector.
            hrefs = discovery.html_hrefs(response.text)
        else:
            try:
                root = response.selector.root
            except ValueError:  # not parseable at all
                return
            if not hasattr(root, "iter"):
                return
            # lxml elements rather than a Selector per link.
            hrefs = (a.get("href") for a in root.iter("a"))
        source_kind = "homepage" if response.meta.get("newsarchive_role") == "homepage" else "link"
        base = get_base_url(response)  # honours <base href>
        site = self.site_configs[idx]
        articles: deque[str] = deque()
        for raw in hrefs:
            href = (raw or "").strip()
            if not href or href.startswith("#"):
                continue
            # Not response.urljoin: it turns "http:///x" or "ht tp://x" into paths on this host.
            url = resolve_href(base, href)
            if url is None:
                self.stats.inc_value("newsarchive/discovery/skipped/not_http")
                continue
            by_pattern = site.is_article_url(url)
            if by_pattern or (by_pattern is None and url_kind(url) == "article"):
                articles.append(url)
            else:
                via = {"kind": source_kind, "source": response.url, "published": None, "title": None}
                yield from self._follow(url, idx, depth=depth + 1, via=via, hubs=hub)
        if articles:
            self._queue(response.url, _hub_links(articles, idx, depth + 1, source_kind))
        yield from self._release(response.url)

    def _follow(self, url: str, idx: int, *, depth: int, via: dict, from_discovery: bool = False,
                hubs: bool = True) -> list[Request]:
        """The link policy in one place: scheme, site, robots-like path rules, traps, private hosts."""
        if not is_http_url(url):
            self.stats.inc_value("newsarchive/discovery/skipped/not_http")
            return []
        url = canonicalize(url)
        if hash(url) in self._seen_articles:
            # Already scheduled as an article this run (an article is listed by the feed, the
            # sitemap, the news sitemap and the homepage): the policy said yes the first time;
            # only a richer provenance may still be taken.
            return self._schedule_article(url, idx, depth=depth, via=via)
        site = self.site_configs[idx]
        if not self._on_site(url, idx):
            self.stats.inc_value("newsarchive/discovery/skipped/off_site")
            return []
        if site.denies(url) or not site.allows_path(url):
            self.stats.inc_value("newsarchive/discovery/skipped/not_allowed")
            return []
        trap = trap_reason(url)
        if trap:
            self.stats.inc_value(f"newsarchive/discovery/skipped/trap_{trap}")
            return []
        by_pattern = site.is_article_url(url)
        kind = "article" if by_pattern else ("section" if by_pattern is False else url_kind(url))
        if kind == "asset":
            self.stats.inc_value("newsarchive/discovery/skipped/asset")
            return []
        if from_discovery or kind == "article":
            return self._schedule_article(url, idx, depth=depth, via=via)
        if not hubs:
            return []
        return self._request(url, idx, self.parse_page, role="section", depth=depth)

    def _schedule_article(self, url: str, idx: int, *, depth: int, via: dict) -> list[Request]:
        """An article URL: once per run, never again once an earlier run finished it."""
        key = hash(url)
        if key in self._seen_articles:
            known = self._via.get(url)
            if known is not None and via.get("published") and not known.get("published"):
                self._via[url] = via  # richer provenance for the answer still to come
            return []
        self._seen_articles.add(key)
        status = self.state.url_status(url) if self.state is not None else None
        if self.state is not None and status is None and (
                url in self._document_urls or self.state.document(url) is not None):
            return []  # polled as a discovery document (a homepage listed in a sitemap, say)
        if status in (RECORDED, REJECTED, FAILED):
            # Known from an earlier run: no request at all (update checks are scheduled from the
            # state, on their own timetable).
            self.stats.inc_value("newsarchive/incremental/skipped_known")
            return []
        if self.max_articles and self.articles_scheduled >= self.max_articles * 2 + 20:
            self.stats.inc_value("newsarchive/discovery/skipped/max_articles")
            return []
        self.articles_scheduled += 1
        self._via[url] = via
        if self.state is not None and status is None:
            self.state.add_pending(url, via)
        return [self._article_request(url, idx, depth=depth, via=via)]

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

    def _item(self, response: TextResponse, via: dict | None = None) -> dict:
        url = self._requested_url(response)
        via = via or self._via.get(canonicalize(url)) or response.meta.get("newsarchive_via") or {
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

    @staticmethod
    def _requested_url(response_or_request: Response | Request) -> str:
        """The URL as first requested (before redirects): what the state knows a URL by."""
        redirects = response_or_request.meta.get("redirect_urls") or []
        return redirects[0] if redirects else response_or_request.url

    def _skip(self, reason: str, response: Response) -> None:
        self.stats.inc_value(f"newsarchive/skipped/{reason}")
        self.logger.info("Skipped %s: %s", response.url, reason)
        if self.state is not None and response.meta.get("newsarchive_role") == "article":
            if response.meta.get("newsarchive_refetch"):
                self.state.article_checked(response.meta["newsarchive_refetch"])
            else:
                self.state.url_finished(canonicalize(self._requested_url(response)), REJECTED, reason=reason)

    def _unchanged(self, response: Response) -> None:
        self.stats.inc_value("newsarchive/incremental/unchanged")
        if self.state is None:
            return
        article_id = response.meta.get("newsarchive_refetch")
        if article_id:
            self.state.article_checked(article_id)
        else:  # cannot happen without a previous capture, but must not stay pending if it does
            self.state.url_finished(canonicalize(self._requested_url(response)), RECORDED)

    def on_error(self, failure: Failure) -> list[Request]:
        """Count failed fetches by reason; they are archived when a response came back at all."""
        from scrapy.spidermiddlewares.httperror import HttpError

        request = failure.request
        status = None
        if failure.check(HttpError):
            status = failure.value.response.status
            reason = f"http_{status}"
        elif failure.check(UnsafeRequest):
            reason = "download_error/UnsafeRequest"  # before robots: its message quotes the URL
        elif failure.check(IgnoreRequest) and "robots.txt" in str(failure.value):
            reason = "robots_txt"
        elif failure.check(IgnoreRequest) and BROKEN_SOURCE in str(failure.value):
            reason = "broken_source"
        elif failure.check(IgnoreRequest) and "max redirections" in str(failure.value):
            reason = "redirect_limit"
        elif failure.check(DownloadCancelledError) or (
            failure.check(IgnoreRequest) and _TOO_LARGE.search(str(failure.value))
        ):
            reason = "too_large"  # over DOWNLOAD_MAXSIZE, on the wire or while decompressing
        else:
            reason = f"download_error/{failure.type.__name__}"
        self.stats.inc_value(f"newsarchive/skipped/{reason}")
        self.logger.info("Skipped %s: %s", request.url, reason)
        if request.meta.get("newsarchive_role") == "article":
            self._via.pop(canonicalize(self._requested_url(request)), None)
            if status is not None and status < 500 and status not in _TRANSIENT_STATUS:
                self._source_result(request.meta.get("newsarchive_via"), ok=False)
        if self.state is not None and request.meta.get("newsarchive_role") == "article":
            self._article_failed(request, reason, status)
        if failure.check(CloseSpider):
            raise failure.value
        return self._batch_done(request)

    def _source_result(self, via: dict | None, *, ok: bool) -> None:
        """Track whether a feed's or sitemap's links work; trip the breaker on a dead one."""
        if not via or via.get("kind") not in ("feed", "sitemap", "news_sitemap") or not via.get("source"):
            return
        source = via["source"]
        health = self._source_health.setdefault(source, [0, 0])
        health[0 if ok else 1] += 1
        if (self.breaker_failures > 0 and source not in self.broken_sources
                and health[0] == 0 and health[1] >= self.breaker_failures):
            self.broken_sources.add(source)
            self.stats.inc_value("newsarchive/discovery/broken_sources")
            self.logger.warning("Discovery document %s: its first %d links are dead and none worked; "
                                "the rest of its links are skipped (broken_source)", source, health[1])

    def _article_failed(self, request: Request, reason: str, status: int | None) -> None:
        """An answer that will not change (a 404, robots.txt) is final; anything else is tried
        again by the next runs, up to ``NEWSARCHIVE_STATE_MAX_ATTEMPTS`` times."""
        assert self.state is not None
        final = reason in ("robots_txt", "broken_source") or (status is not None and status < 500
                                           and status not in _TRANSIENT_STATUS)
        article_id = request.meta.get("newsarchive_refetch")
        if article_id:
            if final:  # gone or forbidden now: the next slot will tell whether it came back
                self.state.article_checked(article_id)
            return  # otherwise still due: the next run checks again
        url = canonicalize(self._requested_url(request))
        if final:
            self.state.url_finished(url, REJECTED, reason=reason)
        else:
            self.state.url_failed(url, reason)

    # -- outcomes of items (state bookkeeping; records and dedup pipelines report their own) ---

    def item_dropped(self, item: Any, response: Response, exception: BaseException) -> None:
        """An item the pipelines dropped before it became a record: not an article, or a
        transient extraction failure (tried again next run). Records (with an ``id``) are
        accounted for by the dedup and records pipelines."""
        if self.state is None or not isinstance(item, dict) or "id" in item or not item.get("url"):
            return
        if response is not None and response.meta.get("newsarchive_role") != "article":
            return
        reason = getattr(exception, "reason", None)
        if reason is None and isinstance(exception, DropItem):
            m = _DROP_REASON.search(str(exception))
            reason = m.group(1) if m else "dropped"
        url = canonicalize(item["url"])
        refetch = response.meta.get("newsarchive_refetch") if response is not None else None
        if reason in TRANSIENT_DROP_REASONS:
            if not refetch:
                self.state.url_failed(url, reason)
        elif refetch:
            self.state.article_checked(refetch)
        else:
            self.state.url_finished(url, REJECTED, reason=reason)

    def item_error(self, item: Any, response: Response, failure: Failure) -> None:
        """A pipeline failed on the item (say, the record could not be written): try again."""
        if self.state is None or not isinstance(item, dict) or not item.get("url"):
            return
        if response is None or response.meta.get("newsarchive_role") == "article":
            self.state.url_failed(canonicalize(item["url"]), f"error/{failure.type.__name__}")
