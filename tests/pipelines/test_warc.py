from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.cli import main as warcio_main

from pipelines.session import ArchiveSession
from pipelines.warc import SOFTWARE, WarcFileWriter, WarcWriteError, timestamp14, warc_date
from tests.pipelines.warc_helpers import (
    CRAWL_ID,
    T0,
    counting_ids,
    fixed_clock,
    gzip_members,
    make_exchange,
    make_writer,
)

NAME = "NEWSARCHIVE-20240102030405-00000-crawler1.warc.gz"
REL = f"warc/{CRAWL_ID}/{NAME}"


def sha1(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def warcio_check(*paths: Path) -> int:
    with pytest.raises(SystemExit) as exit_info:
        warcio_main(["check", *map(str, paths)])
    return exit_info.value.code


def records_of(path: Path) -> list[tuple[str, dict[str, str], list[tuple[str, str]], bytes]]:
    """(type, WARC headers, HTTP headers, raw payload) of each record, through warcio."""
    out = []
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f):
            http = rec.http_headers.headers if rec.http_headers else []
            out.append(
                (rec.rec_type, dict(rec.rec_headers.headers), list(http), rec.raw_stream.read())
            )
    return out


# --- whole records, byte for byte -------------------------------------------------------------


def test_records_byte_for_byte(tmp_path: Path) -> None:
    writer = make_writer(tmp_path)
    ex = make_exchange(
        response_headers=[
            ("Content-Type", "text/html; charset=utf-8"),
            ("Set-Cookie", "a=1; Path=/"),
            ("Set-Cookie", "b=2"),
            ("Content-Length", "12"),
        ]
    )
    pointer = writer.write_exchange(ex)
    revisit = writer.write_revisit(
        make_exchange(date=T0.replace(hour=4)),
        refers_to_uri=ex.url,
        refers_to_date="2024-01-02T03:04:06.250000Z",
        refers_to_record_id=pointer["record_id"],
        payload_digest=pointer["payload_digest"],
    )
    writer.close()
    members = gzip_members((tmp_path / REL).read_bytes())
    got = [text for _, _, text in members]

    info_block = (
        f"software: {SOFTWARE}\r\n"
        "format: WARC File Format 1.1\r\n"
        "conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n"
        "hostname: crawler1\r\n"
        f"isPartOf: {CRAWL_ID}\r\n"
        "operator: Test Desk\r\n"
        "robots: obey\r\n"
    ).encode()
    warcinfo = (
        (
            "WARC/1.1\r\n"
            "WARC-Type: warcinfo\r\n"
            "WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000001>\r\n"
            f"WARC-Filename: {NAME}\r\n"
            "WARC-Date: 2024-01-02T03:04:05Z\r\n"
            f"WARC-Block-Digest: {sha1(info_block)}\r\n"
            "Content-Type: application/warc-fields\r\n"
            f"Content-Length: {len(info_block)}\r\n"
            "\r\n"
        ).encode()
        + info_block
        + b"\r\n\r\n"
    )

    body = b"<p>hello</p>"
    http_response = (
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n"
        b"Set-Cookie: a=1; Path=/\r\n"
        b"Set-Cookie: b=2\r\n"
        b"Content-Length: 12\r\n"
        b"\r\n"
    )
    response = (
        (
            "WARC/1.1\r\n"
            "WARC-Type: response\r\n"
            "WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000002>\r\n"
            "WARC-Date: 2024-01-02T03:04:06.250000Z\r\n"
            "WARC-Target-URI: http://news.example/story?id=7&page=2\r\n"
            "WARC-Warcinfo-ID: <urn:uuid:00000000-0000-4000-8000-000000000001>\r\n"
            "WARC-IP-Address: 127.0.0.1\r\n"
            f"WARC-Payload-Digest: {sha1(body)}\r\n"
            f"WARC-Block-Digest: {sha1(http_response + body)}\r\n"
            "Content-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {len(http_response + body)}\r\n"
            "\r\n"
        ).encode()
        + http_response
        + body
        + b"\r\n\r\n"
    )

    http_request = b"GET /story?id=7&page=2 HTTP/1.1\r\nUser-Agent: newsarchive-test\r\nHost: news.example\r\n\r\n"

    def request(record_id: str, date: str, concurrent_to: str) -> bytes:
        return (
            (
                "WARC/1.1\r\n"
                "WARC-Type: request\r\n"
                f"WARC-Record-ID: {record_id}\r\n"
                f"WARC-Date: {date}\r\n"
                "WARC-Target-URI: http://news.example/story?id=7&page=2\r\n"
                "WARC-Warcinfo-ID: <urn:uuid:00000000-0000-4000-8000-000000000001>\r\n"
                f"WARC-Concurrent-To: {concurrent_to}\r\n"
                f"WARC-Payload-Digest: {sha1(b'')}\r\n"
                f"WARC-Block-Digest: {sha1(http_request)}\r\n"
                "Content-Type: application/http; msgtype=request\r\n"
                f"Content-Length: {len(http_request)}\r\n"
                "\r\n"
            ).encode()
            + http_request
            + b"\r\n\r\n"
        )

    http_revisit = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 12\r\n\r\n"
    )
    revisit_record = (
        (
            "WARC/1.1\r\n"
            "WARC-Type: revisit\r\n"
            "WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000004>\r\n"
            "WARC-Date: 2024-01-02T04:04:05Z\r\n"
            "WARC-Target-URI: http://news.example/story?id=7&page=2\r\n"
            "WARC-Warcinfo-ID: <urn:uuid:00000000-0000-4000-8000-000000000001>\r\n"
            "WARC-IP-Address: 127.0.0.1\r\n"
            "WARC-Refers-To: <urn:uuid:00000000-0000-4000-8000-000000000002>\r\n"
            "WARC-Profile: http://netpreserve.org/warc/1.1/revisit/identical-payload-digest\r\n"
            "WARC-Refers-To-Target-URI: http://news.example/story?id=7&page=2\r\n"
            "WARC-Refers-To-Date: 2024-01-02T03:04:06.250000Z\r\n"
            f"WARC-Payload-Digest: {sha1(body)}\r\n"
            f"WARC-Block-Digest: {sha1(http_revisit)}\r\n"
            "Content-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {len(http_revisit)}\r\n"
            "\r\n"
        ).encode()
        + http_revisit
        + b"\r\n\r\n"
    )

    assert got[0] == warcinfo
    assert got[1] == response
    assert got[2] == request(
        "<urn:uuid:00000000-0000-4000-8000-000000000003>",
        "2024-01-02T03:04:06.250000Z",
        "<urn:uuid:00000000-0000-4000-8000-000000000002>",
    )
    assert got[3] == revisit_record
    assert got[4] == request(
        "<urn:uuid:00000000-0000-4000-8000-000000000005>",
        "2024-01-02T04:04:05Z",
        "<urn:uuid:00000000-0000-4000-8000-000000000004>",
    )
    assert len(got) == 5

    # Pointers are the members of the response and revisit records.
    assert pointer == {
        "file": REL,
        "offset": members[1][0],
        "length": members[1][1],
        "record_id": "<urn:uuid:00000000-0000-4000-8000-000000000002>",
        "payload_digest": sha1(body),
    }
    assert (revisit["offset"], revisit["length"]) == members[3][:2]
    assert revisit["payload_digest"] == sha1(body)
    assert warcio_check(tmp_path / REL) == 0


def test_gzip_level_is_used_and_members_stay_readable(tmp_path: Path) -> None:
    body = b"<p>" + b"news " * 2000 + b"</p>"
    sizes = {}
    for level in (0, 9):
        writer = make_writer(tmp_path / str(level), gzip_level=level)
        writer.write_exchange(make_exchange(body=body))
        writer.close()
        path = tmp_path / str(level) / REL
        sizes[level] = path.stat().st_size
        assert warcio_check(path) == 0
    assert sizes[0] > len(body) > sizes[9]


# --- what survives --------------------------------------------------------------------------


def test_query_string_and_repeated_headers_survive(tmp_path: Path) -> None:
    writer = make_writer(tmp_path)
    writer.write_exchange(
        make_exchange(
            url="https://news.example/search?q=a%20b&page=3",
            response_headers=[
                ("Set-Cookie", "s=1"),
                ("Content-Type", "text/html"),
                ("Set-Cookie", "t=2"),
                ("Set-Cookie", "u=3"),
            ],
        )
    )
    writer.close()
    (_, _, _, _), (rtype, wh, http, _), (qtype, qwh, qhttp, _) = records_of(tmp_path / REL)
    assert rtype == "response" and qtype == "request"
    assert wh["WARC-Target-URI"] == "https://news.example/search?q=a%20b&page=3"
    assert [v for k, v in http if k == "Set-Cookie"] == ["s=1", "t=2", "u=3"]
    assert qwh["WARC-Concurrent-To"] == wh["WARC-Record-ID"]
    assert ("Host", "news.example") in qhttp
    raw = gzip_members((tmp_path / REL).read_bytes())[2][2]
    assert b"\r\n\r\nGET /search?q=a%20b&page=3 HTTP/1.1\r\n" in raw


def test_gzip_encoded_body_is_stored_encoded(tmp_path: Path) -> None:
    html = b"<html><p>Story text</p></html>"
    encoded = gzip.compress(html, mtime=0)
    writer = make_writer(tmp_path)
    pointer = writer.write_exchange(
        make_exchange(
            response_headers=[("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
            body=encoded,
        )
    )
    writer.close()
    assert pointer["payload_digest"] == sha1(encoded)
    with open(tmp_path / REL, "rb") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_type == "response":
                assert rec.http_headers.get_header("Content-Encoding") == "gzip"
                assert rec.rec_headers.get_header("WARC-Payload-Digest") == sha1(encoded)
                assert rec.content_stream().read() == html  # readers decode it themselves
    raw = gzip_members((tmp_path / REL).read_bytes())[1][2]
    assert raw.endswith(b"\r\n\r\n" + encoded + b"\r\n\r\n")
    assert warcio_check(tmp_path / REL) == 0


def test_transfer_encoding_kept_under_another_name(tmp_path: Path) -> None:
    # Already de-chunked, but it looks chunked: a reader that trusted the header would mangle it.
    body = b"5\r\nhello\r\n0\r\n\r\n"
    writer = make_writer(tmp_path)
    writer.write_exchange(
        make_exchange(response_headers=[("Transfer-Encoding", "chunked")], body=body)
    )
    writer.close()
    with open(tmp_path / REL, "rb") as f:
        rec = next(r for r in ArchiveIterator(f) if r.rec_type == "response")
        assert rec.http_headers.get_header("Transfer-Encoding") is None
        assert rec.http_headers.get_header("X-Crawler-Transfer-Encoding") == "chunked"
        assert rec.content_stream().read() == body
    assert warcio_check(tmp_path / REL) == 0


def test_http2_written_as_http11_with_warc_protocol(tmp_path: Path) -> None:
    writer = make_writer(tmp_path)
    writer.write_exchange(make_exchange(protocol="h2", status=599, reason=""))
    writer.close()
    raw = gzip_members((tmp_path / REL).read_bytes())[1][2]
    assert b"\r\nWARC-Protocol: h2\r\n" in raw
    assert b"\r\n\r\nHTTP/1.1 599 \r\n" in raw
    assert warcio_check(tmp_path / REL) == 0


def test_dates_and_timestamps() -> None:
    assert warc_date(T0.replace(microsecond=5)) == "2024-01-02T03:04:05.000005Z"
    assert warc_date(T0) == "2024-01-02T03:04:05Z"
    assert timestamp14(T0.replace(microsecond=999999)) == "20240102030405"


# --- files: rotation, .open, failures ---------------------------------------------------------


def test_rotation_keeps_pairs_and_starts_each_file_with_warcinfo(tmp_path: Path) -> None:
    writer = make_writer(tmp_path, max_size=1500)
    pointers = [
        writer.write_exchange(
            make_exchange(url=f"http://news.example/{i}", body=bytes(range(256)) * 3)
        )
        for i in range(6)
    ]
    files = writer.close()
    assert len(files) >= 3
    assert writer.files_written == len(files)
    names = [Path(f["path"]).name for f in files]
    assert [
        re.fullmatch(r"NEWSARCHIVE-20240102030405-(\d{5})-crawler1\.warc\.gz", n)[1] for n in names
    ] == [f"{i:05d}" for i in range(len(files))]
    total_records = 0
    for entry in files:
        path = tmp_path / entry["path"]
        assert entry["kind"] == "warc" and entry["bytes"] == path.stat().st_size
        recs = records_of(path)
        types = [r[0] for r in recs]
        assert types[0] == "warcinfo" and types.count("warcinfo") == 1
        assert types[1:] == ["response", "request"] * ((len(types) - 1) // 2)  # pairs never split
        assert recs[0][1]["WARC-Filename"] == path.name
        assert warcio_check(path) == 0
        total_records += len(recs)
    assert writer.records_written == total_records
    assert writer.bytes_written == sum(f["bytes"] for f in files)
    assert {p["file"] for p in pointers} == {f["path"] for f in files}


def test_open_suffix_only_while_writing(tmp_path: Path) -> None:
    writer = make_writer(tmp_path)
    writer.write_exchange(make_exchange())
    final = tmp_path / REL
    assert not final.exists()
    assert Path(f"{final}.open").exists()
    writer.close()
    assert final.exists()
    assert not Path(f"{final}.open").exists()
    assert writer.session.files == [
        {
            "path": REL,
            "kind": "warc",
            "bytes": final.stat().st_size,
            "sha256": hashlib.sha256(final.read_bytes()).hexdigest(),
        }
    ]
    with pytest.raises(ValueError, match="closed"):
        writer.write_exchange(make_exchange())


def test_nothing_written_means_no_file(tmp_path: Path) -> None:
    writer = make_writer(tmp_path)
    assert writer.close() == []
    assert not (tmp_path / "warc").exists() or not any((tmp_path / "warc").rglob("*"))


def test_existing_name_is_never_overwritten(tmp_path: Path) -> None:
    final = tmp_path / REL
    final.parent.mkdir(parents=True)
    final.write_bytes(b"an earlier run's file")
    writer = make_writer(tmp_path)
    pointer = writer.write_exchange(make_exchange())
    writer.close()
    assert final.read_bytes() == b"an earlier run's file"
    assert pointer["file"] == f"warc/{CRAWL_ID}/NEWSARCHIVE-20240102030405-00001-crawler1.warc.gz"


class _FailingFile(io.FileIO):
    """A file that fails with ENOSPC once ``budget`` bytes have been written."""

    budget = 0
    truncate_fails = False

    def write(self, data):  # type: ignore[override]
        if type(self).budget - len(data) < 0:
            raise OSError(28, "No space left on device")
        type(self).budget -= len(data)
        return super().write(data)

    def truncate(self, size=None):  # type: ignore[override]
        if type(self).truncate_fails:
            raise OSError(5, "Input/output error")
        return super().truncate(size)


class _FailingWriter(WarcFileWriter):
    def _open_file(self, path: str):
        return io.BufferedWriter(_FailingFile(path, "xb"), buffer_size=1)


def test_failure_creating_the_file_is_clear_and_leaves_nothing(tmp_path: Path) -> None:
    class CannotOpen(WarcFileWriter):
        def _open_file(self, path: str):
            raise PermissionError(13, "Permission denied", path)

    writer = CannotOpen(
        ArchiveSession(root=tmp_path, crawl_id=CRAWL_ID),
        hostname="crawler1",
        warcinfo={},
        clock=fixed_clock(),
        id_factory=counting_ids(),
    )
    with pytest.raises(
        WarcWriteError, match=r"cannot create WARC file .*\.warc\.gz\.open: .*Permission denied"
    ):
        writer.write_exchange(make_exchange())
    assert writer.close() == []
    assert not list(tmp_path.rglob("*.warc.gz"))


def _failing_writer(tmp_path: Path, budget: int, truncate_fails: bool = False) -> WarcFileWriter:
    _FailingFile.budget = budget
    _FailingFile.truncate_fails = truncate_fails
    return _FailingWriter(
        ArchiveSession(root=tmp_path, crawl_id=CRAWL_ID),
        hostname="crawler1",
        warcinfo={},
        clock=fixed_clock(),
        id_factory=counting_ids(),
    )


def test_failed_record_is_rolled_back_and_the_file_stays_valid(tmp_path: Path) -> None:
    writer = _failing_writer(tmp_path, budget=10**9)
    first = writer.write_exchange(make_exchange(url="http://news.example/1"))
    _FailingFile.budget = 200  # the disk fills up during the next response record
    with pytest.raises(WarcWriteError, match="No space left on device"):
        writer.write_exchange(make_exchange(url="http://news.example/2", body=b"x" * 5000))
    assert not (tmp_path / REL).exists()  # never a half file under the final name
    _FailingFile.budget = 10**9  # space freed
    third = writer.write_exchange(make_exchange(url="http://news.example/3"))
    writer.close()
    urls = [r[1].get("WARC-Target-URI") for r in records_of(tmp_path / REL)]
    assert urls == [
        None,
        "http://news.example/1",
        "http://news.example/1",
        "http://news.example/3",
        "http://news.example/3",
    ]
    assert third["offset"] > first["offset"]
    assert warcio_check(tmp_path / REL) == 0


def test_unrecoverable_file_is_abandoned_under_open_name(tmp_path: Path) -> None:
    writer = _failing_writer(tmp_path, budget=10**9)
    writer.write_exchange(make_exchange(url="http://news.example/1"))
    _FailingFile.budget = 200
    _FailingFile.truncate_fails = True
    with pytest.raises(WarcWriteError):
        writer.write_exchange(make_exchange(url="http://news.example/2", body=b"x" * 5000))
    assert writer.abandoned_files == [REL + ".open"]
    assert (tmp_path / (REL + ".open")).exists()
    _FailingFile.budget = 10**9
    _FailingFile.truncate_fails = False
    pointer = writer.write_exchange(make_exchange(url="http://news.example/3"))
    files = writer.close()
    assert [f["path"] for f in files] == [pointer["file"]]
    assert pointer["file"] != REL
    assert not (tmp_path / REL).exists()
    assert warcio_check(tmp_path / pointer["file"]) == 0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        make_writer(Path("/nonexistent"), gzip_level=10)
    with pytest.raises(ValueError):
        make_writer(Path("/nonexistent"), max_size=0)


def test_resumed_crawl_to_s3_never_reuses_a_name_already_in_the_bucket(tmp_path: Path) -> None:
    """On S3 an uploaded WARC has left the spool: the bucket is asked, not only the disk."""
    from scrapy.settings import Settings

    from pipelines.storage import S3Storage
    from tests.support.s3 import moto_s3

    with moto_s3() as s3:
        s3.put(f"prefix/{REL}", b"an earlier run's file, uploaded")
        spool = tmp_path / "spool"
        storage = S3Storage.from_settings(s3.uri(), Settings(s3.settings), spool=spool)
        session = ArchiveSession(root=spool, crawl_id=CRAWL_ID, storage=storage)
        assert not (spool / REL).exists() and session.exists(REL)
        writer = make_writer(spool, session=session)
        pointer = writer.write_exchange(make_exchange())
        writer.close()
        report = session.close()
        assert report.ok and report.uploaded == 1
        assert pointer["file"] == f"warc/{CRAWL_ID}/NEWSARCHIVE-20240102030405-00001-crawler1.warc.gz"
        assert s3.get(f"prefix/{REL}") == b"an earlier run's file, uploaded"
        assert s3.list_keys(f"prefix/warc/{CRAWL_ID}/") == [f"prefix/{REL}", f"prefix/{pointer['file']}"]
