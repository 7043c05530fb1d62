"""``newsarchive replay ARCHIVE [--host H] [--port P] [--pywb-python PY]``: browse an archive with pywb.

pywb cannot be installed next to newsarchive (archive/pywb_env.py says why), so once the arguments
are checked this process is replaced (``exec``) by pywb's server running from an interpreter that
has pywb: Ctrl-C and SIGTERM reach the server directly and its exit code is the command's.
ARCHIVE may be ``s3://bucket/prefix``: its indexes are downloaded, its records read by pywb with
ranged GETs (boto3 in pywb's interpreter). ``newsarchive replay --setup`` only makes sure the
managed pywb virtualenv exists.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from archive.pywb_env import (
    HOME_ENV,
    PYTHON_ENV,
    PywbEnvError,
    default_home,
    find_pywb_python,
    setup_managed,
)
from archive.replay import DEFAULT_HOST, DEFAULT_PORT, ReplayError, check_archive, pywb_launch
from pipelines.storage import StorageError, is_s3_uri


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "replay",
        help="serve the archive for browsing (pywb)",
        description="Serve ARCHIVE with pywb as the collection 'news': /news/<url> is the latest "
        "capture, /news/<timestamp>/<url> a given one, /news/mp_/<url> the page without "
        "pywb's banner and /news/id_/<url> the original bytes. Stops on Ctrl-C. ARCHIVE may be "
        "s3://bucket/prefix (AWS_* environment, docs/s3.md). pywb runs from "
        f"its own interpreter: --pywb-python, else ${PYTHON_ENV}, else this one if it has pywb, "
        f"else a virtualenv made on first use at ${HOME_ENV} (default {default_home()}).",
    )
    p.add_argument("archive", nargs="?",
                   help="archive folder or s3://bucket/prefix (the crawl's --out)")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to bind (default {DEFAULT_HOST}: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port to listen on, 0 for a free one (default {DEFAULT_PORT})")
    p.add_argument("--pywb-python", metavar="PYTHON",
                   help=f"interpreter that has pywb installed (default ${PYTHON_ENV})")
    p.add_argument("--setup", action="store_true",
                   help="only create the managed pywb virtualenv (needs the package index) and exit")
    p.set_defaults(func=run)


def _say(line: str) -> None:
    print(f"newsarchive replay: {line}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.setup:
        try:
            found = setup_managed(out=_say)
        except PywbEnvError as e:
            _say(str(e))
            return e.exit_code
        print(f"newsarchive replay: pywb {found.version} ready: {found.python}")
        return 0
    if not args.archive:
        _say("ARCHIVE is required (or --setup)")
        return 2
    if not 0 <= args.port <= 65535:
        _say(f"--port must be 0..65535, not {args.port}")
        return 2
    s3 = is_s3_uri(args.archive)
    root = args.archive if s3 else Path(args.archive).resolve()
    try:
        check_archive(root)
        found = find_pywb_python(args.pywb_python, out=_say, s3=s3)
        launch = pywb_launch(root, found.python, args.host, args.port)
    except ReplayError as e:
        _say(str(e))
        return 2
    except PywbEnvError as e:
        _say(str(e))
        return e.exit_code
    except StorageError as e:  # an s3:// archive whose store cannot be reached
        _say(f"cannot read {args.archive}: {e}")
        return 1
    except OSError as e:  # the scratch folder could not be written
        _say(f"cannot prepare pywb's configuration: {e}")
        return 1
    argv = launch.argv
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "nt":  # no exec there: run it and pass its exit code on
        return subprocess.call(argv, env=launch.env)
    try:
        os.execve(argv[0], argv, launch.env)
    except OSError as e:
        shutil.rmtree(Path(argv[1]).parent, ignore_errors=True)  # the launcher's scratch folder
        _say(f"cannot start {argv[0]}: {e}")
    return 1  # reached only when exec failed
