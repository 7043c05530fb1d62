"""Article metadata from what publishers declare: schema.org ld+json, Open Graph, <meta>, <time>.

trafilatura's own ``extract_metadata`` covers the same ground but costs about as much as the
text extraction itself (it runs htmldate's full search on every page); news pages declare
almost everything in ld+json and Open Graph, so those are read first and htmldate runs only
on pages that declare no date at all.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml.html import HtmlElement

ARTICLE_TYPES = frozenset(
    {
        "article",
        "newsarticle",
        "reportagenewsarticle",
        "analysisnewsarticle",
        "opinionnewsarticle",
        "reviewnewsarticle",
        "backgroundnewsarticle",
        "askpublicnewsarticle",
        "blogposting",
        "liveblogposting",
        "socialmediaposting",
        "scholarlyarticle",
        "techarticle",
        "report",
        "satiricalarticle",
        "advertisercontentarticle",
        "medicalscholarlyarticle",
        "reviewarticle",
    }
)
LISTING_TYPES = frozenset({"collectionpage", "itemlist", "searchresultspage", "profilepage"})

_SPACE = re.compile(r"\s+")
_TITLE_SEPARATORS = re.compile(r"\s+(?:[|\-–—·•»:]|::)\s+")
_BYLINE_PREFIX = re.compile(r"^\s*(?:by|von|par|por|di|door|av|af)\s+", re.IGNORECASE)
_AUTHOR_SPLIT = re.compile(r"\s*(?:,|;|&|\band\b|\bund\b|\bet\b|\by\b|\be\b)\s*", re.IGNORECASE)
_NOT_A_NAME = re.compile(r"https?://|www\.|@|\d{3,}|^\W*$")


def clean(text: Any) -> str:
    """One line, single spaces, HTML entities decoded (CMSs escape ld+json strings as HTML);
    non-strings give ''."""
    if not isinstance(text, str):
        return ""
    if "&" in text:
        text = html.unescape(text)
    return _SPACE.sub(" ", text).strip()


# ---------------------------------------------------------------------------- ld+json


def _flatten(node: Any) -> Iterator[dict]:
    if isinstance(node, list):
        for item in node:
            yield from _flatten(item)
    elif isinstance(node, dict):
        yield node
        graph = node.get("@graph")
        if graph is not None:
            yield from _flatten(graph)
        main = node.get("mainEntity")
        if isinstance(main, (dict, list)):
            yield from _flatten(main)


def read_ldjson(tree: HtmlElement) -> list[dict]:
    """Every schema.org object of the page's ld+json scripts; broken JSON is skipped."""
    objects: list[dict] = []
    for script in tree.iterfind('.//script[@type="application/ld+json"]'):
        raw = (script.text or "").strip()
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            # CMSs leave raw newlines/tabs inside strings; JSON forbids them, browsers don't care.
            try:
                data = json.loads(_SPACE.sub(" ", raw), strict=False)
            except ValueError:
                continue
        objects.extend(_flatten(data))
    return objects


def ld_types(obj: dict) -> set[str]:
    kind = obj.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {k.lower().rsplit("/", 1)[-1] for k in kinds if isinstance(k, str)}


def article_object(objects: Iterable[dict]) -> dict | None:
    """The first ld+json object typed as an article (NewsArticle, BlogPosting, ...)."""
    for obj in objects:
        if ld_types(obj) & ARTICLE_TYPES:
            return obj
    return None


def _names(value: Any) -> list[str]:
    """Names out of schema.org Person/Organization values (dict, list or plain string)."""
    out: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            name = item.get("name")
            if isinstance(name, list):
                name = " ".join(n for n in name if isinstance(n, str))
            out.append(clean(name))
        elif isinstance(item, str):
            out.append(clean(item))
    return [n for n in out if n]


# ---------------------------------------------------------------------------- <meta>


def read_meta(tree: HtmlElement) -> dict[str, list[str]]:
    """<meta> values by lowercased property/name/itemprop, in document order."""
    meta: dict[str, list[str]] = {}
    for el in tree.iter("meta"):
        key = el.get("property") or el.get("name") or el.get("itemprop") or el.get("http-equiv")
        value = el.get("content")
        if key and value and (value := value.strip()):
            meta.setdefault(key.strip().lower(), []).append(value)
    return meta


def _first(meta: dict[str, list[str]], *keys: str) -> str:
    for key in keys:
        for value in meta.get(key, ()):
            if value := clean(value):
                return value
    return ""


# ---------------------------------------------------------------------------- fields


def _site_matches(part: str, site_name: str, host: str) -> bool:
    part_key = re.sub(r"\W+", "", part.lower())
    if not part_key:
        return False
    site_key = re.sub(r"\W+", "", site_name.lower())
    host_key = re.sub(r"\W+", "", host.lower().removeprefix("www."))
    return bool(
        (site_key and (part_key == site_key or part_key in site_key or site_key in part_key))
        or (host_key and (part_key in host_key or host_key.startswith(part_key)))
    )


def strip_site_name(title: str, site_name: str, host: str) -> str:
    """'Headline - Site Name' -> 'Headline' (either end), only when the cut part is the site."""
    parts = _TITLE_SEPARATORS.split(title)
    if len(parts) < 2:
        return title
    if _site_matches(parts[-1], site_name, host):
        return clean(" - ".join(parts[:-1])) if len(parts) > 2 else parts[0]
    if _site_matches(parts[0], site_name, host):
        return clean(" ".join(parts[1:])) if len(parts) > 2 else parts[1]
    return title


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def pick_title(
    article: dict | None, meta: dict[str, list[str]], tree: HtmlElement, site_name: str, host: str
) -> str | None:
    """The headline: the page's <h1> when a declared title confirms it, else the declared one.

    Declared titles (ld+json headline, og:title) are reliable but often carry the site name or a
    SEO variant; the <h1> is what readers see. An <h1> wins when it matches a declared title
    (after dropping the site name), so sidebar or logo <h1>s never do.
    """
    declared = [
        clean(article.get("headline")) if article else "",
        _first(meta, "og:title", "twitter:title", "dc.title", "headline"),
    ]
    title_el = tree.find(".//title")
    page_title = clean(title_el.text_content()) if title_el is not None else ""
    declared = [strip_site_name(t, site_name, host) for t in declared if t]
    h1s = [clean(h.text_content()) for h in tree.iter("h1")]
    h1s = [h for h in h1s if 3 <= len(h) <= 400]
    keys = {_norm(t) for t in [*declared, strip_site_name(page_title, site_name, host)] if t}
    for h1 in h1s:
        if _norm(h1) in keys:
            return h1
    if declared:
        return declared[0]
    if page_title:
        stripped = strip_site_name(page_title, site_name, host)
        # an <h1> that the <title> starts with is the headline with the site name cut off
        for h1 in h1s:
            if _norm(page_title).startswith(_norm(h1)) and len(h1) > 10:
                return h1
        return stripped
    return h1s[0] if h1s else None


def parse_date(value: Any) -> str | None:
    """A declared date as ISO 8601 (date-time with offset when given, else the date)."""
    text = clean(value)
    if not text:
        return None
    candidate = text.replace("Z", "+00:00") if text.endswith("Z") else text
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        parsed = None
    if parsed is None:
        try:
            from dateutil import parser as dateutil_parser

            parsed = dateutil_parser.parse(text, fuzzy=False)
        except (ValueError, OverflowError, TypeError):
            return None
    if not 1990 <= parsed.year <= 2100:
        return None
    if parsed.hour == parsed.minute == parsed.second == 0 and ":" not in text:
        return parsed.date().isoformat()  # no time given: a date, not midnight
    return parsed.isoformat()


_PUBLISHED_META = (
    "article:published_time",
    "og:published_time",
    "og:article:published_time",
    "datepublished",
    "article.published",
    "published_time",
    "publish-date",
    "publishdate",
    "pubdate",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dcterms.created",
    "dc.date",
    "date",
    "article_date_original",
    "cxenseparse:recs:publishtime",
)
_MODIFIED_META = (
    "article:modified_time",
    "og:updated_time",
    "datemodified",
    "article.updated",
    "last-modified",
    "dcterms.modified",
    "dc.date.modified",
)


def _time_element_date(tree: HtmlElement, itemprop: str) -> str | None:
    for el in tree.iterfind(f'.//*[@itemprop="{itemprop}"]'):
        value = parse_date(el.get("datetime") or el.get("content") or el.text_content())
        if value:
            return value
    return None


def pick_dates(
    article: dict | None, meta: dict[str, list[str]], tree: HtmlElement
) -> tuple[str | None, str | None, str]:
    """(published, modified, where published came from: ldjson|meta|markup|time|htmldate|'')."""
    published = (
        parse_date(article.get("datePublished") or article.get("dateCreated")) if article else None
    )
    source = "ldjson" if published else ""
    if not published:
        for key in _PUBLISHED_META:
            if published := parse_date(_first(meta, key)):
                source = "meta"
                break
    if not published and (published := _time_element_date(tree, "datePublished")):
        source = "markup"
    if not published:
        for el in tree.iterfind(".//time[@datetime]"):
            if published := parse_date(el.get("datetime")):
                source = "time"
                break
    modified = parse_date(article.get("dateModified")) if article else None
    if not modified:
        for key in _MODIFIED_META:
            if modified := parse_date(_first(meta, key)):
                break
    if not modified:
        modified = _time_element_date(tree, "dateModified")
    return published, modified, source


def htmldate_published(tree: HtmlElement, url: str | None) -> str | None:
    """htmldate's quick search, for pages that declare no date (slow: called only then)."""
    try:
        from htmldate import find_date

        found = find_date(tree, extensive_search=False, original_date=True, url=url)
    except Exception:  # htmldate on odd markup must not cost the article
        return None
    return parse_date(found)


def pick_authors(article: dict | None, meta: dict[str, list[str]], tree: HtmlElement) -> list[str]:
    names: list[str] = _names(article.get("author")) if article else []
    if not names:
        names = [
            v
            for key in (
                "author",
                "article:author",
                "parsely-author",
                "sailthru.author",
                "dc.creator",
            )
            for v in meta.get(key, ())
        ]
    if not names:
        for el in tree.iterfind('.//*[@rel="author"]'):
            names.append(el.text_content())
        for el in tree.iterfind('.//*[@itemprop="author"]'):
            inner = el.find('.//*[@itemprop="name"]')
            names.append((inner if inner is not None else el).text_content())
    out: list[str] = []
    seen: set[str] = set()
    for raw in names:
        raw = _BYLINE_PREFIX.sub("", clean(raw))
        parts = _AUTHOR_SPLIT.split(raw) if len(raw) > 40 or " and " in raw else [raw]
        for name in parts:
            name = clean(name).strip(" .|-")
            if not name or _NOT_A_NAME.search(name) or len(name.split()) > 6:
                continue
            if name.lower() not in seen:
                seen.add(name.lower())
                out.append(name)
    return out


def pick_language(
    tree: HtmlElement, meta: dict[str, list[str]], article: dict | None
) -> str | None:
    """ISO 639-1 primary subtag ('en' for 'en-US' or 'en_GB')."""
    html = tree if tree.tag == "html" else tree.getroottree().getroot()
    candidates = [
        html.get("lang"),
        html.get("xml:lang"),
        _first(meta, "og:locale", "content-language", "language", "dc.language"),
        clean(article.get("inLanguage")) if article else "",
    ]
    for value in candidates:
        value = clean(value).lower().replace("_", "-")
        code = value.split("-", 1)[0]
        if 2 <= len(code) <= 3 and code.isalpha():
            return code
    return None


def _absolute(base: str | None, href: str | None) -> str | None:
    href = clean(href)
    if not href or href.startswith(("javascript:", "data:", "mailto:", "#")):
        return None
    try:
        url = urljoin(base, href) if base else href
        return url if urlsplit(url).scheme in ("http", "https") else None
    except ValueError:  # "http://]]>host/": urllib refuses the netloc as a broken IPv6 literal
        return None


def pick_tags(
    article: dict | None, meta: dict[str, list[str]], page_tags: list[str] | None = None
) -> list[str]:
    """Declared tags (article:tag, ld+json keywords, news_keywords/keywords); else the texts of
    the story's tag links (``page_tags``, collected by extraction_links.page_links)."""
    raw: list[str] = list(meta.get("article:tag", ()))
    if not raw and article:
        keywords = article.get("keywords")
        raw = keywords if isinstance(keywords, list) else [keywords] if keywords else []
    if not raw:
        raw = meta.get("news_keywords", []) + meta.get("keywords", [])
    if not raw and page_tags:
        raw = [t.lstrip("#") for t in page_tags[:30] if len(t.split()) <= 5]
    tags: list[str] = []
    for value in raw:
        if not isinstance(value, str):
            continue
        for tag in value.split(",") if "," in value else [value]:
            tag = clean(tag)
            if tag and len(tag) <= 80 and tag.lower() not in {t.lower() for t in tags}:
                tags.append(tag)
    return tags


def page_metadata(tree: HtmlElement, url: str | None) -> dict[str, Any]:
    """Everything the page declares about itself, as record fields (see DESIGN.md)."""
    objects = read_ldjson(tree)
    article = article_object(objects)
    meta = read_meta(tree)
    host = urlsplit(url).hostname or "" if url else ""
    publisher = article.get("publisher") if article else None
    site_name = (
        _first(meta, "og:site_name", "application-name", "twitter:app:name:iphone")
        or ((_names(publisher) or [""])[0])
    )
    canonical = None
    for link in tree.iterfind(".//link[@rel]"):
        if "canonical" in link.get("rel", "").lower().split():
            canonical = _absolute(url, link.get("href"))
            break
    canonical = canonical or _absolute(url, _first(meta, "og:url")) or url
    published, modified, date_source = pick_dates(article, meta, tree)
    section = _first(meta, "article:section", "parsely-section", "section", "category")
    if not section and article:
        value = article.get("articleSection")
        section = clean(value[0] if isinstance(value, list) and value else value)
    return {
        "title": pick_title(article, meta, tree, site_name, host),
        "authors": pick_authors(article, meta, tree),
        "published": published,
        "published_source": date_source,
        "modified": modified,
        "language": pick_language(tree, meta, article),
        "site_name": site_name or None,
        "canonical_url": canonical,
        "description": _first(meta, "og:description", "description", "twitter:description")
        or (clean(article.get("description")) if article else "")
        or None,
        "section": section or None,
        "tags": pick_tags(article, meta),
        "og_type": _first(meta, "og:type").lower() or None,
        "ld_types": sorted({t for obj in objects for t in ld_types(obj)}),
        "headlines": [clean(h.text_content()) for h in tree.iter("h1")][:5],
        "article_elements": sum(1 for _ in tree.iter("article")),
        "ld_article": article,
        "meta": meta,
    }
