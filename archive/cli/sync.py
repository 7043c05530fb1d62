"""``newsarchive sync SPOOL s3://bucket/prefix``: upload what a crawl left in its local spool.

A crawl to S3 writes each file to a local spool and uploads it when complete; what the store
would not take (it was down, it refused) stays there, and the crawl exits 1 naming the spool.
This uploads those files under the same keys, with the same checks (size + ETag) before a local
copy is deleted; a file the bucket already holds unchanged is only dropped from the spool. A
crawl's manifest goes up after the rest of that crawl. Exit codes: 0 everything uploaded, 1 some
files are still local, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from archive.cli import UsageError
from archive.cli.crawl import parse_set
from pipelines.storage import (
    S3Storage,
    StorageConfigError,
    UploadReport,
    is_s3_uri,
    spool_files,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sync",
        help="upload the files a crawl to S3 left in its local spool",
        description="Upload the finished files in SPOOL (a crawl's local spool, same layout as "
        "the archive) to s3://bucket/prefix, verify each (size + ETag) and delete the local "
        "copy. Unfinished .open files are left alone. Credentials and endpoint: AWS_* "
        "environment or --set (docs/s3.md).",
    )
    p.add_argument("spool", help="the spool folder the crawl named (NEWSARCHIVE_S3_SPOOL_DIR)")
    p.add_argument("uri", help="s3://bucket/prefix: the crawl's --out")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="AWS_* / NEWSARCHIVE_S3_* setting, e.g. --set AWS_ENDPOINT_URL=http://...")
    p.set_defaults(func=run)


def _settings(overrides: dict[str, str]):
    from archive.storage import project_settings

    settings = project_settings()
    for key, value in overrides.items():
        settings.set(key, value, priority="cmdline")
    return settings


def _progress(storage: S3Storage, total: int, done: threading.Event) -> None:
    """One self-rewriting status line on a terminal (sync of a large spool takes a while)."""
    start = time.monotonic()
    while not done.wait(0.5):
        r = storage.report
        n = r.uploaded + r.already_there + len(r.failed)
        rate = r.uploaded_bytes / max(time.monotonic() - start, 1e-6) / 2**20
        print(f"\rsync: {n}/{total} files, {r.uploaded_bytes / 2**20:.1f} MB, "
              f"{rate:.1f} MB/s, {len(r.failed)} failed", end="", file=sys.stderr, flush=True)
    print("\r\033[K", end="", file=sys.stderr, flush=True)


def sync(spool: Path, uri: str, settings=None, *, progress: bool = False) -> UploadReport:
    """Upload every finished file of ``spool`` to ``uri``; block until done."""
    storage = S3Storage.from_settings(uri, settings, spool=spool)
    total = storage.start()
    done = threading.Event()
    ticker = None
    if progress and total:
        ticker = threading.Thread(target=_progress, args=(storage, total, done), daemon=True)
        ticker.start()
    try:
        return storage.close()
    finally:
        done.set()
        if ticker is not None:
            ticker.join()


def run(args: argparse.Namespace) -> int:
    spool = Path(args.spool)
    if not is_s3_uri(args.uri):
        raise UsageError(f"{args.uri!r}: the destination must be an s3://bucket/prefix URI")
    if not spool.is_dir():
        raise UsageError(f"{spool}: no such spool folder")
    try:
        settings = _settings(parse_set(args.set))
        report = sync(spool, args.uri, settings, progress=sys.stderr.isatty())
    except StorageConfigError as e:
        raise UsageError(str(e)) from None
    print(
        f"sync {spool} -> {report.uri}: {report.uploaded} file(s) uploaded "
        f"({report.uploaded_bytes} bytes), {report.already_there} already there"
    )
    if report.unfinished:
        print(f"newsarchive sync: {len(report.unfinished)} unfinished .open file(s) left in "
              f"{spool} (a crawl still running, or one that was killed)", file=sys.stderr)
    if report.failed:
        print(f"newsarchive sync: {report.failure_message()}", file=sys.stderr)
        return 1
    left, _ = spool_files(spool)
    if left:  # written by a crawl still running into this spool
        print(f"newsarchive sync: {len(left)} file(s) appeared in {spool} meanwhile; "
              f"run sync again when that crawl ends", file=sys.stderr)
    return 0
