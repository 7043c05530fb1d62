"""Discovery documents -> article candidates, keeping the metadata that comes with them.

Feeds (RSS 0.9x/2.0, RDF/RSS 1.0, Atom 1.0), sitemaps (urlset, Google News urlset, sitemap
index, raw gzip), robots.txt ``Sitemap:`` lines and HTML ``<link rel=alternate>`` feed links.
Scrapy's ``Sitemap`` drops the ``news:*`` children, and the publication date and title from a
feed or news sitemap are the best provenance an article record can have, so these parsers keep
them. Everything here is untrusted input: no function raises on any bytes, entities are never
resolved (XXE, billion laughs), gzip output is capped, and problems are counted, not thrown.
"""

from __future__ import annotations

import html
import html.entities
import itertools
import re
import zlib
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import lxml.html
from lxml import etree
from protego import Protego
from w3lib.html import remove_tags

from crawler.urlpolicy import canonicalize, is_http_url, resolve_href

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_ROBOTS_BYTES",
    "SNIFF_BYTES",
    "DiscoveredLink",
    "LinkStream",
    "ParseResult",
    "html_feed_links",
    "html_hrefs",
    "parse_date",
    "parse_feed",
    "parse_robots_sitemaps",
    "parse_sitemap",
    "sniff",
    "stream_feed",
    "stream_sitemap",
]

#: Largest document parsed, before or after gzip decompression (the sitemap protocol's own
#: limit is 50 MB uncompressed). A bigger one is an error, not a crash or a memory spike.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
#: How much of a body sniff() looks at: roots, doctypes and robots directives come first.
SNIFF_BYTES = 8 * 1024
#: Google reads the first 500 KiB of a robots.txt; so do we.
MAX_ROBOTS_BYTES = 500 * 1024

_XML_NS = "http://www.w3.org/XML/1998/namespace"
_XML_LANG = f"{{{_XML_NS}}}lang"
_XML_BASE = f"{{{_XML_NS}}}base"
_GZIP_MAGIC = b"\x1f\x8b"
# Pieces fed to the parser: small enough that the entries one piece completes (a few hundred)
# are all the tree and the event queue ever hold.
_CHUNK = 64 * 1024
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")
_FEED_ROOTS = {"rss": "rss", "rdf": "rdf", "feed": "atom"}
_SITEMAP_ROOTS = ("urlset", "sitemapindex")


@dataclass
class DiscoveredLink:
    """One article candidate and what its discovery document said about it."""

    url: str
    kind: str  # "feed" | "sitemap" | "news_sitemap"
    source: str
    published: str | None = None
    modified: str | None = None
    title: str | None = None
    language: str | None = None
    keywords: list[str] = field(default_factory=list)


@dataclass
class ParseResult:
    """What a discovery document yielded; ``error`` may be set while ``links`` still holds
    the entries read before the problem (a truncated or malformed document)."""

    doc_type: str  # "rss" | "atom" | "rdf" | "urlset" | "news_urlset" | "sitemapindex" | "unknown"
    links: list[DiscoveredLink] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    # lastmod of each child sitemap of an index, when given: lets an incremental crawl skip
    # child sitemaps that have not changed since the last run.
    sitemaps_modified: dict[str, str] = field(default_factory=dict)

    def count(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n


# --- bytes -> events ---------------------------------------------------------------------------


def _as_bytes(body: object) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8", "replace")
    return b""


def _gunzip_chunks(data: bytes, limit: int) -> Iterator[bytes]:
    """Every gzip member's output, ``_CHUNK`` bytes at a time, ending once more than ``limit``
    bytes came out (a gzip bomb: the caller refuses it). Raises zlib.error on corrupt input.

    zlib directly rather than gzip.GzipFile: only a decompressobj bounds each piece of output,
    and the pieces let the parser read a .xml.gz without its inflated text in memory at once.
    """
    size = 0
    rest = data
    while rest[:2] == _GZIP_MAGIC:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = rest
        while True:
            chunk = d.decompress(pending, _CHUNK)
            consumed = len(pending) - len(d.unconsumed_tail)
            pending = d.unconsumed_tail
            if not chunk:
                if not consumed:
                    break  # no input left to take and no output held back
                continue
            size += len(chunk)
            yield chunk
            if size > limit:
                return
        if not d.eof:
            return  # a truncated member: what came out is used, the parser reports the rest
        rest = d.unused_data


def _check(data: bytes) -> str | None:
    """Why a body is refused before parsing (too large, not gzip after all, blank), or None.

    A gzip body is inflated once here only to be measured: a bomb is refused whole, as a
    plain body over the limit is, rather than after some of its links were used.
    """
    if len(data) > MAX_DOCUMENT_BYTES:
        return "too_large"
    if data[:2] != _GZIP_MAGIC:
        return None if data and not data.isspace() else "empty"
    size, blank = 0, True
    try:
        for chunk in _gunzip_chunks(data, MAX_DOCUMENT_BYTES):
            size += len(chunk)
            blank = blank and chunk.isspace()
    except zlib.error:
        if size == 0:
            return "bad_gzip"
    if size > MAX_DOCUMENT_BYTES:
        return "too_large"
    return "empty" if blank else None


def _chunks(data: bytes) -> Iterator[bytes]:
    if data[:2] == _GZIP_MAGIC:
        try:
            yield from _gunzip_chunks(data, MAX_DOCUMENT_BYTES)
        except zlib.error:
            return
    else:
        for start in range(0, len(data), _CHUNK):
            yield data[start:start + _CHUNK]


def _held(data: bytes) -> Iterator[bytes]:
    """``_chunks`` of a plain body kept deflated until read: each piece is compressed now (zlib
    level 1 keeps 3-20% of newsite's sitemaps and feed, 15-110 ms for 2-8 MB) and let go once
    read, so a document read over the whole crawl waits in a fraction of its size, shrinking as
    it goes. A gzip body already waits compressed."""
    if data[:2] == _GZIP_MAGIC or len(data) <= _CHUNK:
        return _chunks(data)
    pieces = deque(zlib.compress(data[start:start + _CHUNK], 1) for start in range(0, len(data), _CHUNK))
    return _inflated(pieces)


def _inflated(pieces: deque[bytes]) -> Iterator[bytes]:
    while pieces:
        yield zlib.decompress(pieces.popleft())


class _Reader:
    """A document's elements as their end tags arrive, fed to the parser a piece at a time.

    A pull parser in recover mode keeps what precedes a break; entities stay unresolved, no DTD
    or network is loaded, and huge_tree stays off (libxml2's depth and text-size limits hold).
    Elements whose end tag never came are closed by the recovery only at close(): those come
    last with ``finished`` False. They are the entry a truncation cut off, whose half-read URL
    must not be fetched.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.parser = etree.XMLPullParser(
            events=("end",), recover=True, resolve_entities=False, no_network=True, huge_tree=False,
            load_dtd=False, dtd_validation=False,
        )
        self._chunks = chunks
        self.failed = False  # the parser gave up (raised) part-way

    def elements(self) -> Iterator[tuple[etree._Element, bool]]:
        parser = self.parser
        try:
            for chunk in self._chunks:
                parser.feed(chunk)
                # Drained before the next piece is fed: at most one piece's elements wait.
                for _event, el in parser.read_events():
                    yield el, True
            parser.close()
        except (etree.XMLSyntaxError, etree.ParserError, ValueError, TypeError):
            self.failed = True
            return
        for _event, el in parser.read_events():
            yield el, False

    def malformed(self) -> bool:
        return self.failed or any(e.level >= etree.ErrorLevels.ERROR for e in self.parser.feed_error_log)


# --- tree helpers -----------------------------------------------------------------------------


def _local(el: etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].lower()


def _children(el: etree._Element, *names: str) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str) and (not names or _local(c) in names)]


def _kids(el: etree._Element) -> dict[str, etree._Element]:
    """The first child element of each local name: one pass over an entry, not one per field."""
    kids: dict[str, etree._Element] = {}
    for c in el:
        if isinstance(c.tag, str):
            kids.setdefault(_local(c), c)
    return kids


def _text(el: etree._Element | None) -> str:
    """Text content with unresolved entity references dropped, except HTML named entities
    (&nbsp;, &rsquo;), which many feeds use without declaring; these map to their characters
    and are never looked up in a DTD."""
    if el is None:
        return ""
    parts: list[str] = [el.text or ""]
    for child in el:
        if isinstance(child, etree._Entity):
            name = (child.text or "").strip("&;")
            if f"{name};" in html.entities.html5:
                parts.append(html.entities.html5[f"{name};"])
        elif isinstance(child.tag, str):
            parts.append(_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _clean(value: str | None, limit: int = 2000) -> str | None:
    if not value:
        return None
    value = " ".join(value.split())[:limit]
    return value or None


def _ancestry(el: etree._Element) -> list[etree._Element]:
    chain = []
    node: etree._Element | None = el
    while node is not None:
        chain.append(node)
        node = node.getparent()
    return chain


def _xml_lang(el: etree._Element) -> str | None:
    for node in _ancestry(el):
        lang = _clean(node.get(_XML_LANG))
        if lang:
            return lang
    return None


def _base(el: etree._Element, source_url: str) -> str:
    """The base URL for ``el``: the document URL, then every xml:base from the root down."""
    base = source_url
    for node in reversed(_ancestry(el)):
        xml_base = node.get(_XML_BASE)
        if xml_base:
            base = _join(base, xml_base.strip()) or base
    return base


def _join(base: str, ref: str) -> str | None:
    """An http(s) URL or None: ``resolve_href`` keeps ``http:///x`` or ``http://`` in a feed from
    turning into a path on the feed's own host, as ``urljoin`` would make them."""
    return resolve_href(base, ref)


# --- dates ------------------------------------------------------------------------------------

# W3C-DTF / ISO 8601 as feeds and sitemaps write it. Normalised by hand before fromisoformat,
# whose accepted grammar differs between Python 3.10 and 3.11 (Z, +0200, 1-9 digit fractions).
_ISO_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"
)
_YEAR_MONTH_RE = re.compile(r"(\d{4})(?:-(\d{2}))?")
_RFC822_DATE_ONLY_RE = re.compile(r"(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}")


def parse_date(value: str | None) -> str | None:
    """An ISO 8601 string with a timezone for an RFC 822 or W3C/ISO 8601 date, else None.

    Naive times are taken as UTC (what feeds mean when they leave the zone out); date-only
    values become midnight UTC so every date compares with every other. The writer's own UTC
    offset is kept rather than converted.
    """
    if not value or not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if not text or len(text) > 80:
        return None
    dt = _parse_iso(text)
    if dt is None:
        if _RFC822_DATE_ONLY_RE.fullmatch(text):  # "Wed, 22 Oct 2025": RFC 822 needs a time
            text += " 00:00:00 +0000"
        try:
            dt = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return dt.isoformat()
    except (ValueError, OverflowError):
        return None


def _parse_iso(text: str) -> datetime | None:
    m = _ISO_RE.fullmatch(text)
    try:
        if m is None:
            ym = _YEAR_MONTH_RE.fullmatch(text)
            if ym is None:
                return None
            return datetime(int(ym[1]), int(ym[2] or 1), 1, tzinfo=timezone.utc)
        year, month, day, hour, minute, second, frac, zone = m.groups()
        iso = f"{year}-{month}-{day}T{hour or '00'}:{minute or '00'}:{second or '00'}"
        if frac:
            iso += "." + frac[:6].ljust(6, "0")
        if zone in (None, "Z", "z", "UTC", "GMT"):
            iso += "+00:00"
        else:
            digits = zone[1:].replace(":", "").ljust(4, "0")
            iso += f"{zone[0]}{digits[:2]}:{digits[2:]}"
        return datetime.fromisoformat(iso)
    except ValueError:  # out-of-range month, day, hour or offset
        return None


def _date(result: ParseResult, *elements: etree._Element | None) -> str | None:
    """The first parseable date among ``elements``; counts "bad_date" when values were given
    but none parsed."""
    seen = False
    for el in elements:
        raw = _text(el).strip() if el is not None else ""
        if raw:
            seen = True
            parsed = parse_date(raw)
            if parsed:
                return parsed
    if seen:
        result.count("bad_date")
    return None


# --- links ------------------------------------------------------------------------------------


class _Links:
    """Collects links for one document: resolves, validates, dedups, caps, counts."""

    def __init__(self, result: ParseResult, source_url: str, limit: int | None = None) -> None:
        self.result = result
        self.source = source_url
        self.limit = limit
        # hash() of each canonical URL rather than the URL: a 50,000-entry sitemap is read over
        # the whole crawl, and a 64-bit hash per URL is a third of the string (a collision, at
        # about 1e-10 for 50,000 URLs, would count one link as a duplicate).
        self.seen: set[int] = set()

    def accept(self, raw: str | None, base: str) -> str | None:
        """The absolute URL to keep, or None after counting why not."""
        raw = (raw or "").strip()
        if not raw:
            self.result.count("no_link")
            return None
        url = _join(base, raw)
        if url is None or not is_http_url(url):
            self.result.count("bad_url")
            return None
        if self.limit is not None and len(self.seen) >= self.limit:
            self.result.count("over_limit")  # before canonicalize: the costly part per entry
            return None
        key = hash(canonicalize(url))
        if key in self.seen:
            self.result.count("duplicate")
            return None
        self.seen.add(key)
        return url


# --- feeds and sitemaps, streamed -----------------------------------------------------------

# The element each document type lists its entries in.
_ENTRY = {"rss": "item", "rdf": "item", "atom": "entry", "urlset": "url", "sitemapindex": "sitemap"}


class LinkStream:
    """A feed or sitemap read as it is iterated: yields its article links one at a time.

    Why a stream: read whole, a 50,000-entry sitemap is an lxml tree plus a list of links, tens
    of MB at once and over a second of the reactor thread. Here the body goes to a pull parser
    a piece (``_CHUNK``) at a time; each entry is read when its end tag arrives and then cleared
    from the tree, so memory does not grow with the document, and the caller decides when to
    read on (the spider reads one batch of requests' worth at a time; meanwhile, with ``hold``,
    the unread rest of a plain body waits deflated, see ``_held``). Why not a thread: it would
    have to either collect every link (the memory this avoids) or keep a pool thread (Twisted's,
    which DNS shares) blocked until the crawl wants the next batch; read on demand, the reactor
    is busy for one batch's worth of entries at a time.

    ``result`` fills in as the stream is read: ``doc_type`` (or a document-level ``error``)
    after :meth:`open`, a sitemap index's ``sitemaps``, the ``skipped`` counts; ``error``
    "malformed" and a urlset's final ``doc_type`` ("news_urlset" once an entry had news
    children) when it is exhausted. ``result.links`` stays empty: the links are what iteration
    yields.

    Differences from reading a whole tree, all outside the formats' own grammar: an RSS
    channel's ``<language>`` given after its items does not reach them; items both inside and
    beside a ``<channel>`` come in document order; and in a document the parser had to repair,
    an entry whose end tag was lost is read when the parser closes it, which can change the
    order of links (and which of two duplicates is kept).
    """

    def __init__(self, body: object, source_url: str, *, sitemap: bool, max_urls: int = 50000,
                 hold: bool = True) -> None:
        self.source = source_url
        self.result = ParseResult(doc_type="unknown")
        self.exhausted = False
        self._sitemap = sitemap  # a sitemap URL may serve a feed (search engines take both)
        self._max_urls = max(0, max_urls)
        self._hold = hold  # read over time: the unread rest waits deflated (_held)
        self._body: object = body
        self._steps = self._read()
        self._opened = False
        # per-document reading state
        self._channel: etree._Element | None = None
        self._channel_lang: str | None = None
        self._channel_lang_read = False
        self._has_news = False
        self._own = ""

    def open(self) -> ParseResult:
        """Read up to the root element: afterwards ``result.doc_type`` (or ``error``) is known."""
        if not self._opened:
            self._opened = True
            next(self._steps, None)
        return self.result

    def __iter__(self) -> Iterator[DiscoveredLink]:
        return self

    def __next__(self) -> DiscoveredLink:
        self.open()
        link = next(self._steps, None)
        if link is None:
            self.exhausted = True
            raise StopIteration
        return link

    def _read(self) -> Iterator[DiscoveredLink | None]:
        """The generator behind the stream: None once the root is known, then the links."""
        result = self.result
        data = _as_bytes(self._body)
        self._body = None
        result.error = _check(data)
        if result.error:
            yield None
            return
        reader = _Reader(_held(data) if self._hold else _chunks(data))
        del data
        elements = reader.elements()
        first = next(elements, None)
        if first is None:
            result.error = "not_xml"
            yield None
            return
        root = first[0].getroottree().getroot()
        name = _local(root)
        doc_type = _FEED_ROOTS.get(name) or (name if self._sitemap and name in _SITEMAP_ROOTS else None)
        if name == "html" or doc_type is None:
            result.error = "html" if name == "html" else "wrong_root"
            yield None
            return
        news_declared = doc_type == "urlset" and any("sitemap-news" in (ns or "") for ns in root.nsmap.values())
        result.doc_type = "news_urlset" if news_declared else doc_type
        yield None

        # A sitemap URL serving a feed is read as a feed: no URL limit, as parse_feed has none.
        links = _Links(result, self.source, self._max_urls if doc_type in _SITEMAP_ROOTS else None)
        entry_name = _ENTRY[doc_type]
        read_entry = {"rss": self._rss_item, "rdf": self._rss_item, "atom": self._atom_entry,
                      "urlset": self._url_entry, "sitemapindex": self._index_entry}[doc_type]
        rss = doc_type in ("rss", "rdf")
        read: set[etree._Element] = set()  # read container children still in the tree
        if doc_type == "sitemapindex":
            # The index itself counts as seen, so an index listing itself is a "self_reference".
            self._own = canonicalize(self.source)
        for el, finished in itertools.chain([first], elements):
            parent = el.getparent()
            if parent is None:
                continue  # the root's own end
            if parent is not root and parent is not self._channel:
                if not (rss and self._channel is None and parent.getparent() is root
                        and _local(parent) == "channel"):
                    continue  # inside an entry: read with the entry when that ends
                self._found_channel(parent)
            local = _local(el)
            link = None
            if local == entry_name:
                if finished:
                    link = read_entry(el, links)
                else:
                    result.count("truncated")
            elif rss and parent is root and local == "channel" and self._channel is None:
                self._found_channel(el)  # a channel with no child elements still has its xml:lang
            elif parent is self._channel and local == "language" and not self._channel_lang_read:
                self._channel_lang_read = True
                self._channel_lang = _clean(_text(el)) or self._channel_lang
            if el is not self._channel:
                _drop_read(el, parent, read)
            if link is not None:
                yield link
        if reader.malformed():
            result.error = "malformed"
        if self._has_news:
            result.doc_type = "news_urlset"

    def _found_channel(self, channel: etree._Element) -> None:
        self._channel = channel
        self._channel_lang = _xml_lang(channel)

    # -- one entry each, read when its end tag arrived ------------------------------------------

    def _rss_item(self, item: etree._Element, links: _Links) -> DiscoveredLink | None:
        result = links.result
        url = links.accept(_rss_link(item), _base(item, self.source))
        if url is None:
            return None
        kids = _kids(item)
        published = _date(result, kids.get("pubdate"), kids.get("date"), kids.get("published"),
                          kids.get("issued"), kids.get("created"))
        if published is None:
            result.count("no_date")
        modified = _date(result, kids.get("updated"), kids.get("modified"))
        return DiscoveredLink(
            url=url, kind="feed", source=self.source, published=published, modified=modified,
            title=_clean(_text(kids.get("title"))),
            language=_clean(_text(kids.get("language"))) or _xml_lang(item) or self._channel_lang,
            keywords=_unique(_text(c) for c in _children(item, "category", "subject")),
        )

    def _atom_entry(self, entry: etree._Element, links: _Links) -> DiscoveredLink | None:
        result = links.result
        url = links.accept(_atom_link(entry), _base(entry, self.source))
        if url is None:
            return None
        kids = _kids(entry)
        # atom:published is optional; atom:updated is required and stands in for it.
        modified = _date(result, kids.get("updated"))
        published = _date(result, kids.get("published")) or modified
        if published is None:
            result.count("no_date")
        return DiscoveredLink(
            url=url, kind="feed", source=self.source, published=published, modified=modified,
            title=_atom_text(kids.get("title")),
            language=_xml_lang(entry),
            keywords=_unique(c.get("term") or c.get("label") or "" for c in _children(entry, "category")),
        )

    def _url_entry(self, entry: etree._Element, links: _Links) -> DiscoveredLink | None:
        result = links.result
        kids = _kids(entry)
        loc = kids.get("loc")
        url = links.accept(_text(loc), _base(loc if loc is not None else entry, self.source))
        if url is None:
            return None
        modified = _date(result, kids.get("lastmod"))
        news = kids.get("news")
        if news is None:
            return DiscoveredLink(url=url, kind="sitemap", source=self.source, modified=modified)
        self._has_news = True
        news_kids = _kids(news)
        publication = news_kids.get("publication")
        published = _date(result, news_kids.get("publication_date"))
        if published is None:
            result.count("no_date")
        return DiscoveredLink(
            url=url, kind="news_sitemap", source=self.source, published=published, modified=modified,
            title=_clean(_text(news_kids.get("title"))),
            language=_clean(_text(_kids(publication).get("language"))) if publication is not None else None,
            keywords=_unique(_text(news_kids.get("keywords")).split(",")),
        )

    def _index_entry(self, entry: etree._Element, links: _Links) -> None:
        result = links.result
        kids = _kids(entry)
        loc = kids.get("loc")
        raw = _text(loc).strip()
        base = _base(loc if loc is not None else entry, self.source)
        resolved = _join(base, raw) if raw else None
        if resolved is not None and canonicalize(resolved) == self._own:
            result.count("self_reference")
            return None
        url = links.accept(raw, base)
        if url is None:
            return None
        result.sitemaps.append(url)
        modified = _date(result, kids.get("lastmod"))
        if modified:
            result.sitemaps_modified[url] = modified
        return None


def _drop_read(el: etree._Element, parent: etree._Element, read: set[etree._Element]) -> None:
    """Empty ``el`` (just read) and take the read siblings before it out of the tree.

    lxml's rule for pull parsing: an element may be emptied at its end event, but the parser
    may still touch the element itself (libxml2 appends the next text to the last child) and
    anything not yet ended, so ``el`` stays and removal stops at the first sibling whose end
    has not been seen (a recovered break can leave one open; it stays, and is counted as
    truncated when the parser closes it).
    """
    el.clear()
    read.add(el)
    node = el.getprevious()
    while node is not None and (node in read or not isinstance(node.tag, str)):
        before = node.getprevious()
        read.discard(node)
        parent.remove(node)
        node = before


def _rss_link(item: etree._Element) -> str | None:
    """FeedBurner's origLink (the link itself goes through a redirector), then <link>, then
    an Atom link inside the item, then a permalink guid, then RDF's rdf:about."""
    kids = _kids(item)
    orig = _text(kids.get("origlink")).strip()
    if orig:
        return orig
    for link in _children(item, "link"):
        text = _text(link).strip()
        if text:
            return text
        if link.get("href") and (link.get("rel") or "alternate").strip().lower() == "alternate":
            return link.get("href")
    guid = kids.get("guid")
    if guid is not None and (guid.get("isPermaLink") or "true").strip().lower() != "false":
        text = _text(guid).strip()
        if text.lower().startswith(("http://", "https://")):  # a guid is never relative
            return text
    for key, value in item.attrib.items():
        if key.endswith("}about") and value.strip():
            return value
    return None


def _atom_link(entry: etree._Element) -> str | None:
    """rel="alternate" (the default), preferring an HTML type; else an http(s) <id>."""
    alternates = [
        link for link in _children(entry, "link")
        if (link.get("rel") or "alternate").strip().lower() == "alternate" and (link.get("href") or "").strip()
    ]
    html_links = [link for link in alternates
                  if (link.get("type") or "text/html").split(";")[0].strip().lower()
                  in ("text/html", "application/xhtml+xml")]
    for link in html_links or alternates:
        return link.get("href")
    entry_id = _text(_kids(entry).get("id")).strip()
    if entry_id.lower().startswith(("http://", "https://")):
        return entry_id
    return None


def _atom_text(el: etree._Element | None) -> str | None:
    """Atom text constructs: type="html" carries escaped markup, which is not part of a title."""
    if el is None:
        return None
    text = _text(el)
    if (el.get("type") or "").strip().lower() == "html":
        text = html.unescape(remove_tags(text))
    return _clean(text)


def _unique(values) -> list[str]:
    out: list[str] = []
    for value in values:
        value = _clean(value, 200)
        if value and value not in out:
            out.append(value)
    return out


def stream_feed(body: bytes, source_url: str) -> LinkStream:
    """:func:`parse_feed`'s links as a :class:`LinkStream`, read as they are asked for."""
    return LinkStream(body, source_url, sitemap=False)


def stream_sitemap(body: bytes, source_url: str, max_urls: int = 50000) -> LinkStream:
    """:func:`parse_sitemap`'s links as a :class:`LinkStream`, read as they are asked for."""
    return LinkStream(body, source_url, sitemap=True, max_urls=max_urls)


def parse_feed(body: bytes, source_url: str) -> ParseResult:
    """Items of an RSS 0.9x/2.0, RDF/RSS 1.0 or Atom 1.0 feed as ``kind="feed"`` links.

    Keeps each item's link, title, publication and update dates, language (item, xml:lang,
    then channel) and categories. A sitemap given here is an error ("wrong_root"), so is HTML
    ("html"): a feed URL that redirects to a front page is a common failure worth seeing.
    """
    stream = LinkStream(body, source_url, sitemap=False, hold=False)
    stream.result.links.extend(stream)
    return stream.result


def parse_sitemap(body: bytes, source_url: str, max_urls: int = 50000) -> ParseResult:
    """URLs of a sitemap (plain or Google News urlset) or child sitemaps of a sitemap index.

    Raw gzip bodies (``.xml.gz``) are decompressed here, up to MAX_DOCUMENT_BYTES. News entries
    keep news:publication_date, news:title, news:publication/news:language and news:keywords;
    lastmod becomes ``modified``. At most ``max_urls`` links (or child sitemaps) are kept, the
    rest counted as "over_limit". An index that lists itself does not loop. RSS and Atom
    feeds are accepted too, as search engines accept them in place of a sitemap.
    """
    stream = LinkStream(body, source_url, sitemap=True, max_urls=max_urls, hold=False)
    stream.result.links.extend(stream)
    return stream.result


# --- robots.txt and HTML ----------------------------------------------------------------------


def parse_robots_sitemaps(body: bytes, base_url: str) -> list[str]:
    """Absolute http(s) URLs of a robots.txt's ``Sitemap:`` lines, in order, without repeats.

    Protego (Scrapy's robots.txt parser) reads the lines, so "sitemap" matches in any case, as
    everywhere else robots.txt is read. Only the first MAX_ROBOTS_BYTES are read.
    """
    data = _as_bytes(body)[:MAX_ROBOTS_BYTES]
    text = data.decode("utf-8", "replace").lstrip("\ufeff")
    try:
        found = list(Protego.parse(text).sitemaps)
    except (ValueError, TypeError):
        return []
    return _absolute_unique(found, base_url)


def _absolute_unique(candidates, base_url: str) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for candidate in candidates:
        url = _join(base_url, (candidate or "").strip())
        if url and is_http_url(url):
            key = canonicalize(url)
            if key not in seen:
                seen.add(key)
                out.append(url)
    return out


def html_feed_links(html_head: bytes | str, base_url: str) -> list[str]:
    """Feeds a page announces with ``<link rel="alternate" type="application/rss+xml">`` (or
    atom+xml, rdf+xml), resolved against ``<base href>`` and the page URL, in page order."""
    if not html_head:
        return []
    if isinstance(html_head, str):
        html_head = html_head.encode("utf-8", "replace")
    html_head = _as_bytes(html_head)
    try:
        doc = lxml.html.document_fromstring(html_head)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return []
    base = base_url
    for el in doc.iter("base"):
        href = (el.get("href") or "").strip()
        if href:
            base = _join(base_url, href) or base_url
        break
    hrefs = []
    for el in doc.iter("link"):
        rel = (el.get("rel") or "").lower().split()
        mime = (el.get("type") or "").split(";")[0].strip().lower()
        if "alternate" in rel and mime in _FEED_TYPES:
            hrefs.append(el.get("href"))
    return _absolute_unique(hrefs, base)


_LEADING_SPACE = re.compile(r"\s*")
_HTML_CHUNK = 64 * 1024  # characters


def html_hrefs(text: str) -> Iterator[str | None]:
    """The ``href`` of every ``<a>`` of an HTML page, in page order, from a tree that does not grow.

    The page is parsed as Scrapy's selector parses it (parsel: stripped, NULs removed, lxml's
    HTML parser in recover mode with huge_tree), but a piece at a time by a pull parser that
    reports the start of ``<a>`` elements only (their attributes are complete then, and starts
    come in page order, as ``iter("a")`` gives them; a recovered page can nest links); after
    each piece what precedes the last link read (along its ancestors) leaves the tree. A front
    page listing 20,000 stories is otherwise a 20 MB tree built to read one attribute per link.
    """
    parser = etree.HTMLPullParser(events=("start",), tag="a", recover=True, encoding="utf-8", huge_tree=True,
                                  no_network=True)
    start = _LEADING_SPACE.match(text).end()
    end = len(text.rstrip())
    last = None
    try:
        for offset in range(start, end, _HTML_CHUNK):
            parser.feed(text[offset:min(offset + _HTML_CHUNK, end)].replace("\x00", "").encode("utf-8"))
            for _event, a in parser.read_events():
                last = a
                yield a.get("href")
            if last is not None:
                _drop_before(last)
        parser.close()
    except (etree.XMLSyntaxError, etree.ParserError, ValueError, TypeError):
        return
    for _event, a in parser.read_events():
        yield a.get("href")


def _drop_before(el: etree._Element) -> None:
    """Take out of the tree everything before ``el`` and before each of its ancestors: all of it
    has ended (the parser only adds to the chain of open elements), and none of it is a last
    child, which the parser may still append text to."""
    node: etree._Element | None = el
    while node is not None:
        parent = node.getparent()
        if parent is None:
            break
        while (before := node.getprevious()) is not None:
            parent.remove(before)
        node = parent


# --- sniffing ---------------------------------------------------------------------------------

_COMMENT_RE = re.compile(rb"<!--.*?(?:-->|$)", re.DOTALL)
_FIRST_TAG_RE = re.compile(rb"<(?![?!/])([A-Za-z_][\w:.\-]*)")
_ROBOTS_LINE_RE = re.compile(
    rb"^[ \t]*(?:user-agent|disallow|allow|sitemap|crawl-delay)[ \t]*:", re.IGNORECASE | re.MULTILINE
)


def sniff(body: bytes, content_type: str | None, url: str) -> str:
    """What a response is: "feed", "sitemap", "robots", "html" or "other".

    By content first (the root element of XML, an HTML doctype or tag, robots.txt directives),
    since servers label feeds text/xml, text/html or octet-stream; then the Content-Type; then
    the URL. Looks at SNIFF_BYTES only (after gzip, for a raw .xml.gz).
    """
    data = _as_bytes(body)[:MAX_DOCUMENT_BYTES]
    head = data[:SNIFF_BYTES]
    if head[:2] == _GZIP_MAGIC:
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, SNIFF_BYTES)
        except zlib.error:
            head = b""
    by_content = _sniff_content(head)
    if by_content:
        return by_content
    by_type = _sniff_type(content_type)
    if by_type:
        return by_type
    return _sniff_url(url)


def _sniff_content(head: bytes) -> str | None:
    # UTF-16 documents would hide their tags from byte regexes; one decode fixes that.
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        head = head.decode("utf-16", "ignore").encode("utf-8")
    text = _COMMENT_RE.sub(b"", head.lstrip(b"\xef\xbb\xbf \t\r\n"))
    lowered = text.lower()
    if lowered.startswith(b"<!doctype html"):
        return "html"
    m = _FIRST_TAG_RE.search(text)
    if m:
        name = m.group(1).rsplit(b":", 1)[-1].lower().decode("ascii", "replace")
        if name in _FEED_ROOTS:
            return "feed"
        if name in _SITEMAP_ROOTS:
            return "sitemap"
        if name in ("html", "head", "body"):
            return "html"
        if lowered.lstrip().startswith(b"<"):
            return None  # some other markup: let the Content-Type or URL decide
    if _ROBOTS_LINE_RE.search(text):
        return "robots"
    return None


def _sniff_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    mime = content_type.split(";")[0].strip().lower()
    if mime in _FEED_TYPES:
        return "feed"
    if mime in ("text/html", "application/xhtml+xml"):
        return "html"
    return None


def _sniff_url(url: str) -> str:
    path = (url or "").split("#", 1)[0].split("?", 1)[0].lower()
    if path.endswith("/robots.txt"):
        return "robots"
    name = path.rsplit("/", 1)[-1]
    if "sitemap" in name or ("sitemap" in path and name.endswith((".xml", ".xml.gz"))):
        return "sitemap"
    if name.endswith((".rss", ".atom", ".rdf")) or name in ("feed", "rss", "atom", "feed.xml", "rss.xml"):
        return "feed"
    if path.rstrip("/").endswith(("/feed", "/rss", "/atom")):
        return "feed"
    if name.endswith((".html", ".htm", ".shtml", ".php", ".asp", ".aspx")):
        return "html"
    return "other"
