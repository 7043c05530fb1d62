"""Revisit records and conditional GET: what the capture middleware writes for a URL fetched
before, and the validators the conditional middleware sends."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from scrapy import Request, signals
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.utils.misc import build_from_crawler
from scrapy.utils.test import get_crawler
from warcio.archiveiterator import ArchiveIterator

from crawler.middlewares.capture import WarcCaptureMiddleware, payload_digest
from crawler.middlewares.conditional import ConditionalGetMiddleware
from crawler.state import Capture

CRAWL_ID = "20261129T120000Z-rev001"
URL = "http://news.example/2026/11/29/story.html"
BODY = b"<html><body><p>Story</p></body></html>"
HEADERS = [("Content-Type", "text/html; charset=utf-8"), ("ETag", '"v1"'),
           ("Last-Modified", "Sun, 29 Nov 2026 12:00:00 GMT")]


@pytest.fixture
def setup(tmp_path: Path):
    crawler = get_crawler(settings_dict={
        "NEWSARCHIVE_OUT": str(tmp_path), "NEWSARCHIVE_CRAWL_ID": CRAWL_ID,
        "NEWSARCHIVE_STATE_ENABLED": True})
    crawler.spider = crawler._create_spider("test")
    crawler.stats.open_spider()
    mw = build_from_crawler(WarcCaptureMiddleware, crawler)
    yield crawler, mw, tmp_path
    crawler.signals.send_catch_log(signals.engine_stopped)


def fetch(mw, *, status=200, body=BODY, headers=HEADERS, previous=None) -> Request:
    request = Request(URL, meta={"newsarchive_previous": previous} if previous else {})
    mw.process_response(request, Response(URL, status=status, headers=headers, body=body,
                                          request=request, protocol="HTTP/1.1"))
    return request


def finish(crawler) -> list:
    crawler.signals.send_catch_log(signals.spider_closed, spider=crawler.spider, reason="finished")
    return sorted((crawler._newsarchive_session.root / "warc" / CRAWL_ID).glob("*.warc.gz"))


def records(paths) -> list:
    out = []
    for path in paths:
        with open(path, "rb") as f:
            out.extend((r.rec_type, dict(r.rec_headers.headers), r.content_stream().read())
                       for r in ArchiveIterator(f))
    return out


def test_payload_digest_is_what_warcio_writes(setup):
    _crawler, mw, _ = setup
    request = fetch(mw)
    assert request.meta["newsarchive_warc"]["payload_digest"] == payload_digest(BODY)


def test_full_capture_is_logged_for_the_next_run(setup):
    crawler, mw, _ = setup
    request = fetch(mw)
    pointer = request.meta["newsarchive_warc"]
    cap = crawler._newsarchive_state.capture(pointer["record_id"])
    assert (cap.url, cap.payload_digest, cap.etag, cap.last_modified) == (
        URL, pointer["payload_digest"], '"v1"', "Sun, 29 Nov 2026 12:00:00 GMT")
    assert cap.warc_date.startswith("20") and cap.warc_date.endswith("Z")
    assert "newsarchive_revisit" not in request.meta


def test_same_payload_becomes_an_identical_payload_digest_revisit(setup):
    crawler, mw, _ = setup
    first = fetch(mw)
    previous = crawler._newsarchive_state.capture(first.meta["newsarchive_warc"]["record_id"]).as_meta()
    again = fetch(mw, previous=previous)
    assert again.meta["newsarchive_revisit"] == {"profile": "identical-payload-digest",
                                                 "refers_to": previous["record_id"]}
    assert crawler.stats.get_value("newsarchive/warc/revisits/identical-payload-digest") == 1
    changed = fetch(mw, body=BODY + b"<!-- new -->", previous=previous)
    assert "newsarchive_revisit" not in changed.meta
    paths = finish(crawler)
    recs = records(paths)
    [revisit] = [r for r in recs if r[0] == "revisit"]
    h = revisit[1]
    assert h["WARC-Profile"] == "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
    assert h["WARC-Refers-To-Target-URI"] == URL and h["WARC-Refers-To-Date"] == previous["date"]
    assert h["WARC-Refers-To"] == previous["record_id"]
    assert h["WARC-Payload-Digest"] == previous["payload_digest"]
    assert revisit[2] == b""  # headers only
    assert [r[0] for r in recs].count("response") == 2
    index = (crawler._newsarchive_session.root / "index" / f"{CRAWL_ID}.cdxj").read_text()
    assert index.count('"mime": "warc/revisit"') == 1
    proc = subprocess.run(["warcio", "check", *map(str, paths)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_304_becomes_a_server_not_modified_revisit_left_out_of_the_index(setup):
    crawler, mw, _ = setup
    first = fetch(mw)
    previous = crawler._newsarchive_state.capture(first.meta["newsarchive_warc"]["record_id"]).as_meta()
    not_modified = fetch(mw, status=304, body=b"", headers=[("ETag", '"v1"')], previous=previous)
    assert not_modified.meta["newsarchive_revisit"]["profile"] == "server-not-modified"
    paths = finish(crawler)
    [revisit] = [r for r in records(paths) if r[0] == "revisit"]
    h = revisit[1]
    assert h["WARC-Profile"] == "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
    assert h["WARC-Refers-To-Target-URI"] == URL and h["WARC-Refers-To-Date"] == previous["date"]
    index = (crawler._newsarchive_session.root / "index" / f"{CRAWL_ID}.cdxj").read_text()
    assert "warc/revisit" not in index and index.count("\n") == 1
    proc = subprocess.run(["warcio", "check", *map(str, paths)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_304_without_a_previous_capture_is_kept_as_it_came(setup):
    crawler, mw, _ = setup
    request = fetch(mw, status=304, body=b"", headers=[])
    assert "newsarchive_revisit" not in request.meta
    assert [r[0] for r in records(finish(crawler))] == ["warcinfo", "response", "request"]


# --- conditional GET ------------------------------------------------------------------------------


def conditional(**settings):
    crawler = get_crawler(settings_dict=settings)
    crawler.stats.open_spider()
    return crawler, build_from_crawler(ConditionalGetMiddleware, crawler)


def test_validators_of_the_previous_capture_are_sent():
    crawler, mw = conditional()
    previous = Capture("<r>", URL, "2026-11-29T12:00:00Z", "sha1:X", etag='"v1"',
                       last_modified="Sun, 29 Nov 2026 12:00:00 GMT").as_meta()
    request = Request(URL, meta={"newsarchive_previous": previous})
    assert mw.process_request(request) is None
    assert request.headers[b"If-None-Match"] == b'"v1"'
    assert request.headers[b"If-Modified-Since"] == b"Sun, 29 Nov 2026 12:00:00 GMT"
    mw.process_response(request, Response(URL, status=304, request=request))
    assert crawler.stats.get_value("newsarchive/conditional/requests") == 1
    assert crawler.stats.get_value("newsarchive/conditional/not_modified") == 1


def test_nothing_to_send_nothing_sent():
    crawler, mw = conditional()
    plain = Request(URL)
    no_validators = Request(URL, meta={"newsarchive_previous": {"etag": None, "last_modified": None}})
    own = Request(URL, headers={"If-None-Match": '"mine"'},
                  meta={"newsarchive_previous": {"etag": '"v1"', "last_modified": None}})
    post = Request(URL, method="POST", meta={"newsarchive_previous": {"etag": '"v1"'}})
    for r in (plain, no_validators, own, post):
        mw.process_request(r)
    assert b"If-None-Match" not in plain.headers and b"If-None-Match" not in no_validators.headers
    assert own.headers[b"If-None-Match"] == b'"mine"' and b"If-None-Match" not in post.headers
    assert crawler.stats.get_value("newsarchive/conditional/requests") is None


def test_conditional_can_be_switched_off():
    with pytest.raises(NotConfigured):
        conditional(NEWSARCHIVE_CONDITIONAL_ENABLED=False)


def test_an_incomplete_previous_capture_gives_a_full_response(setup):
    crawler, mw, _ = setup
    request = fetch(mw, previous={"payload_digest": payload_digest(BODY), "record_id": None,
                                  "uri": URL, "date": "2026-11-29T12:00:00Z"})
    assert "newsarchive_revisit" not in request.meta
    assert [r[0] for r in records(finish(crawler))] == ["warcinfo", "response", "request"]
