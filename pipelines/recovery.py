"""Finish what a dead crawl left behind, before the next crawl starts.

A crawl killed by SIGKILL (or a power cut, an OOM kill) leaves its WARC and records files under
their ``.open`` names, no index and no manifest, and a crawl state that may lag its records by the
records in flight. Both file kinds are sequences of gzip members, one per record, so the complete
part of a file is exactly the run of complete members at its start. Recovery, run at crawl start
under the archive's crawl lock (so never on a live crawl's files):

1. truncates each ``.open`` WARC / records file to its last complete member (a records member
   must also be one JSON line), then commits it under its final name;
2. reads every record of the dead crawl back into the crawl state, so an article recorded just
   before the kill is not recorded again, and none recorded is lost (the same for a crawl that
   finished but could not write all its decisions into the state: a full disk, say);
3. rebuilds the dead crawl's CDXJ index from its WARC files (cdxj-indexer, as
   ``newsarchive index`` does) and writes it a manifest (``finish_reason: recovered``).

A crawl resumed under its own crawl id (``--crawl-id``) gets its files committed into its own
session instead, so they appear in the manifest it writes at the end.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured

from crawler.state import CrawlState, crawl_lock, state_from_crawler
from pipelines.manifest import write_recovered_manifest
from pipelines.session import OPEN_SUFFIX, ArchiveSession, file_digest

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass
class CrawlRecovery:
    """What recovery did to one dead crawl."""

    crawl_id: str
    files: list[str] = field(default_factory=list)  # committed from .open
    truncated: dict[str, int] = field(default_factory=dict)  # rel -> bytes cut off
    removed: list[str] = field(default_factory=list)  # .open files with nothing complete
    records: int = 0  # records of the crawl read back into the state
    index: str | None = None
    manifest: str | None = None


def gzip_members(path: Path, *, keep_data: bool = False) -> Iterator[tuple[int, int, bytes | None]]:
    """``(offset, length, data)`` of each complete gzip member at the start of ``path``.

    Stops at the first member that is cut short or damaged: what follows cannot be trusted.
    Hand-written over zlib because :mod:`gzip` reads a multi-member file as one stream and
    hides where members end; ``data`` (the decompressed member) only when asked for.
    """
    with open(path, "rb") as f:
        offset = 0
        consumed = 0  # compressed bytes of the current member seen so far
        d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        chunks: list[bytes] = []
        buf = b""
        while True:
            if not buf:
                buf = f.read(_CHUNK)
                if not buf:
                    return  # end of file: a started member is incomplete
            try:
                out = d.decompress(buf)
            except zlib.error:
                return
            if keep_data:
                chunks.append(out)
            if d.eof:
                length = consumed + len(buf) - len(d.unused_data)
                yield offset, length, b"".join(chunks) if keep_data else None
                offset += length
                consumed = 0
                buf = d.unused_data
                d = zlib.decompressobj(zlib.MAX_WBITS | 16)
                chunks = []
            else:
                consumed += len(buf)
                buf = b""


def complete_prefix(path: Path, kind: str) -> tuple[int, list[tuple[int, int, dict]]]:
    """Bytes at the start of ``path`` that hold complete records, and (for ``articles``) the
    records with their member offset and length."""
    end = 0
    records: list[tuple[int, int, dict]] = []
    for offset, length, data in gzip_members(path, keep_data=kind == "articles"):
        if kind == "articles":
            try:
                records.append((offset, length, json.loads(data)))
            except (ValueError, UnicodeDecodeError):
                break
        end = offset + length
    return end, records


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def dead_crawls(session: ArchiveSession) -> list[str]:
    """Crawl ids with ``.open`` files, or with local WARC files but no manifest anywhere."""
    root = session.root
    ids: set[str] = set()
    for sub in ("warc", "articles"):
        base = root / sub
        if not base.is_dir():
            continue
        for crawl_dir in base.iterdir():
            if crawl_dir.is_dir() and any(crawl_dir.glob(f"*{OPEN_SUFFIX}")):
                ids.add(crawl_dir.name)
    for base, suffix in ((root / "index", ".cdxj"), (root / "crawls", ".json")):
        if base.is_dir():
            for p in base.glob(f"*{suffix}{OPEN_SUFFIX}"):
                ids.add(p.name[: -len(suffix + OPEN_SUFFIX)])
    warc_base = root / "warc"
    if warc_base.is_dir():
        for crawl_dir in warc_base.iterdir():
            if crawl_dir.is_dir() and any(crawl_dir.glob("*.warc.gz")) and not _exists(
                    session, f"crawls/{crawl_dir.name}.json"):
                ids.add(crawl_dir.name)
    return sorted(ids)


def _exists(session: ArchiveSession, rel: str) -> bool:
    exists = getattr(session, "exists", None)  # remote archives: the store knows too
    return exists(rel) if exists is not None else session.path(rel).exists()


def recover_crawl(session: ArchiveSession, crawl_id: str, state: CrawlState | None) -> CrawlRecovery:
    """Recover one dead crawl into ``session`` (the dead crawl's own, or the current one when
    the crawl id is being resumed)."""
    root = session.root
    report = CrawlRecovery(crawl_id)
    for sub, kind in (("warc", "warc"), ("articles", "articles")):
        for path in sorted((root / sub / crawl_id).glob(f"*{OPEN_SUFFIX}")):
            rel = _rel(root, path)[: -len(OPEN_SUFFIX)]
            end, _ = complete_prefix(path, kind)
            size = path.stat().st_size
            if end == 0:
                path.unlink()
                report.removed.append(rel + OPEN_SUFFIX)
                continue
            if end < size:
                with open(path, "rb+") as f:
                    f.truncate(end)
                report.truncated[rel] = size - end
            session.commit(rel, kind)
            report.files.append(rel)
    # Half-written index and manifest: rebuilt / rewritten below.
    for stale in (root / "index" / f"{crawl_id}.cdxj{OPEN_SUFFIX}",
                  root / "crawls" / f"{crawl_id}.json{OPEN_SUFFIX}"):
        if stale.exists():
            stale.unlink()
            report.removed.append(_rel(root, stale))
    if state is not None:
        report.records = reconcile(root, crawl_id, state)
    return report


def reconcile(root: Path, crawl_id: str, state: CrawlState) -> int:
    """Read the crawl's records back into the state (idempotent: known versions are skipped)."""
    count = 0
    for path in sorted((root / "articles" / crawl_id).glob("*.jsonl.gz")):
        rel = _rel(root, path)
        _, records = complete_prefix(path, "articles")
        for offset, length, record in records:
            if not isinstance(record, dict) or not record.get("id"):
                continue
            pointer = {"crawl_id": crawl_id, "file": rel, "offset": offset, "length": length}
            state.article_recorded(record, pointer)
            count += 1
    return count


def rebuild_index(session: ArchiveSession, crawl_id: str) -> str | None:
    """The dead crawl's CDXJ index, from its local WARC files, the way ``newsarchive index``
    builds one (cdxj-indexer), committed through ``session`` (so uploaded with the archive)."""
    from cdxj_indexer.main import CDXJIndexer

    from archive.index import INDEXED_RECORDS, warc_files
    from pipelines.cdxj import index_rel

    files = warc_files(session.root, crawl_id)
    if not files:
        return None
    rel = index_rel(crawl_id)
    out = session.open_path(rel)
    try:
        CDXJIndexer(str(out), [str(f) for f in files], sort=True, dir_root=str(session.root / "warc"),
                    records=INDEXED_RECORDS).process_all()
    except Exception:  # warcio / zlib / OSError: the WARCs stay, `newsarchive index` can retry
        out.unlink(missing_ok=True)
        raise
    session.commit(rel, "index")
    return rel


def _register_existing(session: ArchiveSession, crawl_id: str) -> None:
    """Files the dead crawl had finished before it died belong in its manifest too."""
    known = {f["path"] for f in session.files}
    root = session.root
    for sub, pattern, kind in (("warc", "*.warc.gz", "warc"), ("articles", "*.jsonl.gz", "articles")):
        for path in sorted((root / sub / crawl_id).glob(pattern)):
            rel = _rel(root, path)
            if rel not in known:
                size, sha256 = file_digest(path)
                session.files.append({"path": rel, "kind": kind, "bytes": size, "sha256": sha256})


def recover_archive(current: ArchiveSession, state: CrawlState | None) -> list[CrawlRecovery]:
    """Recover every dead crawl of the archive ``current`` writes into, and read back into the
    state the records of crawls it did not account for. The caller holds the crawl lock."""
    reports = []
    dead = dead_crawls(current)
    if state is not None:
        for crawl_id in state.unfinished_crawls(exclude=current.crawl_id):
            if crawl_id not in dead:
                count = reconcile(current.root, crawl_id, state)
                state.crawl_reconciled(crawl_id)
                logger.warning("Crawl %s did not finish its state bookkeeping: %d records read "
                               "back into the state", crawl_id, count)
                reports.append(CrawlRecovery(crawl_id, records=count))
    for crawl_id in dead:
        resumed = crawl_id == current.crawl_id
        session = current if resumed else ArchiveSession(root=current.root, crawl_id=crawl_id,
                                                         storage=current.storage)
        report = recover_crawl(session, crawl_id, state)
        if state is not None and not resumed:
            state.crawl_reconciled(crawl_id)
        if not resumed:
            try:
                report.index = rebuild_index(session, crawl_id)
            except Exception as exc:
                logger.error("Recovery: could not index the WARC files of crawl %s: %s "
                             "(run `newsarchive index`)", crawl_id, exc)
            if not _exists(session, f"crawls/{crawl_id}.json"):
                _register_existing(session, crawl_id)
            if session.files and not _exists(session, f"crawls/{crawl_id}.json"):
                report.manifest = write_recovered_manifest(
                    session, recovered_by=current.crawl_id, records=_count_records(session),
                    truncated=report.truncated)
        logger.warning(
            "Recovered crawl %s: %d files committed (%d cut short, %d bytes dropped), %d records "
            "read back into the state", crawl_id, len(report.files), len(report.truncated),
            sum(report.truncated.values()), report.records)
        reports.append(report)
    return reports


def _count_records(session: ArchiveSession) -> int:
    total = 0
    for path in (session.root / "articles" / session.crawl_id).glob("*.jsonl.gz"):
        total += sum(1 for _ in gzip_members(path))
    return total


class RecoveryExtension:
    """Runs :func:`recover_archive` when the crawler is built, before anything is fetched."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("NEWSARCHIVE_RECOVERY_ENABLED", True):
            raise NotConfigured("NEWSARCHIVE_RECOVERY_ENABLED is off")
        o = cls(crawler)
        o.recover()
        return o

    def recover(self) -> list[CrawlRecovery]:
        session = ArchiveSession.from_crawler(self.crawler)
        if not session.root.is_dir():
            return []  # a new archive: nothing to recover
        crawl_lock(self.crawler)  # never touch the files of a crawl that is still alive
        state = state_from_crawler(self.crawler)
        reports = recover_archive(session, state)
        stats = self.crawler.stats
        if stats is not None and reports:
            stats.inc_value("newsarchive/recovery/crawls", len(reports))
            stats.inc_value("newsarchive/recovery/files", sum(len(r.files) for r in reports))
            stats.inc_value("newsarchive/recovery/truncated_bytes",
                            sum(sum(r.truncated.values()) for r in reports))
            stats.inc_value("newsarchive/recovery/records", sum(r.records for r in reports))
        return reports


__all__ = ["CrawlRecovery", "RecoveryExtension", "complete_prefix", "dead_crawls", "gzip_members",
           "rebuild_index", "reconcile", "recover_archive", "recover_crawl"]
