"""Issue 4, reading: every reading command takes an ``s3://bucket/prefix`` archive (moto's server on
127.0.0.1 over HTTP) and gives what it gives for the same archive on disk; single records come by
ranged GET of their ``warc`` pointer; ``export`` and ``reprocess`` (and ``wacz``) also write to S3.

One server and one uploaded archive for the module (the two-crawl fixture archive of the replay
tests, with a revisit); every request the server answers is logged, so tests can say which keys
were read and how (whole object, or a byte range).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from archive.cli import main as cli_main
from archive.export import ExportOptions, UsageError, export
from archive.records import RecordFiles, iter_records, list_crawl_ids, read_crawl_manifest
from archive.replay import CaptureIndex, find_capture
from archive.reprocess import ReprocessError, reprocess
from tests.archive.replay_archive import (
    CRAWL_1,
    CRAWL_2,
    T2,
    FixtureArchive,
    article_url,
    build_archive,
    headline,
    running_replay,
)
from tests.e2e.conftest import REPO
from tests.support import s3 as s3_support
from tests.support.s3 import MotoS3, moto_s3

pytestmark = pytest.mark.e2e

PREFIX = "news"


def manifest_of(crawl_id: str) -> dict:
    return {"crawl_id": crawl_id, "seeds": ["http://news.example.test/"],
            "started_at": "2026-11-29T10:00:00+00:00", "finished_at": "2026-11-29T10:05:00+00:00",
            "settings": {"ROBOTSTXT_OBEY": True}}


def upload_tree(s3: MotoS3, root: Path, prefix: str) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            s3.put(f"{prefix}/{path.relative_to(root).as_posix()}", path.read_bytes())


@dataclass
class Request:
    method: str
    key: str  # without the bucket
    range: str | None


@dataclass
class Store:
    s3: MotoS3
    local: FixtureArchive
    tmp: Path
    log: list[Request] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return self.s3.uri(PREFIX)

    def requests(self, method: str, key_prefix: str) -> list[Request]:
        return [r for r in self.log if r.method == method and r.key.startswith(key_prefix)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    tmp = tmp_path_factory.mktemp("s3read")
    with pytest.MonkeyPatch.context() as mp, moto_s3(mp) as s3:
        # What a user's shell has: credentials and endpoint in the environment (CLI subprocesses
        # inherit it). The settings module read the addressing style when it was imported,
        # maybe before this ran, so it is set there too.
        for key, value in s3.env.items():
            mp.setenv(key, value)
        mp.setattr("crawler.settings.NEWSARCHIVE_S3_ADDRESSING_STYLE", "path")
        st = Store(s3, build_archive(tmp / "archive", n=12), tmp)

        def log_request(handler: Any, code: Any = "-", size: Any = "-") -> None:
            path = unquote(urlsplit(handler.path).path).lstrip("/")
            key = path.split("/", 1)[1] if "/" in path else ""
            st.log.append(Request(handler.command, key, handler.headers.get("Range")))

        mp.setattr(s3_support._OneShotHandler, "log_request", log_request)
        root = st.local.root
        (root / "crawls").mkdir()
        for cid in (CRAWL_1, CRAWL_2):
            (root / "crawls" / f"{cid}.json").write_text(json.dumps(manifest_of(cid)))
        upload_tree(s3, root, PREFIX)
        yield st


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """``newsarchive ARGS`` in a subprocess, with this process's environment (plus ``env``)."""
    import os

    return subprocess.run([sys.executable, "-m", "archive", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env={**os.environ, **(env or {})})


def assert_no_secret(s3: MotoS3, *texts: str) -> None:
    for text in texts:
        assert not any(secret in text for secret in s3.secrets)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- records --------------------------------------------------------------------------------------


def test_records_and_manifests_read_from_the_bucket_as_from_disk(store: Store) -> None:
    root, uri = store.local.root, store.uri
    assert list_crawl_ids(uri) == list_crawl_ids(root) == [CRAWL_1, CRAWL_2]
    assert list(iter_records(uri)) == list(iter_records(root))
    assert list(iter_records(uri, [CRAWL_2])) == list(iter_records(root, [CRAWL_2]))
    assert read_crawl_manifest(uri, CRAWL_1) == manifest_of(CRAWL_1)
    assert read_crawl_manifest(uri, "20990101T000000Z-nonexist") is None
    assert list_crawl_ids(store.s3.uri("nothing-here")) == []


def test_a_damaged_record_file_in_the_bucket_is_counted_not_raised(store: Store) -> None:
    good = store.local.root / "articles" / CRAWL_1 / "articles-00000.jsonl.gz"
    whole = good.read_bytes()
    store.s3.put(f"damaged/articles/{CRAWL_1}/articles-00000.jsonl.gz", whole)
    store.s3.put(f"damaged/articles/{CRAWL_1}/articles-00001.jsonl.gz", whole[:-40])
    store.s3.put(f"damaged/articles/{CRAWL_1}/articles-00002.jsonl.gz", b"not gzip at all")
    files = RecordFiles.scan(store.s3.uri("damaged"))
    records = list(files)
    assert len(records) > store.local.n  # the first file whole, the cut one up to its cut
    assert files.bad_files == [f"articles/{CRAWL_1}/articles-00001.jsonl.gz",
                               f"articles/{CRAWL_1}/articles-00002.jsonl.gz"]


def test_an_unreachable_store_is_an_error_not_an_empty_archive(store: Store, capsys,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code = cli_main(["export", store.uri, "--format", "jsonl", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith("newsarchive export: error: ") and "EndpointConnectionError" in err
    assert_no_secret(store.s3, err)
    assert not (tmp_path / "o").exists()


# --- export ---------------------------------------------------------------------------------------


def rows_of(folder: Path) -> list[dict]:
    import pyarrow.parquet as pq

    manifest = json.loads((folder / "manifest.json").read_text())
    return [row for f in manifest["files"] for row in pq.read_table(folder / f["path"]).to_pylist()]


def test_export_parquet_straight_from_the_bucket(store: Store, tmp_path: Path) -> None:
    """The acceptance line: `newsarchive export s3://bucket/prefix --format parquet --out DIR`."""
    store.log.clear()
    out = tmp_path / "dataset"
    proc = run("export", store.uri, "--format", "parquet", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert_no_secret(store.s3, proc.stdout, proc.stderr)
    local = export(store.local.root, tmp_path / "from-disk", ExportOptions(format="parquet"))
    remote = json.loads((out / "manifest.json").read_text())
    assert rows_of(out) == rows_of(tmp_path / "from-disk") and remote["rows"] == local.rows == 12
    for entry in remote["files"]:
        assert sha256((out / entry["path"]).read_bytes()) == entry["sha256"]
    assert remote["source"]["archive"] == store.uri
    assert remote["source"]["record_files"] == local.manifest["source"]["record_files"]
    assert remote["source"]["crawls"][0]["seeds"] == manifest_of(CRAWL_1)["seeds"]
    assert remote["counts"] == local.manifest["counts"]
    # only records and crawl manifests were read: no WARC byte
    read = {r.key.split("/", 2)[1] for r in store.requests("GET", f"{PREFIX}/")}
    assert read <= {"articles", "crawls"} and "articles" in read


def test_export_to_s3_uploads_checked_files_and_the_manifest_last(store: Store) -> None:
    dest = store.s3.uri("exports/one")
    store.log.clear()
    result = export(store.uri, dest, ExportOptions(format="jsonl", shard_rows=5))
    assert result.out_dir == dest and result.rows == 12
    keys = store.s3.list_keys("exports/one/")
    manifest = json.loads(store.s3.get("exports/one/manifest.json"))
    assert sorted(keys) == sorted(
        [f"exports/one/{f['path']}" for f in manifest["files"]]
        + ["exports/one/README.md", "exports/one/manifest.json"])
    assert len(manifest["files"]) == 3
    for f in manifest["files"]:
        data = store.s3.get(f"exports/one/{f['path']}")
        assert len(data) == f["bytes"] and sha256(data) == f["sha256"]
        assert sum(1 for _ in gzip.decompress(data).splitlines()) == f["rows"]
    puts = [r.key for r in store.requests("PUT", "exports/one/")]
    assert puts[-1] == "exports/one/manifest.json" and len(puts) == len(keys)
    # a destination that holds anything is refused, as a non-empty local folder is
    with pytest.raises(UsageError, match="already holds files"):
        export(store.uri, dest, ExportOptions(format="jsonl"))


def test_export_upload_failure_exits_1_and_leaves_no_manifest(store: Store, capsys,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import archive.export as export_module

    monkeypatch.setattr("crawler.settings.NEWSARCHIVE_S3_RETRIES", 0)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    staged = export_module._export

    def staged_then_outage(*args: Any, **kwargs: Any) -> Any:
        result = staged(*args, **kwargs)
        store.s3.stop()  # the dataset is ready locally; the store goes down before the upload
        return result

    monkeypatch.setattr(export_module, "_export", staged_then_outage)
    try:
        code = cli_main(["export", str(store.local.root), "--format", "csv",
                         "--out", store.s3.uri("exports/failed")])
    finally:
        store.s3.start()
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert f"could not be uploaded to {store.s3.uri('exports/failed')}" in err
    assert_no_secret(store.s3, err)
    assert store.s3.list_keys("exports/failed/") == []


# --- single records: ranged GETs -----------------------------------------------------------------


def test_captures_by_ranged_get_match_the_local_archive(store: Store) -> None:
    store.log.clear()
    with CaptureIndex(store.uri) as captures:
        downloaded = captures.index_files()
        assert [p.name for p in downloaded] == [f"{CRAWL_1}.cdxj", f"{CRAWL_2}.cdxj"]
        for c in store.local.captures:
            remote = find_capture(captures, c.url, c.date)
            local = find_capture(store.local.root, c.url, c.date)
            assert remote is not None and local is not None
            assert (remote.status, remote.headers, remote.body, remote.pointer,
                    remote.payload_pointer) == (local.status, local.headers, local.body,
                                                local.pointer, local.payload_pointer)
        revisit = find_capture(captures, article_url(0), T2)
        assert revisit is not None and revisit.is_revisit
    assert not downloaded[0].exists()  # the downloaded indexes go with the CaptureIndex
    warc_gets = store.requests("GET", f"{PREFIX}/warc/")
    assert warc_gets and all(r.range for r in warc_gets)
    # the indexes were fetched once, not once per lookup
    assert len(store.requests("GET", f"{PREFIX}/index/")) == 2


# --- replay (pywb) ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pywb_s3_python() -> str:
    """An interpreter with pywb and boto3, got as `newsarchive replay s3://...` gets one."""
    from archive.pywb_env import PywbEnvError, find_pywb_python

    try:
        return find_pywb_python(s3=True, out=lambda line: print(f"tests: {line}", file=sys.stderr)).python
    except PywbEnvError as e:
        pytest.skip(f"no interpreter with pywb and boto3, and none could be made: {e}")


def http_get(base: str, path: str) -> tuple[int, bytes]:
    import http.client

    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", parts.path + path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_replay_serves_the_bucket_reading_records_by_range(store: Store, pywb_s3_python: str) -> None:
    import re

    store.log.clear()
    with running_replay(store.uri, python=pywb_s3_python) as base:  # type: ignore[arg-type]
        for i, revision in ((1, 0), (2, 0), (2, 1), (5, 0)):
            capture = [c for c in store.local.captures if c.url == article_url(i)][revision]
            status, body = http_get(base, f"{capture.date:%Y%m%d%H%M%S}mp_/{article_url(i)}")
            assert status == 200
            assert re.findall(rb"<h1>(.*?)</h1>", body) == [headline(i, revision).encode()]
        # the revisit of article 0 in crawl 2 replays the original's payload
        status, body = http_get(base, f"{T2:%Y%m%d%H%M%S}mp_/{article_url(0)}")
        assert status == 200 and headline(0).encode() in body
        status, _ = http_get(base, f"mp_/{article_url(0)}-never-archived")
        assert status == 404
    warc_gets = store.requests("GET", f"{PREFIX}/warc/")
    assert warc_gets, "pywb read no record from the bucket"
    assert all(r.range for r in warc_gets), [r for r in warc_gets if not r.range]


def replay_cli(*argv: str) -> int:
    import argparse

    from archive.cli import replay

    parser = argparse.ArgumentParser()
    replay.register(parser.add_subparsers())
    return replay.run(parser.parse_args(["replay", *argv]))


def test_replay_of_an_unservable_bucket_is_one_line(store: Store, capsys,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    warc = store.local.captures[0].warc_file
    store.s3.put(f"noindex/{warc}", (store.local.root / warc).read_bytes())
    cases = [(store.s3.uri("noindex"), 2, f"build it with `newsarchive index {store.s3.uri('noindex')}`"),
             (store.s3.uri("nothing"), 2, "no WARC files under warc/")]
    for uri, code, message in cases:
        assert replay_cli(uri, "--port", "0") == code
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    assert replay_cli(store.uri, "--port", "0") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"newsarchive replay: cannot read {store.uri}: ") and err.count("\n") == 1
    assert_no_secret(store.s3, err)


# --- reprocess and extract -------------------------------------------------------------------------


def records_in_bucket(s3: MotoS3, prefix: str) -> list[dict]:
    out = []
    for key in s3.list_keys(f"{prefix}/articles/"):
        out.extend(json.loads(line) for line in gzip.decompress(s3.get(key)).splitlines())
    return out


def test_reprocess_from_the_bucket_into_the_bucket(store: Store, tmp_path: Path) -> None:
    out = store.s3.uri("reprocessed")
    store.log.clear()
    proc = run("reprocess", store.uri, "--out", out, "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert f"report: {out}/reprocess-report.json" in proc.stdout
    assert_no_secret(store.s3, proc.stdout, proc.stderr)
    local = reprocess(store.local.root, tmp_path / "local", workers=1)
    report = json.loads(store.s3.get("reprocessed/reprocess-report.json"))
    assert report["totals"] == local.report["totals"] and report["totals"]["new_records"] == 14
    assert report["source"] == store.uri and report["out"] == out
    assert [f["path"] for f in report["files"]] == [f["path"] for f in local.report["files"]]
    remote_records = records_in_bucket(store.s3, "reprocessed")
    assert remote_records == list(iter_records(tmp_path / "local"))
    assert not {"cleanup_rules", "encoding", "published_check"} & set(remote_records[0])
    for f in report["files"]:
        data = store.s3.get(f"reprocessed/{f['path']}")
        assert len(data) == f["bytes"] and sha256(data) == f["sha256"]
    # each WARC streamed once (one whole-object GET); the revisit's original by ranged GET
    whole = [r.key for r in store.requests("GET", f"{PREFIX}/warc/") if not r.range]
    assert sorted(whole) == sorted(f"{PREFIX}/{c.warc_file}" for c in
                                   {c.warc_file: c for c in store.local.captures}.values())
    assert [r for r in store.requests("GET", f"{PREFIX}/warc/") if r.range]
    assert len(store.requests("GET", f"{PREFIX}/index/")) == 2  # once, for the revisit
    puts = [r.key for r in store.requests("PUT", "reprocessed/")]
    assert puts[-1] == "reprocessed/reprocess-report.json"
    # a crawl without revisits needs no index: none is downloaded
    store.log.clear()
    first = reprocess(store.uri, tmp_path / "first-crawl", crawl_ids=[CRAWL_1], workers=1)
    assert first.report["totals"]["new_records"] == 12
    assert store.requests("GET", f"{PREFIX}/index/") == []
    # a second run into the same prefix is refused before any work
    with pytest.raises(ReprocessError, match="already holds files"):
        reprocess(store.uri, out, workers=1)
    with pytest.raises(ReprocessError, match="would mix new records"):
        reprocess(store.uri, f"{store.uri}/articles/new", workers=1)


def test_reprocess_upload_failure_exits_1(store: Store, capsys,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import archive.reprocess as reprocess_module

    monkeypatch.setattr("crawler.settings.NEWSARCHIVE_S3_RETRIES", 0)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    opened = reprocess_module._Output.session

    def outage_then_session(self: Any, crawl_id: str) -> Any:
        store.s3.stop()
        return opened(self, crawl_id)

    monkeypatch.setattr(reprocess_module._Output, "session", outage_then_session)
    out = store.s3.uri("reprocess-failed")
    try:
        code = cli_main(["reprocess", str(store.local.root), "--out", out, "--workers", "1"])
    finally:
        store.s3.start()
    err = capsys.readouterr().err
    assert code == 1, err
    line = err.strip().splitlines()[-1]
    assert f"could not be uploaded to {out}" in line and "reprocess-report.json" in line
    assert_no_secret(store.s3, err)
    assert store.s3.list_keys("reprocess-failed/") == []


def test_extract_streams_a_warc_from_the_bucket(store: Store, capsys) -> None:
    rel = store.local.captures[1].warc_file
    assert cli_main(["extract", f"{store.uri}/{rel}"]) == 0
    remote = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert cli_main(["extract", str(store.local.root / rel)]) == 0
    local = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(remote) == store.local.n
    for r, loc in zip(remote, local, strict=True):
        assert r["warc"]["file"] == f"{store.uri}/{rel}"
        assert {**r, "warc": None} == {**loc, "warc": None}
        assert {k: v for k, v in r["warc"].items() if k != "file"} == \
               {k: v for k, v in loc["warc"].items() if k != "file"}
        assert not {"cleanup_rules", "encoding", "published_check"} & set(r)
    assert cli_main(["extract", f"{store.uri}/warc/none.warc.gz"]) == 2
    assert "no such file" in capsys.readouterr().err


# --- wacz ------------------------------------------------------------------------------------------


def test_wacz_from_the_bucket_into_the_bucket(store: Store, tmp_path: Path) -> None:
    pytest.importorskip("wacz", reason="py-wacz is not installed (pip install 'newsarchive[replay]')")
    key = "packages/news.wacz"
    assert cli_main(["wacz", store.uri, "--out", f"{store.s3.uri('')}/{key}", "--validate"]) == 0
    assert cli_main(["wacz", str(store.local.root), "--out", str(tmp_path / "local.wacz")]) == 0
    with zipfile.ZipFile(io.BytesIO(store.s3.get(key))) as remote, \
            zipfile.ZipFile(tmp_path / "local.wacz") as local:
        warcs = sorted(n for n in remote.namelist() if n.startswith("archive/"))
        assert warcs == sorted(n for n in local.namelist() if n.startswith("archive/"))
        assert len(warcs) == 2
        for name in warcs:
            assert remote.read(name) == local.read(name)
        assert remote.read("pages/pages.jsonl") == local.read("pages/pages.jsonl")
    assert not [k for k in store.s3.list_keys("packages/") if k != key]

