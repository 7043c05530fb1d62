"""``newsarchive replay ARCHIVE [--host H] [--port P]``: browse an archive with pywb."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archive.replay import DEFAULT_HOST, DEFAULT_PORT, ReplayError, serve


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "replay",
        help="serve the archive for browsing (pywb)",
        description="Serve ARCHIVE with pywb as the collection 'news': /news/<url> is the latest "
        "capture, /news/<timestamp>/<url> a given one, /news/mp_/<url> the page without "
        "pywb's banner and /news/id_/<url> the original bytes. Stops on Ctrl-C.",
    )
    p.add_argument("archive", help="archive folder (the crawl's --out)")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to bind (default {DEFAULT_HOST}: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port to listen on, 0 for a free one (default {DEFAULT_PORT})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.archive.startswith("s3://"):
        print("newsarchive replay: serves a local archive only; copy it down first "
              "(aws s3 sync ...)", file=sys.stderr)
        return 2
    try:
        import pywb  # noqa: F401
    except ImportError:
        print("newsarchive replay: pywb is not installed; pip install 'newsarchive[replay]'",
              file=sys.stderr)
        return 2
    try:
        return serve(Path(args.archive), args.host, args.port)
    except ReplayError as e:
        print(f"newsarchive replay: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # port in use, address not available
        print(f"newsarchive replay: cannot listen on {args.host}:{args.port}: {e}",
              file=sys.stderr)
        return 1
