"""Getting captures back out of an archive: in a browser through pywb, and to code by URL.

Browsing uses pywb, the field's own replay engine. Rewriting links, scripts and headers so that an
archived page works in a browser is a large, well-kept body of code (pywb + wombat.js); this module
only points pywb at our archive layout (``<root>/index/*.cdxj`` and ``<root>/warc/``) as one
collection, ``news``. Revisit records replay their original because our WARCs carry
``WARC-Refers-To-Target-URI`` / ``WARC-Refers-To-Date`` and pywb resolves them through the index.

pywb cannot live in our environment (its ``redis`` pin conflicts with the Redis frontier's), so it
runs in a process of its own, from an interpreter :mod:`archive.pywb_env` finds or makes.
:func:`pywb_command` writes what that process needs into a scratch folder (``config.yaml`` and a
small launcher script that imports nothing of ours) and returns the command line to run it.

:func:`find_capture` is the same lookup for code (the archive-source downloader middleware,
re-extraction): the capture of a URL that is latest or closest to a time, across every crawl's
index, with revisit records resolved to the payload they refer to. It needs no pywb.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from warcio.bufferedreaders import ChunkedDataReader
from warcio.recordloader import ArcWarcRecord
from warcio.timeutils import iso_date_to_timestamp, timestamp_to_sec

from archive.index import lookup
from archive.warcrecord import RecordNotFound, read_record

COLLECTION = "news"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


class ReplayError(Exception):
    """The archive cannot be served as it is (no index, no WARCs): a usage error, exit code 2."""


def index_files(root: Path) -> list[Path]:
    return sorted((root / "index").glob("*.cdxj"))


@dataclass
class Capture:
    """One archived HTTP response, ready to be served again."""

    url: str
    timestamp: str  # 14 digits, UTC: the capture's own date (a revisit's, not its original's)
    status: int
    headers: list[tuple[str, str]]  # every header, repeats kept, in archived order
    body: bytes  # payload as it came over the wire: still content-encoded, transfer coding undone
    pointer: dict  # the response or revisit record: {file, offset, length}
    payload_pointer: dict  # the record the body came from (the original, for a revisit)

    @property
    def is_revisit(self) -> bool:
        return self.payload_pointer != self.pointer


def entry_pointer(entry: dict) -> dict:
    """A record pointer (``file`` relative to the archive root) from a CDXJ entry, whose
    ``filename`` is relative to ``warc/``."""
    return {"file": f"warc/{entry['filename']}", "offset": int(entry["offset"]),
            "length": int(entry["length"])}


def _seconds(timestamp: str | datetime) -> float:
    if isinstance(timestamp, datetime):
        timestamp = timestamp.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S")
    return timestamp_to_sec(timestamp)  # a partial timestamp means the end of that period


def find_entries(root: Path, url: str, timestamp: str | datetime | None = None) -> list[dict]:
    """Index entries of ``url`` over every crawl's index: latest first, or closest to
    ``timestamp`` first (ties to the earlier, as :func:`archive.index.lookup` orders them)."""
    entries = [e for path in index_files(root) for e in lookup(path, url)]
    if timestamp is None:
        entries.sort(key=lambda e: e["timestamp"], reverse=True)
    else:
        target = _seconds(timestamp)
        entries.sort(key=lambda e: (abs(_seconds(e["timestamp"]) - target), e["timestamp"]))
    return entries


def revisit_original(root: Path, revisit: ArcWarcRecord) -> tuple[ArcWarcRecord, dict] | None:
    """The response a revisit record refers to: found by WARC-Refers-To-Target-URI and -Date
    in the index, and checked by payload digest (the same resolution pywb does)."""
    h = revisit.rec_headers
    uri = h.get_header("WARC-Refers-To-Target-URI") or h.get_header("WARC-Target-URI")
    date = h.get_header("WARC-Refers-To-Date")
    digest = h.get_header("WARC-Payload-Digest")
    when = iso_date_to_timestamp(date) if date else None
    for entry in find_entries(root, uri, when):
        if entry.get("mime") == "warc/revisit" or (digest and entry.get("digest") != digest):
            continue
        pointer = entry_pointer(entry)
        try:
            return read_record(root, pointer), pointer
        except (OSError, RecordNotFound):
            continue
    return None


def _payload(record: ArcWarcRecord, headers: list[tuple[str, str]]) -> tuple[bytes, list]:
    """The body as sent, and the headers that describe it. Our writer stores bodies with the
    transfer coding already removed; a WARC from elsewhere may keep it, so undo it here."""
    chunked = any(k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in headers)
    if not chunked:
        return record.raw_stream.read(), headers
    body = ChunkedDataReader(record.raw_stream, decomp_type=None).read()
    return body, [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]


def load_capture(root: Path, entry: dict) -> Capture:
    """The capture an index entry names; raises RecordNotFound when it cannot be read."""
    pointer = entry_pointer(entry)
    record = read_record(root, pointer)
    if record.http_headers is None:
        raise RecordNotFound(f"{pointer['file']}@{pointer['offset']}: no HTTP response in it")
    headers = list(record.http_headers.headers)
    status = int(record.http_headers.get_statuscode() or 0)
    source, payload_pointer = record, pointer
    if record.rec_type == "revisit":
        found = revisit_original(root, record)
        if found is None:
            raise RecordNotFound(f"{pointer['file']}@{pointer['offset']}: revisit of a capture "
                                 "that is not in the archive")
        source, payload_pointer = found
        # The original's headers describe the stored payload (its Content-Encoding, length).
        headers = list(source.http_headers.headers)
    body, headers = _payload(source, headers)
    return Capture(url=record.rec_headers.get_header("WARC-Target-URI"),
                   timestamp=entry["timestamp"], status=status, headers=headers, body=body,
                   pointer=pointer, payload_pointer=payload_pointer)


def find_capture(root: Path, url: str, timestamp: str | datetime | None = None) -> Capture | None:
    """The latest capture of ``url`` (or the closest to ``timestamp``) that can be read."""
    for entry in find_entries(root, url, timestamp):
        try:
            return load_capture(root, entry)
        except (OSError, RecordNotFound, ValueError):
            continue  # a damaged record degrades to the next capture, then to a miss
    return None


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
    """Write ``dest/config.yaml`` (and the empty ``dest/collections/``) serving ``root``.

    Written as JSON, which YAML parsers read as YAML: no YAML library is needed on our side.
    ``pywb``'s own ``wayback`` run in ``dest`` serves the same collection.
    """
    dest.mkdir(parents=True, exist_ok=True)
    colls = dest / "collections"
    colls.mkdir(exist_ok=True)
    path = dest / "config.yaml"
    path.write_text(json.dumps(pywb_config(root, colls.resolve()), indent=2) + "\n",
                    encoding="utf-8")
    return path


# Runs in the pywb interpreter, which has no newsarchive installed: pywb, gevent and the standard
# library only. pywb's own `wayback` would do, but for `--port 0` it cannot say which port it got,
# and it logs every request; so this starts pywb's CLI app (WaybackCli: its arguments, its config
# loading) on the same gevent server pywb uses, says READY with the bound address, and stops
# cleanly on SIGINT/SIGTERM. The scratch folder it lives in is removed when it exits.
LAUNCHER = '''\
"""newsarchive replay: pywb's wayback app on the config.yaml next to this file (generated)."""
from pywb.apps.cli import WaybackCli  # first: it patches the standard library with gevent

import os
import shutil
import signal
import sys

import gevent
from gevent.pywsgi import WSGIServer
from pywb.utils.geventserver import RequestURIWSGIHandler


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        cli = WaybackCli(args=["-d", here, *sys.argv[1:]], desc="newsarchive replay (pywb)")
        server = WSGIServer((cli.r.bind, cli.r.port), cli.application,
                            handler_class=RequestURIWSGIHandler, log=None)
        try:
            server.init_socket()
        except OSError as e:  # port in use, address not available
            print(f"newsarchive replay: cannot listen on {cli.r.bind}:{cli.r.port}: {e}",
                  file=sys.stderr)
            return 1
        host, port = server.address[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"READY http://{shown}:{port}/@COLLECTION@/", flush=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            gevent.signal_handler(sig, server.stop)
        server.serve_forever()
        return 0
    finally:
        shutil.rmtree(here, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
'''.replace("@COLLECTION@", COLLECTION)


def pywb_command(root: Path, python: str, host: str = DEFAULT_HOST,
                 port: int = DEFAULT_PORT) -> list[str]:
    """The command line that serves ``root`` with pywb from ``python`` until SIGINT/SIGTERM.

    Writes a scratch folder (``config.yaml``, ``collections/``, ``launch.py``) that the server
    removes when it stops. The server prints ``READY <base url>`` once listening; ``port=0``
    picks a free port (the READY line tells which), which is what tests use.
    """
    check_archive(root)
    workdir = Path(tempfile.mkdtemp(prefix="newsarchive-pywb-"))
    try:
        write_config(root, workdir)
        launcher = workdir / "launch.py"
        launcher.write_text(LAUNCHER, encoding="utf-8")
    except OSError:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return [python, str(launcher), "--bind", host, "--port", str(port)]
