"""Credentials in a URL never reach the WARC, even with the safety middleware switched off."""

from __future__ import annotations

from datetime import datetime, timezone

from scrapy import Request
from scrapy.http import Response

from crawler.middlewares.capture import exchange_from, wire_request_headers


def test_userinfo_is_not_archived():
    request = Request("http://desk:s3cret@news.example:8080/a?b=1", headers={"Authorization": "Basic eA=="})
    response = Response(request.url, status=200, body=b"x", request=request)
    ex = exchange_from(request, response, datetime(2026, 11, 30, tzinfo=timezone.utc))
    assert ex.url == "http://news.example:8080/a?b=1"
    headers = dict(wire_request_headers(request))
    assert headers["Host"] == "news.example:8080"
    assert headers["Authorization"] == "<redacted>"
    assert "s3cret" not in repr(ex)
