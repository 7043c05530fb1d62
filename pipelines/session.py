"""The archive session of one crawl: its crawl id, where its files go, and the files it finished.

Writers (WARC, records, index, manifest) never choose final names themselves: they write to the
path ``open_path(rel)`` gives (a ``.open`` file) and call ``commit(rel)`` when the file is
complete. That keeps the DESIGN.md promise that no reader sees half a file under its final name,
and gives one place where a remote backend (S3) can take over uploading.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

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


@dataclass
class ArchiveSession:
    root: Path
    crawl_id: str
    files: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchiveSession:
        """One session per crawler, shared by every component that writes into the archive."""
        session = getattr(crawler, "_newsarchive_session", None)
        if session is None:
            settings = crawler.settings
            crawl_id = settings.get("NEWSARCHIVE_CRAWL_ID") or new_crawl_id()
            session = cls(root=Path(settings.get("NEWSARCHIVE_OUT") or "./archive"), crawl_id=crawl_id)
            crawler._newsarchive_session = session
        return session

    def path(self, rel: str) -> Path:
        return self.root / rel

    def open_path(self, rel: str) -> Path:
        """Local path to write ``rel`` to while it is incomplete (parents created)."""
        p = self.root / (rel + OPEN_SUFFIX)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def commit(self, rel: str, kind: str) -> dict:
        """Give a finished file its final name and register it (size + sha256) for the manifest."""
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
        return entry
