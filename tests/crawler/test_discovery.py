"""Discovery parsers against real-shaped documents, hostile input and random bytes."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler import discovery
from crawler.discovery import (
    html_feed_links,
    parse_date,
    parse_feed,
    parse_robots_sitemaps,
    parse_sitemap,
    sniff,
)

DATA = Path(__file__).parent / "data" / "discovery"
SITE = "https://www.daily.example"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def by_url(result):
    return {link.url: link for link in result.links}


# --- feeds ------------------------------------------------------------------------------------


def test_rss2_keeps_dates_categories_language_and_counts_skips():
    result = parse_feed(load("rss2.xml"), f"{SITE}/feed/")
    assert result.doc_type == "rss"
    assert result.error is None
    links = by_url(result)
    assert list(links) == [
        f"{SITE}/2025/10/22/council-approves-new-tram-line/",
        f"{SITE}/2025/10/21/harbour-festival-record-crowds/",  # relative link resolved
        f"{SITE}/2025/10/20/weather-warning-issued/",  # feedburner:origLink, not the redirector
        f"{SITE}/2025/10/19/guid-only-story/",  # permalink guid
    ]
    first = links[f"{SITE}/2025/10/22/council-approves-new-tram-line/"]
    assert first.kind == "feed"
    assert first.source == f"{SITE}/feed/"
    assert first.published == "2025-10-22T09:15:00+01:00"
    assert first.title == "Council approves new tram line & bus lanes"
    assert first.language == "en-GB"  # from the channel
    assert first.keywords == ["Local", "Transport"]  # CDATA kept, repeat dropped
    second = links[f"{SITE}/2025/10/21/harbour-festival-record-crowds/"]
    assert second.published == "2025-10-21T18:40:00+00:00"  # dc:date
    assert second.language == "cy"  # item dc:language beats the channel's
    assert second.keywords == ["Culture"]  # dc:subject
    assert links[f"{SITE}/2025/10/20/weather-warning-issued/"].published == "2025-10-20T00:00:00+00:00"
    assert links[f"{SITE}/2025/10/19/guid-only-story/"].published is None
    assert result.skipped == {
        "no_link": 1,  # the newsletter item
        "bad_url": 1,  # javascript:
        "duplicate": 1,  # same article with utm_* parameters
        "bad_date": 1,  # "not a date at all"
        "no_date": 1,  # the guid-only item kept without a date
    }


def test_atom_uses_xml_lang_xml_base_and_alternate_links():
    result = parse_feed(load("atom.xml"), "https://nachrichten.example/feed.atom")
    assert result.doc_type == "atom"
    assert result.error is None
    links = result.links
    assert [link.url for link in links] == [
        "https://nachrichten.example/politik/landtag-beschliesst-haushalt-2026",  # xml:base
        "https://nachrichten.example/en/budget-passed-in-state-parliament",
        "https://nachrichten.example/kultur/nur-eine-id-als-link",  # http(s) <id> fallback
    ]
    first, second, third = links
    assert first.title == "Landtag beschließt Haushalt"  # type="html" markup removed
    assert first.language == "de-DE"  # inherited from <feed xml:lang>
    assert (first.published, first.modified) == ("2025-10-22T10:30:00+02:00", "2025-10-22T11:00:00+02:00")
    assert first.keywords == ["politik", "haushalt"]
    assert second.language == "en"  # entry's own xml:lang
    assert second.published == second.modified == "2025-10-22T11:30:00+00:00"  # updated stands in
    assert third.published is None and third.modified is None
    assert result.skipped == {"bad_date": 1, "no_date": 1, "no_link": 1}


def test_rdf_items_beside_channel_with_rdf_about_fallback():
    result = parse_feed(load("rdf.xml"), "https://old.example/rss")
    assert result.doc_type == "rdf"
    assert [(link.url, link.published, link.language) for link in result.links] == [
        ("https://old.example/actualite/greve-des-transports-en-region", "2025-10-20T07:00:00+02:00", "fr"),
        ("https://old.example/actualite/la-rentree-litteraire-2025", "2025-10-18T00:00:00+00:00", "fr"),
    ]
    assert result.links[0].keywords == ["Société"]
    assert result.skipped == {}


def test_feed_broken_part_way_keeps_entries_before_the_break():
    result = parse_feed(load("broken_feed.xml"), "https://trunc.example/feed")
    assert result.doc_type == "rss"
    assert result.error == "malformed"
    assert [link.url for link in result.links] == [
        "https://trunc.example/news/first-story-before-the-break",
        "https://trunc.example/news/second-story-before-the-break",
    ]
    assert result.skipped == {"truncated": 1, "no_date": 1}  # the cut-off third item is not used


def test_truncated_sitemap_keeps_entries_before_the_break():
    body = load("news_sitemap.xml")
    cut = body[: body.index(b"harbour-festival") + 5]
    result = parse_sitemap(cut, f"{SITE}/news-sitemap.xml")
    assert result.error == "malformed"
    # The entry cut inside its <loc> is dropped: its half URL ".../10/21/harbo" is not fetched.
    assert [link.url for link in result.links] == [f"{SITE}/2025/10/22/council-approves-new-tram-line/"]
    assert result.skipped == {"truncated": 1}


def test_document_cut_between_entries_keeps_every_complete_entry():
    body = load("news_sitemap.xml")
    cut = body[: body.index(b"<url>", body.index(b"harbour-festival"))]
    result = parse_sitemap(cut, f"{SITE}/news-sitemap.xml")
    assert result.error == "malformed"
    assert len(result.links) == 2
    assert "truncated" not in result.skipped


def test_mid_document_error_is_flagged_but_entries_are_all_used():
    body = load("rss2.xml").replace(b"Harbour festival", b"Harbour &bogus; festival")
    result = parse_feed(body, f"{SITE}/feed/")
    assert result.error == "malformed"
    assert len(result.links) == 4


def test_xxe_and_entity_expansion_are_not_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    body = load("xxe_feed.xml").replace(b"file:///etc/passwd", secret.as_uri().encode())
    result = parse_feed(body, "https://xxe.example/feed")
    assert len(result.links) == 1
    title = result.links[0].title
    assert "TOP-SECRET" not in title
    assert "lol" not in title  # the billion-laughs entity stays an unexpanded reference
    assert title == "Secret: laughs: end of\u2019title"  # undeclared HTML entities map to characters


def test_html_given_to_the_feed_parser_is_an_error_not_a_crash():
    result = parse_feed(load("homepage.html"), f"{SITE}/feed/")
    assert (result.doc_type, result.error, result.links) == ("unknown", "html", [])
    broken_html = b"<html><body><p>unclosed <b>markup & stray entities&nbsp;</body>"
    assert parse_feed(broken_html, f"{SITE}/feed/").error == "html"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "empty"),
        (b"   \n\t ", "empty"),
        (b"plain text, not markup", "not_xml"),
        (b"\x00\x01\x02binary", "not_xml"),
        (b'<?xml version="1.0"?>', "not_xml"),
        (b"<foo><bar/></foo>", "wrong_root"),
        (b"\x1f\x8bnot really gzip", "bad_gzip"),
    ],
)
def test_document_level_errors(body, error):
    for parse in (parse_feed, parse_sitemap):
        result = parse(body, f"{SITE}/x.xml")
        assert (result.error, result.links, result.sitemaps) == (error, [], [])


def test_feed_parser_rejects_a_sitemap_and_sitemap_parser_accepts_a_feed():
    assert parse_feed(load("news_sitemap.xml"), f"{SITE}/s.xml").error == "wrong_root"
    # Search engines take RSS/Atom in place of a sitemap, so sitemap URLs may serve one.
    result = parse_sitemap(load("rss2.xml"), f"{SITE}/sitemap.xml")
    assert result.doc_type == "rss"
    assert len(result.links) == 4
    assert {link.kind for link in result.links} == {"feed"}


def test_too_large_document(monkeypatch):
    monkeypatch.setattr(discovery, "MAX_DOCUMENT_BYTES", 1000)
    body = load("news_sitemap.xml")
    assert len(body) > 1000
    assert parse_sitemap(body, f"{SITE}/s.xml").error == "too_large"


# --- sitemaps ---------------------------------------------------------------------------------


def test_google_news_sitemap_keeps_news_children():
    result = parse_sitemap(load("news_sitemap.xml"), f"{SITE}/news-sitemap.xml")
    assert result.doc_type == "news_urlset"
    assert result.error is None
    first, second, plain = result.links
    assert first.url == f"{SITE}/2025/10/22/council-approves-new-tram-line/"
    assert first.kind == "news_sitemap"
    assert first.published == "2025-10-22T09:15:00+01:00"
    assert first.modified == "2025-10-22T10:05:00+01:00"
    assert first.title == "Council approves new tram line"
    assert first.language == "en"
    assert first.keywords == ["trams", "council", "transport"]
    assert (second.kind, second.published, second.title) == (
        "news_sitemap", None, "Harbour festival draws record crowds")
    assert (plain.kind, plain.published, plain.modified) == ("sitemap", None, "2024-01-01T00:00:00+00:00")
    assert result.skipped == {"bad_date": 1, "no_date": 1, "no_link": 1}


def test_plain_urlset_and_max_urls():
    urls = "".join(f"<url><loc>/news/story-number-{i}</loc></url>" for i in range(10))
    body = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'.encode()
    result = parse_sitemap(body, "https://plain.example/sitemap.xml", max_urls=4)
    assert result.doc_type == "urlset"
    assert [link.url for link in result.links] == [f"https://plain.example/news/story-number-{i}" for i in range(4)]
    assert {link.kind for link in result.links} == {"sitemap"}
    assert result.skipped == {"over_limit": 6}


def test_sitemap_index_drops_itself_and_keeps_lastmod():
    result = parse_sitemap(load("sitemap_index.xml"), f"{SITE}/sitemap_index.xml")
    assert result.doc_type == "sitemapindex"
    assert result.links == []
    assert result.sitemaps == [f"{SITE}/news-sitemap.xml", f"{SITE}/sitemaps/2025-10.xml.gz"]
    assert result.sitemaps_modified == {
        f"{SITE}/news-sitemap.xml": "2025-10-22T10:05:00+01:00",
        f"{SITE}/sitemaps/2025-10.xml.gz": "2025-10-31T00:00:00+00:00",
    }
    assert result.skipped == {"self_reference": 1, "duplicate": 1, "bad_url": 1}
    # The same index fetched under a tracking-decorated URL still recognises itself.
    again = parse_sitemap(load("sitemap_index.xml"), f"{SITE}/sitemap_index.xml?utm_source=x")
    assert again.skipped["self_reference"] == 1


def test_gzipped_sitemap():
    body = gzip.compress(load("news_sitemap.xml"))
    assert sniff(body, "application/x-gzip", f"{SITE}/sitemaps/news.xml.gz") == "sitemap"
    result = parse_sitemap(body, f"{SITE}/sitemaps/news.xml.gz")
    assert result.error is None
    assert result.doc_type == "news_urlset"
    assert len(result.links) == 3


def test_multi_member_gzip_is_read_whole():
    body = load("news_sitemap.xml")
    half = len(body) // 2
    two_members = gzip.compress(body[:half]) + gzip.compress(body[half:])
    assert len(parse_sitemap(two_members, f"{SITE}/s.xml.gz").links) == 3


def test_gzip_bomb_is_skipped_not_inflated():
    # ~65 MiB of spaces after a valid opening tag compresses to ~65 KiB.
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [comp.compress(b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">')]
    block = b" " * (1024 * 1024)
    parts += [comp.compress(block) for _ in range(65)]
    parts.append(comp.flush())
    bomb = b"".join(parts)
    assert len(bomb) < 200 * 1024
    result = parse_sitemap(bomb, f"{SITE}/bomb.xml.gz")
    assert (result.error, result.links) == ("too_large", [])
    assert sniff(bomb, None, f"{SITE}/bomb.xml.gz") == "sitemap"  # sniffing inflates a few KiB only


# --- robots.txt and HTML ----------------------------------------------------------------------


def test_robots_sitemap_lines():
    urls = parse_robots_sitemaps(load("robots.txt"), f"{SITE}/robots.txt")
    assert urls == [
        f"{SITE}/sitemap_index.xml",
        f"{SITE}/news-sitemap.xml",  # relative, resolved; the absolute repeat is dropped
        "https://cdn.daily.example/sitemaps/video.xml",  # indented, trailing comment removed
    ]


@pytest.mark.parametrize("body", [b"", b"\xff\xfe\x00garbage", b"User-agent: *\nDisallow: /\n"])
def test_robots_without_sitemaps(body):
    assert parse_robots_sitemaps(body, f"{SITE}/robots.txt") == []


def test_html_feed_links():
    links = html_feed_links(load("homepage.html"), f"{SITE}/")
    assert links == [f"{SITE}/feed/", f"{SITE}/feed.atom"]  # <base href> honoured, repeats dropped
    head = '<head><link rel="alternate" type="application/rdf+xml" href="/index.rdf"></head>'
    assert html_feed_links(head, "http://old.example/a/b") == ["http://old.example/index.rdf"]
    assert html_feed_links(b"", f"{SITE}/") == []
    assert html_feed_links("<p>no head at all</p>", f"{SITE}/") == []


# --- sniffing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type", "url", "expected"),
    [
        ("rss2.xml", "text/html", f"{SITE}/page.html", "feed"),  # content beats a wrong type and URL
        ("atom.xml", "application/octet-stream", f"{SITE}/x", "feed"),
        ("rdf.xml", None, f"{SITE}/x", "feed"),
        ("news_sitemap.xml", "text/xml", f"{SITE}/x", "sitemap"),
        ("sitemap_index.xml", None, f"{SITE}/x", "sitemap"),
        ("homepage.html", "application/rss+xml", f"{SITE}/feed/", "html"),
        ("robots.txt", "text/plain", f"{SITE}/x", "robots"),
    ],
)
def test_sniff_by_content(name, content_type, url, expected):
    assert sniff(load(name), content_type, url) == expected


@pytest.mark.parametrize(
    ("body", "content_type", "url", "expected"),
    [
        (b"<unknown/>", "application/atom+xml", f"{SITE}/x", "feed"),
        (b"<unknown/>", "text/html; charset=utf-8", f"{SITE}/x", "html"),
        (b"<unknown/>", "text/xml", f"{SITE}/sitemap-news.xml", "sitemap"),
        (b"<unknown/>", "text/xml", f"{SITE}/sitemaps/2025.xml.gz", "sitemap"),
        (b"", None, f"{SITE}/robots.txt", "robots"),
        (b"", None, f"{SITE}/feed/", "feed"),
        (b"", None, f"{SITE}/index.rss", "feed"),
        (b"", None, f"{SITE}/story.html", "html"),
        (b"", None, f"{SITE}/video.mp4", "other"),
        (b"just some words", "text/plain", f"{SITE}/x.txt", "other"),
        (b"\xef\xbb\xbf<?xml version='1.0'?><!-- <html> --><rss/>", None, f"{SITE}/x", "feed"),
        ("<feed/>".encode("utf-16"), None, f"{SITE}/x", "feed"),
    ],
)
def test_sniff_falls_back_to_type_then_url(body, content_type, url, expected):
    assert sniff(body, content_type, url) == expected


# --- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Wed, 22 Oct 2025 10:00:00 GMT", "2025-10-22T10:00:00+00:00"),
        ("Wed, 22 Oct 2025 10:00:00 +0200", "2025-10-22T10:00:00+02:00"),
        ("22 Oct 2025 10:00 EST", "2025-10-22T10:00:00-05:00"),
        ("Wed, 22 Oct 2025", "2025-10-22T00:00:00+00:00"),
        ("Wed, 22 Oct 2025 10:00:00 -0000", "2025-10-22T10:00:00+00:00"),
        ("2025-10-22T10:00:00Z", "2025-10-22T10:00:00+00:00"),
        ("2025-10-22T10:00+02:00", "2025-10-22T10:00:00+02:00"),
        ("2025-10-22T10:00:00.123456789-0500", "2025-10-22T10:00:00.123456-05:00"),
        ("2025-10-22 10:00:00", "2025-10-22T10:00:00+00:00"),  # naive -> UTC
        ("  2025-10-22\n", "2025-10-22T00:00:00+00:00"),
        ("2025-10", "2025-10-01T00:00:00+00:00"),
        ("2025-13-01", None),
        ("2025-10-22T25:00:00Z", None),
        ("Wed, 32 Oct 2025 10:00:00 GMT", None),
        ("21/10/2025", None),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value) == expected


# --- never raises -----------------------------------------------------------------------------

SEEDS = [load(name) for name in sorted(p.name for p in DATA.iterdir())]


@st.composite
def mutated_documents(draw) -> bytes:
    """A real document cut, spliced or with bytes flipped: the shapes broken servers send."""
    doc = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["cut", "flip", "insert", "delete"]))
        pos = draw(st.integers(0, max(0, len(doc) - 1)))
        if op == "cut":
            del doc[pos:]
        elif op == "flip" and doc:
            doc[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            doc[pos:pos] = draw(st.sampled_from([b"<", b"&", b"]]>", b"<!ENTITY x 'y'>", b"\x00", b"&x;"]))
        elif op == "delete":
            del doc[pos:pos + draw(st.integers(1, 50))]
    if draw(st.booleans()):
        return gzip.compress(bytes(doc))
    return bytes(doc)


ANY_BYTES = st.one_of(st.binary(max_size=2000), mutated_documents())
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(body=ANY_BYTES, url=st.sampled_from([f"{SITE}/feed/", "http://[::1/x", "", "not a url"]))
def test_parsers_never_raise(body, url):
    for result in (parse_feed(body, url), parse_sitemap(body, url, max_urls=5)):
        assert isinstance(result, discovery.ParseResult)
        assert all(link.url.startswith(("http://", "https://")) for link in result.links)
        assert all(n > 0 for n in result.skipped.values())
    assert sniff(body, None, url) in {"feed", "sitemap", "robots", "html", "other"}
    assert isinstance(parse_robots_sitemaps(body, url), list)
    assert isinstance(html_feed_links(body, url), list)


@FAST
@given(body=st.text(max_size=500), ctype=st.one_of(st.none(), st.text(max_size=30)), url=st.text(max_size=60))
def test_text_input_never_raises(body, ctype, url):
    assert sniff(body.encode("utf-8", "surrogatepass"), ctype, url) in {
        "feed", "sitemap", "robots", "html", "other"}
    assert isinstance(parse_robots_sitemaps(body.encode("utf-8", "surrogatepass"), url), list)
    assert isinstance(html_feed_links(body, url), list)
    assert parse_date(body) is None or "T" in parse_date(body)
