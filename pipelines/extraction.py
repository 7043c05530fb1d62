"""Article extraction: the record fields that come from a page itself.

``extract_article(html, url)`` is the Python API (DESIGN.md); ``extract_page(body, url, ...)``
is what the crawl runs in its worker processes: any bytes in, ``(fields, "ok")`` or
``(None, reason)`` out, never an exception. The text comes from trafilatura (fast mode: its
readability/justext fallbacks cost a third of the time and, on news pages, lose more than
they win), after news-specific cleanup of the tree and of the paragraphs; metadata is read
from what the page declares (pipelines.extraction_meta); links are split into article,
navigation and media lists (pipelines.extraction_links). docs/extraction.md lists every rule.
"""

from __future__ import annotations

import html as html_lib
import logging
import re
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import trafilatura
from lxml.etree import ElementDefaultClassLookup, strip_elements
from lxml.html import (
    HtmlComment,
    HtmlElement,
    HtmlEntity,
    HTMLParser,
    HtmlProcessingInstruction,
)
from lxml.html import fromstring as lxml_fromstring
from trafilatura import bare_extraction
from trafilatura.settings import Extractor
from trafilatura.utils import (
    DOCTYPE_TAG,
    FAULTY_HTML,
    INVALID_XML_CHARS,
)
from trafilatura.xml import xmltotxt

from pipelines.extraction_classify import PageSignals, classify, same_site
from pipelines.extraction_cleanup import clean_body, drop_short_runs, prune_tree
from pipelines.extraction_decode import decode_body
from pipelines.extraction_images import article_images, article_root
from pipelines.extraction_links import body_links, page_links, split_links
from pipelines.extraction_meta import htmldate_published, page_metadata, parse_date, pick_tags
from pipelines.textfp import fingerprints

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_MAX_BYTES", "EXTRACTOR_NAME", "extract_article", "extract_page"]

EXTRACTOR_NAME = "newsarchive"
RULES_VERSION = "2"  # bump when a rule changes what pages give: records say which rules made them
DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # larger bodies are refused unread ("too_large")
_HEAD_BYTES = 60_000  # markup scanned for bot-challenge scripts
# links=False: with links on, trafilatura both renders them into the text and keeps different
# blocks (measured: F1 0.958 vs 0.962); the article's links are found on the page instead.
_TRAFILATURA_OPTIONS = {"fast": True, "comments": False, "links": False, "tables": True}
# A subset of trafilatura.settings.MANUALLY_CLEANED: not figure/picture/video/audio (images and
# media are read from the tree later), not form/math (trafilatura salvages parts of them),
# not time (htmldate may still need it).
_DROP_EARLY = (
    "aside",
    "footer",
    "nav",
    "menu",
    "menuitem",
    "script",
    "style",
    "noscript",
    "svg",
    "iframe",
    "embed",
    "object",
    "applet",
    "canvas",
    "map",
    "button",
    "input",
    "select",
    "option",
    "optgroup",
    "textarea",
    "label",
    "datalist",
    "dialog",
    "frame",
    "frameset",
    "fieldset",
    "legend",
    "marquee",
    "noindex",
)
_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"[ \t\r\f\v\u00a0]+")


@lru_cache(maxsize=1)
def _options() -> Extractor:
    """trafilatura's options, built once per process (worker processes call this repeatedly).

    Not "python": with that format ``bare_extraction`` also renders its body as text, which is
    thrown away here (the body is cleaned further and rendered afterwards); with "txt" it
    returns the same body and skips that pass.
    """
    return Extractor(output_format="txt", **_TRAFILATURA_OPTIONS)


def _extractor_info() -> dict[str, Any]:
    return {
        "name": EXTRACTOR_NAME,
        "version": f"{RULES_VERSION}+trafilatura-{trafilatura.__version__}",
        "options": dict(_TRAFILATURA_OPTIONS),
    }


@dataclass
class _Extraction:
    """Record fields plus what the article-or-not decision needs."""

    fields: dict[str, Any]
    signals: PageSignals
    published_source: str
    cleanup: dict[str, int]


def _html_parser() -> HTMLParser:
    """trafilatura's HTML parser options, with lxml's C-level class lookup.

    lxml.html's default lookup calls a Python method for every element the code touches (half a
    million calls on 181 news pages, a tenth of the extraction time); every element is an
    ``HtmlElement`` here anyway, as nothing downstream needs lxml's form/input/label classes.
    """
    parser = HTMLParser(
        collect_ids=False,
        default_doctype=False,
        encoding="utf-8",
        remove_comments=True,
        remove_pis=True,
    )
    parser.set_element_class_lookup(
        ElementDefaultClassLookup(
            element=HtmlElement,
            comment=HtmlComment,
            pi=HtmlProcessingInstruction,
            entity=HtmlEntity,
        )
    )
    return parser


_HTML_PARSER = _html_parser()


def _fromstring_bytes(html: str) -> HtmlElement | None:
    try:
        return lxml_fromstring(html.encode("utf-8", "surrogatepass"), parser=_HTML_PARSER)
    except Exception:
        return None


# XML-invalid control characters as UTF-8 bytes (U+FFFE/U+FFFF are checked separately)
_INVALID_BYTES = bytes([*range(0, 9), 11, 12, *range(14, 32)])


def parse_html(html: str) -> HtmlElement | None:
    """trafilatura's ``load_html`` for a decoded page, with the same repairs and fallbacks.

    Written out here because ``load_html`` runs a regex over the whole page for XML-invalid
    characters (a third of the parse time on news pages); here the page's UTF-8 bytes are
    checked in C first and the regex runs only when there is something to remove.
    """
    try:
        raw: bytes | None = html.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: libxml2 would stop at the bad bytes
        raw = None
    if (
        raw is None
        or len(raw.translate(None, _INVALID_BYTES)) != len(raw)
        or "\ufffe" in html
        or "\uffff" in html
    ):
        html, raw = INVALID_XML_CHARS.sub("", html), None
    beginning = html[:50].lower()
    if "doctype" in beginning:  # libxml2 bug with some doctypes (lxml bug 1955915)
        first, _, rest = html.partition("\n")
        fixed = DOCTYPE_TAG.sub("", first, count=1)
        if fixed != first:
            html, raw = fixed + "\n" + rest, None
    for line in html[:4096].splitlines()[:4]:
        if "<html" in line and line.endswith("/>"):
            html, raw = FAULTY_HTML.sub(r"\1>", html, count=1), None
            break
    tree = None
    try:
        # the UTF-8 bytes parse faster than the str (and the parser is told their encoding)
        tree = lxml_fromstring(raw if raw is not None else html, parser=_HTML_PARSER)
    except ValueError:  # "Unicode strings with encoding declaration are not supported"
        tree = _fromstring_bytes(html)
    except Exception:
        tree = None
    if tree is None or len(tree) < 1:
        tree = _fromstring_bytes(html)
    if tree is not None and "html" not in beginning and len(tree) < 2:
        return None  # not (well-formed) HTML, as trafilatura decides
    return tree


def _paragraphs(body: HtmlElement) -> list[str]:
    """One string per block (paragraph, heading, list item, table row) of trafilatura's body."""
    text = xmltotxt(body, include_formatting=False)
    out = []
    for line in text.split("\n"):
        line = _SPACE.sub(" ", line).strip()
        if line:
            out.append(line)
    return out


def _declared_body(ld_article: dict | None) -> list[str]:
    """The ld+json ``articleBody`` as paragraphs, when it is a real text (80+ words)."""
    body = ld_article.get("articleBody") if ld_article else None
    if not isinstance(body, str) or len(_WORD.findall(body)) < 80:
        return []
    if "<" in body and ">" in body:  # some CMSs put HTML in it
        body = re.sub(r"<[^>]+>", "\n", body)
    return [
        p
        for p in (_SPACE.sub(" ", html_lib.unescape(line)).strip() for line in body.splitlines())
        if p
    ]


def _drop_title(paragraphs: list[str], titles: list[str | None]) -> list[str]:
    """The headline is the ``title`` field; trafilatura often keeps it (or the page's <h1>, when
    the declared title differs from it) as one of the first blocks."""
    keys = {" ".join(_WORD.findall(t.lower())) for t in titles if t}
    keys.discard("")
    if not keys:
        return paragraphs
    for i, para in enumerate(paragraphs[:3]):
        if " ".join(_WORD.findall(para.lower())) in keys:
            return paragraphs[:i] + paragraphs[i + 1 :]
    return paragraphs


def _teasers(links: list[tuple[str, str, str]], host: str) -> tuple[int, int]:
    """Headline-looking links (>= 4 words) to the same site: many of them make a listing page."""
    seen: set[str] = set()
    count = words = 0
    for url, text, _kind in links:
        n = len(text.split())
        if n >= 4 and url not in seen and (not host or same_site(url, host)):
            seen.add(url)
            count += 1
            words += n
    return count, words


def _bare_extraction(tree: HtmlElement, base_url: str | None):
    """trafilatura on the page's <body> only.

    Its metadata reading is off (ours is in pipelines.extraction_meta), so nothing it does
    looks at <head>; but every one of its XPath passes walks the whole tree, and <head> (its
    meta and link tags) is an eighth of a news page's elements once scripts are gone. The
    head is detached for the call (trafilatura works on its own copy) and put back.
    """
    head = tree.find("head")
    if head is None:
        return bare_extraction(tree, url=base_url, options=_options())
    tail, position = head.tail, tree.index(head)
    tree.remove(head)
    try:
        return bare_extraction(tree, url=base_url, options=_options())
    finally:
        tree.insert(position, head)
        head.tail = tail


def _analyse(html: str, url: str | None, base_url: str | None) -> _Extraction | None:
    tree = parse_html(html)
    if tree is None:
        return None
    info = page_metadata(tree, base_url)
    host = urlsplit(base_url).hostname or "" if base_url else ""
    page_tags: list[str] = []
    links_on_page = page_links(tree, base_url, page_tags)
    if not info["tags"]:
        info["tags"] = pick_tags(None, {}, page_tags)
    # What trafilatura would delete anyway, deleted once here (its links are already read):
    # the rules below and trafilatura's own tree copies then work on a smaller tree.
    strip_elements(tree, *_DROP_EARLY, with_tail=False)
    fired = prune_tree(tree, info["description"])
    document = _bare_extraction(tree, base_url)
    if document is not None:
        fired.update(clean_body(document.body, info["authors"]))
    paragraphs = _paragraphs(document.body) if document is not None else []
    paragraphs = _drop_title(paragraphs, [info["title"], *info["headlines"]])
    paragraphs, fired["short_runs"] = drop_short_runs(paragraphs)
    declared = _declared_body(info["ld_article"])
    if declared and len(_WORD.findall(" ".join(paragraphs))) < 0.5 * len(
        _WORD.findall(" ".join(declared))
    ):
        paragraphs = declared  # the page renders its text with scripts; ld+json carries it
        fired["ldjson_body"] += 1
    text = "\n\n".join(paragraphs)
    words = len(_WORD.findall(text))
    root = article_root(tree, paragraphs) if text else None
    in_body = body_links(root, text, base_url)
    link_chars = sum(len(t) for _, t in in_body)
    ld_article = info["ld_article"]
    free = ld_article.get("isAccessibleForFree") if ld_article else None
    if isinstance(free, str):
        free = free.strip().lower() not in ("false", "0", "no")
    teaser_count, teaser_words = _teasers(links_on_page, host)
    signals = PageSignals(
        url=base_url,
        title=info["title"] or "",
        head_html=html[:_HEAD_BYTES],
        og_type=info["og_type"],
        ld_types=info["ld_types"],
        typed_article=ld_article is not None or (info["og_type"] or "") == "article",
        accessible_for_free=free if isinstance(free, bool) else None,
        words=words,
        text_link_density=link_chars / max(1, len(text)),
        teaser_links=teaser_count,
        teaser_words=teaser_words,
        text=text,
        article_elements=info["article_elements"],
    )
    if not text:
        return _Extraction({}, signals, info["published_source"], dict(+fired))
    published, source = info["published"], info["published_source"]
    if not published and (published := htmldate_published(tree, base_url)):
        source = "htmldate"
    exclude = {base_url, url, info["canonical_url"]}
    digest, near = fingerprints(text)
    fields = {
        "title": info["title"],
        "authors": info["authors"],
        "published": published,
        "modified": info["modified"],
        "language": info["language"],
        "site_name": info["site_name"],
        "canonical_url": info["canonical_url"],
        "description": info["description"],
        "section": info["section"],
        "tags": info["tags"],
        "text": text,
        "word_count": words,
        "images": article_images(tree, root, base_url, ld_article, info["meta"]),
        "links": split_links(links_on_page, in_body, exclude),
        "text_sha1": digest,
        "simhash": near,
        "extractor": _extractor_info(),
    }
    return _Extraction(fields, signals, source, dict(+fired))


def extract_article(html: str | bytes, url: str | None = None) -> dict | None:
    """The record fields that come from the page itself; None when it holds no article text.

    Bytes are decoded as ``extract_page`` does (BOM, <meta> charset, detection). This does not
    judge whether the page is an article (``extract_page`` does): any page with text gets fields.
    """
    if isinstance(html, bytes):
        decoded = decode_body(html)
        if decoded.text is None:
            return None
        html = decoded.text
    elif "\x00" in html:
        html = html.replace("\x00", "")
    if not html.strip():
        return None
    result = _analyse(html, url, url)
    return result.fields if result is not None and result.fields else None


# ---------------------------------------------------------------------------- the worker entry


class _Timeout(BaseException):
    """Raised by the alarm; a BaseException so library code catching Exception cannot swallow it."""


@contextmanager
def _time_limit(seconds: float | None):
    """SIGALRM after ``seconds`` of wall time; only in a process's main thread (where signals are
    delivered), elsewhere no limit. The previous handler and timer are restored afterwards."""
    usable = (
        seconds is not None
        and seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    armed = [True]

    def _alarm(signum, frame):
        if armed[0]:  # an alarm landing while the limit is being lifted is ignored
            raise _Timeout()

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _same_day(a: str, b: str) -> bool:
    """Two ISO dates name the same day, in either one's own offset or in UTC."""
    from datetime import date, datetime, timezone

    def days(value: str) -> set[date]:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return set()
        out = {parsed.date()}
        if parsed.tzinfo is not None:
            out.add(parsed.astimezone(timezone.utc).date())
        return out

    return bool(days(a) & days(b))


def cross_check_published(
    page: str | None, source: str, hints: dict | None
) -> tuple[str | None, str]:
    """Reconcile the page's date with the feed / news-sitemap date; returns (published, how).

    ``how``: ``page_only``, ``feed_only``, ``agree`` (same day: the page's more precise value is
    kept), ``disagree_page`` (the page declares its date in ld+json/meta: trusted over the feed),
    ``disagree_feed`` (the page date was only a guess from <time> or htmldate: the feed wins),
    ``none``.
    """
    via = (hints or {}).get("discovered_via") or {}
    feed = parse_date(via.get("published")) if isinstance(via, dict) else None
    if page and feed:
        if _same_day(page, feed):
            return page, "agree"
        if source in ("ldjson", "meta", "markup"):
            return page, "disagree_page"
        return feed, "disagree_feed"
    if page:
        return page, "page_only"
    if feed:
        return feed, "feed_only"
    return None, "none"


def extract_page(
    body: bytes,
    url: str,
    *,
    content_type: str | None = None,
    final_url: str | None = None,
    hints: dict | None = None,
    time_budget: float | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[dict | None, str]:
    """Fields and "ok" for an article page, else (None, reason); never raises.

    Reasons: not_html, binary, empty, too_large, decode_error, no_text, too_short,
    section_front, tag_page, error_page, bot_challenge, paywall, timeout, extractor_error.
    Besides the record fields, an article's dict has ``published_check`` (how ``published``
    was reconciled with ``hints``, see ``cross_check_published``), ``encoding``,
    and ``cleanup_rules`` ({rule: times fired}, for stats).
    """
    try:
        if not isinstance(body, (bytes, bytearray, memoryview)):
            return None, "not_html"
        body = bytes(body)
        if len(body) > max_bytes:
            return None, "too_large"
        with _time_limit(time_budget):
            decoded = decode_body(body, content_type)
            if decoded.text is None:
                return None, decoded.reason
            base = final_url or url
            result = _analyse(decoded.text, url, base)
    except _Timeout:
        return None, "timeout"
    except Exception:  # RecursionError included: deeply nested junk markup
        # counted as a reason, and logged: a bug here must not hide behind a stats key
        logger.warning("extraction failed on %s", url, exc_info=True)
        return None, "extractor_error"
    if result is None:
        return None, "no_text"
    reason = classify(result.signals)
    if reason != "ok":
        return None, reason
    fields = result.fields
    via = (hints or {}).get("discovered_via") or {}
    fields["published"], fields["published_check"] = cross_check_published(
        fields["published"], result.published_source, hints
    )
    if not fields["title"] and isinstance(via, dict) and via.get("title"):
        fields["title"] = str(via["title"]).strip() or None
    fields["encoding"] = decoded.encoding
    fields["cleanup_rules"] = result.cleanup
    return fields, "ok"
