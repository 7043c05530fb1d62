"""``newsarchive export ARCHIVE --format jsonl|parquet|csv --out URI [filters]``: a researcher
dataset (data shards + manifest.json + README.md datasheet) from an archive's article records.

Exit codes (DESIGN.md): 0 done; 1 the export ran but could not write a complete dataset;
2 bad usage or bad input, with one line on stderr.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from typing import Any

from archive.export_dedup import MAX_NEAR_THRESHOLD
from archive.export_schema import FIELD_NAMES
from archive.export_writers import FORMATS

DEFAULTS: dict[str, Any] = {
    "dedup": "exact",
    "near_threshold": 3,
    "shard_rows": 100_000,
    "shard_bytes": 256 * 2**20,
    "row_group_rows": 10_000,
    "buffer_bytes": 128 * 2**20,
    "max_open_shards": 32,
}
_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)


def size(text: str) -> int:
    """``1048576``, ``512K``, ``256M``, ``1G`` (binary multiples) as a number of bytes."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 256M, 1G)")
    return int(m.group(1)) * 1024 ** " kmgt".index((m.group(2) or " ").lower())


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "export",
        help="export article records as a researcher dataset (JSON lines, Parquet or CSV)",
        description="Filter and deduplicate an archive's article records and write them as data "
        "shards with manifest.json and a README.md datasheet (a Hugging Face dataset card). "
        "ARCHIVE and --out may be s3://bucket/prefix; credentials and endpoint come from the "
        "AWS_* environment (docs/s3.md).",
    )
    p.add_argument("archive", metavar="ARCHIVE",
                   help="archive folder or s3://bucket/prefix (the crawl's --out)")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--out", required=True, metavar="URI",
                   help="new or empty output folder, or a new s3://bucket/prefix")
    g = p.add_argument_group("filters")
    g.add_argument("--since", metavar="DATE",
                   help="publication date (else capture date) on or after: YYYY[-MM[-DD]] or ISO 8601")
    g.add_argument("--until", metavar="DATE", help="... on or before (the whole period named)")
    g.add_argument("--domain", action="append", default=[], metavar="DOMAIN",
                   help="keep this domain and its subdomains (repeatable)")
    g.add_argument("--lang", action="append", default=[], metavar="CODE",
                   help="keep this language, e.g. en (also en-GB) (repeatable)")
    g.add_argument("--min-words", type=int, metavar="N", help="keep articles of at least N words")
    g.add_argument("--crawl-id", action="append", default=[], metavar="ID",
                   help="only this crawl (repeatable)")
    g.add_argument("--query", metavar="TERMS",
                   help='words that must all occur in title or text, "quoted phrases" kept whole; '
                   "case-insensitive")
    d = p.add_argument_group("dedup and output")
    d.add_argument("--dedup", choices=("none", "exact", "near"), default=DEFAULTS["dedup"],
                   help="text dedup after the canonical-URL dedup that always runs (default: exact)")
    d.add_argument("--near-threshold", type=int, default=DEFAULTS["near_threshold"], metavar="BITS",
                   help=f"SimHash bits that may differ for --dedup near (0..{MAX_NEAR_THRESHOLD}, default 3)")
    d.add_argument("--fields", action="append", default=[], metavar="F[,F...]",
                   help=f"columns to export, in order (default all: {','.join(FIELD_NAMES)})")
    d.add_argument("--partition-by", choices=("domain", "month", "language"),
                   help="one folder per value: data/<value>/part-*.ext")
    d.add_argument("--shard-rows", type=_positive, default=DEFAULTS["shard_rows"], metavar="N",
                   help="rows per data file at most (default 100000)")
    d.add_argument("--shard-bytes", type=size, default=DEFAULTS["shard_bytes"], metavar="SIZE",
                   help="start a new data file past this size (default 256M)")
    d.add_argument("--row-group-rows", type=_positive, default=DEFAULTS["row_group_rows"],
                   metavar="N", help="Parquet rows per row group at most (default 10000)")
    d.add_argument("--buffer-bytes", type=size, default=DEFAULTS["buffer_bytes"], metavar="SIZE",
                   help="memory for buffered Parquet row groups, all open files together (default 128M)")
    d.add_argument("--max-open-shards", type=_positive, default=DEFAULTS["max_open_shards"],
                   metavar="N", help="data files open at once when partitioning (default 32)")
    p.set_defaults(func=run)
    return p


def _fields(values: list[str]) -> tuple[str, ...]:
    return tuple(f.strip() for v in values for f in v.split(",") if f.strip())


def command_line(args: argparse.Namespace) -> str:
    """The export as one reproducible command line, defaults left out (for the manifest)."""
    parts = ["newsarchive", "export", args.archive, "--format", args.format, "--out", args.out]
    for flag, value in (("--since", args.since), ("--until", args.until),
                        ("--min-words", args.min_words), ("--query", args.query),
                        ("--partition-by", args.partition_by)):
        if value is not None:
            parts += [flag, str(value)]
    for flag, values in (("--domain", args.domain), ("--lang", args.lang), ("--crawl-id", args.crawl_id)):
        for v in values:
            parts += [flag, v]
    if args.fields:
        parts += ["--fields", ",".join(_fields(args.fields))]
    for name, default in DEFAULTS.items():
        value = getattr(args, name)
        if value != default:
            parts += ["--" + name.replace("_", "-"), str(value)]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    # Imported here so that `newsarchive --help` does not pay for pyarrow.
    from archive.export import ExportError, ExportOptions, UsageError, export, summary
    from archive.export_progress import Progress

    def fail(code: int, message: str) -> int:
        print(f"newsarchive export: error: {message}", file=sys.stderr)
        return code

    for what, uri in (("ARCHIVE", args.archive), ("--out", args.out)):
        if "://" in uri and not uri.startswith("s3://"):
            return fail(2, f"{what} {uri}: a local folder or s3://bucket/prefix")
    options = ExportOptions(
        format=args.format,
        since=args.since,
        until=args.until,
        domains=tuple(args.domain),
        languages=tuple(args.lang),
        min_words=args.min_words,
        crawl_ids=tuple(args.crawl_id),
        query=args.query,
        dedup=args.dedup,
        near_threshold=args.near_threshold,
        fields=_fields(args.fields),
        partition_by=args.partition_by,
        shard_rows=args.shard_rows,
        shard_bytes=args.shard_bytes,
        row_group_rows=args.row_group_rows,
        buffer_bytes=args.buffer_bytes,
        max_open_shards=args.max_open_shards,
        command=command_line(args),
    )
    progress = Progress()
    try:
        result = export(args.archive, args.out, options, progress)
    except UsageError as exc:
        return fail(2, str(exc))
    except (ExportError, OSError) as exc:
        progress.done()
        return fail(1, f"export incomplete, nothing usable in {args.out}: {exc}")
    for warning in result.warnings:
        print(f"newsarchive export: warning: {warning}", file=sys.stderr)
    if progress.enabled:
        print(summary(result.manifest), file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m archive.cli.export ARCHIVE ...``: the same command without the console script."""
    parser = argparse.ArgumentParser(prog="newsarchive")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["export", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
