"""``newsarchive reprocess ARCHIVE --out URI``: re-run extraction over the WARCs, no network.

ARCHIVE and URI are local folders or ``s3://bucket/prefix`` (the extraction itself never touches
the network; reading and writing the bucket is this process's job, not the workers').
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reprocess",
        help="re-run extraction over the archived responses (no network) into new records",
        description="Re-extract every archived HTML response of ARCHIVE with the installed "
        "extraction, without any network access, and write new records (same schema) under "
        "--out/articles/<crawl_id>/, plus --out/reprocess-report.json: by domain, how many "
        "records kept the same text, changed, were added or removed (with reasons). S3 "
        "credentials and endpoint come from the AWS_* environment (docs/s3.md).",
    )
    p.add_argument("archive", help="archive folder or s3://bucket/prefix (the crawl's --out)")
    p.add_argument("--out", required=True,
                   help="folder for the new records and report, or a new s3://bucket/prefix")
    p.add_argument("--crawl", action="append", dest="crawl_ids", metavar="CRAWL_ID",
                   help="only this crawl (repeatable; default: every crawl)")
    p.add_argument("--workers", type=int, default=0,
                   help="extraction processes (default 0: one per CPU core; 1: in this process)")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds of extraction allowed per page (default 30)")
    p.set_defaults(func=run)


def summary(report: dict) -> str:
    t = report["totals"]
    ratio = t["same_text_ratio"]
    lines = [
        f"reprocessed {t['captures']:,} archived pages in {report['seconds']:.1f}s "
        f"({report['captures_per_second'] or 0:,.0f}/s): {t['new_records']:,} records "
        f"(before: {t['old_records']:,})",
        f"same text {t['same']:,}"
        + (f" ({ratio:.2%} of the previous records)" if ratio is not None else "")
        + f", changed {t['changed']:,}, added {t['added']:,}, removed {t['removed']:,}",
    ]
    width = max((len(d) for d in report["by_domain"]), default=6)
    lines.append(f"{'domain':<{width}}  {'same':>7} {'changed':>7} {'added':>7} {'removed':>7}")
    for domain, c in report["by_domain"].items():
        lines.append(f"{domain:<{width}}  {c['same']:>7} {c['changed']:>7} {c['added']:>7} "
                     f"{c['removed']:>7}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from archive.export_progress import Progress
    from archive.reprocess import ReprocessError, UploadError, reprocess
    from pipelines.storage import StorageError

    if args.workers < 0 or args.timeout <= 0:
        print("newsarchive reprocess: --workers must be >= 0 and --timeout > 0", file=sys.stderr)
        return 2
    # Strings, not Paths, for s3:// URIs: Path("s3://b/p") would collapse to "s3:/b/p".
    archive = args.archive if args.archive.startswith("s3://") else Path(args.archive)
    out = args.out if args.out.startswith("s3://") else Path(args.out)
    progress = Progress()
    progress.stage("reprocess")
    try:
        result = reprocess(archive, out, crawl_ids=args.crawl_ids,
                           workers=args.workers, time_budget=args.timeout,
                           progress=lambda pages, records: progress.update(pages))
    except ReprocessError as e:
        progress.done()
        print(f"newsarchive reprocess: {e}", file=sys.stderr)
        return 2
    except UploadError as e:
        progress.done()
        print(f"newsarchive reprocess: {e}", file=sys.stderr)
        return 1
    except StorageError as e:
        progress.done()
        print(f"newsarchive reprocess: cannot read or write the store: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        progress.done()
        print(f"newsarchive reprocess: could not write {out}: {e}", file=sys.stderr)
        return 1
    progress.done()
    print(summary(result.report))
    print(f"report: {result.report_path}")
    return 0
