"""``newsarchive wacz ARCHIVE --out FILE.wacz``: package an archive for ReplayWeb.page."""

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
        "ReplayWeb.page). The file appears under its name only once complete.",
    )
    p.add_argument("archive", help="archive folder (the crawl's --out)")
    p.add_argument("--out", required=True, help="the .wacz file to write")
    p.add_argument("--crawl", action="append", dest="crawl_ids", metavar="CRAWL_ID",
                   help="package only this crawl (repeatable; default: every crawl)")
    p.add_argument("--title", help="collection title shown by ReplayWeb.page")
    p.add_argument("--validate", action="store_true",
                   help="run `wacz validate` on the result and fail if it does not pass")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from archive.wacz import WaczError, create_wacz, validate_wacz
    except ImportError as e:
        print(f"newsarchive wacz: {e.name} is not installed; pip install 'newsarchive[replay]'",
              file=sys.stderr)
        return 2
    if args.archive.startswith("s3://") or args.out.startswith("s3://"):
        print("newsarchive wacz: ARCHIVE and --out must be local; copy the archive down first",
              file=sys.stderr)
        return 2
    archive, out = Path(args.archive), Path(args.out)
    if not archive.is_dir():
        print(f"newsarchive wacz: {archive}: not an archive folder", file=sys.stderr)
        return 2
    if out.suffix != ".wacz":
        print(f"newsarchive wacz: --out must end in .wacz: {out}", file=sys.stderr)
        return 2
    try:
        result = create_wacz(archive, out, crawl_ids=args.crawl_ids, title=args.title)
    except WaczError as e:
        print(f"newsarchive wacz: {e}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as e:
        print(f"newsarchive wacz: {e}", file=sys.stderr)
        return 1
    print(f"{result.path}: {result.warcs} WARC files, {result.pages} pages"
          + (f", {result.skipped} records without a capture skipped" if result.skipped else ""),
          file=sys.stderr)
    if args.validate:
        ok, text = validate_wacz(result.path)
        if not ok:
            print(f"newsarchive wacz: {result.path} does not validate: "
                  f"{text.strip().splitlines()[-1]}", file=sys.stderr)
            return 1
    return 0
