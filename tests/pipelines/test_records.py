import gzip
import hashlib
import json
import zlib

from pipelines.record import FIELDS, build_record, record_key
from pipelines.records import RecordsWriter, gzip_member
from pipelines.session import ArchiveSession


def test_gzip_members_concatenate_to_one_readable_file():
    data = gzip_member(b"a\n") + gzip_member(b"b\n")
    assert gzip.decompress(data) == b"a\nb\n"


def test_writer_rotates_and_commits(tmp_path):
    session = ArchiveSession(root=tmp_path, crawl_id="20261130T000000Z-abcdef")
    w = RecordsWriter(session, max_records=2)
    for i in range(5):
        w.write({"id": str(i), "text": "é"})
        if i == 0:
            assert (tmp_path / "articles/20261130T000000Z-abcdef/articles-00000.jsonl.gz.open").exists()
    w.close()
    files = sorted((tmp_path / "articles/20261130T000000Z-abcdef").iterdir())
    assert [f.name for f in files] == ["articles-00000.jsonl.gz", "articles-00001.jsonl.gz", "articles-00002.jsonl.gz"]
    ids = []
    for f in files:
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            ids += [json.loads(line)["id"] for line in fh]
    assert ids == ["0", "1", "2", "3", "4"]
    assert [e["path"] for e in session.files] == [f"articles/20261130T000000Z-abcdef/{f.name}" for f in files]
    assert all(e["kind"] == "articles" and e["bytes"] > 0 and len(e["sha256"]) == 64 for e in session.files)


def test_a_file_cut_mid_record_is_readable_up_to_the_last_whole_record(tmp_path):
    session = ArchiveSession(root=tmp_path, crawl_id="c")
    w = RecordsWriter(session)
    for i in range(3):
        w.write({"id": str(i)})
    path = tmp_path / "articles/c/articles-00000.jsonl.gz.open"
    data = path.read_bytes()
    cut = data[: len(data) - 5]
    out, rest = b"", cut
    while rest:
        d = zlib.decompressobj(31)
        chunk = d.decompress(rest)
        if not d.eof:  # the member's trailer (CRC, size) is missing: an incomplete record
            break
        out += chunk
        rest = d.unused_data
    assert [json.loads(x)["id"] for x in out.decode().splitlines()] == ["0", "1"]


def test_record_key_prefers_same_site_canonical():
    assert record_key("https://www.news.example/a?utm_source=x", "https://news.example/a") == "https://news.example/a"
    # A canonical on another site is syndication: the copy keeps its own identity.
    assert record_key("http://127.0.0.1:8000/a.html", "https://orig.example/a") == "http://127.0.0.1:8000/a.html"


def test_build_record_has_the_schema_fields_in_order():
    item = {"url": "https://news.example/a", "final_url": "https://news.example/a", "http_status": 200,
            "content_type": "text/html", "fetched_at": "2026-11-30T00:00:00Z",
            "discovered_via": {"kind": "feed", "source": "https://news.example/rss", "published": None, "title": None},
            "warc": {"file": "warc/x.warc.gz", "offset": 0, "length": 10, "record_id": "<urn:uuid:1>",
                     "payload_digest": "sha1:X"}}
    rec = build_record(item, {"title": "T", "text": "Body", "canonical_url": None, "extra_note": 1}, "cid")
    assert list(rec)[: len(FIELDS)] == list(FIELDS)
    assert rec["id"] == hashlib.sha1(b"https://news.example/a").hexdigest()
    assert rec["canonical_url"] == "https://news.example/a"
    assert rec["domain"] == "news.example" and rec["crawl_id"] == "cid" and rec["schema_version"] == 1
    assert rec["extra_note"] == 1
