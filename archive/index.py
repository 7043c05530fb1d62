"""The archive's CDXJ indexes: rebuilding them from the WARCs, and looking captures up.

``index/<crawl_id>.cdxj`` is the same file whether the crawl wrote it as it went
(:mod:`pipelines.cdxj`) or :func:`build_index` rebuilt it here with the cdxj-indexer library:
lines sorted as strings (so by SURT key, then timestamp), ``filename`` relative to ``warc/``.

An ``s3://bucket/prefix`` archive is indexed the same way without copying it down: each WARC is
streamed from the bucket through cdxj-indexer, and the index is uploaded through the same storage
as a crawl's files (spool, upload, size + ETag check), so it appears under its key only complete.
"""

from __future__ import annotations

import heapq
import json
import mmap
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cdxj_indexer.main import CDXJIndexer
from warcio.timeutils import timestamp_to_sec

from archive.storage import Archive, open_archive, project_settings
from pipelines.cdxj import index_rel, url_key
from pipelines.session import ArchiveSession
from pipelines.storage import S3Storage, is_s3_uri

WARC_SUFFIX = ".warc.gz"
# Named explicitly, not left to cdxj-indexer's default: importing py-wacz appends "warcinfo" to
# CDXJIndexer.DEFAULT_RECORDS for the whole process. Our WARCs hold no resource/metadata records,
# so on them this is exactly the default's output, and what pipelines.cdxj indexes live.
INDEXED_RECORDS = "response,revisit"


@dataclass
class IndexBuildError(Exception):
    """Some crawls could not be indexed; the others were (``built``)."""

    failures: dict[str, str]
    built: list[Path | str] = field(default_factory=list)

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


def archive_crawl_ids(archive: Archive) -> list[str]:
    """Crawls with finished WARCs in any archive (local or S3), from its file listing."""
    return sorted({rel.split("/")[1] for rel in archive.list("warc/") if rel.count("/") == 2})


def archive_warc_files(archive: Archive, crawl_id: str) -> list[str]:
    """Layout paths (``warc/<crawl_id>/<name>``) of a crawl's finished WARCs in any archive."""
    return [
        rel for rel in archive.list(f"warc/{crawl_id}/")
        if rel.endswith(WARC_SUFFIX) and rel.count("/") == 2
    ]


def build_index(
    root: Path | str, crawl_id: str | None = None, *, settings: Any = None
) -> list[Path | str]:
    """(Re)build ``index/<crawl_id>.cdxj`` for one crawl or all of them; return the files written
    (paths, or ``s3://`` URIs for an archive in S3; ``settings`` configure the S3 client).

    Each index is written as ``.open`` and renamed when complete, so pywb never reads half of
    one. A crawl that fails (an unreadable WARC) leaves its old index in place; the others are
    still built and :class:`IndexBuildError` lists the failures.
    """
    if is_s3_uri(root):
        return _build_remote_index(str(root), crawl_id, settings)
    root = Path(root)
    ids = crawl_ids(root)
    if crawl_id is not None:
        if crawl_id not in ids:
            raise FileNotFoundError(f"{root}: no crawl {crawl_id} under warc/")
        ids = [crawl_id]
    built: list[Path | str] = []
    failures: dict[str, str] = {}
    for cid in ids:
        files = warc_files(root, cid)
        if not files:
            continue
        session = ArchiveSession(root=root, crawl_id=cid)
        rel = index_rel(cid)
        out = session.open_path(rel)
        try:
            _Indexer(
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


class _Indexer(CDXJIndexer):
    """cdxj-indexer, minus server-not-modified revisits, as the live index writes it: such a
    record holds a 304's headers and no payload, which replay would serve as an empty page."""

    def filter_record(self, record) -> bool:
        if (record.rec_type == "revisit"
                and (record.rec_headers.get_header("WARC-Profile") or "").endswith("/server-not-modified")):
            return False
        return super().filter_record(record)


def _index_warc(archive: Archive, rel: str, run: Path) -> Path:
    """Sorted CDXJ lines of one WARC, streamed from the archive into a run file."""
    with archive.open(rel) as stream:
        _Indexer(
            str(run),
            [stream],  # a file object: cdxj-indexer reads it as it is
            sort=True,
            filename=rel.removeprefix("warc/"),  # what dir_root=<root>/warc gives locally
            records=INDEXED_RECORDS,
        ).process_all()
    return run


def _build_remote_index(uri: str, crawl_id: str | None, settings: Any) -> list[Path | str]:
    settings = settings if settings is not None else project_settings()
    archive = open_archive(uri, settings)
    ids = archive_crawl_ids(archive)
    if not ids:
        raise FileNotFoundError(f"{uri}: no WARC files under warc/")
    if crawl_id is not None:
        if crawl_id not in ids:
            raise FileNotFoundError(f"{uri}: no crawl {crawl_id} under warc/")
        ids = [crawl_id]
    built: list[Path | str] = []
    failures: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="newsarchive-index-") as tmp:
        spool = Path(tmp) / "spool"
        storage = S3Storage.from_settings(uri, settings, spool=spool)
        for cid in ids:
            session = ArchiveSession(root=spool, crawl_id=cid, storage=storage)
            rel = index_rel(cid)
            runs_dir = Path(tmp) / "runs" / cid
            runs_dir.mkdir(parents=True)
            try:
                runs = [
                    _index_warc(archive, w, runs_dir / f"{i:06d}.cdxj")
                    for i, w in enumerate(archive_warc_files(archive, cid))
                ]
                with open(session.open_path(rel), "w", encoding="utf-8", newline="\n") as out:
                    sources = [open(r, encoding="utf-8", newline="\n") for r in runs]  # noqa: SIM115
                    try:
                        out.writelines(heapq.merge(*sources))
                    finally:
                        for f in sources:
                            f.close()
            except Exception as exc:  # warcio: ArchiveLoadFailed, zlib.error; the store: OSError
                session.open_path(rel).unlink(missing_ok=True)
                failures[cid] = f"{type(exc).__name__}: {exc}"
                continue
            session.commit(rel, "index")
        report = storage.close()
    for cid in ids:
        rel = index_rel(cid)
        if cid in failures:
            continue
        if rel in report.failed:
            failures[cid] = f"upload failed: {report.failed[rel]}"
        else:
            built.append(archive.uri_of(rel))
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
