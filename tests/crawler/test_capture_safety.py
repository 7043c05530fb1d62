"""The capture middleware where safety and a full disk meet it: no credentials in the WARC, and
a crawl that stops once nothing can be archived."""

from __future__ import annotations

import errno
from datetime import datetime, timezone

from scrapy import Request
from scrapy.http import Response
from scrapy.utils.test import get_crawler

from crawler.middlewares.capture import (
    WarcCaptureMiddleware,
    exchange_from,
    is_disk_full,
    wire_request_headers,
)
from pipelines.warc import WarcWriteError


def test_userinfo_is_not_archived():
    request = Request("http://desk:s3cret@news.example:8080/a?b=1", headers={"Authorization": "Basic eA=="})
    response = Response(request.url, status=200, body=b"x", request=request)
    ex = exchange_from(request, response, datetime(2026, 11, 30, tzinfo=timezone.utc))
    assert ex.url == "http://news.example:8080/a?b=1"
    headers = dict(wire_request_headers(request))
    assert headers["Host"] == "news.example:8080"
    assert headers["Authorization"] == "<redacted>"
    assert "s3cret" not in repr(ex)


class FullDisk:
    records_written = bytes_written = files_written = 0

    def __init__(self, err: int) -> None:
        self.err = err

    def write_exchange(self, ex):
        try:
            raise OSError(self.err, "No space left on device")
        except OSError as exc:
            raise WarcWriteError(f"cannot write WARC record: {exc}") from exc


def test_a_full_disk_closes_the_crawl_once():
    crawler = get_crawler()
    crawler.stats.open_spider()
    stops = []
    mw = WarcCaptureMiddleware(FullDisk(errno.ENOSPC), None, crawler.stats, on_disk_full=lambda: stops.append(1))
    for i in range(3):
        request = Request(f"http://news.example/{i}")
        response = Response(request.url, status=200, body=b"x", request=request)
        assert mw.process_response(request, response) is response
    assert stops == [1]
    assert crawler.stats.get_value("newsarchive/warc/errors") == 3


def test_other_write_errors_do_not_close_the_crawl():
    crawler = get_crawler()
    crawler.stats.open_spider()
    stops = []
    mw = WarcCaptureMiddleware(FullDisk(errno.EIO), None, crawler.stats, on_disk_full=lambda: stops.append(1))
    request = Request("http://news.example/")
    mw.process_response(request, Response(request.url, status=200, body=b"x", request=request))
    assert stops == []
    assert crawler.stats.get_value("newsarchive/warc/errors") == 1


def test_is_disk_full():
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(ValueError("x"))
    assert not is_disk_full(None)
