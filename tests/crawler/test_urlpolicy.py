"""URL policy: table-driven cases from real news-site URL shapes, and random text."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler import urlpolicy
from crawler.urlpolicy import (
    MAX_PAGE,
    canonicalize,
    is_http_url,
    is_private_host,
    site_of,
    trap_reason,
    url_kind,
)

S = "https://www.daily.example"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://WWW.Daily.EXAMPLE:80/a?b=2&a=1#top", "http://www.daily.example/a?a=1&b=2"),
        ("https://daily.example:443", "https://daily.example/"),
        ("https://daily.example:8443/x", "https://daily.example:8443/x"),
        (f"{S}/story?utm_source=tw&UTM_Medium=social&id=7", f"{S}/story?id=7"),
        (f"{S}/story?fbclid=abc&gclid=def&mc_cid=1", f"{S}/story"),
        (f"{S}/story?CMP=share_btn_tw&smid=nytcore", f"{S}/story"),
        (f"{S}/story;jsessionid=0AB12CD?x=1", f"{S}/story?x=1"),
        (f"{S}/story?PHPSESSID=deadbeef&sid=1&sessionid=2", f"{S}/story"),
        (f"{S}/(S(lit3py55t21z5v55vlm25s55))/default.aspx", f"{S}/default.aspx"),
        (f"{S}/a%7eb/%41", f"{S}/a~b/A"),
        (f"{S}/search?q=a+b&page=2", f"{S}/search?page=2&q=a+b"),
        (f"{S}/section/", f"{S}/section/"),  # trailing slash kept: may be another resource
        ("http://bücher.example/ä", "http://xn--bcher-kva.example/%C3%A4"),
        ("http://[::1]:80/x", "http://[::1]/x"),
        ("http://user:pw@Host.example:81/", "http://user:pw@host.example:81/"),
        ("  https://daily.example/x  ", "https://daily.example/x"),
        ("http://daily.example:99999/x", "http://daily.example:99999/x"),  # malformed: input, stripped
        ("mailto:editor@daily.example", "mailto:editor@daily.example"),
    ],
)
def test_canonicalize(url, expected):
    assert canonicalize(url) == expected


def test_canonicalize_is_idempotent_on_examples():
    for url in (f"{S}/a?utm_source=x&b=1", "HTTP://A.example:80/%7e?z=1&a=2#f", f"{S}/x;jsessionid=1"):
        once = canonicalize(url)
        assert canonicalize(once) == once


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"{S}/story", True),
        ("http://127.0.0.1:8080/", True),
        ("http://[::1]/", True),
        ("HTTPS://Daily.Example", True),
        ("javascript:alert(1)", False),
        ("mailto:a@b.example", False),
        ("data:text/html,<p>x</p>", False),
        ("tel:+441234567890", False),
        ("ftp://files.example/a", False),
        ("//daily.example/x", False),  # scheme-relative: resolve it first
        ("/relative/path", False),
        ("http://", False),
        ("http:///path", False),
        ("http://exa mple.com/", False),
        ("http://<script>/", False),
        ("http://a..b/", False),
        ("http://[::1/", False),
        ("http://[not-ip]/", False),
        ("http://daily.example:99999/", False),
        ("", False),
    ],
)
def test_is_http_url(url, expected):
    assert is_http_url(url) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.site.example/a", "site.example"),
        ("https://site.example:8080/", "site.example"),
        ("https://news.site.example/", "site.example"),
        ("https://news.bbc.co.uk/x", "bbc.co.uk"),
        ("https://www.theguardian.com/uk", "theguardian.com"),
        ("https://a.b.c.lemonde.fr/", "lemonde.fr"),
        ("https://myblog.blogspot.com/", "myblog.blogspot.com"),  # private suffixes count
        ("http://127.0.0.1:8000/feed", "127.0.0.1"),
        ("http://[::1]:8000/", "::1"),
        ("http://localhost:8000/", "localhost"),
        ("http://intranet/", "intranet"),
        ("http://co.uk/", "co.uk"),
        ("http://bücher.example/", "xn--bcher-kva.example"),
        ("http://xn--bcher-kva.example/", "xn--bcher-kva.example"),
        ("www.site.example", "site.example"),  # a bare host works too
        ("WWW.SITE.EXAMPLE.", "site.example"),
        ("", ""),
        ("http:///nohost", ""),
    ],
)
def test_site_of(url, expected):
    assert site_of(url) == expected


def test_site_of_never_fetches_the_suffix_list(monkeypatch):
    urlpolicy._extractor.cache_clear()

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    assert site_of("https://www.example.co.uk/") == "example.co.uk"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.1", True),  # shorthand a resolver accepts
        ("2130706433", True),  # 127.0.0.1 as one number
        ("0x7f.0.0.1", True),
        ("10.0.0.5", True),
        ("172.16.3.4", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),  # cloud metadata, link-local
        ("100.64.0.1", True),  # carrier-grade NAT
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("240.0.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("fe80::1%eth0", True),
        ("fc00::1", True),
        ("::ffff:192.168.0.1", True),  # IPv4-mapped
        ("localhost", True),
        ("LOCALHOST.", True),
        ("app.localhost", True),
        ("printer.local", True),
        ("db.internal", True),
        ("router.home.arpa", True),
        ("8.8.8.8", False),
        ("2001:4860:4860::8888", False),
        ("::ffff:8.8.8.8", False),
        ("daily.example", False),
        ("localhost.example.com", False),
        ("cafe.example", False),  # hex letters, but a name
        ("", False),
    ],
)
def test_is_private_host(host, expected):
    assert is_private_host(host) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"{S}/2025/10/22/council-approves-new-tram-line/", None),
        (f"{S}/news/world-europe-12345678", None),
        (f"{S}/", None),
        (f"{S}/search?q=tram&page=2", None),
        (f"{S}/page/{MAX_PAGE}/", None),
        (f"{S}/page/{MAX_PAGE + 1}/", "pagination"),
        (f"{S}/news/page-40", "pagination"),
        (f"{S}/news?page=9", "pagination"),
        (f"{S}/news?paged=12", "pagination"),
        (f"{S}/forum/thread?p=7", "pagination"),
        (f"{S}/?p=12345", None),  # WordPress plain permalink: a post id, not a page
        (f"{S}/index.php?p=12345", None),
        (f"{S}/2025/10/", "calendar"),
        (f"{S}/2025/10/22/", "calendar"),
        (f"{S}/2025/10/22", "calendar"),
        (f"{S}/news/2025/", "calendar"),
        (f"{S}/archive/2025-10-22", "calendar"),
        (f"{S}/archive/20251022/", "calendar"),
        (f"{S}/events?month=10&year=2025", "calendar"),
        (f"{S}/archive?date=2025-10-22", "calendar"),
        (f"{S}/section/5", None),  # a number without a year is not a date
        (f"{S}/a/b/a/b/a/", "repeated_segments"),
        (f"{S}/news/news/news/x", "repeated_segments"),
        (f"{S}/news/world/news/x", None),
        (f"{S}/x?" + "&".join(f"f{i}=1" for i in range(9)), "too_many_params"),
        (f"{S}/x?" + "&".join(f"f{i}=1" for i in range(8)), None),
        (f"{S}/" + "a" * 2001, "too_long"),
        ("not a url at all", None),
        ("http://[::1/", None),
    ],
)
def test_trap_reason(url, expected):
    assert trap_reason(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # articles
        (f"{S}/2025/10/22/council-approves-new-tram-line/", "article"),
        (f"{S}/2025/10/22/world/europe/landtag-vote.html", "article"),
        (f"{S}/politics/2025/10/tram-vote", "article"),
        (f"{S}/2025-10-22/tram-vote-passes", "article"),
        (f"{S}/world/europe/landtag-beschliesst-haushalt-fuer-2026", "article"),
        ("https://www.bbc.example/news/world-europe-12345678", "article"),
        (f"{S}/news/uk-politics-vote", "article"),
        (f"{S}/article/123", "article"),
        (f"{S}/story/abc", "article"),
        (f"{S}/politik/artikel-123456.html", "article"),
        (f"{S}/12345678.html", "article"),
        (f"{S}/?p=123", "article"),
        (f"{S}/article.php?id=4567", "article"),
        (f"{S}/mir/%D0%B2%D1%8B%D0%B1%D0%BE%D1%80%D1%8B-%D0%B2-%D0%B3%D0%BE%D1%80%D0%BE%D0%B4%D0%B5-%D0%BF%D1%80%D0%BE%D1%88%D0%BB%D0%B8", "article"),
        # sections
        (f"{S}/", "section"),
        (S, "section"),
        (f"{S}/politics/", "section"),
        (f"{S}/news/world", "section"),
        (f"{S}/news/world-europe", "section"),
        (f"{S}/sport/football/premier-league", "section"),
        (f"{S}/tag/climate-change-and-global-warming-policy", "section"),
        (f"{S}/category/politics/", "section"),
        (f"{S}/topics/elections", "section"),
        (f"{S}/author/jane-smith/", "section"),
        (f"{S}/search?q=tram", "section"),
        (f"{S}/page/2/", "section"),
        (f"{S}/2025/10/", "section"),
        (f"{S}/%C3%A9conomie/", "section"),
        (f"{S}/world/index.html", "section"),
        (f"{S}/index.php", "section"),
        # assets
        (f"{S}/img/photo.JPG", "asset"),
        (f"{S}/img/photo.webp?w=640", "asset"),
        (f"{S}/static/app.js?v=3", "asset"),
        (f"{S}/static/site.css", "asset"),
        (f"{S}/docs/annual-report-2025.pdf", "asset"),
        (f"{S}/video/clip.mp4", "asset"),
        (f"{S}/live/stream.m3u8", "asset"),
        (f"{S}/fonts/x.woff2", "asset"),
        # neither
        (f"{S}/feed/", "unknown"),
        (f"{S}/sitemap.xml", "unknown"),
        (f"{S}/index.rss", "unknown"),
        (f"{S}/about/team.html", "unknown"),
        (f"{S}/terms-of-service", "unknown"),
        (f"{S}/elections/2024/results", "unknown"),
        ("mailto:x@daily.example", "unknown"),
        ("garbage", "unknown"),
    ],
)
def test_url_kind(url, expected):
    assert url_kind(url) == expected


# --- never raises -----------------------------------------------------------------------------

URLISH = st.one_of(
    st.text(max_size=120),
    st.builds(
        lambda scheme, host, path, query: f"{scheme}{host}{path}{query}",
        st.sampled_from(["http://", "https://", "HTTP://", "javascript:", "", "//", "http:/"]),
        st.one_of(st.text(max_size=20), st.sampled_from(["[::1", "[::1]", "a.example:99999", "a.example:x",
                                                         "xn--", "\u0000", "[v1.x]", "127.1"])),
        st.text(max_size=40),
        st.one_of(st.just(""), st.text(max_size=40).map(lambda t: "?" + t)),
    ),
)


@settings(max_examples=300, deadline=None)
@given(URLISH)
def test_policy_functions_never_raise(url):
    canonical = canonicalize(url)
    assert isinstance(canonical, str)
    assert isinstance(is_http_url(url), bool)
    assert isinstance(site_of(url), str)
    assert isinstance(is_private_host(url), bool)
    assert trap_reason(url) in {None, "calendar", "pagination", "repeated_segments", "too_long",
                                "too_many_params"}
    assert url_kind(url) in {"article", "section", "asset", "unknown"}
    if is_http_url(url):
        assert canonicalize(canonical) == canonical


_URL_PIECES = st.sampled_from(
    [
        "http://", "https://", "HTTP://", "ftp://", "//", "www.", "news.", "Example", ".co.uk",
        ".com", "127.0.0.1", "[::1]", ":8080", ":80", "@", "user:pw@", "/", "?", "#", "a",
        "\t", " ", "\\", "xn--bcher-kva", "bücher", ".", "..", "%2F", "0x7f000001",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_URL_PIECES, max_size=10).map("".join))
def test_site_of_from_the_netloc_cache_equals_the_general_path(url):
    from crawler.urlpolicy import _site_of_url

    assert site_of(url) == _site_of_url(url)
