"""``newsarchive index ARCHIVE [--crawl-id ID]``: (re)build the CDXJ index of the WARCs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archive.index import IndexBuildError, build_index
from pipelines.storage import StorageConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "index",
        help="(re)build the CDXJ index of the WARCs",
        description="Rebuild index/<crawl_id>.cdxj from the finished WARC files of each crawl "
        "(or of one, with --crawl-id), with the cdxj-indexer library: the same file a crawl "
        "writes as it goes. Each index replaces the old one only once complete. An "
        "s3://bucket/prefix archive is read from the bucket (WARCs streamed, not copied) and "
        "its indexes are uploaded there; credentials and endpoint come from the AWS_* "
        "environment (docs/s3.md).",
    )
    # A str, not a Path: Path("s3://b/p") would collapse to "s3:/b/p".
    p.add_argument("archive", help="archive folder or s3://bucket/prefix (the crawl's --out)")
    p.add_argument("--crawl-id", metavar="ID", help="index only this crawl")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = args.archive if args.archive.startswith("s3://") else Path(args.archive)
    try:
        built = build_index(root, args.crawl_id)
    except (FileNotFoundError, StorageConfigError) as e:
        print(f"newsarchive index: {e}", file=sys.stderr)
        return 2
    except IndexBuildError as e:
        for path in e.built:
            print(path)
        print(f"newsarchive index: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # the index could not be written, or the store could not be reached
        print(f"newsarchive index: {e}", file=sys.stderr)
        return 1
    for path in built:
        print(path)
    if not built:
        print(
            f"newsarchive index: {args.archive}: no finished WARC files to index", file=sys.stderr
        )
    return 0
