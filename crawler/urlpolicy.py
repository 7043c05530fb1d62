"""The spider's link policy: which URLs are the same, which are worth a request, what they look like.

Pure functions of the URL string (no DNS, no network, no Scrapy objects), so the same policy
applies to links from pages, feeds and sitemaps and is cheap enough to run on every anchor.
None of them raises: a malformed URL is an ordinary input on the web, not an error.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
import socket
from functools import lru_cache
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import tldextract
from scrapy.linkextractors import IGNORED_EXTENSIONS
from w3lib.url import canonicalize_url

__all__ = [
    "MAX_PAGE",
    "MAX_QUERY_PARAMS",
    "MAX_URL_LENGTH",
    "canonicalize",
    "is_http_url",
    "is_private_host",
    "resolve_href",
    "site_of",
    "strip_userinfo",
    "trap_reason",
    "url_kind",
]

#: Listing pages beyond this number are reached through feeds and sitemaps, not by paging.
MAX_PAGE = 5
#: Longer URLs are almost always generated (session state, filters, loops), never articles.
MAX_URL_LENGTH = 2000
#: More query parameters than this means faceted search or tracking, not a news page.
MAX_QUERY_PARAMS = 8

# Query parameters that identify a visit or a campaign, never the resource. Only names whose
# meaning is unambiguous are listed: dropping a parameter that selects content would merge
# different pages. Compared lower-cased.
_TRACKING_PARAMS = frozenset({
    # session ids
    "jsessionid", "phpsessid", "sid", "sessionid", "session_id", "aspsessionid", "cfid", "cftoken",
    # click ids
    "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "twclid", "ttclid", "igshid",
    "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id",
    # publisher campaign tags seen on news sites (Guardian CMP, NYT smid, AT Internet, comScore)
    "cmp", "smid", "ocid", "at_medium", "at_campaign", "at_custom1", "at_custom2", "at_custom3",
    "at_custom4", "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname", "ns_fee",
    "wt.mc_id", "wt_mc", "__twitter_impression", "xtor", "ito",
})
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_")
# Session ids carried as path parameters (Java ";jsessionid=", PHP) or ASP.NET cookieless
# sessions ("/(S(abc123))/").
_PATH_SESSION_RE = re.compile(r";(?:jsessionid|phpsessid|sid|sessionid)=[^/?#;]*", re.IGNORECASE)
_ASPNET_SESSION_RE = re.compile(r"/\((?:[A-Z]\([A-Za-z0-9]+\))+\)", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Host names that never resolve to the public internet: RFC 6761 localhost, RFC 8375 home.arpa,
# mDNS .local, and the ICANN-reserved private-use .internal.
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")
# Characters that cannot be in a host name: their presence means the "host" is garbage.
_BAD_HOST_CHARS = re.compile(r"[\s<>\"'{}|\\^`%,;()\[\]/?#@]")

_YEAR = r"(?:19|20)\d\d"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_DATE_SEGMENT_RE = re.compile(rf"{_YEAR}(?:-{_MONTH}(?:-{_DAY})?|{_MONTH}{_DAY})?|{_MONTH}|{_DAY}")
_YEAR_RE = re.compile(_YEAR)
_FULL_DATE_RE = re.compile(rf"(?:{_YEAR}-{_MONTH}-{_DAY}|{_YEAR}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))")
_CALENDAR_PARAMS = frozenset({"year", "month", "day", "date", "week", "calendar", "cal"})
_PAGINATION_PARAMS = frozenset({"page", "paged", "pg", "p"})
_PAGE_PATH_RE = re.compile(r"/page[/-](\d{1,9})(?:/|$)", re.IGNORECASE)

# Scrapy's own list of non-HTML extensions, minus "rss" (a feed is a discovery document, not an
# asset), plus modern formats it does not list yet.
_ASSET_EXTENSIONS = (frozenset(IGNORED_EXTENSIONS) - {"rss"}) | {
    "avif", "heic", "jfif", "svgz", "ico", "mjs", "map", "woff", "woff2", "ttf", "otf", "eot",
    "m3u8", "mpd", "mkv", "flac", "opus", "epub", "gz", "tgz",
}
_DISCOVERY_WORDS = frozenset({"feed", "feeds", "rss", "atom", "sitemap", "sitemaps", "robots.txt"})
_SECTION_WORDS = frozenset({
    "tag", "tags", "category", "categories", "topic", "topics", "author", "authors", "section",
    "sections", "search", "page", "archive", "archives", "people", "profile",
})
_ARTICLE_WORDS = frozenset({"article", "articles", "story", "stories", "post", "posts"})
_ARTICLE_QUERY_KEYS = frozenset({
    "id", "articleid", "article_id", "storyid", "story_id", "newsid", "news_id", "aid",
})
_ID_RUN_RE = re.compile(r"\d{5,}")


def _split(url: str):
    """urlsplit that reports failure as None (bad IPv6 literals and bad ports raise ValueError)."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - validates the port, which urlsplit leaves for later
    except (ValueError, TypeError, AttributeError):
        return None
    return parts


def _clean_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def canonicalize(url: str) -> str:
    """The one string a URL is known by for dedup and fingerprints.

    w3lib's canonical form (sorted query, normalised percent-encoding, no fragment) plus what
    makes the same article look different across visits: host case, default ports, session ids
    and campaign parameters. Trailing slashes and ``www.`` are kept: sites may serve different
    resources there, and merging two different pages loses one of them.
    """
    return _canonical(url) if isinstance(url, str) else ""


# An article URL is canonicalised some ten times on its way through a crawl (each discovery
# document that lists it, scheduling, the crawl state, the record's id, dedup), mostly within a
# few hundred pages of each other (discovery documents release 200 at a time, in the same order);
# w3lib's canonicalize_url is the costliest step of each. 4096 entries hold that window.
@functools.lru_cache(maxsize=4096)
def _canonical(url: str) -> str:
    stripped = url.strip()
    try:
        canon = canonicalize_url(stripped, keep_fragments=False)
        parts = urlsplit(canon)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            return canon
        host = parts.hostname.rstrip(".")
        if ":" in host:
            host = f"[{host}]"
        port = parts.port
        netloc = host if port in (None, _DEFAULT_PORTS[parts.scheme]) else f"{host}:{port}"
        if parts.username is not None:
            userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
            netloc = f"{userinfo}@{netloc}"
        path = _ASPNET_SESSION_RE.sub("", _PATH_SESSION_RE.sub("", parts.path)) or "/"
        # Filter the already-encoded query string pair by pair instead of re-encoding it with
        # urlencode, which would undo w3lib's normalisation.
        query = "&".join(
            pair for pair in parts.query.split("&") if pair and not _is_tracking(pair.split("=", 1)[0])
        )
        return urlunsplit((parts.scheme, netloc, path, query, ""))
    except (ValueError, TypeError, UnicodeError):
        return stripped


# RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). The first segment of a
# reference (before any "/", "?" or "#") that holds a ":" names a scheme (4.2: a relative path's
# first segment cannot hold one).
_SCHEME_PREFIX_RE = re.compile(r"^([^/?#]*):")
_VALID_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
# What browsers strip from hrefs before parsing them (WHATWG URL: C0 controls and spaces at the
# ends, tabs and newlines anywhere).
_HREF_EDGES = "".join(map(chr, range(0x21)))
_TAB_NEWLINE_RE = re.compile(r"[\t\n\r]")


def resolve_href(base: str, href: str) -> str | None:
    """The absolute http(s) URL an href (or a feed's link) points to, or None for no fetchable URL.

    ``urljoin`` alone follows RFC 1808's old leniency: ``http:///no-host`` or ``http:path``
    become paths on the *base's* host, and ``ht tp://x/`` a path segment. Here a reference with
    a scheme is absolute or nothing: a scheme other than http(s), a malformed scheme, or an http
    URL without a host give None. Fragment-only and empty references give None too (the page
    itself).
    """
    if not isinstance(href, str) or not isinstance(base, str):
        return None
    ref = _TAB_NEWLINE_RE.sub("", href.strip(_HREF_EDGES))
    if not ref or ref.startswith("#"):
        return None
    m = _SCHEME_PREFIX_RE.match(ref)
    if m is not None:
        scheme = m.group(1)
        if not _VALID_SCHEME_RE.fullmatch(scheme) or scheme.lower() not in _DEFAULT_PORTS:
            return None
        url = ref
    else:
        try:
            url = urljoin(base, ref)
        except ValueError:  # e.g. a bracketed base host that is not an IPv6 address
            return None
    return url if is_http_url(url) else None


def strip_userinfo(url: str) -> str:
    """``url`` without a user name and password (``http://user:pass@host/`` -> ``http://host/``).

    Credentials in a URL would otherwise travel with it into logs, WARC headers, the index and
    records. Only the authority is touched; a URL that does not parse is returned as it is.
    """
    if not isinstance(url, str) or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _is_tracking(name: str) -> bool:
    name = name.lower()
    return name in _TRACKING_PARAMS or name.startswith(_TRACKING_PREFIXES)


def is_http_url(url: str) -> bool:
    """Only http(s) URLs with a plausible host are fetchable; everything else is a skip.

    javascript:, mailto:, data:, tel: and friends are common in hrefs and feeds; a host with
    spaces or markup in it comes from broken HTML and would only produce DNS errors.
    """
    return _is_http_url(url) if isinstance(url, str) else False


@functools.lru_cache(maxsize=4096)  # asked of each article URL several times, like canonicalize
def _is_http_url(url: str) -> bool:
    parts = _split(url)
    if parts is None or parts.scheme.lower() not in _DEFAULT_PORTS:
        return False
    host = parts.hostname
    if not host:
        return False
    if ":" in host:  # IPv6 literal: urlsplit removed the brackets
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return False
        return True
    host = host.rstrip(".")
    return bool(host) and not _BAD_HOST_CHARS.search(host) and ".." not in host


@lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    # suffix_list_urls=() and cache_dir=None: the Public Suffix List snapshot bundled with
    # tldextract, no network fetch and no cache files. Private suffixes (blogspot.com,
    # github.io, ...) count, as in browsers: two blogs on one such host are two sites.
    return tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True, include_psl_private_domains=True
    )


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP literal in any form a resolver accepts, including "127.1" and "0x7f000001"."""
    host = _clean_host(host).split("%", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # inet_aton accepts the shorthand, octal and hex forms that getaddrinfo also accepts, so
    # "http://2130706433/" is 127.0.0.1 here as it is to the downloader. It does no DNS lookup.
    if host and re.fullmatch(r"(?:0x[0-9a-f]+|\d+)(?:\.(?:0x[0-9a-f]+|\d+)){0,3}", host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except (OSError, ValueError):
            return None
    return None


def site_of(url: str) -> str:
    """The registrable domain, so www.site.example and site.example are one site.

    Public-suffix aware (news.bbc.co.uk -> bbc.co.uk). A host under a suffix the list does not
    know (.example, .test, a company TLD) follows the list's default rule "*": its last two
    labels. IP literals are their own site, ports never matter. Returns "" when there is no host.
    Accepts a bare host name too.
    """
    if not isinstance(url, str):
        return ""
    # The crawl asks this for every link it sees, and the links of a site share a handful of
    # netlocs: a plain "scheme://netloc/..." is answered from a cache by its netloc.
    m = _PLAIN_NETLOC_RE.match(url)
    return _site_of_netloc(m.group(1)) if m else _site_of_url(url)


# "scheme://netloc" followed by a path, query, fragment or nothing, where the netloc has no
# whitespace, control characters or backslashes (those take the general path).
_PLAIN_NETLOC_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://([^/?#\s\x00-\x1f\\]*)(?=[/?#]|$)")


@functools.lru_cache(maxsize=4096)
def _site_of_netloc(netloc: str) -> str:
    return _site_of_url(f"//{netloc}")


def _site_of_url(url: str) -> str:
    parts = _split(url if "//" in url else f"//{url}")
    host = _clean_host(parts.hostname or "") if parts is not None else ""
    if not host:
        return ""
    ip = _ip(host)
    if ip is not None:
        return ip.compressed
    # One key for the Unicode and the punycode spelling; a name the codec rejects stays as is.
    return _site_of_host(host)


@functools.lru_cache(maxsize=4096)
def _site_of_host(host: str) -> str:
    """The registrable domain of a (cleaned, non-IP) host; cached because a crawl asks about the
    same few hosts for every link it sees."""
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    if host == "localhost" or "." not in host:
        return host
    ext = _extractor()(host)
    if ext.suffix and ext.domain:
        return f"{ext.domain}.{ext.suffix}"
    if ext.suffix:  # the host is itself a public suffix
        return host
    return ".".join(host.split(".")[-2:])


def is_private_host(host: str) -> bool:
    """Hosts that are not on the public internet, judged from the name alone (no DNS).

    Loopback, private, link-local, carrier-grade NAT, multicast, unspecified and reserved IP
    literals (including IPv4-mapped IPv6 and the numeric shorthands resolvers accept), and
    names reserved for local use. A public name that resolves to a private address is not
    caught here: that needs the resolved IP, which only the downloader has.
    """
    if not isinstance(host, str):
        return False
    host = _clean_host(host)
    if not host:
        return False
    if host == "localhost" or host.endswith(_PRIVATE_SUFFIXES):
        return True
    ip = _ip(host)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast or ip.is_reserved


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _query_pairs(query: str) -> list[tuple[str, str]]:
    pairs = []
    for pair in query.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            pairs.append((key.lower(), value))
    return pairs


def trap_reason(url: str) -> str | None:
    """Why following this URL would likely lead into an endless or useless space, else None.

    URL-only and cheap: calendars and deep pagination are generated without end, repeating
    path segments are relative-link loops, very long URLs and many parameters are facets and
    session state. Articles are reached through feeds, sitemaps and front pages instead.
    Checked in this order: too_long, too_many_params, repeated_segments, calendar, pagination.
    """
    if not isinstance(url, str):
        return None
    if len(url) > MAX_URL_LENGTH:
        return "too_long"
    parts = _split(url)
    if parts is None:
        return None
    params = _query_pairs(parts.query)
    if len(params) > MAX_QUERY_PARAMS:
        return "too_many_params"
    segments = _segments(parts.path)
    counts: dict[str, int] = {}
    for seg in segments:
        counts[seg] = counts.get(seg, 0) + 1
        if counts[seg] >= 3:
            return "repeated_segments"
    if _is_date_archive(segments) or any(key in _CALENDAR_PARAMS for key, _ in params):
        return "calendar"
    page_numbers = [int(m) for m in _PAGE_PATH_RE.findall(parts.path)]
    wp_post = _is_wordpress_post(parts.path)
    page_numbers += [
        int(value) for key, value in params
        if key in _PAGINATION_PARAMS and value.isdigit() and len(value) < 10
        and not (key == "p" and wp_post)
    ]
    if any(n > MAX_PAGE for n in page_numbers):
        return "pagination"
    return None


def _is_wordpress_post(path: str) -> bool:
    """WordPress's plain permalinks are "/?p=<post id>": an article, not page <id> of a listing.
    Elsewhere (/search?q=x&p=7, /forum?p=9) "p" is a page number."""
    return path in ("", "/", "/index.php")


def _is_date_archive(segments: list[str]) -> bool:
    """A path that ends in date parts (/2025/, /2025/10/, /news/2025/10/22, /2025-10-22/).

    The last segment being a date part with a year before it (or being a full date itself)
    means there is no article slug: a date archive, which calendars generate without end.
    """
    if not segments or not _DATE_SEGMENT_RE.fullmatch(segments[-1]):
        return False
    if _YEAR_RE.fullmatch(segments[-1]) or _FULL_DATE_RE.fullmatch(segments[-1]):
        return True
    tail = []
    for seg in reversed(segments):
        if not _DATE_SEGMENT_RE.fullmatch(seg) or len(tail) == 3:
            break
        tail.append(seg)
    return any(_YEAR_RE.fullmatch(seg) for seg in tail)


def url_kind(url: str) -> str:
    """A hint from the URL alone: "article", "section", "asset" or "unknown".

    Encodes how news sites shape URLs: articles carry a date and a slug, a long hyphenated
    slug, an id, or sit under /article/ or /story/; sections are the front page, short word
    paths and tag/category/author/search listings. A hint, not a verdict: the spider also
    looks at the page, and site configs can override it.
    """
    if not is_http_url(url):
        return "unknown"
    parts = _split(url)
    if parts is None:
        return "unknown"
    segments = _segments(parts.path)
    # Decoded: slugs in Cyrillic, Arabic, accented Latin arrive percent-encoded.
    lowered = [unquote(s).lower() for s in segments]
    stem, dot, ext = (lowered[-1] if lowered else "").rpartition(".")
    if not dot:
        stem, ext = ext, ""
    if stem in ("index", "default") and ext in ("html", "htm", "shtml", "php", "asp", "aspx", "jsp"):
        # /world/index.html is /world/: judge the directory.
        segments, lowered = segments[:-1], lowered[:-1]
        stem, ext = (lowered[-1] if lowered else ""), ""
    if ext in _ASSET_EXTENSIONS:
        return "asset"
    if ext in ("xml", "rss", "atom", "rdf") or any(seg in _DISCOVERY_WORDS for seg in lowered):
        return "unknown"  # feeds and sitemaps: discovery documents, neither article nor section
    params = _query_pairs(parts.query)
    if _is_wordpress_post(parts.path) and any(k == "p" and v.isdigit() for k, v in params):
        return "article"
    if _dated_slug(lowered):
        return "article"
    if not segments or any(seg in _SECTION_WORDS for seg in lowered):
        return "section"
    if any(seg in _ARTICLE_WORDS for seg in lowered[:-1]):
        return "article"
    if _is_slug(stem, min_words=4) or _has_id(stem):
        return "article"
    if len(lowered) >= 2 and lowered[-2] == "news" and _is_slug(stem, min_words=3):
        return "article"
    if any(key in _ARTICLE_QUERY_KEYS and value.isdigit() for key, value in params):
        return "article"
    if _is_date_archive(segments):
        return "section"
    if len(segments) <= 3 and not ext and all(_is_word(seg) for seg in lowered):
        return "section"
    return "unknown"


def _dated_slug(segments: list[str]) -> bool:
    """A date (/2025/10/22/, /2025/10/, /2025-10-22/, /20251022/) followed later by a slug."""
    for i, seg in enumerate(segments):
        if _YEAR_RE.fullmatch(seg) or _FULL_DATE_RE.fullmatch(seg):
            rest = segments[i + 1:]
            while rest and _DATE_SEGMENT_RE.fullmatch(rest[0]):
                rest = rest[1:]
            if rest and rest[-1] not in _SECTION_WORDS:
                stem, dot, _ext = rest[-1].rpartition(".")
                stem = stem if dot else rest[-1]
                if _is_slug(stem, min_words=2) or _has_id(stem) or (dot and not stem.isdigit()):
                    return True
    return False


def _is_slug(stem: str, min_words: int) -> bool:
    words = [w for w in re.split(r"[-_+]", stem) if w]
    return len(words) >= min_words and sum(1 for w in words if w.isalpha()) >= min_words - 1


def _has_id(stem: str) -> bool:
    """An id-like name: a run of 5+ digits that is not just a date (article-123456, 98765432)."""
    return bool(_ID_RUN_RE.search(stem)) and not _FULL_DATE_RE.fullmatch(stem)


def _is_word(segment: str) -> bool:
    """A section-like segment: one or two plain words ("politics", "world-news")."""
    words = segment.split("-")
    return 1 <= len(words) <= 2 and all(w.isalpha() for w in words)
