"""ArchiveSession with an s3:// archive: the spool as root, commit -> upload, leftovers of earlier
runs, a resumed crawl's index, and credentials masked in Scrapy's own log lines."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from scrapy.utils.test import get_crawler

from pipelines.cdxj import CdxjIndexWriter
from pipelines.session import ArchiveSession
from pipelines.storage import LocalStorage, RedactingFilter, S3Storage
from tests.support.s3 import MotoS3, s3_fixture  # noqa: F401 - the s3 fixture

CID = "20261130T010203Z-c0ffee"
OLD = "20261129T000000Z-0ld000"


@pytest.fixture(autouse=True)
def _drop_redaction_filters() -> Iterator[None]:
    """Sessions install log filters process-wide (as a crawl wants); tests remove theirs."""
    yield
    for logger in (logging.getLogger(), logging.getLogger("scrapy.crawler")):
        targets = [logger, *logger.handlers]
        for target in targets:
            for f in [f for f in target.filters if isinstance(f, RedactingFilter)]:
                target.removeFilter(f)


def s3_crawler(s3: MotoS3, spool: Path, **extra):
    return get_crawler(settings_dict={
        **s3.settings, "NEWSARCHIVE_OUT": s3.uri(), "NEWSARCHIVE_S3_SPOOL_DIR": str(spool),
        "NEWSARCHIVE_S3_RETRY_BACKOFF": 0.05, **extra,
    })


def write(session: ArchiveSession, rel: str, data: bytes, kind: str) -> dict:
    with open(session.open_path(rel), "wb") as f:
        f.write(data)
    return session.commit(rel, kind)


def test_local_archive_is_unchanged(tmp_path: Path) -> None:
    session = ArchiveSession.from_crawler(get_crawler(settings_dict={"NEWSARCHIVE_OUT": str(tmp_path)}))
    assert isinstance(session.storage, LocalStorage) and session.uri == str(tmp_path)
    entry = write(session, f"crawls/{session.crawl_id}.json", b"{}", "manifest")
    assert (tmp_path / entry["path"]).read_bytes() == b"{}"
    assert session.exists(entry["path"]) and session.close().ok


def test_s3_session_spools_and_uploads(s3: MotoS3, tmp_path: Path) -> None:
    crawler = s3_crawler(s3, tmp_path / "spool", NEWSARCHIVE_CRAWL_ID=None)
    session = ArchiveSession.from_crawler(crawler)
    assert isinstance(session.storage, S3Storage)
    assert session.root == tmp_path / "spool" and session.uri == s3.uri()
    rel = f"warc/{session.crawl_id}/NEWSARCHIVE-20261130010203-00000-h.warc.gz"
    entry = write(session, rel, b"\x1f\x8b" + b"w" * 1000, "warc")
    assert session.close().ok
    data = s3.get(f"prefix/{rel}")
    assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
    assert session.exists(rel), "gone from the spool but in the bucket"
    assert not any(p.is_file() for p in (tmp_path / "spool").rglob("*"))


def test_leftovers_of_earlier_runs_go_up_but_not_this_crawls_own_summaries(s3: MotoS3, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    left = {
        f"warc/{OLD}/NEWSARCHIVE-20261129000000-00000-h.warc.gz": b"old warc",
        f"articles/{OLD}/articles-00000.jsonl.gz": b"old records",
        f"crawls/{OLD}.json": b"{}",
        # a resumed crawl's own index and manifest are rewritten at its end, not uploaded now
        f"index/{CID}.cdxj": b"stale\n",
        f"crawls/{CID}.json": b"{\"stale\": true}",
    }
    for rel, data in left.items():
        (spool / rel).parent.mkdir(parents=True, exist_ok=True)
        (spool / rel).write_bytes(data)
    session = ArchiveSession.from_crawler(s3_crawler(s3, spool, NEWSARCHIVE_CRAWL_ID=CID))
    report = session.close()
    assert report.ok and report.leftovers == 3
    assert s3.list_keys("prefix/") == sorted(f"prefix/{r}" for r in list(left)[:3])
    assert (spool / f"index/{CID}.cdxj").is_file() and (spool / f"crawls/{CID}.json").is_file()


def test_a_resumed_crawl_merges_into_its_index_in_the_bucket(s3: MotoS3, tmp_path: Path) -> None:
    s3.put(f"prefix/index/{CID}.cdxj", b'com,example)/a 20261130000000 {"url": "http://example.com/a"}\n')
    session = ArchiveSession.from_crawler(s3_crawler(s3, tmp_path / "spool", NEWSARCHIVE_CRAWL_ID=CID))
    index = CdxjIndexWriter(session)
    index.add("http://example.com/b", "20261130010000", "text/html", 200, "sha1:X", 100, 0,
              f"{CID}/NEWSARCHIVE-20261130010000-00000-h.warc.gz", "response")
    index.close()
    assert session.close().ok
    lines = s3.get(f"prefix/index/{CID}.cdxj").decode().splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["com,example)/a", "com,example)/b"]


def test_credentials_are_masked_in_scrapys_overridden_settings_line(
    s3: MotoS3, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    crawler = s3_crawler(s3, tmp_path / "spool")
    with caplog.at_level(logging.INFO):
        session = ArchiveSession.from_crawler(crawler)
        # what scrapy.crawler logs once the extensions (and so the session) are built
        logging.getLogger("scrapy.crawler").info(
            "Overridden settings:\n%(settings)s", {"settings": dict(crawler.settings)}
        )
    session.close()
    assert "Overridden settings" in caplog.text and "AWS_SECRET_ACCESS_KEY" in caplog.text
    assert not any(secret in caplog.text for secret in s3.secrets)
