"""The head-only meta-refresh middleware decides exactly as Scrapy's, without decoding whole pages."""

from __future__ import annotations

import codecs

import pytest
from scrapy import Request
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from crawler.middlewares.metarefresh import HEAD_BYTES, HeadMetaRefreshMiddleware, head_text

URL = "https://news.example/story.html"
FILLER = "<p>Été, à Zürich: «neige» ☃ 東京 😀</p>" * 2000  # multi-byte, far beyond the head


def page(head: str, *, body: str = FILLER) -> str:
    return f"<html><head>{head}</head><body>{body}</body></html>"


def respond(html: str, encoding: str = "utf-8", *, header: bool = True, bom: bytes = b"") -> HtmlResponse:
    headers = {"Content-Type": f"text/html; charset={encoding}" if header else "text/html"}
    return HtmlResponse(URL, body=bom + html.encode(encoding), headers=headers)


def both(response_factory):
    """(ours, Scrapy's) answers for two identical responses."""
    crawler = get_crawler(settings_dict={"METAREFRESH_ENABLED": True})
    ours = HeadMetaRefreshMiddleware.from_crawler(crawler)
    theirs = MetaRefreshMiddleware.from_crawler(get_crawler(settings_dict={"METAREFRESH_ENABLED": True}))
    a, b = response_factory(), response_factory()
    return ours.process_response(Request(URL), a), theirs.process_response(Request(URL), b), a


REFRESH = '<meta http-equiv="refresh" content="0; url=/moved.html">'
CASES = {
    "refresh": lambda: respond(page(REFRESH)),
    "no refresh": lambda: respond(page("<title>t</title>")),
    "refresh in noscript": lambda: respond(page(f"<noscript>{REFRESH}</noscript>")),
    "refresh after 4096 characters": lambda: respond(page("<title>t</title>", body=FILLER + REFRESH)),
    "refresh late in the head": lambda: respond(page("<!--" + "é" * 4000 + "-->" + REFRESH)),
    "base href": lambda: respond(page('<base href="https://cdn.example/x/">' +
                                      '<meta http-equiv="refresh" content="1;url=next.html">')),
    "utf-16 with a BOM": lambda: respond(page(REFRESH), "utf-16-le", header=False, bom=codecs.BOM_UTF16_LE),
    "utf-32": lambda: respond(page(REFRESH), "utf-32-be"),
    "meta charset only": lambda: respond(page('<meta charset="windows-1252">' + REFRESH, body="caf\xe9 " * 9000),
                                         "windows-1252", header=False),
    "long delay": lambda: respond(page('<meta http-equiv="refresh" content="500; url=/later.html">')),
}


@pytest.mark.parametrize("name", CASES)
def test_same_decision_as_scrapy(name):
    ours, theirs, _ = both(CASES[name])
    assert type(ours) is type(theirs)
    assert ours.url == theirs.url
    if isinstance(ours, Request):
        assert ours.meta.get("redirect_reasons") == theirs.meta.get("redirect_reasons")


def test_redirects_as_scrapy_does():
    ours, _, _ = both(CASES["refresh"])
    assert isinstance(ours, Request) and ours.url == "https://news.example/moved.html"


def test_the_page_is_not_decoded_whole():
    response = respond(page("<title>t</title>"))
    assert len(response.body) > HEAD_BYTES
    mw = HeadMetaRefreshMiddleware.from_crawler(get_crawler(settings_dict={"METAREFRESH_ENABLED": True}))
    assert mw.process_response(Request(URL), response) is response
    assert response._cached_ubody is None  # Scrapy's reading would have decoded (and kept) it all


@pytest.mark.parametrize("name", CASES)
def test_head_is_the_start_of_the_text(name):
    response = CASES[name]()
    head = head_text(response)
    assert head is None or head == response.text[:4096]


def test_short_pages_are_left_to_scrapy():
    assert head_text(respond(page(REFRESH, body="short"))) is None


def test_disabled_like_scrapys():
    from scrapy.exceptions import NotConfigured

    with pytest.raises(NotConfigured):
        HeadMetaRefreshMiddleware.from_crawler(get_crawler(settings_dict={"METAREFRESH_ENABLED": False}))
