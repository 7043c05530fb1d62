"""The archive-source downloader middleware: spiders served from an archive, never the network."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import HtmlResponse
from scrapy.utils.misc import build_from_crawler
from scrapy.utils.test import get_crawler

from crawler.middlewares.archive_source import ArchiveSourceMiddleware
from tests.archive.replay_archive import SITE, article_html, article_url, build_archive, headline

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return build_archive(tmp_path_factory.mktemp("source") / "archive", n=6)


def make(archive=None, **settings):
    if archive is not None:
        settings = {"NEWSARCHIVE_ARCHIVESOURCE_ENABLED": True,
                    "NEWSARCHIVE_ARCHIVESOURCE_URI": str(archive.root), **settings}
    crawler = get_crawler(settings_dict=settings)
    crawler.stats.open_spider()
    return crawler, build_from_crawler(ArchiveSourceMiddleware, crawler)


def test_off_unless_enabled():
    with pytest.raises(NotConfigured):
        make()


@pytest.mark.parametrize("uri", [None, "s3://bucket/prefix", "missing-folder"])
def test_enabled_without_a_usable_archive_stops_the_crawl(uri, tmp_path):
    # never NotConfigured here: that would quietly send an "offline" crawl to the live web
    settings = {"NEWSARCHIVE_ARCHIVESOURCE_ENABLED": True}
    if uri:
        settings["NEWSARCHIVE_ARCHIVESOURCE_URI"] = uri if "://" in uri else str(tmp_path / uri)
    with pytest.raises(ValueError, match="NEWSARCHIVE_ARCHIVESOURCE"):
        make(**settings)


def test_hit_serves_the_archived_wire_bytes(archive):
    crawler, mw = make(archive)
    req = Request(article_url(1))  # gzip-encoded on the wire
    resp = mw.process_request(req)
    assert isinstance(resp, HtmlResponse)
    assert resp.status == 200 and resp.url == req.url
    assert resp.headers[b"Content-Encoding"] == b"gzip"
    assert gzip.decompress(resp.body) == article_html(1)
    assert {"cached", "archive"} <= set(resp.flags)
    cap = archive.latest(article_url(1))
    pointer = {"file": cap.warc_file, "offset": cap.offset, "length": cap.length}
    assert req.meta["newsarchive_warc"] == pointer
    assert req.meta["newsarchive_archive_source"] == {
        "pointer": pointer, "timestamp": "20261129100002", "revisit": False}
    assert crawler.stats.get_value("newsarchive/archive_source/hit") == 1


def test_miss_is_ignore_request_and_counted_not_a_fake_404(archive):
    crawler, mw = make(archive)
    with pytest.raises(IgnoreRequest):
        mw.process_request(Request(f"{SITE}/never-archived.html"))
    with pytest.raises(IgnoreRequest):  # archived, but a POST is not what was archived
        mw.process_request(Request(article_url(0), method="POST", body=b"x=1"))
    assert crawler.stats.get_value("newsarchive/archive_source/miss") == 2
    assert crawler.stats.get_value("newsarchive/archive_source/hit") is None


def test_revisit_is_served_with_its_original_payload(archive):
    crawler, mw = make(archive)
    resp = mw.process_request(req := Request(article_url(0)))
    assert resp.body == article_html(0)
    assert req.meta["newsarchive_archive_source"]["revisit"] is True
    assert req.meta["newsarchive_archive_source"]["timestamp"] == "20261130100000"
    assert crawler.stats.get_value("newsarchive/archive_source/hit_revisit") == 1


def test_timestamp_setting_picks_the_closest_capture(archive):
    _, latest = make(archive)
    _, older = make(archive, NEWSARCHIVE_ARCHIVESOURCE_TIMESTAMP="20261129120000")
    assert headline(2, 1).encode() in latest.process_request(Request(article_url(2))).body
    body = older.process_request(Request(article_url(2))).body
    assert headline(2).encode() in body and b"corrected" not in body


def test_head_gets_headers_only(archive):
    _, mw = make(archive)
    resp = mw.process_request(Request(article_url(0), method="HEAD"))
    assert resp.status == 200 and resp.body == b""


def test_pointer_survives_the_capture_middleware_on_the_way_back(archive):
    _, mw = make(archive)
    req = Request(article_url(3))
    resp = mw.process_request(req)
    req.meta.pop("newsarchive_warc")  # what WarcCaptureMiddleware (950) does first
    assert mw.process_response(req, resp) is resp
    assert req.meta["newsarchive_warc"]["offset"] == archive.latest(article_url(3)).offset


CRAWL = textwrap.dedent("""
    import json, sys
    import scrapy
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings

    archive, out, feed = sys.argv[1:4]

    class ArchiveSpider(scrapy.Spider):
        name = "from_archive"
        start_urls = [u for u in sys.argv[4:]]

        def parse(self, response):
            yield {"url": response.url, "status": response.status,
                   "h1": response.css("h1::text").get(), "flags": response.flags,
                   "redirected_from": response.meta.get("redirect_urls"),
                   "warc": response.meta.get("newsarchive_warc")}

    settings = get_project_settings()
    settings.setdict({
        "NEWSARCHIVE_OUT": out, "NEWSARCHIVE_ARCHIVESOURCE_ENABLED": True,
        "NEWSARCHIVE_ARCHIVESOURCE_URI": archive,
        "DOWNLOADER_MIDDLEWARES": {
            **settings.getdict("DOWNLOADER_MIDDLEWARES"),
            "crawler.middlewares.archive_source.ArchiveSourceMiddleware": 900},
        "ITEM_PIPELINES": {}, "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False,
        "FEEDS": {feed: {"format": "jsonlines"}}, "LOG_LEVEL": "INFO",
    })
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(ArchiveSpider)
    process.crawl(crawler)
    process.start()
    print("STATS " + json.dumps({k: v for k, v in crawler.stats.get_stats().items()
                                  if isinstance(v, int)}))
""")


def test_a_spider_crawls_the_archive_offline(archive, tmp_path):
    """The project's own middleware stack: robots.txt, redirects and gzip all come from the
    archive, the capture middleware does not archive replayed responses, a miss is counted."""
    feed = tmp_path / "items.jsonl"
    urls = [article_url(0), article_url(4), f"{SITE}/s/1", f"{SITE}/not-archived.html"]
    proc = subprocess.run(
        [sys.executable, "-c", CRAWL, str(archive.root), str(tmp_path / "out"), str(feed), *urls],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads(proc.stdout.split("STATS ", 1)[1])
    items = {i["url"]: i for i in map(json.loads, feed.read_text().splitlines())}
    assert set(items) == {article_url(0), article_url(4), article_url(1)}
    assert items[article_url(1)]["redirected_from"] == [f"{SITE}/s/1"]
    for i in (0, 1, 4):
        item = items[article_url(i)]
        assert item["status"] == 200 and item["h1"] == headline(i)
        assert "archive" in item["flags"] and item["warc"]["file"].startswith("warc/")
    assert stats["newsarchive/archive_source/miss"] == 1
    # robots.txt, 3 pages, the redirect
    assert stats["newsarchive/archive_source/hit"] == 5
    # the capture middleware saw them as replayed, not fetched: nothing archived again
    assert stats["newsarchive/warc/skipped/cached"] == 5
    assert not list((tmp_path / "out").glob("warc/*/*.warc.gz"))
