from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from cdxj_indexer.main import CDXJIndexer

from pipelines.cdxj import CdxjIndexWriter, cdxj_line, mime_type, url_key
from pipelines.session import ArchiveSession
from pipelines.warc import Exchange, WarcFileWriter, timestamp14
from tests.pipelines.warc_helpers import CRAWL_ID, T0, make_exchange, make_writer


def index_like_the_crawl(writer: WarcFileWriter, index: CdxjIndexWriter, ex: Exchange) -> dict:
    """What the capture middleware does for one exchange."""
    pointer = writer.write_exchange(ex)
    content_type = next((v for k, v in ex.response_headers if k.lower() == "content-type"), None)
    index.add(
        ex.url,
        timestamp14(ex.date),
        content_type,
        ex.status,
        pointer["payload_digest"],
        pointer["length"],
        pointer["offset"],
        pointer["file"].removeprefix("warc/"),
        "response",
    )
    return pointer


def crawl(root: Path, *, max_buffer_bytes: int = 1 << 20, max_size: int = 1 << 30) -> Path:
    """A small crawl with redirects, revisits, odd content types, URLs and out-of-order times."""
    session = ArchiveSession(root=root, crawl_id=CRAWL_ID)
    writer = make_writer(root, session=session, max_size=max_size)
    index = CdxjIndexWriter(session, max_buffer_bytes=max_buffer_bytes)
    exchanges = [
        make_exchange(url="http://News.Example/", date=T0 + timedelta(seconds=30)),
        make_exchange(
            url="http://news.example/old",
            status=301,
            reason="Moved Permanently",
            response_headers=[("Location", "http://news.example/story?id=7&page=2")],
            body=b"",
        ),
        make_exchange(
            response_headers=[
                ("Content-Type", "application/xhtml+xml ; charset=utf-8"),
                ("Content-Type", "x/y"),
            ]
        ),
        make_exchange(url="https://www.news.example/a?b=2&a=1", date=T0 + timedelta(minutes=5)),
        make_exchange(url="https://www.news.example/a?b=2&a=1", date=T0 - timedelta(minutes=5)),
        make_exchange(
            url="http://news.example/empty-type", response_headers=[("Content-Type", "")]
        ),
        make_exchange(url="http://news.example/caf%C3%A9/", date=T0 + timedelta(hours=2)),
    ]
    exchanges += [
        make_exchange(url=f"http://news.example/p/{i:03d}", date=T0 + timedelta(seconds=i))
        for i in range(40, 0, -1)
    ]
    first = None
    for ex in exchanges:
        pointer = index_like_the_crawl(writer, index, ex)
        first = first or (ex, pointer)
    # A revisit of the first capture, later on.
    revisit_ex = make_exchange(url=first[0].url, date=T0 + timedelta(days=1))
    pointer = writer.write_revisit(
        revisit_ex,
        refers_to_uri=first[0].url,
        refers_to_date="2024-01-02T03:04:35Z",
        refers_to_record_id=first[1]["record_id"],
        payload_digest=first[1]["payload_digest"],
    )
    index.add(
        revisit_ex.url,
        timestamp14(revisit_ex.date),
        "text/html",
        revisit_ex.status,
        pointer["payload_digest"],
        pointer["length"],
        pointer["offset"],
        pointer["file"].removeprefix("warc/"),
        "revisit",
    )
    writer.close()
    entry = index.close()
    assert entry is not None and entry["kind"] == "index"
    return root / entry["path"]


def cdxj_indexer_output(root: Path, out: Path) -> bytes:
    files = sorted(str(p) for p in (root / "warc").rglob("*.warc.gz"))
    # records named explicitly: importing py-wacz (other tests) adds warcinfo to the default.
    CDXJIndexer(
        str(out), files, sort=True, dir_root=str(root / "warc"), records="response,revisit"
    ).process_all()
    expected = out.read_bytes()
    if "warcinfo" not in CDXJIndexer.DEFAULT_RECORDS:  # not patched: the plain default agrees
        CDXJIndexer(str(out), files, sort=True, dir_root=str(root / "warc")).process_all()
        assert out.read_bytes() == expected
    return expected


@pytest.mark.parametrize(
    ("max_buffer_bytes", "max_size"),
    [(1 << 20, 1 << 30), (700, 2000)],  # all in memory, one file / spilled runs, rotated files
    ids=["in-memory", "spilled-and-rotated"],
)
def test_identical_to_cdxj_indexer(tmp_path: Path, max_buffer_bytes: int, max_size: int) -> None:
    live = crawl(tmp_path / "archive", max_buffer_bytes=max_buffer_bytes, max_size=max_size)
    assert live == tmp_path / "archive" / "index" / f"{CRAWL_ID}.cdxj"
    expected = cdxj_indexer_output(tmp_path / "archive", tmp_path / "reference.cdxj")
    assert live.read_bytes() == expected
    lines = expected.decode().splitlines()
    assert len(lines) == 48
    assert not list((tmp_path / "archive" / "index").glob("*.open"))


def test_fields_and_order(tmp_path: Path) -> None:
    lines = crawl(tmp_path).read_text().splitlines()
    parsed = [
        (line.split(" ", 2)[0], line.split(" ", 2)[1], json.loads(line.split(" ", 2)[2]))
        for line in lines
    ]
    assert [(k, t) for k, t, _ in parsed] == sorted((k, t) for k, t, _ in parsed)
    for _, _, fields in parsed:
        assert next(iter(fields)) == "url" and list(fields)[-3:] == ["length", "offset", "filename"]
        assert fields["filename"].startswith(f"{CRAWL_ID}/NEWSARCHIVE-")
    by_url = {}
    for key, ts, fields in parsed:
        by_url.setdefault(fields["url"], []).append((key, ts, fields))
    redirect = by_url["http://news.example/old"][0][2]
    assert redirect["status"] == "301" and "mime" not in redirect
    assert by_url["http://news.example/story?id=7&page=2"][0][2]["mime"] == "application/xhtml+xml"
    assert by_url["http://news.example/empty-type"][0][2]["mime"] == ""
    home = by_url["http://News.Example/"]
    assert [f["mime"] for _, _, f in home] == ["text/html", "warc/revisit"]
    assert home[0][0] == "example,news)/"
    assert [ts for _, ts, _ in by_url["https://www.news.example/a?b=2&a=1"]] == [
        "20240102025905",
        "20240102030905",
    ]


def test_resumed_crawl_merges_the_existing_index(tmp_path: Path) -> None:
    session = ArchiveSession(root=tmp_path, crawl_id=CRAWL_ID)
    for run, url in enumerate(["http://news.example/b", "http://news.example/a"]):
        writer = make_writer(tmp_path, session=session)
        index = CdxjIndexWriter(session)
        index_like_the_crawl(writer, index, make_exchange(url=url, date=T0 + timedelta(hours=run)))
        writer.close()
        index.close()
    lines = (tmp_path / "index" / f"{CRAWL_ID}.cdxj").read_text().splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["example,news)/a", "example,news)/b"]
    expected = cdxj_indexer_output(tmp_path, tmp_path / "reference.cdxj")
    assert (tmp_path / "index" / f"{CRAWL_ID}.cdxj").read_bytes() == expected


def test_no_entries_no_file(tmp_path: Path) -> None:
    index = CdxjIndexWriter(ArchiveSession(root=tmp_path, crawl_id=CRAWL_ID))
    assert index.close() is None
    assert not (tmp_path / "index").exists() or not any((tmp_path / "index").iterdir())


def test_only_response_and_revisit_records(tmp_path: Path) -> None:
    index = CdxjIndexWriter(ArchiveSession(root=tmp_path, crawl_id=CRAWL_ID))
    with pytest.raises(ValueError, match="request"):
        index.add("http://a.example/", "20240101000000", None, 200, "sha1:X", 1, 0, "f", "request")
    index.close()
    with pytest.raises(ValueError, match="closed"):
        index.add("http://a.example/", "20240101000000", None, 200, "sha1:X", 1, 0, "f", "response")


def test_helpers_match_cdxj_indexer_rules() -> None:
    assert mime_type("text/html;charset=utf-8") == "text/html"
    assert mime_type("text/html charset") == "text/html"
    assert mime_type(None) is None
    assert url_key("https://WWW.Example.com/A?b=1&a=2") == "com,example)/a?a=2&b=1"
    line = cdxj_line(
        "http://a.example/x", "20240101000000", "text/plain", 404, "sha1:AB", 10, 5, "c/f.warc.gz"
    )
    assert line == (
        'example,a)/x 20240101000000 {"url": "http://a.example/x", "mime": "text/plain", '
        '"status": "404", "digest": "sha1:AB", "length": "10", "offset": "5", "filename": "c/f.warc.gz"}\n'
    )
