"""``newsarchive wacz ARCHIVE --out FILE.wacz``: package an archive for ReplayWeb.page.

ARCHIVE may be ``s3://bucket/prefix`` (the chosen crawls are copied down first: a WACZ holds its
WARCs whole) and FILE ``s3://bucket/key.wacz`` (made locally, then uploaded and checked).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "wacz",
        help="package WARCs + CDXJ + pages.jsonl as a WACZ for ReplayWeb.page",
        description="Write a WACZ holding the archive's WARCs, their CDXJ index and a "
        "pages.jsonl with each article's URL, timestamp, title and text (searchable in "
        "ReplayWeb.page). The file appears under its name only once complete. ARCHIVE and "
        "--out may be in S3 (AWS_* environment, docs/s3.md).",
    )
    p.add_argument("archive", help="archive folder or s3://bucket/prefix (the crawl's --out)")
    p.add_argument("--out", required=True, help="the .wacz file to write (or s3://bucket/key.wacz)")
    p.add_argument("--crawl", action="append", dest="crawl_ids", metavar="CRAWL_ID",
                   help="package only this crawl (repeatable; default: every crawl)")
    p.add_argument("--title", help="collection title shown by ReplayWeb.page")
    p.add_argument("--validate", action="store_true",
                   help="run `wacz validate` on the result and fail if it does not pass")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from archive.wacz import WaczError, WaczInvalid, create_wacz
    except ImportError as e:
        print(f"newsarchive wacz: {e.name} is not installed; pip install 'newsarchive[replay]'",
              file=sys.stderr)
        return 2
    from pipelines.storage import StorageError, is_s3_uri

    # Strings, not Paths, for s3:// URIs: Path("s3://b/p") would collapse to "s3:/b/p".
    archive = args.archive if is_s3_uri(args.archive) else Path(args.archive)
    out = args.out if is_s3_uri(args.out) else Path(args.out)
    if isinstance(archive, Path) and not archive.is_dir():
        print(f"newsarchive wacz: {archive}: not an archive folder", file=sys.stderr)
        return 2
    if not str(out).endswith(".wacz"):
        print(f"newsarchive wacz: --out must end in .wacz: {out}", file=sys.stderr)
        return 2
    try:
        result = create_wacz(archive, out, crawl_ids=args.crawl_ids, title=args.title,
                             validate=args.validate)
    except WaczError as e:
        print(f"newsarchive wacz: {e}", file=sys.stderr)
        return 2
    except WaczInvalid as e:
        print(f"newsarchive wacz: {e}", file=sys.stderr)
        return 1
    except StorageError as e:
        print(f"newsarchive wacz: cannot read or write the store: {e}", file=sys.stderr)
        return 1
    except (OSError, RuntimeError) as e:
        print(f"newsarchive wacz: {e}", file=sys.stderr)
        return 1
    print(f"{result.path}: {result.warcs} WARC files, {result.pages} pages"
          + (f", {result.skipped} records without a capture skipped" if result.skipped else ""),
          file=sys.stderr)
    return 0
