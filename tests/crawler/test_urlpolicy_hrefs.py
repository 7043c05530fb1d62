"""``resolve_href`` and ``strip_userinfo``: what a hostile page's hrefs and a seed's credentials become."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.discovery import parse_feed
from crawler.urlpolicy import resolve_href, strip_userinfo

BASE = "http://127.0.0.1:8000/section/page.html"


@pytest.mark.parametrize("href, expected", [
    ("/rel", "http://127.0.0.1:8000/rel"),
    ("story.html", "http://127.0.0.1:8000/section/story.html"),
    ("../up.html", "http://127.0.0.1:8000/up.html"),
    ("?page=2", "http://127.0.0.1:8000/section/page.html?page=2"),
    ("//other.example/x", "http://other.example/x"),
    ("  https://ok.example/p  ", "https://ok.example/p"),
    ("\thttps://ok.example/a\nb", "https://ok.example/ab"),  # browsers drop tabs and newlines
    ("HTTP://Ok.example/", "HTTP://Ok.example/"),
    ("/web/2020/http://x.example/", "http://127.0.0.1:8000/web/2020/http://x.example/"),
    # not fetchable: other schemes, broken absolute URLs, the page itself
    ("javascript:void(0)", None), ("JavaScript:alert('hi')", None), ("mailto:a@b.example", None),
    ("tel:+0000000000", None), ("data:text/html,<p>x</p>", None), ("ftp://files.example/f", None),
    ("http:///no-host", None), ("http://", None), ("http:path", None), ("ht tp://space.example/", None),
    ("http://[::1", None), ("http://127.0.0.1:99999/p", None), ("", None), ("#comments", None),
    ("   ", None),
])
def test_resolve_href(href, expected):
    assert resolve_href(BASE, href) == expected


def test_resolve_href_never_raises_on_bad_bases():
    assert resolve_href("http://[::1/x", "a.html") is None
    assert resolve_href(None, "a.html") is None  # type: ignore[arg-type]
    assert resolve_href(BASE, None) is None  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(href=st.text(max_size=80))
def test_resolve_href_gives_http_urls_or_none(href):
    url = resolve_href(BASE, href)
    assert url is None or url.lower().startswith(("http://", "https://"))


@pytest.mark.parametrize("url, expected", [
    ("http://u:p@h:1/x?a@b#c", "http://h:1/x?a@b#c"),
    ("https://token@h/", "https://h/"),
    ("http://h/a@b", "http://h/a@b"),
    ("mailto:a@b", "mailto:a@b"),
    ("http://[::1", "http://[::1"),
    ("http://a@b@c/", "http://c/"),
])
def test_strip_userinfo(url, expected):
    assert strip_userinfo(url) == expected


def test_feed_links_that_are_broken_absolute_urls_are_bad_urls_not_paths_on_the_feed_host():
    items = "".join(f"<item><title>t{i}</title><link>{link}</link></item>"
                    for i, link in enumerate(["http:///no-host", "http://", "ht tp://x.example/",
                                              "http://127.0.0.1:8000/ok.html"]))
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>{items}</channel></rss>'
    result = parse_feed(body.encode(), "http://127.0.0.1:8000/feed.xml")
    assert [link.url for link in result.links] == ["http://127.0.0.1:8000/ok.html"]
    assert result.skipped.get("bad_url") == 3
