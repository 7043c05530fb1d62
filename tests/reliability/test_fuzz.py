"""Fuzzing with documents that are almost right: real pages and discovery documents, mutated.

tests/pipelines/test_extraction_decode.py feeds extraction random bytes and tag soup, and
tests/crawler/test_discovery.py feeds the discovery parsers its own sample files, mutated. Random
bytes rarely get past decoding; a real page with one byte flipped, cut half-way, spliced with
another or relabelled in the wrong charset goes all the way through trafilatura and the cleanup
rules. Here the seeds are the hostile site's pages and documents (every trick it plays) and the
demo site's articles (every template), and the checks are stricter than "no exception":
extraction never has to fall back on its catch-all (``extractor_error`` means a bug was caught),
and what comes out has the record's types.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler import discovery
from pipelines.extraction import extract_article, extract_page
from tests.support import hostile_site as hs

BASE = "http://127.0.0.1:8000"
DEMO = Path(__file__).resolve().parents[2] / "crawler" / "demo" / "site"

PAGES: list[bytes] = [
    *(hs.article_html(BASE, story).encode() for story in (*hs.GOOD, hs.RATE_LIMITED_STORY)),
    hs.article_html(BASE, hs.CP1252_STORY).encode("cp1252"),
    hs.article_html(BASE, hs.META_CHARSET_STORY,
                    '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">').encode("cp1252"),
    hs.nul_bytes_page(BASE), hs.unclosed_tags_page(BASE), hs.homepage(BASE),
    hs.calendar_page(2026, 11), hs.list_page(3), hs.session_page(),
    *(p.read_bytes().replace(b"{{BASE}}", BASE.encode()) for p in sorted(DEMO.rglob("*.html"))),
]
DOCUMENTS: list[bytes] = [
    hs.broken_feed(BASE), hs.odd_feed(BASE), hs.sitemap_index(BASE), hs.odd_sitemap(BASE),
    hs.news_sitemap(BASE), hs.huge_sitemap(BASE)[:20_000],
    *(p.read_bytes().replace(b"{{BASE}}", BASE.encode()) for p in sorted(DEMO.glob("*.xml"))),
    (DEMO / "robots.txt").read_bytes(),
]
SNIPPETS = [b"<", b">", b"&", b"\x00", b"<!--", b"-->", b"<script>", b"</script>", b"<p>", b"</div>",
            b"]]>", b"<![CDATA[", b"&#0;", b"&#x110000;", b"\xff\xfe", b"\xef\xbb\xbf", b"\xc3", b"\x80",
            b'<meta charset="utf-16">', b'<base href="javascript:x">', b'<a href="http:///x">',
            b"<!ENTITY x 'y'>", b"&x;", b"<?xml version='1.0' encoding='bogus'?>", b"<html><body>" * 3]
CONTENT_TYPES = [None, "text/html", "text/html; charset=utf-8", "text/html; charset=windows-1252",
                 "text/html; charset=bogus", "application/xhtml+xml", "text/plain", ""]
REASONS = {"ok", "not_html", "binary", "empty", "too_large", "decode_error", "no_text", "too_short",
           "section_front", "tag_page", "error_page", "bot_challenge", "paywall", "timeout"}
FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A seed cut, spliced with another seed, with bytes flipped, inserted or deleted: the
    shapes broken servers, proxies and CMSs send."""
    doc = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["cut", "flip", "insert", "delete", "splice", "repeat"]))
        pos = draw(st.integers(0, max(0, len(doc) - 1)))
        if op == "cut":
            del doc[pos:]
        elif op == "flip" and doc:
            doc[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            doc[pos:pos] = draw(st.sampled_from(SNIPPETS))
        elif op == "delete":
            del doc[pos:pos + draw(st.integers(1, 400))]
        elif op == "splice":
            other = draw(st.sampled_from(seeds))
            start = draw(st.integers(0, max(0, len(other) - 1)))
            doc[pos:pos] = other[start:start + draw(st.integers(1, 2000))]
        elif op == "repeat" and doc:
            doc[pos:pos] = bytes(doc[pos:pos + 200]) * draw(st.integers(2, 50))
    return bytes(doc)


@st.composite
def recoded(draw) -> bytes:
    """A page re-encoded into a charset its labels do not name (or cannot encode it in)."""
    text = draw(st.sampled_from(PAGES)).decode("utf-8", "replace")
    encoding = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "cp1252", "latin-1", "koi8-r", "shift_jis"]))
    return text.encode(encoding, "replace")


@FUZZ
@given(body=st.one_of(mutated(PAGES), recoded()), content_type=st.sampled_from(CONTENT_TYPES))
def test_extraction_of_mutated_pages_never_raises_or_crashes_inside(body, content_type):
    fields, reason = extract_page(body, f"{BASE}/articles/page.html", content_type=content_type,
                                  final_url=f"{BASE}/articles/page.html",
                                  hints={"discovered_via": {"published": "last Tuesday", "title": None}},
                                  time_budget=20)
    assert reason in REASONS, reason  # extractor_error: an exception the catch-all had to hide
    assert (fields is None) == (reason != "ok")
    if fields is not None:
        assert isinstance(fields["text"], str) and fields["text"].strip()
        assert "\x00" not in fields["text"]
        assert isinstance(fields["word_count"], int) and fields["word_count"] > 0
        assert set(fields["links"]) == {"article", "navigation", "media"}
        assert all(isinstance(link["url"], str) for kind in fields["links"].values() for link in kind)
    article = extract_article(body, f"{BASE}/articles/page.html")
    assert article is None or isinstance(article["text"], str)


@FUZZ
@given(html=st.one_of(mutated(PAGES), recoded()).map(lambda b: b.decode("utf-8", "surrogateescape")))
def test_extract_article_takes_any_str(html):
    article = extract_article(html)
    assert article is None or isinstance(article["text"], str)


def test_deeply_nested_and_oversized_markup_is_contained():
    """Markup that makes recursive code recurse: a counted skip, never an exception."""
    deep = b"<html><body>" + b"<div>" * 20_000 + b"<p>words " * 200
    wide = b"<html><body>" + b'<a href="/x">l</a>' * 20_000
    for body in (deep, wide):
        _fields, reason = extract_page(body, f"{BASE}/a.html", content_type="text/html", time_budget=20)
        assert reason in REASONS | {"extractor_error"}  # RecursionError is caught and named
        article = extract_article(body)
        assert article is None or isinstance(article["text"], str)


@FUZZ
@given(body=st.one_of(mutated(DOCUMENTS), mutated(DOCUMENTS).map(gzip.compress)),
       url=st.sampled_from([f"{BASE}/sitemap.xml", f"{BASE}/feed.xml", f"{BASE}/robots.txt",
                            "http:///no-host", "not a url"]),
       content_type=st.sampled_from([None, "application/xml", "application/rss+xml", "text/html",
                                     "text/plain", "application/x-gzip"]))
def test_discovery_of_mutated_hostile_documents_never_raises(body, url, content_type):
    """The spider's path through discovery: sniff, then the parser it picks, plus robots.txt
    and <link rel=alternate> reading, over the hostile site's own broken documents."""
    kind = discovery.sniff(body, content_type, url)
    assert kind in {"feed", "sitemap", "robots", "html", "other"}
    sitemap = discovery.parse_sitemap(body, url, max_urls=50)
    assert len(sitemap.links) <= 50
    for result in (discovery.parse_feed(body, url), sitemap):
        for link in result.links:
            assert link.url.startswith(("http://", "https://")) and "no-host" not in link.url
            assert link.published is None or "T" in link.published
        assert all(u.startswith(("http://", "https://")) for u in result.sitemaps)
        assert all(isinstance(n, int) and n > 0 for n in result.skipped.values())
    assert all(u.startswith(("http://", "https://")) for u in discovery.parse_robots_sitemaps(body, url))
    assert all(u.startswith(("http://", "https://")) for u in discovery.html_feed_links(body, url))
