from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from archive.warcrecord import RecordNotFound, fetch_bytes, iter_records, parse_record, read_record
from tests.pipelines.warc_helpers import gzip_members, make_exchange, make_writer


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, list[dict]]:
    writer = make_writer(tmp_path)
    pointers = [
        writer.write_exchange(
            make_exchange(url=f"http://news.example/{i}", body=f"<p>{i}</p>".encode())
        )
        for i in range(3)
    ]
    writer.close()
    return tmp_path, pointers


def test_pointer_resolves_to_its_response(archive) -> None:
    root, pointers = archive
    for i, pointer in enumerate(pointers):
        record = read_record(root, pointer)
        assert record.rec_type == "response"
        assert record.rec_headers.get_header("WARC-Record-ID") == pointer["record_id"]
        assert record.rec_headers.get_header("WARC-Target-URI") == f"http://news.example/{i}"
        assert record.content_stream().read() == f"<p>{i}</p>".encode()


def test_fetch_reads_exactly_one_member(archive) -> None:
    root, pointers = archive
    data = fetch_bytes(str(root), pointers[1])
    assert len(data) == pointers[1]["length"]
    members = gzip_members(data)
    assert len(members) == 1 and members[0][2].startswith(b"WARC/1.1\r\nWARC-Type: response\r\n")


def test_parse_record_takes_plain_or_gzipped_bytes(archive) -> None:
    root, pointers = archive
    member = fetch_bytes(root, pointers[0])
    plain = gzip.decompress(member)
    for data in (member, plain):
        record = parse_record(data, check_digests=True)
        assert record.raw_stream.read() == b"<p>0</p>"
        assert record.digest_checker.passed is True
    tampered = parse_record(plain.replace(b"<p>0</p>", b"<p>9</p>"), check_digests=True)
    tampered.raw_stream.read()
    assert tampered.digest_checker.passed is False


def test_wrong_pointers_are_reported(archive) -> None:
    root, pointers = archive
    with pytest.raises(RecordNotFound, match="not <urn:uuid:other>"):
        read_record(root, {**pointers[0], "record_id": "<urn:uuid:other>"})
    with pytest.raises(RecordNotFound, match="not a WARC record"):
        read_record(root, {**pointers[0], "offset": pointers[0]["offset"] + 3})
    size = (root / pointers[2]["file"]).stat().st_size
    with pytest.raises(RecordNotFound, match="wanted"):
        read_record(root, {**pointers[2], "offset": size - 10})
    with pytest.raises(FileNotFoundError):
        read_record(root, {**pointers[0], "file": "warc/none.warc.gz"})


def test_iter_records_walks_the_file(archive) -> None:
    root, pointers = archive
    seen = [
        (rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI"))
        for rec in iter_records(root / pointers[0]["file"])
    ]
    assert seen == [("warcinfo", None)] + [
        (kind, f"http://news.example/{i}") for i in range(3) for kind in ("response", "request")
    ]
