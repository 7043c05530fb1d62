"""``newsarchive replay ARCHIVE [--host H] [--port P]``: browse an archive with pywb.

pywb runs under gevent, whose monkey-patching must happen before ``ssl`` and friends are imported;
by the time a subcommand runs, the CLI has imported them. So once the arguments are checked, this
process is replaced (``exec``) by a fresh interpreter running ``python -m archive.replay`` with
the same arguments: the same server, patched at the right moment, and Ctrl-C reaches it directly.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from archive.replay import DEFAULT_HOST, DEFAULT_PORT, ReplayError, check_archive


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
    if importlib.util.find_spec("pywb") is None:
        print("newsarchive replay: pywb is not installed; pip install 'newsarchive[replay]'",
              file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"newsarchive replay: --port must be 0..65535, not {args.port}", file=sys.stderr)
        return 2
    try:
        check_archive(Path(args.archive))
    except ReplayError as e:
        print(f"newsarchive replay: {e}", file=sys.stderr)
        return 2
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [sys.executable, "-m", "archive.replay", str(Path(args.archive).resolve()),
            "--host", args.host, "--port", str(args.port)]
    os.execv(sys.executable, argv)
    return 1  # not reached: execv only returns by raising
