"""Re-run extraction over an archive's responses, with no network at all.

A new trafilatura or new extraction rules should not need a new crawl: the WARCs hold every
response as it came, so this reads them back crawl by crawl, runs the crawl's own extraction
(``pipelines.extraction.extract_page``) and record assembly (``pipelines.record.build_record``)
on them, and writes new records in the same schema under ``<out>/articles/<crawl_id>/`` with the
crawl's writer, so ``<out>`` reads like an archive's records (its ``warc`` pointers still name
the source archive's WARC files).

Each new record is paired with the old record of *the same capture* (same WARC file and offset),
which is what makes the diff report exact: ``same`` / ``changed`` text, ``added`` (a record where
the crawl made none) and ``removed`` (the crawl's record that extraction now rejects, with the
reason), by domain. What the crawl knew beyond the page (the URL before redirects, how it was
discovered, when) is carried over from the old record.

ARCHIVE may be ``s3://bucket/prefix``: each WARC is streamed from the bucket (one GET read as it
goes, nothing copied down) and a revisit's original is read by ranged GET. ``out`` may be one
too: the new records go through the crawl's uploader (a temporary spool, size + ETag checked) and
the report is uploaded last, so its presence means the output there is complete.

Extraction is CPU-bound, so it runs in a process pool (``forkserver``/``spawn``; bounded pages in
flight, results taken in WARC order so the same first-wins dedup by record id as the crawl's
applies). Each worker shuts off its own network access before it extracts anything: "no
network" is enforced, not hoped for.
"""

from __future__ import annotations

import contextlib
import json
import socket
import tempfile
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator

from archive.index import archive_crawl_ids, archive_warc_files
from archive.records import is_transport_error, iter_records, read_error
from archive.replay import CaptureIndex, revisit_original
from archive.storage import Archive, StorageError, open_archive, open_file, project_settings
from pipelines.extraction import extract_page
from pipelines.extraction_pipeline import extraction_mp_context, pool_size
from pipelines.record import build_record
from pipelines.records import RecordsWriter
from pipelines.session import ArchiveSession
from pipelines.storage import (
    S3Location,
    S3Storage,
    StorageConfigError,
    UploadReport,
    is_s3_uri,
)

REPORT_NAME = "reprocess-report.json"
EXAMPLES = 20  # URLs kept per diff category in the report
MAX_BODY = 64 * 1024 * 1024
# What extract_page adds besides the record fields, for the crawl's stats (see
# pipelines.extraction_pipeline): not part of a record.
DIAGNOSTICS = ("published_check", "encoding", "cleanup_rules")


class ReprocessError(Exception):
    """Bad input (no such archive, --out inside the archive): exit code 2."""


class UploadError(OSError):
    """Some output could not be uploaded to an ``s3://`` --out: exit code 1."""


@dataclass
class Page:
    """One archived HTML response, decoded as the spider saw it (after HttpCompression)."""

    url: str
    body: bytes
    content_type: str
    http_status: int
    date: str
    pointer: dict


@dataclass
class Diff:
    """Counts by domain and category, with a few example URLs per category."""

    by_domain: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    examples: dict[str, list] = field(default_factory=lambda: defaultdict(list))
    skipped: Counter = field(default_factory=Counter)

    def count(self, domain: str, category: str, example: str | dict | None = None) -> None:
        self.by_domain[domain or "(none)"][category] += 1
        if example is not None and len(self.examples[category]) < EXAMPLES:
            self.examples[category].append(example)

    def totals(self) -> Counter:
        total: Counter = Counter()
        for c in self.by_domain.values():
            total.update(c)
        return total


def _pointer_key(pointer: dict | None) -> tuple[str, int] | None:
    if not pointer or "file" not in pointer or "offset" not in pointer:
        return None
    return str(pointer["file"]), int(pointer["offset"])


def _refuse(*args, **kwargs):
    raise OSError("newsarchive reprocess: network access is disabled")


def _no_network() -> None:
    """Worker initializer: any attempt to reach another host fails at once (local sockets,
    which multiprocessing itself may use, still work)."""
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guarded(method):
        def call(self, *args, **kwargs):
            if self.family in (socket.AF_INET, socket.AF_INET6):
                _refuse()
            return method(self, *args, **kwargs)
        return call

    socket.socket.connect = guarded(connect)
    socket.socket.connect_ex = guarded(connect_ex)
    socket.getaddrinfo = _refuse


def _extract(body: bytes, url: str, content_type: str, final_url: str, hints: dict | None,
             time_budget: float | None) -> tuple[dict | None, str]:
    return extract_page(body, url, content_type=content_type, final_url=final_url, hints=hints,
                        time_budget=time_budget)


def iter_pages(root: Path | str | Archive | CaptureIndex, crawl_id: str,
               skipped: Counter | None = None) -> Iterator[Page]:
    """The crawl's HTML 2xx responses in WARC order; revisits resolved to their payload.

    ``root`` is a local folder, ``s3://bucket/prefix``, an opened archive, or a CaptureIndex
    (pass one to reuse its downloaded indexes across crawls).
    """
    skipped = skipped if skipped is not None else Counter()
    with contextlib.ExitStack() as stack:
        captures = root if isinstance(root, CaptureIndex) else stack.enter_context(
            CaptureIndex(root))
        archive = captures.archive
        has_index = captures.has_indexes()
        for rel in archive_warc_files(archive, crawl_id):
            with archive.open(rel) as stream:
                try:
                    yield from iter_warc_pages(stream, rel, captures if has_index else None,
                                               skipped)
                except StorageError:
                    raise
                except Exception as exc:
                    if archive.remote and (isinstance(exc, OSError) or is_transport_error(exc)):
                        raise read_error(archive, rel, exc) from None
                    raise


def iter_warc_pages(source: Path | str | BinaryIO, rel: str,
                    root: Path | str | Archive | CaptureIndex | None = None,
                    skipped: Counter | None = None) -> Iterator[Page]:
    """One WARC file's HTML 2xx responses; revisits are resolved through ``root``'s index if given.

    ``source`` is a local path, an ``s3://bucket/key`` URI or an open binary stream (read in order,
    never seeked); ``rel`` is the file name the pages' ``warc`` pointers carry.
    """
    skipped = skipped if skipped is not None else Counter()
    with contextlib.ExitStack() as stack:
        stream = source if hasattr(source, "read") else stack.enter_context(open_file(source))
        it = ArchiveIterator(stream)
        for rec in it:
            if rec.rec_type not in ("response", "revisit") or rec.http_headers is None:
                continue
            status = int(rec.http_headers.get_statuscode() or 0)
            ctype = (rec.http_headers.get_header("Content-Type") or "").lower()
            if not 200 <= status < 300 or (ctype and "html" not in ctype):
                continue
            headers = rec.rec_headers
            url = headers.get_header("WARC-Target-URI")
            date = headers.get_header("WARC-Date")
            # Read the payload before asking for the offset: warcio's get_record_offset()
            # reads the record to its end when it does not know the offset yet.
            if rec.rec_type == "revisit":
                found = revisit_original(root, rec) if root is not None else None
                body = found[0].content_stream().read(MAX_BODY) if found else None
            else:
                body = rec.content_stream().read(MAX_BODY)
            it.read_to_end(rec)
            if body is None:
                skipped["revisit_unresolved"] += 1
                continue
            pointer = {"file": rel, "offset": it.get_record_offset(),
                       "length": it.get_record_length(),
                       "record_id": headers.get_header("WARC-Record-ID"),
                       "payload_digest": headers.get_header("WARC-Payload-Digest")}
            yield Page(url, body, ctype, status, date, pointer)


def record_fields(fields: dict) -> dict:
    """extract_page's fields without its diagnostics (which the crawl counts in its stats)."""
    for key in DIAGNOSTICS:
        fields.pop(key, None)
    return fields


@dataclass
class Result:
    out: Path | str  # the local folder, or the s3:// URI the output was uploaded to
    report: dict
    report_path: Path | str


class _Output:
    """Where the new records and the report go: a local folder, or an S3 prefix through a
    temporary spool and the crawl's uploader (records first, the report once they are all up)."""

    def __init__(self, out: Path | str) -> None:
        self.uri = str(out)
        self.remote = is_s3_uri(out)
        self.storage: S3Storage | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if self.remote:
            self._tmp = tempfile.TemporaryDirectory(prefix="newsarchive-reprocess-")
            self.root = Path(self._tmp.name)
            self.storage = S3Storage.from_settings(self.uri, project_settings(), spool=self.root)
        else:
            self.root = Path(out)

    def session(self, crawl_id: str) -> ArchiveSession:
        return ArchiveSession(root=self.root, crawl_id=crawl_id, storage=self.storage)

    def write_report(self, report: dict) -> Path | str:
        """Write the report; for S3, once every record file is up (else UploadError), upload it.

        The uploader orders a crawl's files, not files across crawls, so the records' uploads
        are waited for here, and the report goes up on its own afterwards.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / REPORT_NAME
        tmp = path.with_name(REPORT_NAME + ".open")
        tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
        if self.storage is None:
            return path
        records = self.storage.close()
        if records.failed:
            raise UploadError(_upload_failure(records))
        self.storage = S3Storage.from_settings(self.uri, project_settings(), spool=self.root)
        self.storage.store(REPORT_NAME, "report")
        last = self.storage.close()
        if last.failed:
            raise UploadError(_upload_failure(last))
        return self.storage.location.uri_of(REPORT_NAME)

    def close(self) -> None:
        if self._tmp is not None:
            if self.storage is not None:
                self.storage.close()  # idempotent; waits for anything still queued
            self._tmp.cleanup()
            self._tmp = None


def _upload_failure(report: UploadReport) -> str:
    why = next((w for w in reversed(report.failed.values()) if not w.startswith("held back")),
               next(iter(report.failed.values())))
    return (f"{len(report.failed)} file(s) could not be uploaded to {report.uri}, so the output "
            f"there is incomplete (no {REPORT_NAME}); run reprocess again ({why})")


def _check_out(archive: Archive, out: Path | str) -> None:
    """``out`` must not be the archive or inside its records; an S3 ``out`` must be new."""
    if is_s3_uri(out):
        try:
            dest = S3Location.parse(str(out)).uri
            held = open_archive(str(out)).list()
        except (StorageConfigError, FileNotFoundError) as e:
            raise ReprocessError(f"--out: {e}") from None
        if archive.remote and (dest == archive.uri or f"{dest}/".startswith(f"{archive.uri}/articles/")):
            raise ReprocessError(f"--out {out} would mix new records with the archive's own")
        if held:
            # Record files are never replaced in a bucket (docs/s3.md): a second run there
            # would be refused file by file. Ask for a new prefix up front instead.
            raise ReprocessError(f"--out {out} already holds files; use a new prefix")
        return
    if archive.remote:
        return
    root, out = Path(archive.uri), Path(out)
    if out.resolve() == root.resolve() or (root / "articles").resolve() in out.resolve().parents:
        raise ReprocessError(f"--out {out} would mix new records with the archive's own")


def _open_archive(root: Path | str) -> Archive:
    try:
        archive = open_archive(root)
    except StorageConfigError as e:
        raise ReprocessError(str(e)) from None
    local = archive.local_path("warc")
    if local is not None:
        if not local.is_dir():
            raise ReprocessError(f"{archive.uri}: not an archive folder (no warc/)")
    elif not archive.list("warc/"):  # a missing bucket raises FileNotFoundError, an OSError
        raise ReprocessError(f"{archive.uri}: not an archive (no WARC files under warc/)")
    return archive


def reprocess(
    root: Path | str,
    out: Path | str,
    *,
    crawl_ids: list[str] | None = None,
    workers: int = 0,
    time_budget: float | None = 30.0,
    max_records: int = 50000,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Re-extract every crawl (or ``crawl_ids``) of ``root`` into ``out``; see the module doc.

    ``root`` and ``out`` are local folders or ``s3://bucket/prefix``. Raises ReprocessError for
    bad input, UploadError when some output could not be uploaded, StorageError (an OSError)
    when the archive's store cannot be read.
    """
    try:
        archive = _open_archive(root)
    except FileNotFoundError as e:
        raise ReprocessError(str(e)) from None
    _check_out(archive, out)
    ids = archive_crawl_ids(archive)
    if crawl_ids:
        missing = sorted(set(crawl_ids) - set(ids))
        if missing:
            raise ReprocessError(f"{archive.uri}: no crawl {missing[0]} under warc/")
        ids = [c for c in ids if c in set(crawl_ids)]
    n = pool_size(workers)
    started = time.monotonic()
    diff = Diff()
    counts: Counter = Counter()
    files: list[dict] = []
    extractor = None
    output = _Output(out)
    pool = _Pool(n) if n > 1 else None
    try:
        with CaptureIndex(archive) as captures:
            for cid in ids:
                old = _old_records(archive, cid)
                counts["old_records"] += len(old)
                claimed = {r["id"]: key for key, r in old.items() if r.get("id")}
                session = output.session(cid)
                writer = RecordsWriter(session, max_records=max_records)
                emitted: set[str] = set()
                paired: set[tuple[str, int]] = set()
                try:
                    for page, (fields, reason) in _extract_all(
                            iter_pages(captures, cid, diff.skipped), old, pool, n, time_budget):
                        counts["captures"] += 1
                        key = _pointer_key(page.pointer)
                        prev = old.get(key)
                        if prev is not None:
                            paired.add(key)
                        if fields is None:
                            diff.skipped[reason] += 1
                            if prev is not None:
                                diff.count(prev.get("domain"), "removed",
                                           {"url": prev.get("url"), "reason": reason})
                            continue
                        record = build_record(_item(page, prev), record_fields(fields), cid)
                        if prev is not None:
                            # The article's history is the crawl's, not the re-extraction's.
                            record["version"] = prev.get("version") or 1
                            record["previous"] = prev.get("previous")
                        rid = record["id"]
                        if rid in emitted or claimed.get(rid, key) != key:
                            # The same article under another capture: the crawl kept one, so do
                            # we (the one the crawl kept, when we know it).
                            diff.skipped["duplicate_url"] += 1
                            continue
                        emitted.add(rid)
                        writer.write(record)
                        counts["new_records"] += 1
                        extractor = extractor or record.get("extractor")
                        _compare(diff, prev, record)
                        if progress:
                            progress(counts["captures"], counts["new_records"])
                finally:
                    writer.close()
                    files.extend(session.files)
                for key, prev in old.items():
                    if key not in paired:
                        diff.count(prev.get("domain"), "removed",
                                   {"url": prev.get("url"), "reason": "capture_not_found"})
        seconds = time.monotonic() - started
        report = _report(archive, output.uri, ids, diff, counts, files, extractor, seconds, n)
        report_path = output.write_report(report)
    finally:
        if pool is not None:
            pool.close()
        output.close()
    return Result(out=out, report=report, report_path=report_path)


def _old_records(root: Archive, crawl_id: str) -> dict[tuple[str, int], dict]:
    """The crawl's records by the capture they came from (only what pairing and the diff use)."""
    keep = ("id", "url", "final_url", "domain", "text_sha1", "discovered_via", "fetched_at")
    old = {}
    for rec in iter_records(root, [crawl_id]):
        key = _pointer_key(rec.get("warc"))
        if key is not None:
            old[key] = {k: rec.get(k) for k in keep}
    return old


def _item(page: Page, prev: dict | None) -> dict:
    """What the spider would have handed the pipeline for this response."""
    prev = prev or {}
    return {
        "url": prev.get("url") or page.url,
        "final_url": page.url,
        "http_status": page.http_status,
        "content_type": page.content_type or None,
        "fetched_at": prev.get("fetched_at") or page.date,
        "discovered_via": prev.get("discovered_via"),
        "warc": page.pointer,
    }


def _compare(diff: Diff, prev: dict | None, record: dict) -> None:
    if prev is None:
        diff.count(record.get("domain"), "added", record.get("url"))
    elif prev.get("text_sha1") == record.get("text_sha1"):
        diff.count(record.get("domain"), "same")
    else:
        diff.count(record.get("domain"), "changed", record.get("url"))


class _Pool:
    """The extraction process pool, restarted when a worker dies (out of memory, a crash in a
    C extension); see ``_extract_all`` for which page is given up."""

    def __init__(self, workers: int, fn: Callable[..., tuple[dict | None, str]] = _extract):
        self.workers = workers
        self.fn = fn
        self.restarts = 0
        self.executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=extraction_mp_context(),
                                   initializer=_no_network)

    def submit(self, args: tuple) -> Future:
        return self.executor.submit(self.fn, *args)

    def restart(self) -> None:
        self.restarts += 1
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.executor = self._start()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def _extract_all(pages: Iterator[Page], old: dict, pool: _Pool | None, workers: int,
                 time_budget: float | None) -> Iterator[tuple[Page, tuple[dict | None, str]]]:
    """(page, extract_page result) in page order; at most ``4 * workers`` pages in flight."""

    def args(page: Page) -> tuple:
        prev = old.get(_pointer_key(page.pointer)) or {}
        hints = {"discovered_via": prev["discovered_via"]} if prev.get("discovered_via") else None
        return (page.body, prev.get("url") or page.url, page.content_type, page.url, hints,
                time_budget)

    if pool is None:
        for page in pages:
            yield page, _extract(*args(page))
        return
    pending: deque[list] = deque()  # [page, args, future], oldest first

    def take() -> tuple[Page, tuple[dict | None, str]]:
        page, a, fut = pending.popleft()
        try:
            return page, fut.result()
        except BrokenProcessPool:
            pass
        # A worker died, and every page in flight failed with it. Run this page again on its
        # own: only a page that kills a worker by itself is given up as "extractor_crashed".
        pool.restart()
        try:
            result = pool.submit(a).result()
        except BrokenProcessPool:
            pool.restart()
            result = (None, "extractor_crashed")
        for entry in pending:
            entry[2] = pool.submit(entry[1])
        return page, result

    for page in pages:
        a = args(page)
        pending.append([page, a, pool.submit(a)])
        if len(pending) >= 4 * workers:
            yield take()
    while pending:
        yield take()


def _report(archive: Archive, out: str, ids: list[str], diff: Diff, counts: Counter,
            files: list[dict], extractor: dict | None, seconds: float, workers: int) -> dict:
    totals = diff.totals()
    both = totals["same"] + totals["changed"]
    return {
        "source": archive.uri if archive.remote else str(Path(archive.uri).resolve()),
        "out": out if is_s3_uri(out) else str(Path(out).resolve()),
        "crawl_ids": ids,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "extractor": extractor,
        "workers": workers,
        "seconds": round(seconds, 3),
        "captures_per_second": round(counts["captures"] / seconds, 1) if seconds else None,
        "totals": {
            "captures": counts["captures"],
            "old_records": counts["old_records"],
            "new_records": counts["new_records"],
            **{k: totals[k] for k in ("same", "changed", "added", "removed")},
            # of the crawl's records, the share whose capture gives the same text again
            "same_text_ratio": (round(totals["same"] / counts["old_records"], 6)
                                if counts["old_records"] else None),
            "same_text_ratio_of_paired": round(totals["same"] / both, 6) if both else None,
        },
        "skipped": dict(sorted(diff.skipped.items())),
        "by_domain": {d: {k: c[k] for k in ("same", "changed", "added", "removed")}
                      for d, c in sorted(diff.by_domain.items())},
        "examples": dict(diff.examples),
        "files": files,
    }
