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

Extraction is CPU-bound, so it runs in a process pool (``forkserver``/``spawn``; bounded pages in
flight, results taken in WARC order so the same first-wins dedup by record id as the crawl's
applies). Each worker shuts off its own network access before it extracts anything: "no
network" is enforced, not hoped for.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from archive.index import crawl_ids as warc_crawl_ids
from archive.index import warc_files
from archive.records import iter_records
from archive.replay import index_files, revisit_original
from pipelines.extraction import extract_page
from pipelines.record import build_record
from pipelines.records import RecordsWriter
from pipelines.session import ArchiveSession

REPORT_NAME = "reprocess-report.json"
EXAMPLES = 20  # URLs kept per diff category in the report
MAX_BODY = 64 * 1024 * 1024


class ReprocessError(Exception):
    """Bad input (no such archive, --out inside the archive): exit code 2."""


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


def iter_pages(root: Path, crawl_id: str, skipped: Counter | None = None) -> Iterator[Page]:
    """The crawl's HTML 2xx responses in WARC order; revisits resolved to their payload."""
    skipped = skipped if skipped is not None else Counter()
    has_index = bool(index_files(root))
    for path in warc_files(root, crawl_id):
        yield from iter_warc_pages(path, path.relative_to(root).as_posix(), root if has_index else None,
                                   skipped)


def iter_warc_pages(path: Path, rel: str, root: Path | None = None,
                    skipped: Counter | None = None) -> Iterator[Page]:
    """One WARC file's HTML 2xx responses; revisits are resolved through ``root``'s index if given."""
    skipped = skipped if skipped is not None else Counter()
    with open(path, "rb") as f:
        it = ArchiveIterator(f)
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


def _mp_context():
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


def _workers(n: int) -> int:
    if n > 0:
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


@dataclass
class Result:
    out: Path
    report: dict
    report_path: Path


def reprocess(
    root: Path,
    out: Path,
    *,
    crawl_ids: list[str] | None = None,
    workers: int = 0,
    time_budget: float | None = 30.0,
    max_records: int = 50000,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Re-extract every crawl (or ``crawl_ids``) of ``root`` into ``out``; see the module doc."""
    root, out = Path(root), Path(out)
    if not (root / "warc").is_dir():
        raise ReprocessError(f"{root}: not an archive folder (no warc/)")
    if out.resolve() == root.resolve() or (root / "articles").resolve() in out.resolve().parents:
        raise ReprocessError(f"--out {out} would mix new records with the archive's own")
    ids = warc_crawl_ids(root)
    if crawl_ids:
        missing = sorted(set(crawl_ids) - set(ids))
        if missing:
            raise ReprocessError(f"{root}: no crawl {missing[0]} under warc/")
        ids = [c for c in ids if c in set(crawl_ids)]
    n = _workers(workers)
    started = time.monotonic()
    diff = Diff()
    counts: Counter = Counter()
    files: list[dict] = []
    extractor = None
    pool = _Pool(n) if n > 1 else None
    try:
        for cid in ids:
            old = _old_records(root, cid)
            counts["old_records"] += len(old)
            claimed = {r["id"]: key for key, r in old.items() if r.get("id")}
            session = ArchiveSession(root=out, crawl_id=cid)
            writer = RecordsWriter(session, max_records=max_records)
            emitted: set[str] = set()
            paired: set[tuple[str, int]] = set()
            try:
                for page, (fields, reason) in _extract_all(
                        iter_pages(root, cid, diff.skipped), old, pool, n, time_budget):
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
                    record = build_record(_item(page, prev), fields, cid)
                    rid = record["id"]
                    if rid in emitted or claimed.get(rid, key) != key:
                        # The same article under another capture: the crawl kept one, so do we
                        # (the one the crawl kept, when we know it).
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
    finally:
        if pool is not None:
            pool.close()
    seconds = time.monotonic() - started
    report = _report(root, out, ids, diff, counts, files, extractor, seconds, n)
    out.mkdir(parents=True, exist_ok=True)
    report_path = out / REPORT_NAME
    tmp = report_path.with_name(REPORT_NAME + ".open")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(report_path)
    return Result(out=out, report=report, report_path=report_path)


def _old_records(root: Path, crawl_id: str) -> dict[tuple[str, int], dict]:
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
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=_mp_context(),
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


def _report(root: Path, out: Path, ids: list[str], diff: Diff, counts: Counter, files: list[dict],
            extractor: dict | None, seconds: float, workers: int) -> dict:
    totals = diff.totals()
    both = totals["same"] + totals["changed"]
    return {
        "source": str(root.resolve()),
        "out": str(out.resolve()),
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
