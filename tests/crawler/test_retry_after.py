from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import pytest_twisted
from scrapy import Request
from scrapy.http import Response
from scrapy.utils.misc import build_from_crawler
from scrapy.utils.test import get_crawler

from crawler.middlewares.retry_after import RetryAfterMiddleware, parse_retry_after

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("value, expected", [
    ("120", 120.0),
    (b"0", 0.0),
    (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
    (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),
    ("soon", None),
    ("", None),
    (None, None),
])
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, now=NOW) == expected


def _mw(**settings):
    crawler = get_crawler(settings_dict={"RETRY_TIMES": 2, **settings})
    crawler.spider = crawler._create_spider("test")
    crawler.stats.open_spider()
    return crawler, build_from_crawler(RetryAfterMiddleware, crawler)


@pytest_twisted.ensureDeferred
async def test_429_with_retry_after_is_retried_after_waiting():
    crawler, mw = _mw()
    req = Request("http://127.0.0.1/a")
    resp = Response(req.url, status=429, headers={"Retry-After": "0"}, request=req)
    out = await mw.process_response(req, resp)
    assert isinstance(out, Request) and out.meta["retry_times"] == 1
    assert crawler.stats.get_value("newsarchive/retry_after/waited") == 1


@pytest_twisted.ensureDeferred
async def test_retry_after_over_the_cap_gives_up():
    crawler, mw = _mw(NEWSARCHIVE_RETRY_AFTER_MAX=5)
    req = Request("http://127.0.0.1/a")
    resp = Response(req.url, status=503, headers={"Retry-After": "3600"}, request=req)
    out = await mw.process_response(req, resp)
    assert out is resp
    assert crawler.stats.get_value("newsarchive/retry_after/too_long") == 1


@pytest_twisted.ensureDeferred
async def test_500_retries_like_scrapy():
    _crawler, mw = _mw()
    req = Request("http://127.0.0.1/a")
    out = await mw.process_response(req, Response(req.url, status=500, request=req))
    assert isinstance(out, Request)
    ok = Response(req.url, status=200, request=req)
    assert await mw.process_response(req, ok) is ok
