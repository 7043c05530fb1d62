"""Recovery of a dead crawl's files: truncation to the last complete record, commit, index,
manifest, and reading its records back into the crawl state."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from scrapy.utils.test import get_crawler

from crawler.state import SqliteCrawlState
from pipelines.records import RecordsWriter, gzip_member
from pipelines.recovery import (
    RecoveryExtension,
    complete_prefix,
    dead_crawls,
    gzip_members,
    recover_archive,
)
from pipelines.session import ArchiveSession
from pipelines.warc import Exchange, WarcFileWriter

DEAD = "20261129T120000Z-dead01"
NOW = "20261129T130000Z-now001"


def exchange(n: int) -> Exchange:
    body = f"<html><body><p>Story {n}</p></body></html>".encode() * 50
    return Exchange(url=f"http://news.example/{n}.html", method="GET", request_headers=[("Host", "news.example")],
                    request_body=b"", protocol="HTTP/1.1", status=200, reason="OK",
                    response_headers=[("Content-Type", "text/html")], body=body, ip_address=None,
                    date=datetime(2026, 11, 29, 12, 0, n, tzinfo=timezone.utc))


def record(n: int, version: int = 1) -> dict:
    return {"id": hashlib.sha1(f"http://news.example/{n}.html".encode()).hexdigest(),
            "url": f"http://news.example/{n}.html", "final_url": f"http://news.example/{n}.html",
            "text_sha1": f"t{n}", "version": version, "published": None,
            "warc": {"record_id": f"<urn:uuid:{n}>"}}


def dead_crawl(root: Path, *, exchanges: int = 3, records: int = 3, cut_warc: int = 0,
               cut_records: int = 0, crawl_id: str = DEAD) -> None:
    """Files as a crawl killed mid-write leaves them: ``.open``, the last record cut short."""
    session = ArchiveSession(root=root, crawl_id=crawl_id)
    warc = WarcFileWriter(session, hostname="h", warcinfo={})
    for n in range(exchanges):
        warc.write_exchange(exchange(n))
    warc._file.flush()
    writer = RecordsWriter(session)
    for n in range(records):
        writer.write(record(n))
    for f, cut in ((warc._file, cut_warc), (writer._file, cut_records)):
        if cut:  # a member half-written when the process died
            size = f.tell()
            f.write(gzip_member(os.urandom(5000))[: cut])
            assert f.tell() == size + cut
        f.flush()


def open_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.open"))


def warcio_check(paths) -> None:
    proc = subprocess.run(["warcio", "check", *map(str, paths)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- gzip members ---------------------------------------------------------------------------------


def test_gzip_members_and_where_they_end(tmp_path):
    members = [gzip_member(f"line {n}\n".encode() * (n + 1)) for n in range(3)]
    path = tmp_path / "f.gz"
    path.write_bytes(b"".join(members))
    found = list(gzip_members(path, keep_data=True))
    assert [(o, n) for o, n, _ in found] == [(0, len(members[0])), (len(members[0]), len(members[1])),
                                            (len(members[0]) + len(members[1]), len(members[2]))]
    assert found[2][2] == b"line 2\n" * 3
    for cut in (1, 10, len(members[2]) - 1):  # the last member cut anywhere
        path.write_bytes(b"".join(members)[:-cut])
        assert len(list(gzip_members(path))) == 2
    path.write_bytes(b"".join(members[:2]) + b"garbage, not gzip")
    assert len(list(gzip_members(path))) == 2
    path.write_bytes(b"")
    assert list(gzip_members(path)) == []


def test_big_members_are_read_in_chunks(tmp_path):
    big = gzip_member(os.urandom(3 << 20))  # spans several reads
    path = tmp_path / "f.gz"
    path.write_bytes(big + gzip_member(b"tail"))
    assert [n for _, n, _ in gzip_members(path)] == [len(big), len(gzip_member(b"tail"))]


def test_a_records_member_must_be_json(tmp_path):
    path = tmp_path / "r.jsonl.gz"
    good = gzip_member(b'{"id": "a"}\n')
    path.write_bytes(good + gzip_member(b'{"id": "b"'))  # complete gzip, cut JSON
    end, recs = complete_prefix(path, "articles")
    assert end == len(good) and [r["id"] for _, _, r in recs] == ["a"]


# --- recovering an archive ------------------------------------------------------------------------


def test_dead_crawl_is_truncated_committed_indexed_and_gets_a_manifest(tmp_path):
    dead_crawl(tmp_path, cut_warc=700, cut_records=30)
    warc_open = next((tmp_path / "warc" / DEAD).glob("*.warc.gz.open"))
    size_before = warc_open.stat().st_size
    assert dead_crawls(ArchiveSession(root=tmp_path, crawl_id=NOW)) == [DEAD]
    state = SqliteCrawlState(tmp_path / "state" / "s.sqlite3")
    [report] = recover_archive(ArchiveSession(root=tmp_path, crawl_id=NOW), state)

    assert not open_files(tmp_path)
    [warc] = sorted((tmp_path / "warc" / DEAD).glob("*.warc.gz"))
    assert warc.stat().st_size == size_before - 700
    warcio_check([warc])
    [recs_file] = sorted((tmp_path / "articles" / DEAD).glob("*.jsonl.gz"))
    with gzip.open(recs_file, "rt") as f:
        assert [json.loads(line)["url"] for line in f] == [record(n)["url"] for n in range(3)]
    assert report.truncated == {_rel(tmp_path, warc): 700, _rel(tmp_path, recs_file): 30}

    index = (tmp_path / "index" / f"{DEAD}.cdxj").read_text().splitlines()
    assert len(index) == 3 and index == sorted(index)
    manifest = json.loads((tmp_path / "crawls" / f"{DEAD}.json").read_text())
    assert manifest["finish_reason"] == "recovered" and manifest["recovered_by"] == NOW
    assert manifest["counts"]["records"] == 3
    for entry in manifest["files"]:
        data = (tmp_path / entry["path"]).read_bytes()
        assert len(data) == entry["bytes"] and hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert {e["kind"] for e in manifest["files"]} == {"warc", "articles", "index"}

    # The records are in the state: the next run will not record them again.
    assert report.records == 3
    art = state.article(record(1)["id"])
    assert art.version == 1 and art.record["file"] == _rel(tmp_path, recs_file)
    data = recs_file.read_bytes()[art.record["offset"]: art.record["offset"] + art.record["length"]]
    assert json.loads(gzip.decompress(data))["url"] == record(1)["url"]
    assert state.url_status(record(2)["url"]) == "recorded"
    state.close()

    # Done once: a second recovery finds nothing to do.
    assert recover_archive(ArchiveSession(root=tmp_path, crawl_id=NOW), None) == []


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def test_open_files_with_nothing_complete_are_removed(tmp_path):
    (tmp_path / "warc" / DEAD).mkdir(parents=True)
    (tmp_path / "warc" / DEAD / "NEWSARCHIVE-1-00000-h.warc.gz.open").write_bytes(gzip_member(b"x")[:5])
    (tmp_path / "articles" / DEAD).mkdir(parents=True)
    (tmp_path / "articles" / DEAD / "articles-00000.jsonl.gz.open").write_bytes(b"")
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / f"{DEAD}.cdxj.open").write_text("half an index")
    [report] = recover_archive(ArchiveSession(root=tmp_path, crawl_id=NOW), None)
    assert not open_files(tmp_path)
    assert len(report.removed) == 3 and report.files == []
    assert not (tmp_path / "crawls" / f"{DEAD}.json").exists()  # no WARC: nothing to describe


def test_a_crawl_killed_after_closing_its_files_gets_its_manifest(tmp_path):
    session = ArchiveSession(root=tmp_path, crawl_id=DEAD)
    warc = WarcFileWriter(session, hostname="h", warcinfo={})
    warc.write_exchange(exchange(1))
    warc.close()
    [report] = recover_archive(ArchiveSession(root=tmp_path, crawl_id=NOW), None)
    assert report.files == [] and report.index == f"index/{DEAD}.cdxj"
    manifest = json.loads((tmp_path / "crawls" / f"{DEAD}.json").read_text())
    assert [e["kind"] for e in manifest["files"]] == ["index", "warc"]


def test_finished_crawls_are_left_alone(tmp_path):
    session = ArchiveSession(root=tmp_path, crawl_id=DEAD)
    warc = WarcFileWriter(session, hostname="h", warcinfo={})
    warc.write_exchange(exchange(1))
    warc.close()
    (tmp_path / "crawls").mkdir()
    (tmp_path / "crawls" / f"{DEAD}.json").write_text("{}")
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    assert recover_archive(ArchiveSession(root=tmp_path, crawl_id=NOW), None) == []
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before


def test_a_resumed_crawl_takes_its_own_recovered_files(tmp_path):
    dead_crawl(tmp_path, cut_warc=100)
    current = ArchiveSession(root=tmp_path, crawl_id=DEAD)  # --crawl-id DEAD again
    [report] = recover_archive(current, None)
    assert report.manifest is None and report.index is None
    assert sorted(e["kind"] for e in current.files) == ["articles", "warc"]
    assert not (tmp_path / "crawls" / f"{DEAD}.json").exists()  # the run writes its own
    assert not open_files(tmp_path)


def test_recovery_extension_runs_when_the_crawler_is_built(tmp_path):
    dead_crawl(tmp_path, cut_records=10)
    crawler = get_crawler(settings_dict={"NEWSARCHIVE_OUT": str(tmp_path), "NEWSARCHIVE_CRAWL_ID": NOW,
                                         "NEWSARCHIVE_STATE_ENABLED": True})
    crawler.stats.open_spider()
    ext = RecoveryExtension.from_crawler(crawler)
    assert not open_files(tmp_path)
    stats = crawler.stats.get_stats()
    assert stats["newsarchive/recovery/crawls"] == 1 and stats["newsarchive/recovery/records"] == 3
    assert stats["newsarchive/recovery/truncated_bytes"] == 10
    assert crawler._newsarchive_state.article(record(0)["id"]) is not None
    assert ext.recover() == []
    crawler._newsarchive_state.close()
    crawler._newsarchive_crawl_lock.release()


def test_recovery_on_a_new_archive_does_nothing(tmp_path):
    crawler = get_crawler(settings_dict={"NEWSARCHIVE_OUT": str(tmp_path / "new")})
    assert RecoveryExtension.from_crawler(crawler).recover() == []
    assert not (tmp_path / "new").exists()


def test_recovery_can_be_switched_off(tmp_path):
    from scrapy.exceptions import NotConfigured

    crawler = get_crawler(settings_dict={"NEWSARCHIVE_RECOVERY_ENABLED": False})
    with pytest.raises(NotConfigured):
        RecoveryExtension.from_crawler(crawler)


def test_records_of_a_crawl_the_state_did_not_account_for_are_read_back(tmp_path):
    session = ArchiveSession(root=tmp_path, crawl_id=DEAD)
    writer = RecordsWriter(session)
    writer.write(record(1))
    writer.close()
    (tmp_path / "crawls").mkdir()
    (tmp_path / "crawls" / f"{DEAD}.json").write_text("{}")  # it finished, files and manifest
    state = SqliteCrawlState(tmp_path / "state" / "s.sqlite3")
    state.begin_crawl(DEAD)  # ... but its state writes failed: never marked complete
    [report] = recover_archive(ArchiveSession(root=tmp_path, crawl_id=NOW), state)
    assert report.records == 1 and state.article(record(1)["id"]).version == 1
    assert state.unfinished_crawls(exclude=NOW) == []
    state.close()
