"""Dataset export for researchers: archive records -> filtered, deduplicated shards + manifest.json
+ README.md datasheet in one folder.

``export(archive_root, out, options)`` is the whole job; ``archive/cli/export.py`` only turns
flags into ``ExportOptions``. The archive is a local folder or ``s3://bucket/prefix`` (records are
streamed from the bucket, nothing is copied down). The dataset is written to a local folder; for
an ``s3://`` destination it is written to a temporary folder (under ``$TMPDIR``) and then uploaded
with the crawl's uploader (size + ETag checked), ``manifest.json`` last, so its presence in the
bucket means the dataset there is complete.

Two streaming passes over the same snapshot of record files (see ``archive.records``):

1. filter every record and keep ~50 bytes of dedup keys for each one that passes;
2. decide the ordinals to keep (``archive.export_dedup.decide``), then read again and write them.

What grows with the archive is only the dedup keys (and one byte per record read); the record
text is only ever held for the rows in a writer's bounded buffer.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shlex
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa

from archive.export_datasheet import README as README_NAME
from archive.export_datasheet import write_datasheet
from archive.export_dedup import MAX_NEAR_THRESHOLD, DedupKeys, SimhashLSH, decide, parse_time
from archive.export_progress import Progress
from archive.export_schema import FIELD_NAMES, SCHEMA_VERSION, conform, schema_description
from archive.export_writers import FORMATS, ShardedWriter
from archive.records import RecordFiles, list_crawl_ids, read_crawl_manifest
from archive.storage import Archive, open_archive, project_settings
from crawler.version import __version__
from pipelines.session import OPEN_SUFFIX
from pipelines.storage import (
    MANIFEST_KIND,
    S3Storage,
    StorageConfigError,
    UploadReport,
    is_s3_uri,
)

DEDUP_MODES = ("none", "exact", "near")
PARTITION_KEYS = ("domain", "month", "language")
MANIFEST = "manifest.json"


class UsageError(ValueError):
    """Bad options or bad input: the CLI exits 2 with this message."""


class ExportError(RuntimeError):
    """The export ran but could not produce a complete dataset: the CLI exits 1."""


# --- dates ------------------------------------------------------------------------------------


def parse_bound(text: str, *, end: bool = False) -> datetime:
    """``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` or an ISO 8601 time, as an aware UTC datetime.

    With ``end=True`` the result is the *exclusive* end of the period written, so
    ``--until 2024-05`` takes in all of May and ``--until 2024-05-31T12:00`` takes in noon itself.
    """
    text = text.strip()
    try:
        if len(text) == 4 and text.isdigit():
            start = datetime(int(text), 1, 1, tzinfo=timezone.utc)
            return start.replace(year=start.year + 1) if end else start
        if len(text) == 7 and text[4] == "-":
            year, month = int(text[:4]), int(text[5:])
            start = datetime(year, month, 1, tzinfo=timezone.utc)
            if not end:
                return start
            return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=timezone.utc)
        if len(text) == 10:
            start = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
            return start + timedelta(days=1) if end else start
        dt = parse_time(text)
    except ValueError:
        dt = None
    if dt is None:
        raise UsageError(f"not a date: {text!r} (use YYYY, YYYY-MM, YYYY-MM-DD or ISO 8601)")
    return dt + timedelta(microseconds=1) if end else dt


def record_date(record: dict) -> datetime | None:
    """Publication date, falling back to capture date: the date a researcher filters and counts by."""
    return parse_time(record.get("published")) or parse_time(record.get("fetched_at"))


def record_month(record: dict) -> str | None:
    dt = record_date(record)
    return f"{dt:%Y-%m}" if dt else None


def record_domain(record: dict) -> str:
    domain = record.get("domain")
    if not isinstance(domain, str) or not domain:
        url = record.get("final_url") or record.get("url") or ""
        domain = (urlsplit(url).hostname or "") if isinstance(url, str) else ""
    return domain.lower().rstrip(".")


def record_language(record: dict) -> str | None:
    lang = record.get("language")
    if not isinstance(lang, str) or not lang.strip():
        return None
    return lang.strip().lower().replace("_", "-")


def record_words(record: dict) -> int:
    count = record.get("word_count")
    if isinstance(count, int) and not isinstance(count, bool):
        return count
    text = record.get("text")
    return len(text.split()) if isinstance(text, str) else 0


def partition_value(record: dict, key: str) -> str | None:
    if key == "domain":
        return record_domain(record) or None
    if key == "language":
        return record_language(record)
    return record_month(record)


# --- options and filters ----------------------------------------------------------------------


@dataclass(frozen=True)
class ExportOptions:
    format: str = "parquet"
    since: str | None = None
    until: str | None = None
    domains: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    min_words: int | None = None
    crawl_ids: tuple[str, ...] = ()
    query: str | None = None
    dedup: str = "exact"
    near_threshold: int = 3
    fields: tuple[str, ...] = ()
    partition_by: str | None = None
    shard_rows: int = 100_000
    shard_bytes: int = 256 * 2**20
    row_group_rows: int = 10_000
    buffer_bytes: int = 128 * 2**20
    max_open_shards: int = 32
    command: str | None = None  # the command line, recorded in the manifest for reproducibility

    def validate(self) -> None:
        if self.format not in FORMATS:
            raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
        if self.dedup not in DEDUP_MODES:
            raise UsageError(f"--dedup must be one of {', '.join(DEDUP_MODES)}")
        if not 0 <= self.near_threshold <= MAX_NEAR_THRESHOLD:
            raise UsageError(f"--near-threshold must be 0..{MAX_NEAR_THRESHOLD} bits")
        if self.partition_by is not None and self.partition_by not in PARTITION_KEYS:
            raise UsageError(f"--partition-by must be one of {', '.join(PARTITION_KEYS)}")
        unknown = [f for f in self.fields if f not in FIELD_NAMES]
        if unknown:
            raise UsageError(
                f"unknown field(s) {', '.join(unknown)}; known: {', '.join(FIELD_NAMES)}"
            )
        if len(set(self.fields)) != len(self.fields):
            raise UsageError("--fields names a field twice")
        for name in ("shard_rows", "shard_bytes", "row_group_rows", "buffer_bytes", "max_open_shards"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be positive")
        if self.min_words is not None and self.min_words < 0:
            raise UsageError("--min-words must be >= 0")
        Filters.from_options(self)  # dates and query parse, or raise UsageError


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    domains: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    min_words: int | None = None
    query_terms: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, options: ExportOptions) -> Filters:
        terms: tuple[str, ...] = ()
        if options.query:
            try:
                terms = tuple(t.casefold() for t in shlex.split(options.query) if t.strip())
            except ValueError as exc:
                raise UsageError(f"--query: {exc}") from None
        since = parse_bound(options.since) if options.since else None
        until = parse_bound(options.until, end=True) if options.until else None
        if since and until and since >= until:
            raise UsageError("--since must be before --until")
        return cls(
            since=since,
            until=until,
            domains=tuple(d.strip().lower().lstrip(".").rstrip(".") for d in options.domains if d.strip()),
            languages=tuple(lang.strip().lower().replace("_", "-") for lang in options.languages if lang.strip()),
            min_words=options.min_words,
            query_terms=terms,
        )

    def rejects(self, record: dict) -> str | None:
        """Name of the first filter that drops ``record`` (for the per-filter counts), or None."""
        if self.since or self.until:
            dt = record_date(record)
            if dt is None or (self.since and dt < self.since) or (self.until and dt >= self.until):
                return "date"
        if self.domains:
            domain = record_domain(record)
            # suffix match on whole labels: example.com takes news.example.com, not badexample.com
            if not any(domain == d or domain.endswith("." + d) for d in self.domains):
                return "domain"
        if self.languages:
            lang = record_language(record)
            if lang is None or not any(lang == w or lang.startswith(w + "-") for w in self.languages):
                return "language"
        if self.min_words is not None and record_words(record) < self.min_words:
            return "min_words"
        if self.query_terms:
            title, text = record.get("title"), record.get("text")
            haystack = "\n".join(v for v in (title, text) if isinstance(v, str)).casefold()
            if not all(term in haystack for term in self.query_terms):
                return "query"
        return None


# --- the job ----------------------------------------------------------------------------------


@dataclass
class ExportResult:
    out_dir: Path | str  # the local folder, or the s3:// URI the dataset was uploaded to
    manifest: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.manifest["rows"]


def _versions() -> dict[str, str]:
    return {
        "newsarchive": __version__,
        "pyarrow": pa.__version__,
        "python": platform.python_version(),
    }


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UsageError(f"output folder {out_dir} exists and is not empty")


def _source(archive: Archive, files: RecordFiles, crawls: list[str]) -> dict[str, Any]:
    manifests = []
    for cid in crawls:
        m = read_crawl_manifest(archive, cid) or {}
        settings = m.get("settings") if isinstance(m.get("settings"), dict) else {}
        manifests.append(
            {
                "crawl_id": cid,
                **{k: m.get(k) for k in ("seeds", "started_at", "finished_at")},
                "robotstxt_obey": settings.get("ROBOTSTXT_OBEY"),
            }
        )
    return {
        "archive": archive.uri if archive.remote else str(Path(archive.uri).resolve()),
        "crawl_ids": crawls,
        "crawls": manifests,
        "record_files": [{"path": rel, "bytes": archive.size(rel)} for rel in files.files],
    }


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = Path(str(path) + OPEN_SUFFIX)
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=2)
        f.write("\n")
    os.replace(tmp, path)


@dataclass
class _RowStats:
    """Counts over the written rows, for the datasheet: small maps keyed by domain, language,
    month and extractor (they grow with the number of distinct values, not of rows)."""

    written: int = 0
    by_domain: Counter[str] = field(default_factory=Counter)
    by_language: Counter[str] = field(default_factory=Counter)
    by_month: Counter[str] = field(default_factory=Counter)
    extractors: Counter[str] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None

    def add(self, record: dict) -> None:
        self.written += 1
        self.by_domain[record_domain(record) or "(unknown)"] += 1
        self.by_language[record_language(record) or "(unknown)"] += 1
        dt = record_date(record)
        self.by_month[f"{dt:%Y-%m}" if dt else "(unknown)"] += 1
        if dt is not None:
            self.first = dt if self.first is None or dt < self.first else self.first
            self.last = dt if self.last is None or dt > self.last else self.last
        ext = record.get("extractor")
        if isinstance(ext, dict):
            self.extractors[f"{ext.get('name')} {ext.get('version')}"] += 1


def _open_source(archive_root: Path | str | Archive) -> Archive:
    try:
        archive = open_archive(archive_root)
    except StorageConfigError as exc:
        raise UsageError(str(exc)) from None
    if not archive.remote and not Path(archive.uri).is_dir():
        raise UsageError(f"archive not found: {archive.uri}")
    return archive


def export(
    archive_root: Path | str | Archive,
    out: Path | str,
    options: ExportOptions,
    progress: Progress | None = None,
) -> ExportResult:
    """Export the archive's article records to ``out``: a local folder or an ``s3://bucket/prefix``,
    new or empty. ``archive_root`` is a local folder or ``s3://bucket/prefix`` (or an opened archive).

    Raises ``UsageError`` for bad options or input, ``ExportError`` / ``OSError`` when the data
    could not be written completely (an unreachable store raises
    :class:`~pipelines.storage.StorageError`, an ``OSError``); then the data files written so far
    are removed and there is no manifest.
    """
    options.validate()
    if is_s3_uri(out):
        return _export_to_s3(archive_root, str(out), options, progress)
    return _export(_open_source(archive_root), Path(out), options, progress)


def _export(
    archive: Archive, out_dir: Path, options: ExportOptions, progress: Progress | None
) -> ExportResult:
    filters = Filters.from_options(options)
    progress = progress or Progress(enabled=False)
    known = list_crawl_ids(archive)
    if not known:
        raise UsageError(
            f"no article records in {archive.uri} (expected {archive.uri}/articles/<crawl_id>/)"
        )
    missing = [c for c in options.crawl_ids if c not in known]
    if missing:
        raise UsageError(f"unknown crawl id(s): {', '.join(missing)}")
    _check_out_dir(out_dir)
    crawls = list(options.crawl_ids) or known
    files = RecordFiles.scan(archive, crawls)
    fields = list(options.fields) or list(FIELD_NAMES)

    # pass 1: filters and dedup keys
    filtered: Counter[str] = Counter()
    keys = DedupKeys()
    need_text = options.dedup != "none"
    read = 0
    progress.stage("reading")
    for ordinal, record in files.numbered():
        read += 1
        if record.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
            filtered["schema_version"] += 1
        elif (reason := filters.rejects(record)) is not None:
            filtered[reason] += 1
        else:
            keys.add(ordinal, record, need_text)
        progress.update(read, files.bad_lines)
    total = files.lines
    bad_lines, bad_files = files.bad_lines, list(files.bad_files)
    passed = len(keys)
    decision = decide(keys, total, options.dedup, options.near_threshold)
    del keys

    # pass 2: write the kept records
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = ShardedWriter(
        out_dir, options.format, fields,
        partition_key=options.partition_by,
        shard_rows=options.shard_rows,
        shard_bytes=options.shard_bytes,
        row_group_rows=options.row_group_rows,
        buffer_bytes=options.buffer_bytes,
        max_open=options.max_open_shards,
    )
    stats = _RowStats()
    keep = decision.keep
    files.reset_counts()
    progress.stage("writing")
    try:
        for _, record in files.numbered(wanted=lambda o: o < total and keep[o] == 1):
            part = partition_value(record, options.partition_by) if options.partition_by else None
            writer.write(conform(record, fields), part)
            stats.add(record)
            progress.update(stats.written, extra=f"of {decision.rows:,}")
        progress.done()
        if stats.written != decision.rows or files.bad_files != bad_files:
            raise ExportError(
                f"the archive changed during the export: {stats.written} rows read back, "
                f"{decision.rows} expected"
            )
        entries = writer.close()
        manifest: dict[str, Any] = {
            "format": options.format,
            "rows": sum(e.rows for e in entries),
            "files": [e.as_dict() for e in entries],
            "fields": fields,
            "schema": schema_description(fields),
            "schema_version": SCHEMA_VERSION,
            "partition_by": options.partition_by,
            "filters": {
                "since": options.since,
                "until": options.until,
                "domain": list(options.domains),
                "lang": list(options.languages),
                "min_words": options.min_words,
                "crawl_id": list(options.crawl_ids),
                "query": options.query,
                "date_field": "published, else fetched_at",
            },
            "dedup": {
                "mode": options.dedup,
                "canonical_url": "always; same id (sha1 of the canonical URL record key): "
                "highest version if records carry one, else earliest fetched_at",
                "exact": "same text_sha1, earliest fetched_at kept",
                "near_threshold": options.near_threshold if options.dedup == "near" else None,
                "near_bands": SimhashLSH(options.near_threshold).bands
                if options.dedup == "near" else None,
                "removed": decision.removed,
            },
            "counts": {
                "read": read,
                "bad_lines": bad_lines,
                "bad_files": bad_files,
                "filtered": dict(sorted(filtered.items())),
                "passed_filters": passed,
                "by_domain": dict(stats.by_domain.most_common()),
                "by_language": dict(stats.by_language.most_common()),
                "by_month": dict(sorted(stats.by_month.items())),
            },
            "date_range": [stats.first.isoformat() if stats.first else None,
                           stats.last.isoformat() if stats.last else None],
            "extractors": dict(stats.extractors.most_common()),
            "shards": {
                "shard_rows": options.shard_rows,
                "shard_bytes": options.shard_bytes,
                "row_group_rows": options.row_group_rows if options.format == "parquet" else None,
            },
            "source": _source(archive, files, crawls),
            "versions": _versions(),
            "command": options.command,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        write_datasheet(out_dir, manifest)
        _write_json(out_dir / MANIFEST, manifest)  # last: its presence means the export is complete
    except BaseException:
        writer.abort()
        raise

    warnings = []
    if bad_lines or bad_files:
        warnings.append(
            f"skipped {bad_lines} unreadable record line(s) and {len(bad_files)} damaged file(s)"
        )
    return ExportResult(out_dir=out_dir, manifest=manifest, warnings=warnings)


# --- to S3 ------------------------------------------------------------------------------------


def _check_s3_destination(out: str) -> Archive:
    """The destination prefix must hold nothing yet, as a local output folder must be empty."""
    try:
        dest = open_archive(out)
        if dest.list():
            raise UsageError(f"{out} already holds files; export to a new prefix")
    except StorageConfigError as exc:
        raise UsageError(f"--out: {exc}") from None
    except FileNotFoundError as exc:  # no such bucket
        raise UsageError(str(exc)) from None
    return dest


def _export_to_s3(
    archive_root: Path | str | Archive, out: str, options: ExportOptions, progress: Progress | None
) -> ExportResult:
    """Export into a temporary folder, then upload it; see the module docstring."""
    archive = _open_source(archive_root)
    _check_s3_destination(out)
    with tempfile.TemporaryDirectory(prefix="newsarchive-export-") as tmp:
        staged = Path(tmp) / "dataset"
        result = _export(archive, staged, options, progress)
        if progress is not None:
            progress.stage("uploading")
        rels = [e["path"] for e in result.manifest["files"]] + [README_NAME, MANIFEST]
        storage = S3Storage.from_settings(out, project_settings(), spool=staged)
        for rel in rels:
            # The uploader sends a "manifest" only once every file queued before it is up.
            storage.store(rel, MANIFEST_KIND if rel == MANIFEST else "dataset")
        report = storage.close()
        if report.failed:
            _remove_uploaded(storage, report, rels)
            raise ExportError(_upload_failure(report))
    return ExportResult(out_dir=storage.uri, manifest=result.manifest, warnings=result.warnings)


def _upload_failure(report: UploadReport) -> str:
    why = next((w for w in reversed(report.failed.values()) if not w.startswith("held back")),
               next(iter(report.failed.values())))
    return f"{len(report.failed)} file(s) could not be uploaded to {report.uri} ({why})"


def _remove_uploaded(storage: S3Storage, report: UploadReport, rels: list[str]) -> None:
    """Best effort: take back the shards that did reach the bucket (the manifest did not), so an
    incomplete dataset is not mistaken for one. The store may be down, so nothing is raised."""
    for rel in rels:
        if rel not in report.failed:
            with contextlib.suppress(Exception):
                storage.client.delete_object(Bucket=storage.location.bucket,
                                             Key=storage.location.key(rel))


def summary(manifest: dict[str, Any]) -> str:
    """A few lines for a terminal: what was read, what each step removed, what was written."""
    c, d = manifest["counts"], manifest["dedup"]["removed"]
    filtered = ", ".join(f"{k} {v:,}" for k, v in c["filtered"].items()) or "none"
    return (
        f"read {c['read']:,} records; filtered out: {filtered}\n"
        f"dedup removed: canonical URL {d['canonical_url']:,}, exact {d['exact']:,}, near {d['near']:,}\n"
        f"wrote {manifest['rows']:,} rows in {len(manifest['files'])} file(s)"
    )

