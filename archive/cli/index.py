"""``newsarchive index ARCHIVE [--crawl-id ID]``: (re)build the CDXJ index of the WARCs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archive.index import IndexBuildError, build_index


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "index",
        help="(re)build the CDXJ index of the WARCs",
        description="Rebuild index/<crawl_id>.cdxj from the finished WARC files of each crawl "
        "(or of one, with --crawl-id), with the cdxj-indexer library: the same file a crawl "
        "writes as it goes. Each index replaces the old one only once complete.",
    )
    # A str, not a Path: Path("s3://b/p") would collapse to "s3:/b/p".
    p.add_argument("archive", help="archive folder (the crawl's --out)")
    p.add_argument("--crawl-id", metavar="ID", help="index only this crawl")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.archive.startswith("s3://"):
        print(
            "newsarchive index: indexes a local archive only; copy it down first", file=sys.stderr
        )
        return 2
    try:
        built = build_index(Path(args.archive), args.crawl_id)
    except FileNotFoundError as e:
        print(f"newsarchive index: {e}", file=sys.stderr)
        return 2
    except IndexBuildError as e:
        for path in e.built:
            print(path)
        print(f"newsarchive index: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # the index itself could not be written
        print(f"newsarchive index: {e}", file=sys.stderr)
        return 1
    for path in built:
        print(path)
    if not built:
        print(
            f"newsarchive index: {args.archive}: no finished WARC files to index", file=sys.stderr
        )
    return 0
