"""Getting captures back out of an archive: in a browser through pywb, and to code by URL.

Browsing uses pywb, the field's own replay engine. Rewriting links, scripts and headers so that an
archived page works in a browser is a large, well-kept body of code (pywb + wombat.js); this module
only points pywb at our archive layout (``<root>/index/*.cdxj`` and ``<root>/warc/``) as one
collection, ``news``. Revisit records replay their original because our WARCs carry
``WARC-Refers-To-Target-URI`` / ``WARC-Refers-To-Date`` and pywb resolves them through the index.

An ``s3://bucket/prefix`` archive is served the same way: its CDXJ indexes are downloaded into
pywb's scratch folder (pywb binary-searches local index files), and ``archive_paths`` is
``s3://bucket/prefix/warc/``, so pywb's own S3 loader reads each record with one ranged GET
(boto3 in pywb's interpreter, configured through the ``AWS_*`` environment :func:`pywb_launch`
prepares).

pywb cannot live in our environment (its ``redis`` pin conflicts with the Redis frontier's), so it
runs in a process of its own, from an interpreter :mod:`archive.pywb_env` finds or makes.
:func:`pywb_command` writes what that process needs into a scratch folder (``config.yaml`` and a
small launcher script that imports nothing of ours) and returns the command line to run it.

:func:`find_capture` is the same lookup for code (the archive-source downloader middleware,
re-extraction): the capture of a URL that is latest or closest to a time, across every crawl's
index, with revisit records resolved to the payload they refer to. It needs no pywb. For many
lookups in an S3 archive, open a :class:`CaptureIndex` once and pass it instead of the URI.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from warcio.bufferedreaders import ChunkedDataReader
from warcio.recordloader import ArcWarcRecord
from warcio.timeutils import iso_date_to_timestamp, timestamp_to_sec

from archive.index import lookup
from archive.storage import Archive, open_archive, project_settings
from archive.warcrecord import RecordNotFound, read_record
from pipelines.storage import S3Location, S3Options, StorageConfigError, is_s3_uri

COLLECTION = "news"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


class ReplayError(Exception):
    """The archive cannot be served as it is (no index, no WARCs): a usage error, exit code 2."""


def index_files(root: Path) -> list[Path]:
    return sorted((root / "index").glob("*.cdxj"))


def index_rels(archive: Archive) -> list[str]:
    """Layout paths of the archive's CDXJ indexes (``index/<crawl_id>.cdxj``), local or S3."""
    try:
        rels = archive.list("index/")
    except FileNotFoundError:
        return []
    return [r for r in rels if r.count("/") == 1 and r.endswith(".cdxj")]


class CaptureIndex:
    """An archive's captures by URL: its CDXJ indexes and the WARC records they point at.

    Lookups binary-search index files, which must be local (``mmap``). A local archive's are used
    in place (found afresh on each lookup, so a crawl finishing meanwhile shows up); an S3
    archive's are downloaded once, into a temporary folder, at the first lookup (not before: a
    re-extraction that meets no revisit never needs them), and its records are read with one
    ranged GET each. Open one for many lookups and close it (or use ``with``).
    """

    def __init__(self, root: Path | str | Archive) -> None:
        self.archive = open_archive(root)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._downloaded: list[Path] | None = None

    def index_files(self) -> list[Path]:
        local = self.archive.local_path("")
        if local is not None:
            return index_files(local)
        if self._downloaded is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="newsarchive-cdxj-")
            self._downloaded = download_indexes(self.archive, Path(self._tmp.name))
        return self._downloaded

    def has_indexes(self) -> bool:
        """Whether there is any index to look in, without downloading an S3 archive's."""
        if self._downloaded is not None or self.archive.local_path("") is not None:
            return bool(self.index_files())
        return bool(index_rels(self.archive))

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self._downloaded = None

    def __enter__(self) -> CaptureIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def download_indexes(archive: Archive, dest: Path) -> list[Path]:
    """Copy the archive's ``index/*.cdxj`` into ``dest`` (created); return the local files."""
    dest.mkdir(parents=True, exist_ok=True)
    return [archive.download(rel, dest / rel.split("/", 1)[1]) for rel in index_rels(archive)]


@contextlib.contextmanager
def _captures(root: Path | str | Archive | CaptureIndex) -> Iterator[CaptureIndex]:
    """``root`` as a CaptureIndex: the one given, or one opened (and closed) for this call."""
    if isinstance(root, CaptureIndex):
        yield root
        return
    with CaptureIndex(root) as captures:
        yield captures


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


Root = Path | str | Archive | CaptureIndex


def find_entries(root: Root, url: str, timestamp: str | datetime | None = None) -> list[dict]:
    """Index entries of ``url`` over every crawl's index: latest first, or closest to
    ``timestamp`` first (ties to the earlier, as :func:`archive.index.lookup` orders them)."""
    with _captures(root) as captures:
        entries = [e for path in captures.index_files() for e in lookup(path, url)]
    if timestamp is None:
        entries.sort(key=lambda e: e["timestamp"], reverse=True)
    else:
        target = _seconds(timestamp)
        entries.sort(key=lambda e: (abs(_seconds(e["timestamp"]) - target), e["timestamp"]))
    return entries


def revisit_original(root: Root, revisit: ArcWarcRecord) -> tuple[ArcWarcRecord, dict] | None:
    """The response a revisit record refers to: found by WARC-Refers-To-Target-URI and -Date
    in the index, and checked by payload digest (the same resolution pywb does)."""
    h = revisit.rec_headers
    uri = h.get_header("WARC-Refers-To-Target-URI") or h.get_header("WARC-Target-URI")
    date = h.get_header("WARC-Refers-To-Date")
    digest = h.get_header("WARC-Payload-Digest")
    when = iso_date_to_timestamp(date) if date else None
    with _captures(root) as captures:
        for entry in find_entries(captures, uri, when):
            if entry.get("mime") == "warc/revisit" or (digest and entry.get("digest") != digest):
                continue
            pointer = entry_pointer(entry)
            try:
                return read_record(captures.archive, pointer), pointer
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


def load_capture(root: Root, entry: dict) -> Capture:
    """The capture an index entry names; raises RecordNotFound when it cannot be read."""
    with _captures(root) as captures:
        return _load_capture(captures, entry)


def _load_capture(captures: CaptureIndex, entry: dict) -> Capture:
    pointer = entry_pointer(entry)
    record = read_record(captures.archive, pointer)
    if record.http_headers is None:
        raise RecordNotFound(f"{pointer['file']}@{pointer['offset']}: no HTTP response in it")
    headers = list(record.http_headers.headers)
    status = int(record.http_headers.get_statuscode() or 0)
    source, payload_pointer = record, pointer
    if record.rec_type == "revisit":
        found = revisit_original(captures, record)
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


def find_capture(root: Root, url: str, timestamp: str | datetime | None = None) -> Capture | None:
    """The latest capture of ``url`` (or the closest to ``timestamp``) that can be read."""
    with _captures(root) as captures:
        for entry in find_entries(captures, url, timestamp):
            try:
                return _load_capture(captures, entry)
            except (OSError, RecordNotFound, ValueError):
                continue  # a damaged record degrades to the next capture, then to a miss
    return None


def check_archive(root: Path | str) -> None:
    """Fail early with a clear message: pywb itself only logs a bad collection and serves 404s.

    For an ``s3://`` archive, a store that cannot be reached raises its ``StorageError``.
    """
    if is_s3_uri(root):
        _check_remote(str(root))
        return
    root = Path(root)
    if not root.is_dir():
        raise ReplayError(f"{root}: not an archive folder")
    if not (root / "warc").is_dir():
        raise ReplayError(f"{root}: no warc/ folder, nothing to replay")
    if not index_files(root):
        raise ReplayError(f"{root}: no index/*.cdxj; build it with `newsarchive index {root}`")


def _check_remote(uri: str) -> None:
    try:
        archive = open_archive(uri)
        warcs = archive.list("warc/")
    except StorageConfigError as e:
        raise ReplayError(str(e)) from None
    except FileNotFoundError as e:
        raise ReplayError(str(e)) from None
    if not warcs:
        raise ReplayError(f"{uri}: no WARC files under warc/, nothing to replay")
    if not index_rels(archive):
        raise ReplayError(f"{uri}: no index/*.cdxj; build it with `newsarchive index {uri}`")


def pywb_config(root: Path | str, collections_root: Path, index_dir: Path | None = None) -> dict:
    """pywb configuration serving ``root`` as the one collection ``news``.

    Trailing separators matter: pywb treats an ``index_paths`` ending in ``/`` as a folder of
    CDXJ files (all crawls' indexes are merged) and joins ``archive_paths`` with the index's
    ``filename`` field, which is relative to ``<root>/warc/``. Auto-collections are off and
    ``collections_root`` points at an empty folder, so a ``collections/`` folder in the current
    directory cannot leak into what is served. For an ``s3://`` root, ``index_dir`` is the local
    folder its indexes were downloaded to, and WARC records are read from the bucket.
    """
    if is_s3_uri(root):
        if index_dir is None:
            raise ValueError("an s3:// archive needs index_dir, a local copy of its indexes")
        index_paths = str(index_dir.resolve())
        archive_paths = f"{S3Location.parse(str(root)).uri}/warc"
    else:
        local = Path(root).resolve()
        index_paths, archive_paths = str(local / "index"), str(local / "warc")
    return {
        "collections": {
            COLLECTION: {
                "index_paths": index_paths + "/",
                "archive_paths": archive_paths + "/",
            }
        },
        "collections_root": str(collections_root),
        "enable_auto_colls": False,
        "framed_replay": True,
        "enable_memento": True,
    }


def write_config(root: Path | str, dest: Path) -> Path:
    """Write ``dest/config.yaml`` (and the empty ``dest/collections/``) serving ``root``.

    Written as JSON, which YAML parsers read as YAML: no YAML library is needed on our side.
    ``pywb``'s own ``wayback`` run in ``dest`` serves the same collection. For an ``s3://`` root
    the indexes are downloaded to ``dest/index/`` first (and ``wayback`` needs the environment
    :func:`pywb_environment` gives).
    """
    dest.mkdir(parents=True, exist_ok=True)
    colls = dest / "collections"
    colls.mkdir(exist_ok=True)
    index_dir = None
    if is_s3_uri(root):
        index_dir = dest / "index"
        download_indexes(open_archive(str(root)), index_dir)
    path = dest / "config.yaml"
    path.write_text(json.dumps(pywb_config(root, colls.resolve(), index_dir), indent=2) + "\n",
                    encoding="utf-8")
    return path


AWS_CONFIG_NAME = "aws-config"


def pywb_environment(root: Path | str, workdir: Path, settings: Any = None,
                     environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment pywb's process runs with: ours, plus what its boto3 needs to reach an
    ``s3://`` archive the way our own client does.

    pywb makes a plain ``boto3.client("s3")``, which reads only the environment and the AWS config
    file. So credentials, endpoint and region set as Scrapy settings (``AWS_*``) are passed as
    environment variables, and a path-style store (``NEWSARCHIVE_S3_ADDRESSING_STYLE``, which
    boto3 has no variable for) gets a copy of the user's AWS config file with
    ``s3 = addressing_style = ...`` added to the profile in use, in ``workdir``.
    """
    env = dict(os.environ if environ is None else environ)
    if not is_s3_uri(root):
        return env
    options = S3Options.from_settings(project_settings() if settings is None else settings)
    for name, value in (("AWS_ACCESS_KEY_ID", options.access_key),
                        ("AWS_SECRET_ACCESS_KEY", options.secret_key),
                        ("AWS_SESSION_TOKEN", options.session_token),
                        ("AWS_ENDPOINT_URL", options.endpoint_url),
                        ("AWS_DEFAULT_REGION", options.region)):
        if value:
            env[name] = str(value)
    if isinstance(options.verify, str):
        env["AWS_CA_BUNDLE"] = options.verify
    if options.addressing_style:
        env["AWS_CONFIG_FILE"] = str(_aws_config_with_style(workdir, env, options.addressing_style))
    return env


def _aws_config_with_style(workdir: Path, env: Mapping[str, str], style: str) -> Path:
    """A copy of the AWS config file in use, its profile's ``s3`` block given ``addressing_style``.

    Read and written with configparser, as botocore reads it: a nested block is an option whose
    value starts on the next line.
    """
    source = Path(env.get("AWS_CONFIG_FILE") or Path("~/.aws/config").expanduser())
    config = configparser.RawConfigParser()
    with contextlib.suppress(OSError, configparser.Error):
        if source.is_file():
            config.read(source, encoding="utf-8")
    profile = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    section = "default" if profile == "default" else f"profile {profile}"
    if not config.has_section(section):
        config.add_section(section)
    nested = config.get(section, "s3", fallback="")
    lines = [ln for ln in nested.splitlines()
             if ln.strip() and ln.split("=", 1)[0].strip() != "addressing_style"]
    config.set(section, "s3", "\n" + "\n".join([*lines, f"addressing_style = {style}"]))
    path = workdir / AWS_CONFIG_NAME
    with open(path, "w", encoding="utf-8") as f:
        config.write(f)
    path.chmod(0o600)  # a copy of the user's config may name credential processes or roles
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


@dataclass
class PywbLaunch:
    """How to start pywb's server: the command line and the environment to run it with."""

    argv: list[str]
    env: dict[str, str]
    workdir: Path  # the scratch folder the server removes when it stops


def pywb_launch(root: Path | str, python: str, host: str = DEFAULT_HOST,
                port: int = DEFAULT_PORT) -> PywbLaunch:
    """Prepare serving ``root`` (a local folder or ``s3://bucket/prefix``) with pywb from
    ``python`` until SIGINT/SIGTERM.

    Writes a scratch folder (``config.yaml``, ``collections/``, ``launch.py``; for S3 also the
    downloaded ``index/`` and maybe an ``aws-config``) that the server removes when it stops. The
    server prints ``READY <base url>`` once listening; ``port=0`` picks a free port (the READY
    line tells which), which is what tests use.
    """
    check_archive(root)
    workdir = Path(tempfile.mkdtemp(prefix="newsarchive-pywb-"))
    try:
        write_config(root, workdir)
        env = pywb_environment(root, workdir)
        launcher = workdir / "launch.py"
        launcher.write_text(LAUNCHER, encoding="utf-8")
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return PywbLaunch([python, str(launcher), "--bind", host, "--port", str(port)], env, workdir)


def pywb_command(root: Path | str, python: str, host: str = DEFAULT_HOST,
                 port: int = DEFAULT_PORT) -> list[str]:
    """The command line of :func:`pywb_launch` (enough for a local archive, which needs no
    environment of its own)."""
    return pywb_launch(root, python, host, port).argv
