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
import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import lxml.html
from lxml import etree
from protego import Protego
from w3lib.html import remove_tags

from crawler.urlpolicy import canonicalize, is_http_url, resolve_href

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_ROBOTS_BYTES",
    "SNIFF_BYTES",
    "DiscoveredLink",
    "ParseResult",
    "html_feed_links",
    "parse_date",
    "parse_feed",
    "parse_robots_sitemaps",
    "parse_sitemap",
    "sniff",
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
_FEED_CHUNK = 1024 * 1024
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


# --- bytes -> tree ----------------------------------------------------------------------------


def _as_bytes(body: object) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8", "replace")
    return b""


def _gunzip(data: bytes, limit: int) -> tuple[bytes, str | None]:
    """Decompress every gzip member, stopping at ``limit`` output bytes (a gzip bomb).

    zlib directly rather than gzip.decompress: only a decompressobj can bound its output.
    A truncated stream yields what was decompressed; the XML parser reports the rest.
    """
    out: list[bytes] = []
    size = 0
    rest = data
    try:
        while rest[:2] == _GZIP_MAGIC:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            chunk = d.decompress(rest, limit - size + 1)
            size += len(chunk)
            out.append(chunk)
            if size > limit or d.unconsumed_tail:
                return b"", "too_large"
            rest = d.unused_data
    except zlib.error:
        if not out:
            return b"", "bad_gzip"
    return b"".join(out), None


def _load(body: object) -> tuple[bytes, str | None]:
    data = _as_bytes(body)
    if len(data) > MAX_DOCUMENT_BYTES:
        return b"", "too_large"
    if data[:2] == _GZIP_MAGIC:
        data, error = _gunzip(data, MAX_DOCUMENT_BYTES)
        if error:
            return b"", error
    if not data.strip():
        return b"", "empty"
    return data, None


def _parse_xml(data: bytes) -> tuple[etree._Element | None, bool, set[etree._Element]]:
    """(root, malformed, unfinished). Recover mode keeps what precedes a break; entities stay
    unresolved.

    A pull parser rather than fromstring: elements whose end tag never came are closed by the
    recovery only at close(), so their end events arrive after it. They are the entry cut off
    by a truncation, whose half-read URL must not be fetched.
    """
    parser = etree.XMLPullParser(
        events=("end",), recover=True, resolve_entities=False, no_network=True, huge_tree=False,
        load_dtd=False, dtd_validation=False,
    )
    try:
        for start in range(0, len(data), _FEED_CHUNK):
            parser.feed(data[start:start + _FEED_CHUNK])
            for _ in parser.read_events():  # drained as we go: memory stays flat
                pass
        root = parser.close()
        unfinished = {el for _event, el in parser.read_events()}
    except (etree.XMLSyntaxError, etree.ParserError, ValueError, TypeError):
        return None, True, set()
    malformed = any(e.level >= etree.ErrorLevels.ERROR for e in parser.feed_error_log)
    return root, malformed, unfinished


def _open(body: object) -> tuple[ParseResult, etree._Element | None, str, set[etree._Element]]:
    """Common start of both parsers: a result to fill, the root (or None), its local name and
    the elements a truncation left unfinished."""
    result = ParseResult(doc_type="unknown")
    data, error = _load(body)
    if error:
        result.error = error
        return result, None, "", set()
    root, malformed, unfinished = _parse_xml(data)
    if root is None or not isinstance(root.tag, str):
        result.error = "not_xml"
        return result, None, "", set()
    name = _local(root)
    if name == "html":
        result.error = "html"
        return result, None, name, set()
    if malformed:
        result.error = "malformed"
    return result, root, name, unfinished


# --- tree helpers -----------------------------------------------------------------------------


def _local(el: etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].lower()


def _children(el: etree._Element, *names: str) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str) and (not names or _local(c) in names)]


def _first(el: etree._Element, *names: str) -> etree._Element | None:
    for c in el:
        if isinstance(c.tag, str) and _local(c) in names:
            return c
    return None


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

    def __init__(self, result: ParseResult, source_url: str, unfinished: set[etree._Element],
                 limit: int | None = None) -> None:
        self.result = result
        self.source = source_url
        self.unfinished = unfinished
        self.limit = limit
        self.seen: set[str] = set()

    def complete(self, entry: etree._Element) -> bool:
        """False, counted as "truncated", for the entry a truncation cut off."""
        if entry in self.unfinished:
            self.result.count("truncated")
            return False
        return True

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
        key = canonicalize(url)
        if key in self.seen:
            self.result.count("duplicate")
            return None
        self.seen.add(key)
        return url


# --- feeds ------------------------------------------------------------------------------------


def parse_feed(body: bytes, source_url: str) -> ParseResult:
    """Items of an RSS 0.9x/2.0, RDF/RSS 1.0 or Atom 1.0 feed as ``kind="feed"`` links.

    Keeps each item's link, title, publication and update dates, language (item, xml:lang,
    then channel) and categories. A sitemap given here is an error ("wrong_root"), so is HTML
    ("html"): a feed URL that redirects to a front page is a common failure worth seeing.
    """
    result, root, name, unfinished = _open(body)
    if root is None:
        return result
    doc_type = _FEED_ROOTS.get(name)
    if doc_type is None:
        result.error = "wrong_root"
        return result
    result.doc_type = doc_type
    links = _Links(result, source_url, unfinished)
    if doc_type == "atom":
        _atom_entries(root, source_url, links)
    else:
        _rss_items(root, source_url, links)
    return result


def _rss_items(root: etree._Element, source_url: str, links: _Links) -> None:
    result = links.result
    channel = _first(root, "channel")
    channel_lang = None
    if channel is not None:
        channel_lang = _clean(_text(_first(channel, "language"))) or _xml_lang(channel)
    # RSS 2.0 nests items in <channel>; RSS 0.90 and RDF/RSS 1.0 put them beside it.
    items = (_children(channel, "item") if channel is not None else []) + _children(root, "item")
    for item in items:
        if not links.complete(item):
            continue
        base = _base(item, source_url)
        url = links.accept(_rss_link(item), base)
        if url is None:
            continue
        published = _date(result, _first(item, "pubdate"), _first(item, "date"),
                          _first(item, "published"), _first(item, "issued"), _first(item, "created"))
        if published is None:
            result.count("no_date")
        modified = _date(result, _first(item, "updated"), _first(item, "modified"))
        result.links.append(DiscoveredLink(
            url=url, kind="feed", source=source_url, published=published, modified=modified,
            title=_clean(_text(_first(item, "title"))),
            language=_clean(_text(_first(item, "language"))) or _xml_lang(item) or channel_lang,
            keywords=_unique(_text(c) for c in _children(item, "category", "subject")),
        ))


def _rss_link(item: etree._Element) -> str | None:
    """FeedBurner's origLink (the link itself goes through a redirector), then <link>, then
    an Atom link inside the item, then a permalink guid, then RDF's rdf:about."""
    orig = _text(_first(item, "origlink")).strip()
    if orig:
        return orig
    for link in _children(item, "link"):
        text = _text(link).strip()
        if text:
            return text
        if link.get("href") and (link.get("rel") or "alternate").strip().lower() == "alternate":
            return link.get("href")
    guid = _first(item, "guid")
    if guid is not None and (guid.get("isPermaLink") or "true").strip().lower() != "false":
        text = _text(guid).strip()
        if text.lower().startswith(("http://", "https://")):  # a guid is never relative
            return text
    for key, value in item.attrib.items():
        if key.endswith("}about") and value.strip():
            return value
    return None


def _atom_entries(root: etree._Element, source_url: str, links: _Links) -> None:
    result = links.result
    for entry in _children(root, "entry"):
        if not links.complete(entry):
            continue
        base = _base(entry, source_url)
        url = links.accept(_atom_link(entry), base)
        if url is None:
            continue
        # atom:published is optional; atom:updated is required and stands in for it.
        modified = _date(result, _first(entry, "updated"))
        published = _date(result, _first(entry, "published")) or modified
        if published is None:
            result.count("no_date")
        result.links.append(DiscoveredLink(
            url=url, kind="feed", source=source_url, published=published, modified=modified,
            title=_atom_text(_first(entry, "title")),
            language=_xml_lang(entry),
            keywords=_unique(c.get("term") or c.get("label") or "" for c in _children(entry, "category")),
        ))


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
    entry_id = _text(_first(entry, "id")).strip()
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


# --- sitemaps ---------------------------------------------------------------------------------


def parse_sitemap(body: bytes, source_url: str, max_urls: int = 50000) -> ParseResult:
    """URLs of a sitemap (plain or Google News urlset) or child sitemaps of a sitemap index.

    Raw gzip bodies (``.xml.gz``) are decompressed here, up to MAX_DOCUMENT_BYTES. News entries
    keep news:publication_date, news:title, news:publication/news:language and news:keywords;
    lastmod becomes ``modified``. At most ``max_urls`` links (or child sitemaps) are kept, the
    rest counted as "over_limit". An index that lists itself does not loop. RSS and Atom
    feeds are accepted too, as search engines accept them in place of a sitemap.
    """
    result, root, name, unfinished = _open(body)
    if root is None:
        return result
    if name in _FEED_ROOTS:
        return parse_feed(body, source_url)
    if name not in _SITEMAP_ROOTS:
        result.error = "wrong_root"
        return result
    limit = max(0, max_urls)
    if name == "sitemapindex":
        result.doc_type = "sitemapindex"
        _index_entries(root, source_url, _Links(result, source_url, unfinished, limit))
        return result
    news_declared = any("sitemap-news" in (ns or "") for ns in root.nsmap.values())
    has_news = False
    links = _Links(result, source_url, unfinished, limit)
    for entry in _children(root, "url"):
        if not links.complete(entry):
            continue
        loc = _first(entry, "loc")
        url = links.accept(_text(loc), _base(loc if loc is not None else entry, source_url))
        if url is None:
            continue
        modified = _date(result, _first(entry, "lastmod"))
        news = _first(entry, "news")
        if news is None:
            result.links.append(DiscoveredLink(url=url, kind="sitemap", source=source_url,
                                               modified=modified))
            continue
        has_news = True
        publication = _first(news, "publication")
        published = _date(result, _first(news, "publication_date"))
        if published is None:
            result.count("no_date")
        result.links.append(DiscoveredLink(
            url=url, kind="news_sitemap", source=source_url, published=published, modified=modified,
            title=_clean(_text(_first(news, "title"))),
            language=_clean(_text(_first(publication, "language"))) if publication is not None else None,
            keywords=_unique(_text(_first(news, "keywords")).split(",")),
        ))
    result.doc_type = "news_urlset" if has_news or news_declared else "urlset"
    return result


def _index_entries(root: etree._Element, source_url: str, links: _Links) -> None:
    result = links.result
    # The index itself counts as seen, so an index listing itself is a "self_reference".
    own = canonicalize(source_url)
    for entry in _children(root, "sitemap"):
        if not links.complete(entry):
            continue
        loc = _first(entry, "loc")
        raw = _text(loc).strip()
        base = _base(loc if loc is not None else entry, source_url)
        resolved = _join(base, raw) if raw else None
        if resolved is not None and canonicalize(resolved) == own:
            result.count("self_reference")
            continue
        url = links.accept(raw, base)
        if url is None:
            continue
        result.sitemaps.append(url)
        modified = _date(result, _first(entry, "lastmod"))
        if modified:
            result.sitemaps_modified[url] = modified


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
