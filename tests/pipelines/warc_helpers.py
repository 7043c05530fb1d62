"""Shared helpers for the WARC / CDXJ / capture tests: fixed dates and ids, exchanges, members."""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipelines.session import ArchiveSession
from pipelines.warc import Exchange, WarcFileWriter

CRAWL_ID = "20240102T030405Z-abc123"
T0 = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def fixed_clock(start: datetime = T0) -> Callable[[], datetime]:
    return lambda: start


def counting_ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"<urn:uuid:00000000-0000-4000-8000-{next(counter):012d}>"


def make_exchange(**overrides) -> Exchange:
    base = Exchange(
        url="http://news.example/story?id=7&page=2",
        method="GET",
        request_headers=[("User-Agent", "newsarchive-test"), ("Host", "news.example")],
        request_body=b"",
        protocol="HTTP/1.1",
        status=200,
        reason="OK",
        response_headers=[("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "12")],
        body=b"<p>hello</p>",
        ip_address="127.0.0.1",
        date=T0 + timedelta(seconds=1, microseconds=250000),
    )
    return replace(base, **overrides)


def make_writer(root: Path, **kwargs) -> WarcFileWriter:
    session = kwargs.pop("session", None) or ArchiveSession(root=root, crawl_id=CRAWL_ID)
    kwargs.setdefault("hostname", "crawler1")
    kwargs.setdefault("warcinfo", {"operator": "Test Desk", "robots": "obey"})
    kwargs.setdefault("clock", fixed_clock())
    kwargs.setdefault("id_factory", counting_ids())
    return WarcFileWriter(session, **kwargs)


def gzip_members(data: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, compressed length, decompressed bytes) of each gzip member, in order."""
    members = []
    offset = 0
    while offset < len(data):
        d = zlib.decompressobj(zlib.MAX_WBITS + 16)
        text = d.decompress(data[offset:]) + d.flush()
        assert d.eof, "truncated gzip member"
        length = len(data) - offset - len(d.unused_data)
        members.append((offset, length, text))
        offset += length
    return members
