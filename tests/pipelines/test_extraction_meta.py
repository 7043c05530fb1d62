"""Metadata the page declares: ld+json, Open Graph, <meta>, <time>."""

from __future__ import annotations

import pytest
from lxml.html import fromstring

from pipelines.extraction_meta import (
    page_metadata,
    parse_date,
    pick_authors,
    read_ldjson,
    read_meta,
    strip_site_name,
)


def tree(head: str, body: str = "") -> object:
    return fromstring(f"<html><head>{head}</head><body>{body}</body></html>")


def test_ldjson_graph_and_broken_json():
    t = tree(
        '<script type="application/ld+json">{"@graph": [{"@type": "WebSite", "name": "X"},'
        ' {"@type": ["NewsArticle"], "headline": "H", "datePublished": "2025-01-02T03:04:05Z"}]}</script>'
        '<script type="application/ld+json">{"@type": "Article", broken</script>'
        '<script type="application/ld+json">{"@type": "BlogPosting", "headline": "Line\nbreak"}</script>'
    )
    objects = read_ldjson(t)
    assert [o.get("headline") for o in objects if o.get("headline")] == ["H", "Line break"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-10-22T14:05:00+05:00", "2025-10-22T14:05:00+05:00"),
        ("2025-10-22T09:05:00Z", "2025-10-22T09:05:00+00:00"),
        ("2025-10-22", "2025-10-22"),
        ("Wed, 22 Oct 2025 09:05:00 GMT", "2025-10-22T09:05:00+00:00"),
        ("October 22, 2025", "2025-10-22"),
        ("not a date", None),
        ("1875-01-01", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Japan plans defence build-up - National Times", "Japan plans defence build-up"),
        ("National Times | Japan plans defence build-up", "Japan plans defence build-up"),
        ("Brexit - what happens next", "Brexit - what happens next"),
        ("Storm Amy live | nationaltimes.example", "Storm Amy live"),
    ],
)
def test_strip_site_name(title, expected):
    assert strip_site_name(title, "National Times", "www.nationaltimes.example") == expected


def test_title_prefers_the_h1_confirmed_by_a_declared_title():
    t = tree(
        "<title>Council raises taxes - Daily Example</title>"
        '<meta property="og:title" content="Council raises taxes | Daily Example">'
        '<meta property="og:site_name" content="Daily Example">',
        '<h1 class="logo">Daily Example</h1><article><h1>Council raises taxes</h1></article>',
    )
    assert page_metadata(t, "https://daily.example/news/1")["title"] == "Council raises taxes"


def test_title_from_declared_headline_without_h1():
    t = tree(
        '<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Bridge reopens"}</script>'
        "<title>Bridge reopens after repairs | Daily Example</title>"
    )
    assert page_metadata(t, "https://daily.example/n/2")["title"] == "Bridge reopens"


def test_authors_sources_and_cleanup():
    meta = read_meta(tree('<meta name="author" content="By Jane Doe and John Smith">'))
    assert pick_authors(None, meta, tree("")) == ["Jane Doe", "John Smith"]
    ld = {
        "author": [
            {"@type": "Person", "name": "Jane Doe"},
            {"name": "https://example.com/staff/jd"},
            "Ann Lee",
        ]
    }
    assert pick_authors(ld, {}, tree("")) == ["Jane Doe", "Ann Lee"]
    t = tree("", '<span itemprop="author"><span itemprop="name">Priya Shah</span></span>')
    assert pick_authors(None, {}, t) == ["Priya Shah"]


def test_page_metadata_fields():
    t = tree(
        '<meta property="og:type" content="article"><meta property="og:site_name" content="Daily Example">'
        '<meta property="og:description" content="What the council decided.">'
        '<meta property="article:section" content="Politics">'
        '<meta property="article:tag" content="budget"><meta property="article:tag" content="taxes, roads">'
        '<meta property="og:locale" content="de_DE">'
        '<link rel="canonical" href="/news/1?ref=canonical">'
        '<meta property="article:modified_time" content="2025-10-23T10:00:00+02:00">',
        '<time datetime="2025-10-22T08:00:00+02:00">22. Oktober</time>',
    )
    info = page_metadata(t, "https://daily.example/news/1?utm=x")
    assert info["site_name"] == "Daily Example"
    assert info["description"] == "What the council decided."
    assert info["section"] == "Politics"
    assert info["tags"] == ["budget", "taxes", "roads"]
    assert info["language"] == "de"
    assert info["canonical_url"] == "https://daily.example/news/1?ref=canonical"
    assert info["published"] == "2025-10-22T08:00:00+02:00" and info["published_source"] == "time"
    assert info["modified"] == "2025-10-23T10:00:00+02:00"
    assert info["og_type"] == "article"


def test_a_canonical_link_urllib_cannot_split_is_no_canonical_url():
    from pipelines.extraction_meta import _absolute

    assert _absolute("http://127.0.0.1:8000/a.html", "http://]]>127.0.0.1:8000/tag/trade/") is None
    assert _absolute(None, "http://[::1/x") is None
    assert _absolute("http://example.com/a/", "b.html") == "http://example.com/a/b.html"
