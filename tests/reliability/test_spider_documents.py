"""Discovery documents reached through a page's links, fed to the spider directly.

The hostile homepage links to its feeds and sitemaps like any other page. Whichever request for
a URL comes first wins the duplicate filter, so when the homepage's link beats robots.txt's
``Sitemap:`` line (it does on the hostile site), the sitemap arrives at ``parse_page``: it must
still be read as a sitemap, not handed to extraction as a page with no text.
"""

from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.http import XmlResponse
from scrapy.utils.test import get_crawler

from crawler.spiders.news import NewsSpider
from tests.support import hostile_site as hs

BASE = "http://127.0.0.1:8000"


def make_spider() -> NewsSpider:
    crawler = get_crawler(NewsSpider)
    crawler.stats.open_spider()
    spider = NewsSpider.from_crawler(crawler, seeds=[f"{BASE}/"])
    crawler.spider = spider
    return spider


def linked_document(path: str, body: bytes) -> XmlResponse:
    request = Request(f"{BASE}{path}", meta={"newsarchive_site": 0, "newsarchive_role": "section",
                                             "newsarchive_depth": 1})
    return XmlResponse(url=request.url, body=body, request=request,
                       headers={"Content-Type": "application/xml; charset=utf-8"})


@pytest.mark.parametrize("path, body, wanted", [
    ("/sitemap.xml", hs.odd_sitemap(BASE), f"{BASE}{hs.GOOD[0].path}"),
    ("/news-sitemap.xml", hs.news_sitemap(BASE), f"{BASE}{hs.GOOD[1].path}"),
    ("/sitemap-index.xml", hs.sitemap_index(BASE), f"{BASE}/sitemap-huge.xml"),
], ids=["sitemap", "news-sitemap", "sitemap-index"])
def test_a_sitemap_reached_by_a_link_is_read_as_a_sitemap(path, body, wanted):
    spider = make_spider()
    out = list(spider.parse_page(linked_document(path, body)))
    assert not [o for o in out if isinstance(o, dict)], "a sitemap went to extraction"
    assert wanted in {o.url for o in out if isinstance(o, Request)}
