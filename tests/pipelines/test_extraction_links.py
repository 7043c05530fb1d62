"""The links split: article / navigation / media."""

from __future__ import annotations

import pytest
from lxml.html import fromstring

from pipelines.extraction_links import (
    absolute_url,
    body_links,
    is_share_url,
    page_links,
    split_links,
)

BASE = "https://news.example/2025/10/22/story/"


def test_absolute_url():
    assert absolute_url(BASE, "/a/b#frag") == "https://news.example/a/b"
    assert absolute_url(BASE, "other") == "https://news.example/2025/10/22/story/other"
    assert absolute_url(BASE, "../x") == "https://news.example/2025/10/22/x"
    assert absolute_url(BASE, "//cdn.example/v.mp4") == "https://cdn.example/v.mp4"
    assert absolute_url(BASE, "https://other.example") == "https://other.example/"
    assert absolute_url(BASE, "https://other.example?q=1") == "https://other.example/?q=1"
    for href in (
        "#top",
        "javascript:void(0)",
        "mailto:a@b.c",
        "tel:123",
        "",
        None,
        "ftp://x/y",
        "https://",
    ):
        assert absolute_url(BASE, href) is None


PAGE = """<html><body>
<header><nav><a href="/">Home</a><a href="/videos/">Videos</a></nav></header>
<article><p>Text with <a href="https://source.example/report">a source</a>.</p>
<div class="share"><a href="https://facebook.com/sharer/sharer.php?u=x">Share</a><a href="/print">Print</a></div></article>
<section class="video-strip"><a href="/clips/1"><img src="t.jpg" alt="Clip one"></a><a href="/clips/1">Clip one title</a></section>
<aside><a href="/2025/10/21/other/">Other story</a><a href="/gallery/fire/">Fire in pictures</a></aside>
<a href="#comments">Comments</a>
</body></html>"""


def test_page_links_kinds():
    links = page_links(fromstring(PAGE), BASE)
    kinds = {(url.removeprefix("https://news.example"), kind) for url, _text, kind in links}
    assert ("/", "navigation") in kinds
    assert ("/videos/", "navigation") in kinds  # a menu entry, even to a media section
    assert ("/clips/1", "media") in kinds  # inside a video block
    assert ("/gallery/fire/", "media") in kinds  # media URL
    assert ("/2025/10/21/other/", "navigation") in kinds
    urls = {url for url, _t, _k in links}
    assert not any("sharer" in u or u.endswith("/print") for u in urls)  # share block dropped
    assert not any("#" in u for u in urls)


def test_split_links_dedup_and_precedence():
    tree = fromstring(PAGE)
    on_page = page_links(tree, BASE)
    article = body_links(tree.find(".//article"), "Text with a source.", BASE)
    assert article == [("https://source.example/report", "a source")]
    links = split_links(on_page, article, exclude=[BASE])
    assert links["article"] == [{"url": "https://source.example/report", "text": "a source"}]
    media = {d["url"]: d["text"] for d in links["media"]}
    assert media["https://news.example/clips/1"] == "Clip one"  # the thumbnail's alt, first seen
    all_urls = [d["url"] for kind in links.values() for d in kind]
    assert len(all_urls) == len(set(all_urls))


def test_body_links_only_from_kept_blocks():
    tree = fromstring(
        '<div><p>Kept paragraph with <a href="/a">link a</a> in it.</p><p>Dropped <a href="/b">link b</a>.</p></div>'
    )
    assert body_links(tree, "Kept paragraph with link a in it.", BASE) == [
        ("https://news.example/a", "link a")
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://www.facebook.com/sharer/sharer.php?u=x",
        "https://www.FaceBook.com/dialog/share?app_id=1",
        "https://twitter.com/intent/tweet?text=x",
        "https://x.com/intent/post?url=x",
        "https://www.linkedin.com/shareArticle?mini=true",
        "https://www.pinterest.com/pin/create/button/?url=x",
        "https://www.reddit.com/submit?url=x",
        "https://api.whatsapp.com/send?text=x",
        "https://wa.me/?text=x",
        "https://t.me/share/url?url=x",
        "https://telegram.me/share/url?url=x",
        "https://getpocket.com/save?url=x",
        "https://news.ycombinator.com/submitlink?u=x",
        "https://www.tumblr.com/share/link?url=x",
        "https://vk.com/share.php?url=x",
        "https://plus.google.com/share?url=x",
    ],
)
def test_share_urls_are_recognised(url):
    assert is_share_url(url)


@pytest.mark.parametrize(
    "url",
    ["https://www.facebook.com/examplenews", "https://twitter.com/examplenews", "https://box.com/s/1"],
)
def test_profile_pages_are_not_share_urls(url):
    assert not is_share_url(url)
