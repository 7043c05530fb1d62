"""Issue 4's acceptance tests: crawls of the demo site through the CLI to s3://bucket/prefix on
moto's server (HTTP on 127.0.0.1), and the outage that the spool and ``sync`` survive."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from scrapy.settings import Settings

from archive.storage import S3Archive, open_archive
from archive.warcrecord import iter_records, read_record
from tests.e2e.conftest import FAST, REPO, run_cli
from tests.support.s3 import MotoS3, moto_s3, s3_fixture  # noqa: F401 - the s3 fixture
from tests.support.servers import demo_site

pytestmark = pytest.mark.e2e

LAYOUT = {
    "warc": re.compile(r"^warc/(?P<cid>\d{8}T\d{6}Z-[0-9a-f]+)/NEWSARCHIVE-\d{14}-\d{5}-[^/]+\.warc\.gz$"),
    "articles": re.compile(r"^articles/(?P<cid>\d{8}T\d{6}Z-[0-9a-f]+)/articles-\d{5}\.jsonl\.gz$"),
    "index": re.compile(r"^index/(?P<cid>\d{8}T\d{6}Z-[0-9a-f]+)\.cdxj$"),
    "manifest": re.compile(r"^crawls/(?P<cid>\d{8}T\d{6}Z-[0-9a-f]+)\.json$"),
}


def s3_args(s3: MotoS3, spool: Path, **extra: Any) -> list[str]:
    out: list[str] = []
    for key, value in {**s3.settings, "NEWSARCHIVE_S3_SPOOL_DIR": str(spool), **extra}.items():
        out += ["--set", f"{key}={value}"]
    return out


def crawl_args(site_url: str, s3: MotoS3, spool: Path, **extra: Any) -> list[str]:
    # INFO, so Scrapy's "Overridden settings" line (AWS_* included) reaches stderr to be checked
    return ["crawl", f"{site_url}/", "--out", s3.uri(), "--log-level", "INFO", *FAST,
            *s3_args(s3, spool, **extra)]


def spool_contents(spool: Path) -> list[str]:
    return sorted(p.relative_to(spool).as_posix() for p in spool.rglob("*") if p.is_file())


def archive_of(s3: MotoS3) -> S3Archive:
    archive = open_archive(s3.uri(), Settings(s3.settings))
    assert isinstance(archive, S3Archive)
    return archive


def records_in(archive: S3Archive) -> list[dict]:
    out = []
    for rel in archive.list("articles/"):
        with gzip.open(archive.open(rel), "rt", encoding="utf-8") as f:
            out.extend(json.loads(line) for line in f)
    return out


def assert_complete(s3: MotoS3, archive: S3Archive, tmp_path: Path) -> tuple[str, dict, list[dict]]:
    """The bucket holds one whole crawl in the DESIGN.md layout: return its id, manifest, records."""
    rels = archive.list()
    assert not [k for k in s3.list_keys() if k.endswith(".open")]
    kinds: dict[str, list[str]] = {}
    crawl_ids = set()
    for rel in rels:
        kind = next((k for k, rx in LAYOUT.items() if rx.match(rel)), None)
        assert kind, f"{rel} is not in the archive layout"
        kinds.setdefault(kind, []).append(rel)
        crawl_ids.add(LAYOUT[kind].match(rel)["cid"])
    assert set(kinds) == set(LAYOUT) and len(crawl_ids) == 1
    [cid] = crawl_ids
    manifest = json.loads(archive.read_bytes(f"crawls/{cid}.json"))
    # Every file the crawl wrote is there once, under its one name, with its bytes.
    assert sorted(f["path"] for f in manifest["files"]) == sorted(r for r in rels if not r.startswith("crawls/"))
    for entry in manifest["files"]:
        data = archive.read_bytes(entry["path"])
        assert len(data) == entry["bytes"] and hashlib.sha256(data).hexdigest() == entry["sha256"]
    # WARCs pass warcio check after download
    for rel in kinds["warc"]:
        local = archive.download(rel, tmp_path / Path(rel).name)
        proc = subprocess.run([sys.executable, "-m", "warcio.cli", "check", str(local)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    # Every record's WARC pointer resolves in S3, by ranged GET
    records = records_in(archive)
    assert records and manifest["counts"]["records"] == len(records)
    for rec in records:
        warc = read_record(archive, rec["warc"])
        assert warc.rec_type == "response"
        assert warc.rec_headers.get_header("WARC-Target-URI") == rec["final_url"]
        assert warc.rec_headers.get_header("WARC-Payload-Digest") == rec["warc"]["payload_digest"]
    return cid, manifest, records


def assert_no_secrets(s3: MotoS3, archive: S3Archive, *texts: str) -> None:
    """Not in logs, not in any stored file (manifest, warcinfo, records, index)."""
    for text in texts:
        assert not any(secret in text for secret in s3.secrets)
    for rel in archive.list():
        data = archive.read_bytes(rel)
        if rel.endswith(".gz"):
            data = gzip.decompress(data)
        assert not any(secret.encode() in data for secret in s3.secrets), rel
    for rel in archive.list("warc/"):
        with archive.open(rel) as stream:
            for record in iter_records(stream):
                if record.rec_type == "warcinfo":
                    info = record.content_stream().read().decode()
                    assert "isPartOf" in info and not any(s in info for s in s3.secrets)


# --- a crawl to S3 -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("s3crawl")
    with moto_s3() as s3, demo_site() as site:
        spool = tmp / "spool"
        proc = run_cli(crawl_args(site.url, s3, spool), timeout=120)
        yield s3, spool, proc, site


def test_crawl_to_s3_leaves_the_layout_and_an_empty_spool(crawled, tmp_path: Path) -> None:
    s3, spool, proc, site = crawled
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"archive: {s3.uri()}" in proc.stdout
    archive = archive_of(s3)
    cid, manifest, records = assert_complete(s3, archive, tmp_path)
    assert manifest["crawl_id"] == cid and manifest["settings"]["NEWSARCHIVE_OUT"] == s3.uri()
    assert {r["url"] for r in records} <= set(site.article_urls) and len(records) >= 5
    assert spool_contents(spool) == [], "the spool is empty once everything is uploaded"
    stats = manifest["stats"]
    assert "newsarchive/s3/errors" not in stats  # the manifest is written before the uploads end


def test_no_secret_in_logs_manifest_warcinfo_or_files(crawled) -> None:
    s3, _spool, proc, _site = crawled
    assert "Overridden settings" in proc.stderr and "'AWS_SECRET_ACCESS_KEY': '***'" in proc.stderr
    assert_no_secrets(s3, archive_of(s3), proc.stdout, proc.stderr)


def test_bad_s3_uris_are_usage_errors(tmp_path: Path) -> None:
    for uri in ("s3://", "s3://user:pass@bucket/p"):
        proc = run_cli(["crawl", "http://127.0.0.1:9/", "--out", uri], timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("newsarchive crawl: --out: ") and "pass" not in proc.stderr


# --- the outage ----------------------------------------------------------------------------------


def test_store_down_mid_crawl_then_sync_uploads_the_rest(s3: MotoS3, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    spool = tmp_path / "spool"
    # No quick botocore-level retries in the crawl: the uploader's own retries are what is tested.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with demo_site(latency=0.1) as site:
        args = crawl_args(
            site.url, s3, spool,
            # small files, so several are finished (and uploaded) while the crawl runs
            NEWSARCHIVE_WARC_MAX_SIZE=20_000, NEWSARCHIVE_RECORDS_MAX_RECORDS=2,
            NEWSARCHIVE_S3_RETRIES=1, NEWSARCHIVE_S3_RETRY_BACKOFF=0.1,
            CONCURRENT_REQUESTS_PER_DOMAIN=2,
        )
        proc = subprocess.Popen([sys.executable, "-m", "archive", *args], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not s3.list_keys("prefix/warc/") and proc.poll() is None:
                assert time.monotonic() < deadline, "no WARC was uploaded during the crawl"
                time.sleep(0.02)
            assert proc.poll() is None, "the crawl ended before the store could be stopped"
            s3.stop()
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

    # The crawl finished locally, said what is left and how to upload it, and exited 1.
    assert proc.returncode == 1, stderr[-3000:]
    assert re.search(r"crawl \S+: \d+ article records", stdout)
    message = next(line for line in stderr.splitlines() if "could not be uploaded to" in line)
    assert f"kept in {spool}" in message and f"newsarchive sync {spool} {s3.uri()}" in message
    assert "newsarchive/s3/errors" in stderr
    left = spool_contents(spool)
    assert left and not [r for r in left if r.endswith(".open")]
    assert any(r.startswith("crawls/") for r in left), "the manifest waits for the rest"
    assert_no_secrets_in = (stdout, stderr)

    s3.start()  # the store is back, with what it had
    assert not s3.list_keys("prefix/crawls/")
    sync = run_cli(["sync", str(spool), s3.uri(), *s3_args(s3, spool)], timeout=120)
    assert sync.returncode == 0, sync.stderr
    # A file whose upload reached the store just before it went down (its check did not) is
    # already there: it is dropped from the spool, not uploaded again.
    m = re.search(r"(\d+) file\(s\) uploaded .*, (\d+) already there", sync.stdout)
    assert m and int(m[1]) + int(m[2]) == len(left) and int(m[1]) > 0, sync.stdout
    assert spool_contents(spool) == []

    archive = archive_of(s3)
    _cid, manifest, records = assert_complete(s3, archive, tmp_path)
    assert len({f["path"] for f in manifest["files"] if f["kind"] == "warc"}) > 1
    assert len(records) >= 5
    assert_no_secrets(s3, archive, *assert_no_secrets_in, sync.stdout, sync.stderr)

    # A second sync has nothing left to do.
    again = run_cli(["sync", str(spool), s3.uri(), *s3_args(s3, spool)], timeout=60)
    assert again.returncode == 0 and "0 file(s) uploaded" in again.stdout


def test_sync_usage_errors(tmp_path: Path) -> None:
    proc = run_cli(["sync", str(tmp_path / "none"), "s3://bucket/prefix"], timeout=60)
    assert proc.returncode == 2 and "no such spool folder" in proc.stderr
    proc = run_cli(["sync", str(tmp_path), str(tmp_path / "elsewhere")], timeout=60)
    assert proc.returncode == 2 and "must be an s3://bucket/prefix URI" in proc.stderr
    proc = run_cli(["sync", str(tmp_path), "s3://"], timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
