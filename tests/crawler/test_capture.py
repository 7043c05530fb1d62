from __future__ import annotations

import gzip
import ipaddress
from pathlib import Path

import pytest
from scrapy import Request, signals
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.exceptions import NotConfigured
from scrapy.http import HtmlResponse, Response
from scrapy.utils.misc import build_from_crawler
from scrapy.utils.test import get_crawler
from warcio.archiveiterator import ArchiveIterator

from archive.warcrecord import read_record
from crawler.middlewares.capture import (
    WarcCaptureMiddleware,
    host_header,
    reason_phrase,
    wire_request_headers,
)
from pipelines.warc import WarcWriteError

CRAWL_ID = "20240102T030405Z-cap001"


def _mw(tmp_path: Path, **settings) -> tuple:
    crawler = get_crawler(
        settings_dict={
            "NEWSARCHIVE_OUT": str(tmp_path),
            "NEWSARCHIVE_CRAWL_ID": CRAWL_ID,
            **settings,
        }
    )
    crawler.spider = crawler._create_spider("test")
    crawler.stats.open_spider()
    return crawler, build_from_crawler(WarcCaptureMiddleware, crawler)


def _stat(crawler, key: str):
    return crawler.stats.get_value(key)


def _finished(crawler, mw) -> None:
    """Close the spider the way Scrapy does: through the signal the middleware connected."""
    crawler.signals.send_catch_log(signals.spider_closed, spider=crawler.spider, reason="finished")


def test_exchange_archived_raw_with_pointer_and_stats(tmp_path: Path) -> None:
    crawler, mw = _mw(tmp_path, NEWSARCHIVE_OPERATOR="Test Desk")
    html = b"<html><body><p>Story</p></body></html>"
    encoded = gzip.compress(html, mtime=0)
    request = Request(
        "http://news.example/story?id=7", headers={"User-Agent": "ua", "Accept-Encoding": "gzip"}
    )
    response = Response(
        request.url,
        status=200,
        headers=[
            ("Content-Type", "text/html; charset=utf-8"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
            ("Content-Encoding", "gzip"),
        ],
        body=encoded,
        request=request,
        protocol="HTTP/1.1",
        ip_address=ipaddress.ip_address("127.0.0.1"),
    )
    assert mw.process_response(request, response) is response
    pointer = request.meta["newsarchive_warc"]
    assert response.meta["newsarchive_warc"] is pointer
    assert set(pointer) == {"file", "offset", "length", "record_id", "payload_digest"}
    assert pointer["file"].startswith(f"warc/{CRAWL_ID}/NEWSARCHIVE-")
    assert _stat(crawler, "newsarchive/warc/records") == 3  # warcinfo, response, request
    assert _stat(crawler, "newsarchive/warc/bytes") > 0
    assert _stat(crawler, "newsarchive/warc/files") == 0  # still open

    _finished(crawler, mw)
    assert _stat(crawler, "newsarchive/warc/files") == 1
    assert _stat(crawler, "newsarchive/warc/bytes") == (tmp_path / pointer["file"]).stat().st_size

    record = read_record(tmp_path, pointer)
    assert record.rec_type == "response"
    assert record.rec_headers.get_header("WARC-Target-URI") == "http://news.example/story?id=7"
    assert record.rec_headers.get_header("WARC-IP-Address") == "127.0.0.1"
    assert record.http_headers.statusline == "200 OK"
    assert [v for k, v in record.http_headers.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert record.raw_stream.read() == encoded  # raw, still gzip

    with open(tmp_path / pointer["file"], "rb") as f:
        recs = [(r.rec_type, r.rec_headers, r.http_headers) for r in ArchiveIterator(f)]
    assert [t for t, _, _ in recs] == ["warcinfo", "response", "request"]
    req_headers = recs[2][2]
    assert req_headers.protocol == "GET"
    assert req_headers.statusline == "/story?id=7 HTTP/1.1"
    assert req_headers.get_header("Host") == "news.example"

    index = (tmp_path / "index" / f"{CRAWL_ID}.cdxj").read_text()
    assert index.startswith("example,news)/story?id=7 ")
    assert '"mime": "text/html"' in index
    assert f'"filename": "{pointer["file"].removeprefix("warc/")}"' in index


def test_final_page_carries_its_own_pointer_after_a_redirect(tmp_path: Path) -> None:
    crawler, mw = _mw(tmp_path)
    redirect_mw = build_from_crawler(RedirectMiddleware, crawler)
    first = Request("http://news.example/old")
    moved = Response(first.url, status=301, headers={"Location": "/new"}, request=first)
    mw.process_response(first, moved)
    first_pointer = first.meta["newsarchive_warc"]
    second = redirect_mw.process_response(first, moved)
    assert isinstance(second, Request) and second.url == "http://news.example/new"
    assert second.meta["newsarchive_warc"] == first_pointer  # copied by the redirect
    final = HtmlResponse(second.url, body=b"<p>new</p>", request=second)
    mw.process_response(second, final)
    _finished(crawler, mw)
    pointer = second.meta["newsarchive_warc"]
    assert pointer != first_pointer
    assert (
        read_record(tmp_path, pointer).rec_headers.get_header("WARC-Target-URI")
        == "http://news.example/new"
    )
    moved_record = read_record(tmp_path, first_pointer)
    assert moved_record.http_headers.statusline == "301 Moved Permanently"
    assert moved_record.http_headers.get_header("Location") == "/new"


def test_write_error_is_counted_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    crawler, mw = _mw(tmp_path)

    def broken(ex):
        raise WarcWriteError(
            "cannot write WARC record to x.open: [Errno 28] No space left on device"
        )

    mw.writer.write_exchange = broken
    request = Request("http://news.example/a", meta={"newsarchive_warc": {"file": "stale"}})
    response = HtmlResponse(request.url, body=b"<p>a</p>", request=request)
    assert mw.process_response(request, response) is response
    assert "newsarchive_warc" not in request.meta  # no stale pointer from an earlier hop
    assert _stat(crawler, "newsarchive/warc/errors") == 1
    assert "No space left on device" in caplog.text


def test_cached_and_non_http_responses_are_not_archived(tmp_path: Path) -> None:
    crawler, mw = _mw(tmp_path)
    cached_req = Request("http://news.example/a")
    mw.process_response(
        cached_req, Response(cached_req.url, body=b"x", flags=["cached"], request=cached_req)
    )
    data_req = Request("data:text/plain,hello")
    mw.process_response(data_req, Response(data_req.url, body=b"hello", request=data_req))
    _finished(crawler, mw)
    assert _stat(crawler, "newsarchive/warc/skipped/cached") == 1
    assert _stat(crawler, "newsarchive/warc/skipped/scheme") == 1
    assert "newsarchive_warc" not in cached_req.meta and "newsarchive_warc" not in data_req.meta
    assert not list(tmp_path.rglob("*.warc.gz"))


def test_disabled(tmp_path: Path) -> None:
    crawler = get_crawler(
        settings_dict={"NEWSARCHIVE_OUT": str(tmp_path), "NEWSARCHIVE_WARC_ENABLED": False}
    )
    with pytest.raises(NotConfigured, match="NEWSARCHIVE_WARC_ENABLED is off"):
        build_from_crawler(WarcCaptureMiddleware, crawler)


def test_index_can_be_switched_off(tmp_path: Path) -> None:
    crawler, mw = _mw(
        tmp_path,
        NEWSARCHIVE_INDEX_ENABLED=False,
        NEWSARCHIVE_WARC_MAX_SIZE=1,
        NEWSARCHIVE_WARC_GZIP_LEVEL=1,
    )
    for i in range(2):
        request = Request(f"http://news.example/{i}")
        mw.process_response(request, HtmlResponse(request.url, body=b"<p>x</p>", request=request))
    # max size 1 byte: every exchange finishes its file at once
    assert _stat(crawler, "newsarchive/warc/files") == 2
    _finished(crawler, mw)
    assert _stat(crawler, "newsarchive/warc/files") == 2
    assert not (tmp_path / "index").exists()


def test_request_headers_as_twisted_sends_them() -> None:
    request = Request(
        "http://news.example:8080/form?x=1",
        method="POST",
        body=b"a=1",
        headers={
            "x-xss-protection": "1",
            "Accept": ["text/html", "*/*"],
            "Authorization": "Basic c2VjcmV0",
            "Proxy-Authorization": "Basic cHJveHk=",
        },
    )
    assert wire_request_headers(request) == [
        ("Content-Length", "3"),
        ("X-XSS-Protection", "1"),
        ("Accept", "text/html"),
        ("Accept", "*/*"),
        ("Authorization", "<redacted>"),
        ("Host", "news.example:8080"),
    ]
    explicit = Request("https://news.example/", headers={"Host": "other.example"})
    assert wire_request_headers(explicit) == [("Host", "other.example")]


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://news.example/", "news.example"),
        ("http://news.example:80/", "news.example"),
        ("https://news.example:443/", "news.example"),
        ("https://news.example:8443/", "news.example:8443"),
        ("http://[::1]:8080/", "[::1]:8080"),
        ("http://user:pw@news.example/", "news.example"),
    ],
)
def test_host_header(url: str, host: str) -> None:
    assert host_header(url) == host


def test_reason_phrase() -> None:
    assert reason_phrase(404) == "Not Found"
    assert reason_phrase(599) == ""
