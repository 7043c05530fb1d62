"""Browse an archive with pywb, the field's own replay engine.

Rewriting links, scripts and headers so that an archived page works in a browser is a large,
well-kept body of code (pywb + wombat.js); this module only points pywb at our archive layout
(``<root>/index/*.cdxj`` and ``<root>/warc/``) as one collection, ``news``, and runs it on a
real WSGI server. Revisit records replay their original because our WARCs carry
``WARC-Refers-To-Target-URI`` / ``WARC-Refers-To-Date`` and pywb resolves them through the index.

pywb's app talks to its own internal warcserver over HTTP from inside the same process, which
only works under gevent with the standard library patched, so :func:`serve` patches first and
imports pywb after that. Import this module freely: nothing heavy happens until ``serve``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

COLLECTION = "news"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


class ReplayError(Exception):
    """The archive cannot be served as it is (no index, no WARCs): a usage error, exit code 2."""


def index_files(root: Path) -> list[Path]:
    return sorted((root / "index").glob("*.cdxj"))


def check_archive(root: Path) -> None:
    """Fail early with a clear message: pywb itself only logs a bad collection and serves 404s."""
    if not root.is_dir():
        raise ReplayError(f"{root}: not an archive folder")
    if not (root / "warc").is_dir():
        raise ReplayError(f"{root}: no warc/ folder, nothing to replay")
    if not index_files(root):
        raise ReplayError(f"{root}: no index/*.cdxj; build it with `newsarchive index {root}`")


def pywb_config(root: Path, collections_root: Path) -> dict:
    """pywb configuration serving ``root`` as the one collection ``news``.

    Trailing separators matter: pywb treats an ``index_paths`` ending in ``/`` as a folder of
    CDXJ files (all crawls' indexes are merged) and joins ``archive_paths`` with the index's
    ``filename`` field, which is relative to ``<root>/warc/``. Auto-collections are off and
    ``collections_root`` points at an empty folder, so a ``collections/`` folder in the current
    directory cannot leak into what is served.
    """
    root = root.resolve()
    return {
        "collections": {
            COLLECTION: {
                "index_paths": str(root / "index") + "/",
                "archive_paths": str(root / "warc") + "/",
            }
        },
        "collections_root": str(collections_root),
        "enable_auto_colls": False,
        "framed_replay": True,
        "enable_memento": True,
    }


def write_config(root: Path, dest: Path) -> Path:
    """Write the generated ``config.yaml`` into ``dest`` (kept for users who run ``wayback``)."""
    import yaml  # pywb's own dependency: only needed with the replay extra

    dest.mkdir(parents=True, exist_ok=True)
    colls = dest / "collections"
    colls.mkdir(exist_ok=True)
    path = dest / "config.yaml"
    path.write_text(yaml.safe_dump(pywb_config(root, colls), sort_keys=False), encoding="utf-8")
    return path


def make_app(config_path: Path) -> Callable:
    """pywb's front-end WSGI app from a generated config (requires gevent patching first)."""
    from pywb.apps.frontendapp import FrontEndApp

    return FrontEndApp(config_file=str(config_path))


def serve(
    root: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    out: Callable[[str], None] | None = None,
) -> int:
    """Serve ``root`` until SIGINT/SIGTERM; prints ``READY <base url>`` once listening.

    ``port=0`` picks a free port (the READY line tells which), which is what tests use.
    """
    check_archive(root)
    from gevent import monkey

    monkey.patch_all()
    import signal

    import gevent
    from gevent.pywsgi import WSGIServer
    from pywb.utils.geventserver import RequestURIWSGIHandler

    out = out or (lambda line: print(line, flush=True))
    with tempfile.TemporaryDirectory(prefix="newsarchive-pywb-") as tmp:
        app = make_app(write_config(root, Path(tmp)))
        server = WSGIServer((host, port), app, handler_class=RequestURIWSGIHandler, log=None)
        server.init_socket()
        bound_host, bound_port = server.address[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        out(f"READY http://{shown}:{bound_port}/{COLLECTION}/")
        for sig in (signal.SIGINT, signal.SIGTERM):
            gevent.signal_handler(sig, server.stop)
        server.serve_forever()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m archive.replay ARCHIVE``: the same server without the newsarchive CLI."""
    parser = argparse.ArgumentParser(prog="python -m archive.replay")
    parser.add_argument("archive", type=Path)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    try:
        return serve(args.archive, args.host, args.port)
    except ReplayError as e:
        print(f"newsarchive replay: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
