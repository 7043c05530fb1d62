"""The archive's CDXJ indexes: rebuilding them from the WARCs, and looking captures up.

``index/<crawl_id>.cdxj`` is the same file whether the crawl wrote it as it went
(:mod:`pipelines.cdxj`) or :func:`build_index` rebuilt it here with the cdxj-indexer library:
lines sorted as strings (so by SURT key, then timestamp), ``filename`` relative to ``warc/``.
"""

from __future__ import annotations

import json
import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cdxj_indexer.main import CDXJIndexer
from warcio.timeutils import timestamp_to_sec

from pipelines.cdxj import index_rel, url_key
from pipelines.session import ArchiveSession

WARC_SUFFIX = ".warc.gz"
# Named explicitly, not left to cdxj-indexer's default: importing py-wacz appends "warcinfo" to
# CDXJIndexer.DEFAULT_RECORDS for the whole process. Our WARCs hold no resource/metadata records,
# so on them this is exactly the default's output, and what pipelines.cdxj indexes live.
INDEXED_RECORDS = "response,revisit"


@dataclass
class IndexBuildError(Exception):
    """Some crawls could not be indexed; the others were (``built``)."""

    failures: dict[str, str]
    built: list[Path] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"crawl {cid}: {why}" for cid, why in self.failures.items())


def crawl_ids(root: Path) -> list[str]:
    warc_dir = root / "warc"
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not an archive folder")
    if not warc_dir.is_dir():
        raise FileNotFoundError(f"{root}: no warc/ folder")
    return sorted(p.name for p in warc_dir.iterdir() if p.is_dir())


def warc_files(root: Path, crawl_id: str) -> list[Path]:
    """Finished WARC files of a crawl (``.open`` files are still being written and are skipped)."""
    return sorted((root / "warc" / crawl_id).glob(f"*{WARC_SUFFIX}"))


def build_index(root: Path, crawl_id: str | None = None) -> list[Path]:
    """(Re)build ``index/<crawl_id>.cdxj`` for one crawl or all of them; return the files written.

    Each index is written as ``.open`` and renamed when complete, so pywb never reads half of
    one. A crawl that fails (an unreadable WARC) leaves its old index in place; the others are
    still built and :class:`IndexBuildError` lists the failures.
    """
    root = Path(root)
    ids = crawl_ids(root)
    if crawl_id is not None:
        if crawl_id not in ids:
            raise FileNotFoundError(f"{root}: no crawl {crawl_id} under warc/")
        ids = [crawl_id]
    built: list[Path] = []
    failures: dict[str, str] = {}
    for cid in ids:
        files = warc_files(root, cid)
        if not files:
            continue
        session = ArchiveSession(root=root, crawl_id=cid)
        rel = index_rel(cid)
        out = session.open_path(rel)
        try:
            CDXJIndexer(
                str(out),
                [str(f) for f in files],
                sort=True,
                dir_root=str(root / "warc"),
                records=INDEXED_RECORDS,
            ).process_all()
        except Exception as exc:  # warcio: ArchiveLoadFailed, zlib.error, OSError, ...
            out.unlink(missing_ok=True)
            failures[cid] = f"{type(exc).__name__}: {exc}"
            continue
        session.commit(rel, "index")
        built.append(session.path(rel))
    if failures:
        raise IndexBuildError(failures, built)
    return built


# --- lookup --------------------------------------------------------------------------------------


def _first_at_or_after(mm: mmap.mmap, prefix: bytes) -> int:
    """Offset of the first line that sorts at or after ``prefix`` (binary search on offsets)."""
    lo, hi = 0, len(mm)
    while lo < hi:
        mid = (lo + hi) // 2
        start = mm.rfind(b"\n", 0, mid) + 1  # start of the line holding mid (>= lo)
        end = mm.find(b"\n", start)
        end = len(mm) if end == -1 else end
        if mm[start:end] < prefix:
            lo = end + 1
        else:
            hi = start
    return lo


def _lines_with_prefix(path: Path, prefix: bytes) -> Iterator[bytes]:
    if os.path.getsize(path) == 0:
        return
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        pos = _first_at_or_after(mm, prefix)
        while pos < len(mm):
            end = mm.find(b"\n", pos)
            end = len(mm) if end == -1 else end
            line = mm[pos:end]
            if not line.startswith(prefix):
                return
            yield line
            pos = end + 1


def _seconds(timestamp: str | datetime) -> float:
    if isinstance(timestamp, datetime):
        if timestamp.tzinfo is not None:
            timestamp = timestamp.astimezone(timezone.utc)
        timestamp = timestamp.strftime("%Y%m%d%H%M%S")
    return timestamp_to_sec(timestamp)  # a partial timestamp means the end of that period


def parse_line(line: bytes | str) -> dict:
    """``{"urlkey", "timestamp", **fields}`` of one CDXJ line."""
    text = line.decode("utf-8") if isinstance(line, bytes) else line
    key, ts, data = text.rstrip("\n").split(" ", 2)
    return {"urlkey": key, "timestamp": ts, **json.loads(data)}


def lookup(index_path: Path | str, url: str, timestamp: str | datetime | None = None) -> list[dict]:
    """Captures of ``url`` (same SURT key) in a sorted CDXJ file, without scanning it.

    Without ``timestamp`` they come in index order (oldest first); with one (``yyyy[mm...]`` or
    a datetime) the closest capture comes first, ties going to the earlier one.
    """
    prefix = (url_key(url) + " ").encode("utf-8")
    entries = [parse_line(line) for line in _lines_with_prefix(Path(index_path), prefix)]
    if timestamp is not None:
        target = _seconds(timestamp)
        entries.sort(key=lambda e: (abs(_seconds(e["timestamp"]) - target), e["timestamp"]))
    return entries
