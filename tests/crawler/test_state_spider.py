"""The news spider with a crawl state: what an incremental run requests, and what it remembers."""

from __future__ import annotations

import asyncio

import pytest
from scrapy import Request
from scrapy.exceptions import DropItem
from scrapy.http import HtmlResponse, Response, XmlResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from crawler.spiders.news import NewsSpider
from crawler.state import FAILED, PENDING, RECORDED, REJECTED, Capture, parse_time

BASE = "https://news.example"
STORM = f"{BASE}/2026/11/29/storm-hits-coast.html"
CALM = f"{BASE}/2026/11/29/calm-after-storm.html"
P = parse_time("2026-11-29T12:00:00Z")

FEED = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>N</title>
<item><title>Storm</title><link>{STORM}</link><pubDate>Sun, 29 Nov 2026 12:00:00 +0000</pubDate></item>
<item><title>Calm</title><link>{CALM}</link><pubDate>Sun, 29 Nov 2026 12:00:00 +0000</pubDate></item>
</channel></rss>""".encode()

HOMEPAGE = f"""<html><head><link rel="alternate" type="application/rss+xml" href="/feed.xml"></head>
<body><a href="{STORM}">Storm</a><a href="/world/">World</a></body></html>""".encode()


def make_spider(tmp_path, seeds=(f"{BASE}/",), **settings):
    crawler = get_crawler(NewsSpider, settings_dict={
        "NEWSARCHIVE_STATE_ENABLED": True, "NEWSARCHIVE_OUT": str(tmp_path / "archive"),
        "NEWSARCHIVE_STATE_CLOCK": "2026-11-29T12:30:00Z", **settings})
    crawler.stats.open_spider()
    spider = NewsSpider.from_crawler(crawler, seeds=list(seeds))
    crawler.spider = spider
    return spider


@pytest.fixture
def spider(tmp_path):
    s = make_spider(tmp_path)
    yield s
    s.state.close()
    s.crawler._newsarchive_crawl_lock.release()


def respond(cls, request: Request, body: bytes = b"", status: int = 200, headers=None, **meta) -> Response:
    request.meta.update(meta)
    return cls(url=request.url, body=body, status=status, request=request, encoding="utf-8",
               headers=headers or {"Content-Type": "text/html; charset=utf-8"})


def start(spider) -> list[Request]:
    async def collect():
        return [r async for r in spider.start()]
    return asyncio.run(collect())


def stat(spider, key):
    return spider.crawler.stats.get_value(key, 0)


def feed_request(spider) -> Request:
    [req] = spider._request(f"{BASE}/feed.xml", 0, spider.parse_discovery, role="discovery")
    return req


def test_known_articles_are_skipped_before_any_request(spider):
    spider.state.url_finished(STORM, RECORDED, article_id="a" * 40)
    out = list(spider.parse_document(respond(XmlResponse, feed_request(spider), FEED,
                                             headers={"Content-Type": "application/rss+xml"})))
    assert [r.url for r in out] == [CALM]
    assert stat(spider, "newsarchive/incremental/skipped_known") == 1
    assert spider.state.url_status(CALM) == PENDING  # remembered before it is fetched


def test_rejected_and_given_up_urls_are_not_requested_again(spider):
    spider.state.url_finished(STORM, REJECTED, reason="section_front")
    spider.state.url_finished(CALM, FAILED)
    out = list(spider.parse_document(respond(XmlResponse, feed_request(spider), FEED,
                                             headers={"Content-Type": "application/rss+xml"})))
    assert out == []


def test_pending_urls_of_an_earlier_run_are_fetched_first(spider):
    spider.state.add_pending(CALM, {"kind": "feed", "source": f"{BASE}/feed.xml", "published": None, "title": "Calm"})
    spider.state.add_pending("https://elsewhere.example/x.html", None)  # not a site of this crawl
    reqs = start(spider)
    [resumed] = [r for r in reqs if r.url == CALM]
    assert resumed.meta["newsarchive_role"] == "article"
    assert resumed.meta["newsarchive_via"]["title"] == "Calm"
    assert not [r for r in reqs if "elsewhere" in r.url]
    assert stat(spider, "newsarchive/incremental/resumed") == 1


def test_a_homepage_listed_in_a_sitemap_is_not_an_article(spider):
    start(spider)  # requests the homepage as a document
    assert spider._schedule_article(f"{BASE}/", 0, depth=0, via={"kind": "sitemap"}) == []
    assert spider.state.url_status(f"{BASE}/") is None


def test_due_articles_are_rechecked_with_their_last_capture(spider):
    capture = Capture("<urn:uuid:c1>", STORM, "2026-11-29T12:10:00.123456Z", "sha1:AAAA", etag='"e1"',
                      last_modified="Sun, 29 Nov 2026 12:00:00 GMT")
    spider.state.add_capture(capture)
    spider.state.article_recorded({"id": "a" * 40, "url": STORM, "final_url": STORM, "version": 1,
                                   "text_sha1": "t", "published": "2026-11-29T12:00:00Z",
                                   "warc": {"record_id": "<urn:uuid:c1>"}}, {"file": "f", "offset": 0})
    assert not [r for r in start(spider) if r.url == STORM]  # next check at 13:00
    spider.state.now = lambda: P + 1.5 * 3600
    [check] = [r for r in start(make_spider_like(spider)) if r.url == STORM]
    assert check.meta["newsarchive_refetch"] == "a" * 40
    assert check.meta["newsarchive_previous"] == capture.as_meta()
    assert check.meta["handle_httpstatus_list"] == [304]
    assert check.dont_filter


def make_spider_like(spider):
    """A second run's spider on the same state object (the clock moved)."""
    other = NewsSpider.from_crawler(spider.crawler, seeds=[f"{BASE}/"])
    other.state = spider.state
    return other


def test_unchanged_article_check_gives_no_item(spider):
    spider.state.article_recorded({"id": "a" * 40, "url": STORM, "final_url": STORM, "version": 1,
                                   "text_sha1": "t", "published": "2026-11-29T12:00:00Z",
                                   "warc": {"record_id": "<c1>"}}, {"file": "f", "offset": 0})
    spider.state.now = lambda: P + 1.5 * 3600
    req = Request(STORM, meta={"newsarchive_site": 0, "newsarchive_role": "article",
                               "newsarchive_refetch": "a" * 40})
    for resp in (respond(HtmlResponse, req.replace(), status=304),
                 respond(HtmlResponse, req.replace(), b"<html>same</html>",
                         newsarchive_revisit={"profile": "identical-payload-digest", "refers_to": "<c1>"})):
        assert list(spider.parse_page(resp)) == []
    assert stat(spider, "newsarchive/incremental/unchanged") == 2
    assert spider.state.article("a" * 40).next_check == P + 6 * 3600


def test_a_304_document_replays_what_it_led_to(spider):
    home = spider._request(f"{BASE}/", 0, spider.parse_seed, role="seed")[0]
    first = list(spider.parse_document(respond(HtmlResponse, home, HOMEPAGE, newsarchive_warc={"record_id": "<h1>"})))
    children = {r.url for r in first if r.meta.get("newsarchive_parse")}
    assert children == {f"{BASE}/robots.txt", f"{BASE}/feed.xml", f"{BASE}/world/"}
    assert STORM in {r.url for r in first}
    doc = spider.state.document(f"{BASE}/")
    assert doc.record_id == "<h1>" and {c[0] for c in doc.children} == children

    spider.state.add_capture(Capture("<h1>", f"{BASE}/", "2026-11-29T12:10:00Z", "sha1:H", etag='"h"'))
    again = make_spider_like(spider)
    [req] = again._request(f"{BASE}/", 0, again.parse_seed, role="seed")
    assert req.meta["newsarchive_previous"]["etag"] == '"h"'
    replayed = list(again.parse_document(respond(HtmlResponse, req, status=304)))
    assert {r.url for r in replayed} == children  # the article link is known already: not replayed
    assert all(r.callback == again.parse_document for r in replayed)
    assert {r.meta["newsarchive_parse"] for r in replayed} == {"parse_robots", "parse_discovery", "parse_page"}
    assert stat(again, "newsarchive/incremental/documents_not_modified") == 1


def test_documents_not_due_are_not_fetched(tmp_path):
    spider = make_spider(tmp_path, NEWSARCHIVE_STATE_POLL_INTERVAL="1h")
    spider.state.document_polled(f"{BASE}/feed.xml", role="discovery", record_id=None,
                                 children=[[f"{BASE}/sitemap.xml", "discovery", 0, "parse_discovery"]],
                                 changed=True)
    reqs = spider._request(f"{BASE}/feed.xml", 0, spider.parse_discovery, role="discovery")
    assert [r.url for r in reqs] == [f"{BASE}/sitemap.xml"]
    assert stat(spider, "newsarchive/incremental/documents_not_due") == 1
    spider.state.close()
    spider.crawler._newsarchive_crawl_lock.release()


def test_fetch_outcomes_are_remembered(spider):
    def article_request(url):
        return Request(url, meta={"newsarchive_site": 0, "newsarchive_role": "article"})

    def http_error(request, status):
        failure = Failure(HttpError(respond(HtmlResponse, request, status=status)))
        failure.request = request  # as Scrapy sets it for an errback
        return failure

    gone = article_request(f"{BASE}/gone.html")
    spider.on_error(http_error(gone, 404))
    assert spider.state.url_status(f"{BASE}/gone.html") == REJECTED
    busy = article_request(f"{BASE}/busy.html")
    spider.state.add_pending(busy.url, None)
    spider.on_error(http_error(busy, 503))
    assert spider.state.url_status(busy.url) == PENDING
    assert next(spider.state.pending()).attempts == 1

    item = {"url": f"{BASE}/front.html"}
    resp = respond(HtmlResponse, article_request(item["url"]))
    spider.item_dropped(item, resp, DropItem(f"not recorded (section_front): {item['url']}"))
    assert spider.state.url_status(item["url"]) == REJECTED
    slow = {"url": f"{BASE}/slow.html"}
    spider.state.add_pending(slow["url"], None)
    spider.item_dropped(slow, respond(HtmlResponse, article_request(slow["url"])),
                        DropItem(f"not recorded (timeout): {slow['url']}"))
    assert spider.state.url_status(slow["url"]) == PENDING
    # Records (with an id) are the dedup / records pipelines' business.
    spider.item_dropped({"url": f"{BASE}/r.html", "id": "b" * 40}, resp, DropItem("x"))
    assert spider.state.url_status(f"{BASE}/r.html") is None


def test_without_state_the_spider_is_as_before(tmp_path):
    crawler = get_crawler(NewsSpider, settings_dict={"NEWSARCHIVE_OUT": str(tmp_path / "a")})
    crawler.stats.open_spider()
    spider = NewsSpider.from_crawler(crawler, seeds=[f"{BASE}/"])
    assert spider.state is None
    reqs = start(spider)
    assert [r.meta["newsarchive_role"] for r in reqs] == ["seed"]
    assert "newsarchive_previous" not in reqs[0].meta and "handle_httpstatus_list" not in reqs[0].meta
    assert not (tmp_path / "a").exists()
