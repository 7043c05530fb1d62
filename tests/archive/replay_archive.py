"""A small archive in the DESIGN.md layout, written with warcio, for the replay-side tests.

Two crawls of a made-up news site: the first fetches a robots.txt, N articles (every other one
gzip-encoded on the wire, as servers do), and a short link that redirects to article 1; the
second fetches article 0 again and finds the same payload, so it writes a ``revisit`` record,
and fetches article 2 whose text was corrected. Every page carries a unique headline so tests
can tell captures apart. Nothing here touches the network: the URLs are never fetched.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cdxj_indexer.main import write_cdx_index
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

SITE = "http://news.example.test"
CRAWL_1 = "20261129T100000Z-aaaaaa"
CRAWL_2 = "20261130T100000Z-bbbbbb"
T1 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=timezone.utc)
T2 = datetime(2026, 11, 30, 10, 0, 0, tzinfo=timezone.utc)

_WORDS = [
    "council",
    "harbour",
    "budget",
    "winter",
    "ferry",
    "museum",
    "river",
    "market",
    "school",
    "bridge",
    "festival",
    "library",
    "station",
    "mayor",
    "engineers",
    "residents",
    "committee",
    "report",
    "hospital",
    "rainfall",
    "coastline",
    "tram",
    "orchestra",
    "farmers",
    "election",
    "survey",
    "volunteers",
    "archive",
    "lighthouse",
    "vineyard",
    "timber",
    "canal",
]


def article_url(i: int) -> str:
    return f"{SITE}/2026/11/29/article-{i}.html"


def headline(i: int, revision: int = 0) -> str:
    suffix = " (corrected)" if revision else ""
    return f"Headline {i}: the {_WORDS[i % len(_WORDS)]} story{suffix}"


def paragraphs(i: int, revision: int = 0) -> list[str]:
    rng = random.Random(i)
    paras = []
    for _p in range(5):
        words = [rng.choice(_WORDS) for _ in range(45)]
        paras.append(" ".join(words).capitalize() + ".")
    if revision:
        paras.append("Correction: an earlier version of this article misstated the date.")
    return paras


def article_html(i: int, revision: int = 0) -> bytes:
    title = headline(i, revision)
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs(i, revision))
    nav = "".join(
        f'<li><a href="/2026/11/29/article-{j}.html">Story {j}</a></li>' for j in range(3)
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | Example News</title>
<meta property="og:title" content="{title}">
<meta name="author" content="Reporter {i}">
<meta property="article:published_time" content="2026-11-29T08:00:00+00:00">
</head><body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/world/">World</a></li></ul></nav></header>
<main><article>
<h1>{title}</h1>
<p class="byline">By Reporter {i}</p>
{body}
</article>
<aside><h2>Latest news</h2><ul>{nav}</ul></aside></main>
<footer><p>Example News footer</p></footer>
</body></html>
""".encode()


@dataclass
class Capture:
    url: str
    date: datetime
    status: int
    body: bytes  # as on the wire (possibly gzip-encoded)
    decoded: bytes  # what a browser renders
    headers: list[tuple[str, str]]
    warc_file: str = ""  # relative to the archive root, like record pointers
    offset: int = 0
    length: int = 0
    record_id: str = ""
    payload_digest: str = ""
    revisit_of: Capture | None = None


@dataclass
class FixtureArchive:
    root: Path
    n: int
    captures: list[Capture] = field(default_factory=list)

    def latest(self, url: str) -> Capture:
        return max((c for c in self.captures if c.url == url), key=lambda c: c.date)

    @property
    def article_urls(self) -> list[str]:
        return [article_url(i) for i in range(self.n)]


def _ts(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def _http_date(d: datetime) -> str:
    return d.strftime("%a, %d %b %Y %H:%M:%S GMT")


def _response(
    url: str,
    date: datetime,
    decoded: bytes,
    *,
    gz: bool,
    content_type: str,
    status: int = 200,
    extra: list[tuple[str, str]] | None = None,
) -> Capture:
    body = gzip.compress(decoded, mtime=0) if gz else decoded
    headers = [("Date", _http_date(date)), ("Content-Type", content_type)]
    if gz:
        headers.append(("Content-Encoding", "gzip"))
        headers.append(("Vary", "Accept-Encoding"))
    headers += extra or []
    headers.append(("Content-Length", str(len(body))))
    return Capture(url, date, status, body, decoded, headers)


def _write_crawl(root: Path, crawl_id: str, host: str, captures: list[Capture]) -> None:
    rel = f"{crawl_id}/NEWSARCHIVE-{captures[0].date:%Y%m%d%H%M%S}-00000-{host}.warc.gz"
    path = root / "warc" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True, warc_version="1.1")
        info = writer.create_warcinfo_record(
            path.name, {"software": "newsarchive-tests", "crawl_id": crawl_id}
        )
        writer.write_record(info)
        for c in captures:
            reason = {200: "OK", 301: "Moved Permanently"}[c.status]
            http = StatusAndHeaders(f"{c.status} {reason}", c.headers, protocol="HTTP/1.1")
            warc_headers = {"WARC-Date": _ts(c.date), "WARC-IP-Address": "127.0.0.1"}
            if c.revisit_of is not None:
                orig = c.revisit_of
                rec = writer.create_revisit_record(
                    c.url,
                    orig.payload_digest,
                    orig.url,
                    _ts(orig.date),
                    http_headers=http,
                    warc_headers_dict=warc_headers,
                )
            else:
                rec = writer.create_warc_record(
                    c.url,
                    "response",
                    payload=io.BytesIO(c.body),
                    http_headers=http,
                    warc_headers_dict=warc_headers,
                )
            req = writer.create_warc_record(
                c.url,
                "request",
                http_headers=StatusAndHeaders(
                    f"GET {c.url.split(host, 1)[1] or '/'} HTTP/1.1",
                    [("Host", host), ("Accept-Encoding", "gzip, deflate, br")],
                    is_http_request=True,
                ),
                warc_headers_dict={
                    "WARC-Date": _ts(c.date),
                    "WARC-Concurrent-To": rec.rec_headers["WARC-Record-ID"],
                },
            )
            c.offset = f.tell()
            writer.write_record(rec)
            c.length = f.tell() - c.offset
            writer.write_record(req)
            c.warc_file = f"warc/{rel}"
            c.record_id = rec.rec_headers["WARC-Record-ID"]
            c.payload_digest = rec.rec_headers.get("WARC-Payload-Digest", "")
    index = root / "index" / f"{crawl_id}.cdxj"
    index.parent.mkdir(parents=True, exist_ok=True)
    write_cdx_index(str(index), [str(path)], {"sort": True, "dir_root": str(root / "warc")})


def _record(c: Capture, crawl_id: str, i: int, revision: int) -> dict:
    """A record in DESIGN.md's schema, with the text the page carries (what a crawl extracts)."""
    from pipelines.textfp import simhash, text_sha1

    text = "\n\n".join(paragraphs(i, revision))
    return {
        "id": hashlib.sha1(c.url.encode()).hexdigest(),
        "url": c.url,
        "final_url": c.url,
        "canonical_url": c.url,
        "domain": "news.example.test",
        "site_name": "Example News",
        "title": headline(i, revision),
        "authors": [f"Reporter {i}"],
        "published": "2026-11-29T08:00:00+00:00",
        "modified": None,
        "language": "en",
        "description": None,
        "section": None,
        "tags": [],
        "text": text,
        "word_count": len(text.split()),
        "images": [],
        "links": {"article": [], "navigation": [], "media": []},
        "discovered_via": {
            "kind": "homepage",
            "source": SITE + "/",
            "published": None,
            "title": None,
        },
        "fetched_at": _ts(c.date),
        "http_status": c.status,
        "content_type": "text/html; charset=utf-8",
        "text_sha1": text_sha1(text),
        "simhash": simhash(text),
        "warc": {
            "file": c.warc_file,
            "offset": c.offset,
            "length": c.length,
            "record_id": c.record_id,
            "payload_digest": c.payload_digest,
        },
        "crawl_id": crawl_id,
        "extractor": {"name": "fixture", "version": "0", "options": {}},
        "schema_version": 1,
    }


def _write_records(root: Path, crawl_id: str, records: list[dict]) -> None:
    path = root / "articles" / crawl_id / "articles-00000.jsonl.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def build_archive(root: Path, n: int = 12) -> FixtureArchive:
    """Write the two-crawl archive under ``root`` and return what it holds."""
    host = "news.example.test"
    html = "text/html; charset=utf-8"
    arch = FixtureArchive(root, n)

    crawl1: list[Capture] = [
        _response(
            f"{SITE}/robots.txt",
            T1,
            b"User-agent: *\nAllow: /\n",
            gz=False,
            content_type="text/plain",
        )
    ]
    for i in range(n):
        crawl1.append(
            _response(
                article_url(i),
                T1 + timedelta(seconds=i + 1),
                article_html(i),
                gz=bool(i % 2),
                content_type=html,
            )
        )
    crawl1.append(
        _response(
            f"{SITE}/s/1",
            T1 + timedelta(seconds=n + 1),
            b"",
            gz=False,
            content_type=html,
            status=301,
            extra=[("Location", article_url(1))],
        )
    )
    _write_crawl(root, CRAWL_1, host, crawl1)

    first = crawl1[1]
    again = _response(first.url, T2, first.decoded, gz=False, content_type=html)
    again.revisit_of = first
    corrected = _response(
        article_url(2), T2 + timedelta(seconds=1), article_html(2, 1), gz=False, content_type=html
    )
    _write_crawl(root, CRAWL_2, host, [again, corrected])

    arch.captures = [*crawl1, again, corrected]
    _write_records(root, CRAWL_1, [_record(crawl1[i + 1], CRAWL_1, i, 0) for i in range(n)])
    _write_records(root, CRAWL_2, [_record(corrected, CRAWL_2, 2, 1)])
    return arch


@contextlib.contextmanager
def running_replay(root: Path, *extra: str, python: str, timeout: float = 60.0) -> Iterator[str]:
    """``newsarchive replay`` on a free port in a subprocess, running pywb from ``python`` (the
    ``pywb_python`` fixture of tests/support/pywb.py); yields its base URL (``.../news/``)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "archive", "replay", str(root), "--port", "0",
         "--pywb-python", python, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("READY ") or not line:
                break
        if not line.startswith("READY "):
            proc.kill()
            raise RuntimeError(f"replay server did not start: {line!r} {proc.stderr.read()[-2000:]}")
        # Drain stdout so pywb's per-request chatter never fills the pipe and blocks the server.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        yield line.split(" ", 1)[1].strip()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- a live local site, for end-to-end tests that crawl it with the real crawler -----------------


def homepage_html(n: int) -> bytes:
    items = "".join(
        f'<li><a href="/2026/11/29/article-{i}.html">{headline(i)}</a></li>' for i in range(n)
    )
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Example News</title>"
        f"</head><body><h1>Example News</h1><ul>{items}</ul></body></html>"
    ).encode()


class _SiteHandler(BaseHTTPRequestHandler):
    n = 0
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        ctype = "text/html; charset=utf-8"
        if path == "/":
            body = homepage_html(self.n)
        elif path == "/robots.txt":
            body, ctype = b"User-agent: *\nAllow: /\n", "text/plain"
        elif (m := re.fullmatch(r"/2026/11/29/article-(\d+)\.html", path)) and int(m[1]) < self.n:
            body = article_html(int(m[1]))
        else:
            self.send_error(404)
            return
        gz = "gzip" in (self.headers.get("Accept-Encoding") or "") and len(body) % 2 == 0
        if gz:
            body = gzip.compress(body, mtime=0)
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if gz:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serving_site(n: int) -> Iterator[str]:
    """The made-up news site with ``n`` articles on 127.0.0.1 (a free port); yields its URL."""
    handler = type("Handler", (_SiteHandler,), {"n": n})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def crawl_site(out: Path, n: int) -> str:
    """Crawl the local site into ``out`` with ``newsarchive crawl``; returns the crawl id."""
    with serving_site(n) as url:
        proc = subprocess.run(
            [sys.executable, "-m", "archive", "crawl", url, "--out", str(out),
             "--set", "DOWNLOAD_DELAY=0", "--set", "AUTOTHROTTLE_ENABLED=False"],
            capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2],
        )
    if proc.returncode != 0:
        raise RuntimeError(f"crawl failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return next((out / "warc").iterdir()).name
