"""The streaming discovery parser: same results as the whole-tree parser it replaced, links read
on demand, and memory that does not follow the size of the document."""

from __future__ import annotations

import ctypes
import dataclasses
import gzip
import json
import sys
import tracemalloc
from pathlib import Path

import pytest

from crawler import discovery
from crawler.discovery import html_hrefs, parse_sitemap, stream_feed, stream_sitemap

DATA = Path(__file__).parent / "data"
SITE = "https://www.daily.example"


def cases():
    """(name, body, parser, kwargs): every test document whole, gzipped and cut at three points,
    through both parsers (and the sitemap parser with a low URL cap)."""
    for path in sorted((DATA / "discovery").iterdir()):
        body = path.read_bytes()
        variants = {
            "whole": body,
            "gzip": gzip.compress(body, mtime=0),
            "cut_1/4": body[: len(body) // 4],
            "cut_1/2": body[: len(body) // 2],
            "cut_3/4": body[: len(body) * 3 // 4],
        }
        for variant, data in variants.items():
            for parser, kwargs in (("parse_feed", {}), ("parse_sitemap", {}), ("parse_sitemap", {"max_urls": 2})):
                name = f"{path.name} {variant} {parser}" + (" max_urls=2" if kwargs else "")
                yield name, data, parser, kwargs


def run(name: str, data: bytes, parser: str, kwargs: dict, module=discovery) -> dict:
    source = f"{SITE}/{name.split()[0]}"
    return dataclasses.asdict(getattr(module, parser)(data, source, **kwargs))


# Written by the whole-tree parser (crawler/discovery.py before the streaming one) with run().
EXPECTED = {
    row["case"]: row["result"]
    for row in map(json.loads, (DATA / "discovery_expected.jsonl").read_text(encoding="utf-8").splitlines())
}


@pytest.mark.parametrize(("name", "data", "parser", "kwargs"), list(cases()), ids=lambda v: v if isinstance(v, str) else "")
def test_same_results_as_the_whole_tree_parser(name, data, parser, kwargs):
    assert run(name, data, parser, kwargs) == EXPECTED[name]


def test_every_case_has_an_expected_result():
    assert sorted(name for name, *_ in cases()) == sorted(EXPECTED)


def sitemap(n: int, *, news: bool = True, tail: str = "") -> bytes:
    ns = ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"' if news else ""
    entry = ("<url><loc>{base}/2026/11/29/story-{i}.html</loc><lastmod>2026-11-29T12:00:00+00:00</lastmod>"
             + ("<news:news><news:publication><news:name>Daily</news:name><news:language>en</news:language>"
                "</news:publication><news:publication_date>2026-11-29T12:00:00+00:00</news:publication_date>"
                "<news:title>Story number {i} &amp; more</news:title><news:keywords>a, b</news:keywords></news:news>"
                if news else "")
             + "</url>\n")
    entries = "".join(entry.format(base=SITE, i=i) for i in range(n))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"{ns}>\n'
            f"{entries}{tail}</urlset>\n").encode()


def test_links_come_before_the_document_is_read_to_the_end():
    # A duplicate and a break at the very end: neither is known while the first links are read.
    body = sitemap(5000, news=False, tail=f"<url><loc>{SITE}/2026/11/29/story-0.html</loc></url><url><loc>")
    stream = stream_sitemap(body, f"{SITE}/sitemap.xml")
    assert stream.open().doc_type == "urlset"
    first = [next(stream) for _ in range(10)]
    assert [link.url for link in first] == [f"{SITE}/2026/11/29/story-{i}.html" for i in range(10)]
    assert (stream.result.skipped, stream.result.error, stream.exhausted) == ({}, None, False)
    rest = list(stream)
    assert len(first) + len(rest) == 5000
    assert stream.exhausted
    assert stream.result.skipped == {"duplicate": 1, "truncated": 1}
    assert stream.result.error == "malformed"
    assert stream.result.links == []  # a stream hands its links out, it does not keep them


def test_a_news_sitemap_is_known_as_one_from_its_entries_by_the_end():
    body = sitemap(3).replace(b' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"', b"").replace(
        b"<news:news>", b'<news:news xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">')
    stream = stream_sitemap(body, f"{SITE}/news.xml")
    assert stream.open().doc_type == "urlset"  # nothing at the root says so
    first, *_rest = stream
    assert stream.result.doc_type == "news_urlset"
    assert (first.kind, first.title, first.language, first.keywords) == (
        "news_sitemap", "Story number 0 & more", "en", ["a", "b"])


def test_a_stream_waits_without_the_body_it_was_given():
    # Read over a whole crawl, a plain body is held deflated piece by piece instead.
    body = sitemap(3000)
    refs = sys.getrefcount(body)
    stream = stream_sitemap(body, f"{SITE}/news-sitemap.xml")
    stream.open()
    assert sys.getrefcount(body) == refs
    assert list(stream) == parse_sitemap(body, f"{SITE}/news-sitemap.xml").links


def test_document_level_problems_are_known_on_open():
    assert stream_feed(b"", f"{SITE}/feed").open().error == "empty"
    assert stream_feed(b"<html><body>x</body></html>", f"{SITE}/feed").open().error == "html"
    assert stream_feed(sitemap(2), f"{SITE}/feed").open().error == "wrong_root"
    assert list(stream_feed(sitemap(2), f"{SITE}/feed")) == []


def _native_heap() -> int | None:
    """Bytes malloc has handed out (glibc's mallinfo2): libxml2's trees live there, where
    tracemalloc does not look."""
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
            "keepcost")]

    mallinfo2.restype = MallInfo2
    info = mallinfo2()
    return info.uordblks + info.hblkhd


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_a_large_sitemap_is_read_in_bounded_memory(gzipped):
    # 10,000 news entries, 4 MB: read whole, about 35 MB of lxml tree and 7 MB of links.
    body = sitemap(10_000)
    if gzipped:
        body = gzip.compress(body)
    heap_before = _native_heap()
    heap_peak = 0
    tracemalloc.start()
    try:
        count = 0
        for _link in stream_sitemap(body, f"{SITE}/news-sitemap.xml"):
            count += 1
            if heap_before is not None and count % 1000 == 0:
                heap_peak = max(heap_peak, _native_heap() - heap_before)
        _current, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 10_000
    # Generous bounds: what stays is one piece of the body's entries and a hash per URL.
    assert python_peak < 4 * 2**20, f"Python objects peaked at {python_peak / 2**20:.1f} MiB"
    if heap_before is not None:
        assert heap_peak < 12 * 2**20, f"the native heap grew by {heap_peak / 2**20:.1f} MiB"


# --- HTML links -------------------------------------------------------------------------------


def front_page(n: int) -> str:
    items = "".join(f'<li><a href="/2026/11/29/story-{i}.html">Story {i}</a></li>\n' for i in range(n))
    return f"<!DOCTYPE html><html><head><title>Front</title></head><body><ul>{items}</ul></body></html>"


@pytest.mark.parametrize("page", [
    front_page(3000),  # many pieces
    '<li><a href="/">Home<li><a href="/list?page=1">Archive</ul><a href="x">y</a>',  # links nested by recovery
    "  \x00<p><a href='/a\x00b'>x</a><a>no href</a><A HREF=/upper>u</A><a href='/cut",
    "",
    "just text",
])
def test_html_links_as_the_selector_finds_them(page):
    from scrapy.http import HtmlResponse

    response = HtmlResponse("https://news.example/", body=page.encode(), encoding="utf-8")
    assert list(html_hrefs(response.text)) == [a.get("href") for a in response.selector.root.iter("a")]


def test_a_long_front_page_is_read_in_bounded_memory():
    text = front_page(20_000)  # 1.3 MB of links: a 15 MB tree read whole
    heap_before = _native_heap()
    if heap_before is None:
        pytest.skip("needs glibc's mallinfo2")
    heap_peak = count = 0
    for _href in html_hrefs(text):
        count += 1
        if count % 500 == 0:
            heap_peak = max(heap_peak, _native_heap() - heap_before)
    assert count == 20_000
    assert heap_peak < 6 * 2**20, f"the native heap grew by {heap_peak / 2**20:.1f} MiB"
