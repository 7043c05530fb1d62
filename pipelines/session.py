"""The archive session of one crawl: its crawl id, where its files go, and the files it finished.

Writers (WARC, records, index, manifest) never choose final names themselves: they write to the
path ``open_path(rel)`` gives (a ``.open`` file) and call ``commit(rel)`` when the file is
complete. That keeps the DESIGN.md promise that no reader sees half a file under its final name,
and gives one place where a remote backend (S3) takes over: ``commit`` hands the finished file to
the session's storage (:mod:`pipelines.storage`). For an ``s3://`` archive, ``root`` is the local
spool, files are uploaded in the background, and the session waits for the uploads when the engine
has stopped (after the manifest is written), so ``scrapy crawl`` and ``newsarchive crawl`` both end
only once everything is in the bucket or reported as still local.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.storage import (
    LocalStorage,
    Storage,
    StorageError,
    UploadReport,
    install_log_redaction,
    open_storage,
)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

OPEN_SUFFIX = ".open"


def new_crawl_id(now: datetime | None = None) -> str:
    """``<UTC yyyymmddThhmmssZ>-<short random>``: sortable by start time, unique across machines."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def file_digest(path: Path) -> tuple[int, str]:
    """Size and sha256 of a file, read in chunks so a 1 GB WARC does not land in memory."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


# Stats of the upload to a remote store, set when the uploads are over (docs/s3.md).
UPLOAD_STATS = {
    "newsarchive/s3/uploaded": "uploaded",
    "newsarchive/s3/uploaded_bytes": "uploaded_bytes",
    "newsarchive/s3/already_there": "already_there",
    "newsarchive/s3/retries": "retries",
    "newsarchive/s3/leftovers": "leftovers",
}


@dataclass
class ArchiveSession:
    root: Path
    crawl_id: str
    files: list[dict] = field(default_factory=list)
    storage: Storage | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _leftovers_queued: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if self.storage is None:
            self.storage = LocalStorage(self.root)

    @property
    def uri(self) -> str:
        """Where the archive is: the local folder, or ``s3://bucket/prefix``."""
        assert self.storage is not None
        return self.storage.uri

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchiveSession:
        """One session per crawler, shared by every component that writes into the archive."""
        session = getattr(crawler, "_newsarchive_session", None)
        if session is None:
            settings = crawler.settings
            crawl_id = settings.get("NEWSARCHIVE_CRAWL_ID") or new_crawl_id()
            storage = open_storage(settings.get("NEWSARCHIVE_OUT") or "./archive", settings)
            session = cls(root=storage.root, crawl_id=crawl_id, storage=storage)
            crawler._newsarchive_session = session
            if storage.remote:
                session._start_remote(crawler, resumed=bool(settings.get("NEWSARCHIVE_CRAWL_ID")))
        return session

    def path(self, rel: str) -> Path:
        return self.root / rel

    def exists(self, rel: str) -> bool:
        """``rel`` exists under its final name, locally or in the remote store.

        Writers choosing a new name (a resumed crawl restarting serials) ask this rather than
        ``path(rel).exists()``: on S3 a finished file leaves the spool once uploaded.
        """
        assert self.storage is not None
        return self.path(rel).exists() or self.storage.exists(rel)

    def open_path(self, rel: str) -> Path:
        """Local path to write ``rel`` to while it is incomplete (parents created)."""
        p = self.root / (rel + OPEN_SUFFIX)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def commit(self, rel: str, kind: str) -> dict:
        """Give a finished file its final name, register it (size + sha256) for the manifest and
        hand it to the storage (an upload, for a remote archive)."""
        src = self.root / (rel + OPEN_SUFFIX)
        dst = self.root / rel
        with open(src, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(src, dst)
        size, sha256 = file_digest(dst)
        entry = {"path": rel, "kind": kind, "bytes": size, "sha256": sha256}
        with self._lock:
            self.files.append(entry)
        assert self.storage is not None
        self.storage.store(rel, kind)
        return entry

    def close(self) -> UploadReport:
        """Wait until the storage is done with every committed file (blocking)."""
        assert self.storage is not None
        if self.storage.remote:
            self._queue_leftovers()
        return self.storage.close()

    def _queue_leftovers(self) -> None:
        """Queue (once) what earlier runs left in a remote archive's spool, except this crawl's
        own index and manifest, which it rewrites at its end (a resumed crawl)."""
        start = getattr(self.storage, "start", None)
        if start is None or self._leftovers_queued:
            return
        self._leftovers_queued = True
        start(skip=(f"index/{self.crawl_id}.cdxj", f"crawls/{self.crawl_id}.json"))

    # -- remote archives -------------------------------------------------------------------------

    def _start_remote(self, crawler: Crawler, *, resumed: bool) -> None:
        from scrapy import signals

        storage = self.storage
        assert storage is not None
        # Built while Scrapy's extensions are, before it logs its "Overridden settings"
        # (AWS_* included) and before anything can log an error holding a credential.
        redact = getattr(storage, "redact", None)
        if redact is not None:
            install_log_redaction(redact)
        if resumed:
            self._fetch_index(f"index/{self.crawl_id}.cdxj")

        def engine_started() -> None:
            # Leftovers of earlier runs are queued only now: recovery (an extension, run while
            # the crawler is built) first finishes the .open files a killed run left in the spool.
            self._queue_leftovers()
            # Connected now, so that it runs after every engine_stopped handler connected while
            # components were built (the manifest's): receivers run in connect order.
            crawler.signals.connect(engine_stopped, signal=signals.engine_stopped, weak=False)

        async def engine_stopped() -> None:
            from scrapy.utils.defer import maybe_deferred_to_future
            from twisted.internet.threads import deferToThread

            # Waiting blocks: on a thread, so the reactor keeps serving the uploads' callbacks.
            try:
                report = await maybe_deferred_to_future(deferToThread(self.close))
            except Exception as exc:
                self._close_failed(exc, crawler)
            else:
                self._report(report, crawler)

        crawler.signals.connect(engine_started, signal=signals.engine_started, weak=False)

    def _fetch_index(self, rel: str) -> None:
        fetch = getattr(self.storage, "fetch", None)
        if fetch is None:
            return
        try:
            fetch(rel)
        except StorageError as exc:
            logger.warning(
                "Could not fetch the existing index %s of resumed crawl %s (%s); rebuild it after "
                "the crawl with `newsarchive index %s --crawl-id %s`",
                rel, self.crawl_id, exc, self.uri, self.crawl_id,
            )

    def _report(self, report: UploadReport, crawler: Crawler) -> UploadReport:
        stats = crawler.stats
        assert stats is not None
        for key, attr in UPLOAD_STATS.items():
            stats.set_value(key, getattr(report, attr))
        stats.set_value("newsarchive/s3/errors", len(report.failed))
        stats.set_value("newsarchive/s3/unfinished", len(report.unfinished))
        if report.failed:
            logger.error(report.failure_message())
        elif report.unfinished:
            logger.warning(
                "%d unfinished .open file(s) stay in the spool %s", len(report.unfinished), report.spool
            )
        return report

    def _close_failed(self, exc: Exception, crawler: Crawler) -> None:
        assert crawler.stats is not None
        crawler.stats.inc_value("newsarchive/s3/errors")
        logger.error("Waiting for the uploads to %s failed: %s", self.uri, exc)
