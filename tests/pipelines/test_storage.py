"""The S3 uploader against moto's server over HTTP on 127.0.0.1: verify before delete, retries,
outages, refusals, manifests last, and no credential in any message."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from pipelines.storage import (
    LocalStorage,
    RedactingFilter,
    Redactor,
    S3Location,
    S3Options,
    S3Storage,
    StorageConfigError,
    connect,
    crawl_id_of,
    install_log_redaction,
    local_digest,
    open_storage,
    part_size,
    spool_files,
)
from tests.support.s3 import MotoS3, s3_fixture  # noqa: F401 - the s3 fixture

CID = "20261130T000000Z-abc123"
MB = 1024 * 1024


def make_storage(s3: MotoS3, spool: Path, *, client_wrapper=None, **settings: Any) -> tuple[S3Storage, list[float]]:
    """An S3Storage on the moto server; sleeps are recorded, not slept."""
    options = S3Options.from_settings({**s3.settings, "NEWSARCHIVE_S3_RETRY_BACKOFF": 0.5, **settings})
    options = dataclasses.replace(options, request_attempts=1)
    connection = connect(options)
    if client_wrapper is not None:
        connection.client = client_wrapper(connection.client)
    sleeps: list[float] = []
    return S3Storage(S3Location.parse(s3.uri()), spool, connection, options, sleep=sleeps.append), sleeps


def put_spool(spool: Path, rel: str, data: bytes) -> Path:
    path = spool / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- URIs, options, digests ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "bucket", "prefix"),
    [("s3://bucket/prefix", "bucket", "prefix"), ("s3://bucket/a/b/", "bucket", "a/b"),
     ("s3://bucket", "bucket", ""), ("s3://bucket/", "bucket", "")],
)
def test_location_parse(uri: str, bucket: str, prefix: str) -> None:
    loc = S3Location.parse(uri)
    assert (loc.bucket, loc.prefix) == (bucket, prefix)
    assert loc.key("warc/x.warc.gz") == (f"{prefix}/warc/x.warc.gz" if prefix else "warc/x.warc.gz")
    assert loc.rel(loc.key("crawls/c.json")) == "crawls/c.json"


@pytest.mark.parametrize("uri", ["s3://", "s3:///prefix", "s3://b/a//b", "s3://b/../x",
                                 "s3://b/p?x=1", "https://b/p"])
def test_location_rejects_bad_uris(uri: str) -> None:
    with pytest.raises(StorageConfigError):
        S3Location.parse(uri)


def test_location_never_echoes_credentials_in_the_uri() -> None:
    with pytest.raises(StorageConfigError) as e:
        S3Location.parse("s3://AKIASECRETKEY:verysecret@bucket/prefix")
    assert "AKIASECRETKEY" not in str(e.value) and "verysecret" not in str(e.value)


def test_options_from_settings_and_secrets_not_in_repr() -> None:
    opts = S3Options.from_settings({"AWS_ACCESS_KEY_ID": "AKIAXXXXXXXX", "AWS_SECRET_ACCESS_KEY": "topsecret",
                                    "AWS_USE_SSL": "false", "AWS_VERIFY": "/etc/ca.pem",
                                    "NEWSARCHIVE_S3_MULTIPART_CHUNKSIZE": 1024,
                                    "NEWSARCHIVE_S3_ADDRESSING_STYLE": "path"})
    assert opts.use_ssl is False and opts.verify == "/etc/ca.pem" and opts.addressing_style == "path"
    assert opts.multipart_chunksize == 5 * MB  # S3's minimum part size
    assert "topsecret" not in repr(opts) and "AKIAXXXXXXXX" not in repr(opts)
    assert S3Options.from_settings(None).retries == 5
    with pytest.raises(StorageConfigError):
        S3Options.from_settings({"NEWSARCHIVE_S3_ADDRESSING_STYLE": "sideways"})
    with pytest.raises(StorageConfigError):
        S3Options.from_settings({"NEWSARCHIVE_S3_INTEGRITY": "hope"})


def test_local_digest_single_and_multipart(tmp_path: Path) -> None:
    data = os.urandom(11 * MB + 17)
    path = tmp_path / "f"
    path.write_bytes(data)
    single = local_digest(path, threshold=64 * MB, chunksize=5 * MB)
    assert single.etag == hashlib.md5(data).hexdigest()
    assert single.sha256 == hashlib.sha256(data).hexdigest() and single.size == len(data)
    multi = local_digest(path, threshold=5 * MB, chunksize=5 * MB)
    parts = [hashlib.md5(data[i:i + 5 * MB]).digest() for i in range(0, len(data), 5 * MB)]
    assert multi.etag == f"{hashlib.md5(b''.join(parts)).hexdigest()}-3"
    # s3transfer grows parts so that a file never needs more than 10,000 of them
    assert part_size(100_000 * 5 * MB, 5 * MB) > 5 * MB


def test_crawl_id_of_layout_paths() -> None:
    assert crawl_id_of(f"warc/{CID}/NEWSARCHIVE-1-00000-h.warc.gz") == CID
    assert crawl_id_of(f"articles/{CID}/articles-00000.jsonl.gz") == CID
    assert crawl_id_of(f"index/{CID}.cdxj") == CID
    assert crawl_id_of(f"crawls/{CID}.json") == CID
    assert crawl_id_of("state/seen.db") is None


def test_spool_files_skip_open_files_and_non_layout_folders(tmp_path: Path) -> None:
    put_spool(tmp_path, f"warc/{CID}/a.warc.gz", b"a")
    put_spool(tmp_path, f"warc/{CID}/b.warc.gz.open", b"b")
    put_spool(tmp_path, "state/seen.db", b"s")
    put_spool(tmp_path, "stray.txt", b"x")
    assert spool_files(tmp_path) == ([f"warc/{CID}/a.warc.gz"], [f"warc/{CID}/b.warc.gz.open"])


def test_local_storage_leaves_files_where_they_are(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path))
    assert isinstance(storage, LocalStorage) and not storage.remote
    put_spool(tmp_path, "crawls/x.json", b"{}")
    assert storage.store("crawls/x.json", "manifest") is None
    assert storage.exists("crawls/x.json") and storage.close().ok


# --- redaction -----------------------------------------------------------------------------------


def test_redactor_masks_every_secret_longest_first() -> None:
    redact = Redactor(["AKIAABCDEF", "AKIAABCDEF/long-secret", None, "ab"])
    assert redact("key AKIAABCDEF/long-secret and AKIAABCDEF") == "key *** and ***"
    assert redact("ab stays: too short to be a secret") == "ab stays: too short to be a secret"


def test_redacting_filter_masks_messages_args_and_tracebacks() -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    log = logging.getLogger("tests.redaction")
    handler = Keep()
    handler.addFilter(RedactingFilter(Redactor(["sekrit-value-123"])))
    log.addHandler(handler)
    try:
        log.warning("settings: %r", {"AWS_SECRET_ACCESS_KEY": "sekrit-value-123"})
        try:
            raise ValueError("boom sekrit-value-123")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    assert records and all("sekrit-value-123" not in r for r in records)
    assert "***" in records[0] and "ValueError: boom ***" in records[1]


# --- uploads -------------------------------------------------------------------------------------


def test_upload_verifies_then_deletes_the_local_copy(s3: MotoS3, tmp_path: Path) -> None:
    rel = f"warc/{CID}/NEWSARCHIVE-20261130000000-00000-h.warc.gz"
    data = os.urandom(3000)
    put_spool(tmp_path, rel, data)
    storage, _ = make_storage(s3, tmp_path)
    storage.store(rel, "warc").result(30)
    report = storage.close()
    assert report.ok and report.uploaded == 1 and report.uploaded_bytes == 3000
    assert s3.get(f"prefix/{rel}") == data
    head = s3.client().head_object(Bucket=s3.bucket, Key=f"prefix/{rel}")
    assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert not any(p.is_file() for p in tmp_path.rglob("*")), "the spool should be empty"
    assert not list(tmp_path.iterdir()), "empty folders are pruned at close"


def test_large_files_go_up_in_parts_and_are_checked(s3: MotoS3, tmp_path: Path) -> None:
    rel = f"warc/{CID}/big.warc.gz"
    data = os.urandom(11 * MB)
    put_spool(tmp_path, rel, data)
    storage, _ = make_storage(s3, tmp_path, NEWSARCHIVE_S3_MULTIPART_THRESHOLD=5 * MB,
                              NEWSARCHIVE_S3_MULTIPART_CHUNKSIZE=5 * MB)
    storage.store(rel, "warc")
    assert storage.close().ok
    head = s3.client().head_object(Bucket=s3.bucket, Key=f"prefix/{rel}")
    assert head["ETag"].strip('"').endswith("-3")
    assert s3.get(f"prefix/{rel}") == data


def test_a_failed_multipart_upload_leaves_nothing_under_the_key(s3: MotoS3, tmp_path: Path) -> None:
    """A part fails: the key must not exist (no half object) until the retry completes it."""
    rel = f"warc/{CID}/big.warc.gz"
    data = os.urandom(11 * MB)
    put_spool(tmp_path, rel, data)
    calls = {"parts": 0}
    seen_between_attempts: list[tuple[list[str], int]] = []

    def fail_second_part(**kwargs: Any) -> None:
        calls["parts"] += 1
        if calls["parts"] == 2:
            raise ConnectionResetError("injected: the connection dropped during a part")

    def wrap(client: Any) -> Any:
        client.meta.events.register("before-call.s3.UploadPart", fail_second_part)
        return client

    storage, sleeps = make_storage(s3, tmp_path, client_wrapper=wrap,
                                   NEWSARCHIVE_S3_MULTIPART_THRESHOLD=5 * MB,
                                   NEWSARCHIVE_S3_MULTIPART_CHUNKSIZE=5 * MB)

    def look(delay: float) -> None:
        uploads = s3.client().list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])
        seen_between_attempts.append((s3.list_keys("prefix/"), len(uploads)))
        sleeps.append(delay)

    storage._sleep = look
    storage.store(rel, "warc")
    report = storage.close()
    assert report.ok and report.retries == 1
    assert seen_between_attempts == [([], 0)], "a failed multipart upload must leave no object"
    assert s3.get(f"prefix/{rel}") == data


def test_store_down_keeps_files_then_next_run_uploads_them(s3: MotoS3, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    rels = [f"warc/{CID}/a.warc.gz", f"articles/{CID}/articles-00000.jsonl.gz"]
    for rel in rels:
        put_spool(tmp_path, rel, rel.encode() * 100)
    put_spool(tmp_path, f"crawls/{CID}.json", b"{}")
    s3.stop()
    storage, sleeps = make_storage(s3, tmp_path, NEWSARCHIVE_S3_RETRIES=2)
    assert storage.start() == 3
    report = storage.close()
    assert set(report.failed) == {*rels, f"crawls/{CID}.json"}
    assert "held back" in report.failed[f"crawls/{CID}.json"]
    assert sorted(sleeps) == [0.5, 0.5, 1.0, 1.0], "two retries per file, the backoff doubling"
    assert report.retries == 4 and report.leftovers == 3
    assert all((tmp_path / rel).is_file() for rel in rels), "nothing is deleted before it is uploaded"
    message = report.failure_message()
    assert "3 files could not be uploaded" in message and f"newsarchive sync {tmp_path} {s3.uri()}" in message
    assert not any(secret in caplog.text + message for secret in s3.secrets)

    s3.start()
    storage, _ = make_storage(s3, tmp_path)
    assert storage.start() == 3
    report = storage.close()
    assert report.ok and report.uploaded == 3
    assert s3.list_keys("prefix/") == sorted(f"prefix/{r}" for r in [*rels, f"crawls/{CID}.json"])
    assert spool_files(tmp_path) == ([], [])


def test_a_manifest_goes_up_only_after_the_rest_of_its_crawl(s3: MotoS3, tmp_path: Path) -> None:
    order: list[str] = []

    def wrap(client: Any) -> Any:
        def record(params: dict, **kwargs: Any) -> None:
            order.append(params["Key"].rsplit("/", 2)[-2])
        client.meta.events.register("before-parameter-build.s3.PutObject", record)
        return client

    storage, _ = make_storage(s3, tmp_path, client_wrapper=wrap, NEWSARCHIVE_S3_UPLOAD_WORKERS=8)
    for i in range(6):
        rel = f"warc/{CID}/w{i}.warc.gz"
        put_spool(tmp_path, rel, os.urandom(200_000))
        storage.store(rel, "warc")
    put_spool(tmp_path, f"crawls/{CID}.json", b"{}")
    storage.store(f"crawls/{CID}.json", "manifest")
    assert storage.close().ok
    assert order[-1] == "crawls" and order.count(CID) == 6


def test_integrity_mismatch_is_retried_and_the_file_kept(s3: MotoS3, tmp_path: Path) -> None:
    """A store that reports other bytes than were sent: never delete the local copy."""
    rel = f"articles/{CID}/articles-00000.jsonl.gz"
    put_spool(tmp_path, rel, b"x" * 5000)

    class LyingStore:
        def __init__(self, client: Any) -> None:
            self._client = client

        def __getattr__(self, name: str) -> Any:
            return getattr(self._client, name)

        def head_object(self, **kwargs: Any) -> dict:
            head = self._client.head_object(**kwargs)
            return {**head, "ETag": '"00000000000000000000000000000000"'}

    storage, _ = make_storage(s3, tmp_path, client_wrapper=LyingStore, NEWSARCHIVE_S3_RETRIES=1)
    storage.store(rel, "articles")
    report = storage.close()
    assert rel in report.failed and "ETag" in report.failed[rel]
    assert (tmp_path / rel).read_bytes() == b"x" * 5000
    # with size-only checking (stores whose ETags are not MD5s) the same upload passes
    storage, _ = make_storage(s3, tmp_path, client_wrapper=LyingStore, NEWSARCHIVE_S3_INTEGRITY="size")
    storage.start()
    assert storage.close().ok and not (tmp_path / rel).exists()


def test_same_bytes_already_there_are_not_uploaded_again(s3: MotoS3, tmp_path: Path) -> None:
    rel = f"warc/{CID}/a.warc.gz"
    data = os.urandom(4000)
    s3.put(f"prefix/{rel}", data)
    put_spool(tmp_path, rel, data)
    puts: list[str] = []

    def wrap(client: Any) -> Any:
        client.meta.events.register("before-call.s3.PutObject", lambda **kw: puts.append("put"))
        return client

    storage, _ = make_storage(s3, tmp_path, client_wrapper=wrap)
    storage.start()
    report = storage.close()
    assert report.ok and report.already_there == 1 and report.uploaded == 0 and puts == []
    assert not (tmp_path / rel).exists()


def test_never_replaces_a_warc_with_other_bytes(s3: MotoS3, tmp_path: Path) -> None:
    rel = f"warc/{CID}/a.warc.gz"
    s3.put(f"prefix/{rel}", b"the original")
    put_spool(tmp_path, rel, b"a different file under the same name")
    storage, sleeps = make_storage(s3, tmp_path)
    storage.start()
    report = storage.close()
    assert "refusing to replace" in report.failed[rel] and sleeps == [], "a refusal is not retried"
    assert s3.get(f"prefix/{rel}") == b"the original"
    assert (tmp_path / rel).is_file()


def test_an_index_is_replaced_as_on_local_disk(s3: MotoS3, tmp_path: Path) -> None:
    rel = f"index/{CID}.cdxj"
    s3.put(f"prefix/{rel}", b"old\n")
    put_spool(tmp_path, rel, b"old\nnew\n")
    storage, _ = make_storage(s3, tmp_path)
    storage.store(rel, "index")
    assert storage.close().ok and s3.get(f"prefix/{rel}") == b"old\nnew\n"


def test_unfinished_and_state_files_are_never_uploaded(s3: MotoS3, tmp_path: Path) -> None:
    put_spool(tmp_path, f"warc/{CID}/a.warc.gz.open", b"half")
    put_spool(tmp_path, "state/frontier.db", b"state")
    storage, _ = make_storage(s3, tmp_path)
    assert storage.start() == 0
    report = storage.close()
    assert report.unfinished == [f"warc/{CID}/a.warc.gz.open"] and s3.list_keys() == []
    assert (tmp_path / "state" / "frontier.db").is_file()


def test_exists_and_fetch(s3: MotoS3, tmp_path: Path) -> None:
    s3.put(f"prefix/index/{CID}.cdxj", b"line\n")
    storage, _ = make_storage(s3, tmp_path)
    assert storage.exists(f"index/{CID}.cdxj") and not storage.exists("index/other.cdxj")
    assert storage.fetch(f"index/{CID}.cdxj") and (tmp_path / "index" / f"{CID}.cdxj").read_bytes() == b"line\n"
    assert storage.fetch("index/other.cdxj") is False
    storage.close()


def test_error_messages_never_hold_credentials(s3: MotoS3, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """Even when the error text itself carries them (a server echoing a request, a debug dump)."""
    rel = f"warc/{CID}/a.warc.gz"
    put_spool(tmp_path, rel, b"data")

    def wrap(client: Any) -> Any:
        def leak(**kwargs: Any) -> None:
            raise ConnectionError(f"refused for {s3.secrets[0]} with {s3.secrets[1]} {s3.secrets[2]}")
        client.meta.events.register("before-call.s3.PutObject", leak)
        return client

    storage, _ = make_storage(s3, tmp_path, client_wrapper=wrap, NEWSARCHIVE_S3_RETRIES=1)
    # What a crawl does when it opens an S3 archive: mask them in every handler's output too
    # (s3transfer logs the raw exception at DEBUG).
    log_filter = install_log_redaction(storage.redact)
    try:
        with caplog.at_level(logging.DEBUG):
            storage.store(rel, "warc")
            report = storage.close()
    finally:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(log_filter)
        logging.getLogger("scrapy.crawler").removeFilter(log_filter)
    assert "refused for ***" in report.failed[rel]
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("pipelines")]
    assert ours and any("refused for ***" in m for m in ours)
    text = caplog.text + repr(report) + report.failure_message()
    assert not any(secret in text for secret in s3.secrets)
