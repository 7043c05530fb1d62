"""``newsarchive``: one console script, a subcommand per job (DESIGN.md's command line).

Each subcommand lives in its own module here with ``register(subparsers)`` (adds its parser and
``set_defaults(func=run)``) and ``run(args) -> int``. Exit codes: 0 success, 1 the job ran but
failed (some data could not be written), 2 bad usage or bad input, with one clear line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from crawler.version import __version__

# In the order `newsarchive --help` lists them. A module that is not there (an optional part not
# installed yet) is left out of the CLI rather than breaking it.
COMMANDS = ("crawl", "extract", "reprocess", "index", "replay", "wacz", "export", "schedule", "sync",
            "status", "demo")


class UsageError(Exception):
    """Bad usage or bad input: one line on stderr, exit code 2."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The CLI; with ``only``, just that subcommand (its module's imports are all a run pays:
    importing every command's libraries cost each crawl ~0.4 s of start-up)."""
    parser = argparse.ArgumentParser(
        prog="newsarchive",
        description="Crawl news sites politely into a WARC archive and clean article records; "
                    "replay, re-extract and export them.",
    )
    parser.add_argument("--version", action="version", version=f"newsarchive {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if only is not None and name != only:
            continue
        try:
            module = importlib.import_module(f"archive.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"archive.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(first if first in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as e:
        from crawler.middlewares.safety import redact

        # A message may quote a bad argument, and arguments can hold credentials.
        print(f"newsarchive {args.command}: {redact(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"newsarchive {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
