"""Serve the bundled demo news site on 127.0.0.1, the way a well-behaved news server would.

``newsarchive demo`` and the tests crawl this site, so it behaves like a real one where a crawler
can tell the difference: exact ``Content-Type`` with charset, ``Last-Modified`` and ``ETag`` with
``304 Not Modified`` answers to conditional requests (incremental crawls depend on them), gzip for
clients that ask, ``301`` from a directory path without its slash, ``404`` for anything else.

The site's files are templates: ``{{BASE}}`` in a text file becomes the server's own URL
(``http://127.0.0.1:PORT``), so feeds, sitemaps and canonical links are absolute and right
wherever the server runs. Names starting with ``_`` or ``.`` are never served (``_articles.json``
is the site's ground truth for tests, not a page).

Run it alone with ``python -m crawler.demo.server --port 8000``; it prints ``READY <url>``.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timezone
from email.message import Message
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

SITE_ROOT = Path(__file__).resolve().with_name("site")
MANIFEST_NAME = "_articles.json"
BASE_PLACEHOLDER = b"{{BASE}}"
GZIP_ETAG_SUFFIX = "-gzip"

# An explicit table rather than ``mimetypes``: that module reads /etc/mime.types, which differs
# from machine to machine, and tests compare Content-Type headers exactly.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml; charset=utf-8",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".mp4": "video/mp4",
}
# Feeds carry their own media type; crawlers sniff feeds by it.
CONTENT_TYPES_BY_NAME = {"feed.xml": "application/rss+xml; charset=utf-8"}
# Text files: {{BASE}} is filled in and gzip is offered. Images are served as they are.
TEMPLATED_SUFFIXES = {".html", ".xml", ".txt", ".css", ".json", ".svg"}

NOT_FOUND_PAGE = (
    b'<!DOCTYPE html>\n<html lang="en-GB"><head><meta charset="utf-8">'
    b"<title>Page not found | Meridian Courier</title></head>\n"
    b'<body><h1>Page not found</h1><p>Try the <a href="/">homepage</a>.</p></body></html>\n'
)


@dataclass(frozen=True)
class Representation:
    """One file as served: the bytes after templating plus the validators derived from them."""

    body: bytes
    gzipped: bytes | None
    content_type: str
    mtime: int  # whole seconds: HTTP dates have no finer resolution
    etag: str  # opaque tag, unquoted; the gzip variant appends GZIP_ETAG_SUFFIX

    @property
    def last_modified(self) -> str:
        return formatdate(self.mtime, usegmt=True)


def accepts_gzip(header: str | None) -> bool:
    """Whether an ``Accept-Encoding`` value admits gzip.

    Hand-written because the standard library has no parser for it; it honours what RFC 9110
    §12.5.3 asks of a server with one coding to offer: ``gzip``/``x-gzip``, ``*`` and ``q=0``.
    """
    if not header:
        return False
    star = False
    for item in header.split(","):
        name, _, params = item.partition(";")
        name = name.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name in ("gzip", "x-gzip"):
            return q > 0
        if name == "*":
            star = q > 0
    return star


def etag_matches(header: str, etag: str) -> bool:
    """``If-None-Match`` uses weak comparison (RFC 9110 §13.1.2); either variant's tag matches."""
    if header.strip() == "*":
        return True
    for tag in header.split(","):
        tag = tag.strip().removeprefix("W/").strip('"')
        if tag in (etag, etag + GZIP_ETAG_SUFFIX):
            return True
    return False


def not_modified(rep: Representation, headers: Message) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present; If-Modified-Since only otherwise."""
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        return etag_matches(if_none_match, rep.etag)
    if_modified_since = headers.get("If-Modified-Since")
    if not if_modified_since:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False  # an unparsable date is ignored, as the RFC says
    if since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    return rep.mtime <= since.timestamp()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "MeridianCourier/1.0"
    timeout = 30  # an idle keep-alive connection gives its thread back after this
    server: _Server

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Silent by design: a crawl makes hundreds of requests and stderr is the user's."""

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def do_GET(self) -> None:
        self._serve(head_only=False)

    def do_HEAD(self) -> None:
        self._serve(head_only=True)

    def _serve(self, head_only: bool) -> None:
        site = self.server.site
        if site.latency > 0:
            time.sleep(site.latency)
        found = site.lookup(unquote(urlsplit(self.path).path))
        if found is None:
            self._send(HTTPStatus.NOT_FOUND, NOT_FOUND_PAGE, {"Content-Type": CONTENT_TYPES[".html"]},
                       head_only)
        elif isinstance(found, str):
            self._send(HTTPStatus.MOVED_PERMANENTLY, b"", {"Location": site.url + found}, head_only)
        else:
            self._send_representation(found, head_only)

    def _send_representation(self, rep: Representation, head_only: bool) -> None:
        use_gzip = rep.gzipped is not None and accepts_gzip(self.headers.get("Accept-Encoding"))
        headers = {
            "Content-Type": rep.content_type,
            "Last-Modified": rep.last_modified,
            "ETag": f'"{rep.etag}{GZIP_ETAG_SUFFIX if use_gzip else ""}"',
            # Revalidate every time, so a re-crawl always asks and gets 304 or the new page.
            "Cache-Control": "no-cache",
        }
        if rep.gzipped is not None:
            headers["Vary"] = "Accept-Encoding"
        if not_modified(rep, self.headers):
            del headers["Content-Type"]
            self._send(HTTPStatus.NOT_MODIFIED, None, headers, head_only=True)
            return
        if use_gzip:
            headers["Content-Encoding"] = "gzip"
        self._send(HTTPStatus.OK, rep.gzipped if use_gzip else rep.body, headers, head_only)

    def _send(self, status: HTTPStatus, body: bytes | None, headers: dict[str, str],
              head_only: bool) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if body is not None:  # a 304 has no body and so no Content-Length
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head_only:
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], site: DemoSite) -> None:
        self.site = site
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(conn)

    def close_connections(self) -> None:
        """End idle keep-alive connections so their threads exit with the server, not later."""
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)


class DemoSite:
    """The demo site on a background thread: ``with DemoSite() as site: crawl(site.url + "/")``.

    The socket is bound in the constructor (as ``http.server`` does), so ``url`` and
    ``article_urls`` are known before ``start()``; port 0 picks a free port.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, root: Path | None = None,
                 latency: float = 0.0) -> None:
        self.root = Path(root) if root is not None else SITE_ROOT
        if not self.root.is_dir():
            raise FileNotFoundError(f"demo site directory not found: {self.root}")
        self.latency = latency
        self._cache: dict[Path, tuple[tuple[int, int], Representation]] = {}
        self._cache_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._httpd = _Server((host, port), self)
        url_host = "127.0.0.1" if host in ("", "0.0.0.0") else host
        self.url: str = f"http://{url_host}:{self._httpd.server_address[1]}"
        self.articles: list[dict[str, Any]] = self._load_manifest()
        self.article_urls: list[str] = [a["url"] for a in self.articles]

    def _load_manifest(self) -> list[dict[str, Any]]:
        """The site's ground truth (title, authors, dates per article), with absolute URLs."""
        path = self.root / MANIFEST_NAME
        if not path.is_file():
            return []
        manifest = json.loads(path.read_text(encoding="utf-8"))
        return [{**a, "url": self.url + a["path"]} for a in manifest.get("articles", [])]

    # -- serving -------------------------------------------------------------------------------
    def lookup(self, path: str) -> Representation | str | None:
        """A URL path -> its representation, a redirect target path (``str``), or None for 404."""
        if not path.startswith("/") or "\x00" in path:
            return None
        segments = [s for s in path.split("/") if s]
        # No dot segments and no hidden names: nothing outside the site or private to it leaks.
        if any(s in (".", "..") or s[0] in "._" for s in segments):
            return None
        target = self.root.joinpath(*segments)
        if target.is_dir():
            if segments and not path.endswith("/"):
                return path + "/"
            target = target / "index.html"
        if not target.is_file():
            return None
        return self._representation(target)

    def _representation(self, file: Path) -> Representation:
        stat = file.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        with self._cache_lock:
            cached = self._cache.get(file)
        if cached is not None and cached[0] == key:
            return cached[1]
        data = file.read_bytes()
        templated = file.suffix in TEMPLATED_SUFFIXES
        if templated:
            data = data.replace(BASE_PLACEHOLDER, self.url.encode("ascii"))
        rep = Representation(
            body=data,
            gzipped=gzip.compress(data, mtime=0) if templated else None,
            content_type=CONTENT_TYPES_BY_NAME.get(file.name)
            or CONTENT_TYPES.get(file.suffix, "application/octet-stream"),
            mtime=int(stat.st_mtime),
            etag=hashlib.sha1(data).hexdigest()[:20],
        )
        with self._cache_lock:
            self._cache[file] = (key, rep)
        return rep

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> DemoSite:
        if self._closed:
            raise RuntimeError("DemoSite was closed; make a new one")
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever,
                                            kwargs={"poll_interval": 0.1},
                                            name=f"demo-site {self.url}", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.close_connections()
        self._httpd.server_close()

    def __enter__(self) -> DemoSite:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crawler.demo.server",
        description="Serve the bundled demo news site (the fictional Meridian Courier).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free)")
    parser.add_argument("--root", type=Path, default=None, help="serve another site directory")
    parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                        help="delay every response by this long")
    args = parser.parse_args(argv)
    try:
        site = DemoSite(args.host, args.port, args.root, args.latency)
    except OSError as exc:
        print(f"error: cannot serve the demo site on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with site:
            print(f"READY {site.url}", flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
