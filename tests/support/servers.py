"""Local HTTP servers for tests: the bundled demo site, the hostile site, the benchmark newsite.

Everything binds 127.0.0.1; nothing here touches the internet. Process servers print
``READY <url>`` on stdout once they listen, and are stopped (then killed if need be) when their
``with`` block ends, so a failing test never leaves one behind.
"""

from __future__ import annotations

import contextlib
import http.client
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import pytest

from crawler.demo.server import DemoSite

REPO = Path(__file__).resolve().parents[2]
HOSTILE_SITE_SCRIPT = Path(__file__).resolve().with_name("hostile_site.py")
BENCH_DIR = REPO.parent / "shared" / "bench"
NEWSITE_SCRIPT = BENCH_DIR / "newsite.py"
NEWSITE_PAGES = BENCH_DIR / "extraction" / "scrapinghub" / "html"
NEWSITE_DATE = "2026/11/29"  # newsite.py's default --date: its article URLs contain it


@dataclass(frozen=True)
class Fetched:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def fetch(url: str, headers: dict[str, str] | None = None, method: str = "GET",
          timeout: float = 10.0) -> Fetched:
    """One request with the standard library's client: redirects are not followed and a 4xx or
    5xx is an answer, not an exception, so tests see exactly what the server sent."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, headers=headers or {})
        resp = conn.getresponse()
        return Fetched(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago. Prefer port 0 and the READY line where a server allows it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _drain(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Read the child's stdout to the end, so a chatty child never blocks on a full pipe."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def _stop(proc: subprocess.Popen[str], grace: float = 5.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def start_process_server(cmd: list[str], timeout: float = 20) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``cmd``, wait for its ``READY <url>`` line, yield ``(process, url)``; stop it on exit.

    ``url`` is the first word after READY without a trailing slash. Raises RuntimeError with the
    child's stderr when it exits, or is not READY and accepting connections within ``timeout``
    seconds.
    """
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as stderr:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1)
        try:
            lines: queue.Queue[str | None] = queue.Queue()
            assert proc.stdout is not None
            threading.Thread(target=_drain, args=(proc.stdout, lines), daemon=True).start()
            deadline = time.monotonic() + timeout
            url, eof = _wait_ready(lines, deadline)
            # Some servers (newsite.py's asyncio backend) print READY just before they bind.
            if url is not None and not _wait_listening(url, deadline):
                url = None
            if url is None:
                try:  # a child that closed stdout is exiting: let it finish to report its code
                    code = proc.wait(2 if eof else 0)
                except subprocess.TimeoutExpired:
                    code = None
                _stop(proc)
                stderr.seek(0)
                tail = stderr.read()[-2000:]
                state = f"exited with {code}" if code is not None else f"timed out after {timeout}s"
                raise RuntimeError(f"server {cmd!r} {state} before it was READY and listening; "
                                   f"stderr:\n{tail}")
            yield proc, url
        finally:
            _stop(proc)


def _wait_ready(lines: queue.Queue[str | None], deadline: float) -> tuple[str | None, bool]:
    """-> (url from the READY line or None, whether the child closed its stdout)."""
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            return None, True
        words = line.split()
        if len(words) >= 2 and words[0] == "READY":
            return words[1].rstrip("/"), False
    return None, False


def _wait_listening(url: str, deadline: float) -> bool:
    parts = urlsplit(url)
    while time.monotonic() < deadline:
        try:
            socket.create_connection((parts.hostname, parts.port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def newsite_article_urls(url: str, n: int) -> list[str]:
    """The article URLs newsite.py serves for ``n`` articles (its URL scheme is fixed)."""
    return [f"{url}/{NEWSITE_DATE}/article-{i}.html" for i in range(n)]


@contextlib.contextmanager
def newsite(n: int, latency_ms: int = 0, extra_args: Sequence[str] = ()) -> Iterator[str]:
    """The shared benchmark site (``../shared/bench/newsite.py``) with ``n`` articles; yields its
    URL (no trailing slash). ``newsite_article_urls(url, n)`` lists its articles.

    ``extra_args`` go to newsite.py as they are (e.g. ``["--gzip"]``, ``["--jitter-ms", "50"]``).

    Skips the test when the benchmark is not checked out next to the repository (a clean CI clone).
    """
    if not NEWSITE_SCRIPT.is_file():
        pytest.skip(f"benchmark site not available: {NEWSITE_SCRIPT} is missing")
    if not NEWSITE_PAGES.is_dir():
        pytest.skip(f"benchmark pages not available: {NEWSITE_PAGES} is missing")
    cmd = [sys.executable, str(NEWSITE_SCRIPT), "--src", str(NEWSITE_PAGES), "--n", str(n),
           "--port", "0", "--latency-ms", str(latency_ms), *extra_args]
    with start_process_server(cmd) as (_proc, url):
        yield url


@contextlib.contextmanager
def demo_site(**kwargs: Any) -> Iterator[DemoSite]:
    """The bundled demo site in this process; keyword arguments go to ``DemoSite``."""
    with DemoSite(**kwargs) as site:
        yield site


@contextlib.contextmanager
def hostile_site(stall_seconds: float = 60.0, timeout: float = 20) -> Iterator[str]:
    """The hostile site (``hostile_site.py``) in a child process; yields its URL (no trailing
    slash). ``hostile_site.expected(url)`` (or GET ``/expected.json``) says what each URL is.

    A child process, so a stalled or 60 MB response costs the test process nothing, and stopping
    it cuts every connection at once.
    """
    cmd = [sys.executable, str(HOSTILE_SITE_SCRIPT), "--port", "0", "--stall-seconds", str(stall_seconds)]
    with start_process_server(cmd, timeout) as (_proc, url):
        yield url
