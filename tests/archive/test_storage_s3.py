"""Reading an archive in S3 (moto's server on 127.0.0.1) gives what reading it on disk gives:
listings, byte ranges, whole files, WARC records by pointer (one ranged GET each), the index."""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from scrapy.settings import Settings

from archive.cli import main as cli_main
from archive.index import IndexBuildError, archive_crawl_ids, archive_warc_files, build_index
from archive.storage import LocalArchive, S3Archive, open_archive, open_file
from archive.warcrecord import RecordNotFound, fetch_bytes, iter_records, read_record
from pipelines.storage import S3Options, StorageError, connect
from tests.archive.test_index import CAPTURES, OTHER_CRAWL, crawl
from tests.pipelines.warc_helpers import CRAWL_ID, T0
from tests.support.s3 import MotoS3, s3_fixture  # noqa: F401 - the s3 fixture


def upload_tree(s3: MotoS3, root: Path, prefix: str = "prefix") -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            s3.put(f"{prefix}/{path.relative_to(root).as_posix()}", path.read_bytes())


@pytest.fixture
def local(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    crawl(root, CRAWL_ID, CAPTURES, max_size=2500)
    crawl(root, OTHER_CRAWL, [("http://news.example/late", T0 + timedelta(days=60))])
    (root / "crawls").mkdir()
    (root / "crawls" / f"{CRAWL_ID}.json").write_text('{"crawl_id": "x"}\n')
    return root


@pytest.fixture
def remote(s3: MotoS3, local: Path) -> S3Archive:
    upload_tree(s3, local)
    archive = open_archive(s3.uri(), Settings(s3.settings))
    assert isinstance(archive, S3Archive)
    return archive


def test_listing_and_reading_match_the_local_archive(local: Path, remote: S3Archive) -> None:
    disk = open_archive(str(local))
    assert isinstance(disk, LocalArchive)
    assert remote.list() == disk.list() and len(disk.list()) > 5
    assert remote.list("warc/") == disk.list("warc/")
    assert remote.list(f"warc/{CRAWL_ID}/") == disk.list(f"warc/{CRAWL_ID}/")
    assert remote.list("index/") == disk.list("index/") == sorted(
        f"index/{c}.cdxj" for c in (CRAWL_ID, OTHER_CRAWL))
    assert archive_crawl_ids(remote) == archive_crawl_ids(disk) == sorted([CRAWL_ID, OTHER_CRAWL])
    assert archive_warc_files(remote, CRAWL_ID) == archive_warc_files(disk, CRAWL_ID)
    rel = disk.list("warc/")[0]
    size = disk.size(rel)
    assert remote.size(rel) == size and remote.exists(rel) and not remote.exists("warc/nope")
    assert remote.read_bytes(rel) == disk.read_bytes(rel)
    with remote.open(rel) as f:
        assert f.read() == (local / rel).read_bytes()
    for offset, length in [(0, 10), (100, 257), (size - 5, 5), (size - 5, 50), (size, 10)]:
        assert remote.read_range(rel, offset, length) == disk.read_range(rel, offset, length)
    assert remote.read_range(rel, 0, 0) == b""


def test_missing_files_and_buckets_are_file_not_found(s3: MotoS3, remote: S3Archive) -> None:
    with pytest.raises(FileNotFoundError):
        remote.read_bytes("crawls/none.json")
    with pytest.raises(FileNotFoundError):
        remote.read_range("warc/none.warc.gz", 0, 10)
    with pytest.raises(FileNotFoundError):
        open_archive(f"s3://{s3.bucket}-missing/p", Settings(s3.settings)).list()
    assert open_archive(s3.uri("elsewhere"), Settings(s3.settings)).list() == []


def test_store_down_is_an_oserror_without_credentials(s3: MotoS3, remote: S3Archive) -> None:
    options = dataclasses.replace(S3Options.from_settings(s3.settings), request_attempts=1)
    connection = connect(options)
    remote = S3Archive(remote.location, connection.client, connection.redact)
    s3.stop()
    for call in (lambda: remote.list(), lambda: remote.read_range("warc/x", 0, 1)):
        with pytest.raises(StorageError) as info:
            call()
        assert isinstance(info.value, OSError)
        assert not any(secret in str(info.value) for secret in s3.secrets)


def test_records_by_pointer_are_single_ranged_gets(local: Path, remote: S3Archive) -> None:
    gets: list[dict[str, Any]] = []
    remote.client.meta.events.register(
        "before-parameter-build.s3.GetObject", lambda params, **kw: gets.append(dict(params))
    )
    lines = (local / "index" / f"{CRAWL_ID}.cdxj").read_text().splitlines()
    assert lines
    for line in lines:
        _key, _ts, data = line.split(" ", 2)
        entry = json.loads(data)
        pointer = {"file": "warc/" + entry["filename"], "offset": int(entry["offset"]),
                   "length": int(entry["length"])}
        assert fetch_bytes(remote, pointer) == fetch_bytes(local, pointer)
        here = read_record(local, pointer)
        there = read_record(remote, pointer, check_digests=True)
        assert there.rec_headers.to_str() == here.rec_headers.to_str()
        assert there.content_stream().read() == here.content_stream().read()
    assert gets and all("Range" in g for g in gets), "never a whole-WARC download"
    bad = {"file": "warc/" + json.loads(lines[0].split(" ", 2)[2])["filename"], "offset": 3, "length": 50}
    with pytest.raises(RecordNotFound):
        read_record(remote, bad)


def test_records_by_s3_uri_with_default_settings(s3: MotoS3, local: Path, remote: S3Archive,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """CLI readers pass a URI string: the client then comes from the AWS_* environment."""
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    rel = remote.list(f"warc/{CRAWL_ID}/")[0]
    here = [r.rec_headers.get_header("WARC-Record-ID") for r in iter_records(local / rel)]
    there = [r.rec_headers.get_header("WARC-Record-ID") for r in iter_records(remote.uri_of(rel))]
    assert there == here and len(here) > 1
    with open_file(remote.uri_of(rel)) as f:
        assert f.read() == (local / rel).read_bytes()
    members = fetch_bytes(s3.uri(), {"file": rel, "offset": 0, "length": 20})
    assert members == (local / rel).read_bytes()[:20]


def test_index_built_in_the_bucket_is_the_local_index(s3: MotoS3, local: Path, remote: S3Archive) -> None:
    live = {c: (local / "index" / f"{c}.cdxj").read_bytes() for c in (CRAWL_ID, OTHER_CRAWL)}
    remote.client.delete_object(Bucket=s3.bucket, Key=f"prefix/index/{CRAWL_ID}.cdxj")
    built = build_index(s3.uri(), settings=Settings(s3.settings))
    assert built == [f"{s3.uri()}/index/{c}.cdxj" for c in sorted(live)]
    for cid, data in live.items():
        assert s3.get(f"prefix/index/{cid}.cdxj") == data
    assert not [k for k in s3.list_keys() if k.endswith(".open")]


def test_a_broken_warc_in_the_bucket_fails_its_crawl_only(s3: MotoS3, remote: S3Archive) -> None:
    good = s3.get(f"prefix/index/{CRAWL_ID}.cdxj")
    s3.put(f"prefix/warc/{CRAWL_ID}/NEWSARCHIVE-20990101000000-00099-x.warc.gz", b"garbage\n" * 10)
    with pytest.raises(IndexBuildError) as info:
        build_index(s3.uri(), settings=Settings(s3.settings))
    assert list(info.value.failures) == [CRAWL_ID]
    assert info.value.built == [f"{s3.uri()}/index/{OTHER_CRAWL}.cdxj"]
    assert s3.get(f"prefix/index/{CRAWL_ID}.cdxj") == good


def test_index_cli_on_s3(s3: MotoS3, local: Path, remote: S3Archive, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture) -> None:
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    assert cli_main(["index", s3.uri(), "--crawl-id", CRAWL_ID]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{s3.uri()}/index/{CRAWL_ID}.cdxj"]
    assert cli_main(["index", s3.uri(), "--crawl-id", "nope"]) == 2
    assert "no crawl nope" in capsys.readouterr().err
    assert cli_main(["index", s3.uri("empty")]) == 2
    assert "no WARC files" in capsys.readouterr().err
    shutil.rmtree(local / "index")  # (the local copy is not what is indexed)
    s3.stop()
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    assert cli_main(["index", s3.uri()]) == 1
    err = capsys.readouterr().err
    assert err.startswith("newsarchive index: ") and err.count("\n") == 1
    assert not any(secret in err for secret in s3.secrets)
