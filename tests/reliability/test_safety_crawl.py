"""Safety end to end: a page cannot lead the crawler into the operator's network, and secrets
given to the crawler never come out of it (logs, WARCs, index, records, manifest, error messages).

A small "public" site on 127.0.0.1 (the seed) links and redirects to an "internal" server on
another loopback port, which counts every request it gets: it must get none.
"""

from __future__ import annotations

import gzip
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.reliability.support import crawl_cmd, run_measured
from tests.support.servers import demo_site

ARTICLE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Harbour wall repaired</title>
<meta property="og:type" content="article"></head><body><article><h1>Harbour wall repaired</h1>
{paras}</article></body></html>"""
PARA = ("<p>Workers finished repairing the old harbour wall on Friday, three weeks ahead of the "
        "schedule the council had published in the spring, and the fishing boats moved back.</p>")


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def serve(pages: dict[str, tuple[int, dict[str, str], bytes]]):
    """A threaded server on 127.0.0.1 answering ``pages`` (path -> status, headers, body) and
    counting requests per path; 404 elsewhere."""
    hits: Counter[str] = Counter()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            hits[self.path] += 1
            status, headers, body = pages.get(self.path, (404, {}, b"not found"))
            self.send_response(status)
            for k, v in {"Content-Type": "text/html; charset=utf-8", **headers}.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}", hits


def private_hostname() -> str | None:
    """A name (not an IP literal, not "localhost") that resolves to a loopback or private
    address on this machine, as an intranet name would: the machine's own host name usually."""
    import ipaddress

    name = socket.gethostname()
    try:
        infos = socket.getaddrinfo(name, 80, proto=socket.IPPROTO_TCP)
    except OSError:
        return None
    addresses = {info[4][0] for info in infos}
    if name and "." not in name and addresses and all(not ipaddress.ip_address(a).is_global for a in addresses):
        return name
    return None


@pytest.fixture
def sites():
    internal, internal_url, internal_hits = serve({
        "/": (200, {}, b"<html><body>admin console</body></html>"),
        "/robots.txt": (200, {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\n"),
    })
    port = internal.server_address[1]
    hostname = private_hostname()
    links = [
        f"{internal_url}/",  # another port on the seed's own loopback host
        f"{internal_url}/2026/11/30/internal-memo-leaked.html",  # looks like an article
        "/go/internal",  # redirects there
        "/go/file",  # redirects to file:
        "http://10.0.0.1/2026/11/30/router-admin-page.html",
        "http://169.254.169.254/latest/meta-data/",  # the cloud metadata service
    ]
    if hostname:
        links.append(f"http://{hostname}:{port}/2026/11/30/named-internal-host.html")
    home = "<html><body>" + "".join(f'<a href="{h}">link {i}</a> ' for i, h in enumerate(links))
    home += '<a href="/2026/11/30/harbour-wall-repaired.html">Harbour wall</a></body></html>'
    public, public_url, _public_hits = serve({
        "/": (200, {}, home.encode()),
        "/robots.txt": (200, {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\n"),
        "/2026/11/30/harbour-wall-repaired.html": (200, {}, ARTICLE.format(paras=PARA * 6).encode()),
        "/go/internal": (302, {"Location": f"{internal_url}/2026/11/30/redirected-memo.html"}, b""),
        "/go/file": (302, {"Location": "file:///etc/passwd"}, b""),
    })
    try:
        yield public_url, internal_hits, hostname
    finally:
        public.shutdown()
        internal.shutdown()


def crawl_sites(out: Path, public_url: str, hostname: str | None, *extra: str):
    args = [public_url + "/", "--log-level", "INFO"]
    if hostname:  # let the spider follow it, so that only the middleware stands in the way
        args += ["--set", f"NEWSARCHIVE_DISCOVERY_ALLOWED_DOMAINS={hostname}"]
    return run_measured(crawl_cmd(out, *args, *extra), out, timeout=120)


def test_pages_and_redirects_cannot_reach_internal_addresses(sites, tmp_path):
    public_url, internal_hits, hostname = sites
    run = crawl_sites(tmp_path / "archive", public_url, hostname)
    assert run.returncode == 0, run.stderr[-3000:]
    assert sum(internal_hits.values()) == 0, dict(internal_hits)
    stats = run.manifest["stats"]
    # the other loopback port and the redirect to it (and the named host, where there is one)
    assert stats.get("newsarchive/safety/refused/private_address", 0) >= 2 + bool(hostname)
    assert stats.get("newsarchive/safety/refused_redirects", 0) >= 1
    # every refusal is a counted skip with its own reason
    assert run.manifest["skipped"].get("download_error/UnsafeRequest", 0) >= 2
    # the private IP literals never got past the spider's own link policy
    assert stats.get("newsarchive/discovery/skipped/off_site", 0) >= 2
    # and the crawl itself went on: the public article is recorded
    assert [r["url"] for r in run.records()] == [f"{public_url}/2026/11/30/harbour-wall-repaired.html"]


def test_allow_private_lets_them_through(sites, tmp_path):
    """The same crawl with the setting on does reach the internal server (so the test above
    can fail)."""
    public_url, internal_hits, hostname = sites
    run = crawl_sites(tmp_path / "archive", public_url, hostname,
                      "--set", "NEWSARCHIVE_SAFETY_ALLOW_PRIVATE=True")
    assert run.returncode == 0, run.stderr[-3000:]
    assert sum(internal_hits.values()) >= 2
    assert not run.manifest["stats"].get("newsarchive/safety/refused/private_address")


SECRET_KEY = "AKIAS3CRETKEY0000001"
SECRET_ACCESS = "s3cret-access-key/with+slash"
SECRET_PASSWORD = "pw-s3cret-in-url"


def everything_written(out: Path) -> str:
    """Every byte the crawl left on disk, decompressed, as text."""
    parts = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        parts.append(data.decode("utf-8", "replace"))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def credentials_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("creds") / "archive"
    with demo_site() as site:
        seed = site.url.replace("http://", f"http://newsdesk:{SECRET_PASSWORD}@") + "/"
        run = run_measured(crawl_cmd(out, seed, "--log-level", "DEBUG",
                                     "--set", f"AWS_ACCESS_KEY_ID={SECRET_KEY}",
                                     "--set", f"AWS_SECRET_ACCESS_KEY={SECRET_ACCESS}"),
                           out, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


@pytest.mark.parametrize("secret", [SECRET_KEY, SECRET_ACCESS, SECRET_PASSWORD])
def test_credentials_never_appear_in_logs(credentials_run, secret):
    assert secret not in credentials_run.stdout + credentials_run.stderr


def test_credentials_are_redacted_where_they_would_have_been_logged(credentials_run):
    """The check above is only worth something if the secrets were there to leak."""
    assert "'AWS_SECRET_ACCESS_KEY': '<redacted>'" in credentials_run.stderr


@pytest.mark.parametrize("kind", ["warc", "index", "articles"])
@pytest.mark.parametrize("secret", [SECRET_KEY, SECRET_ACCESS, SECRET_PASSWORD])
def test_credentials_never_appear_in_warcs_index_or_records(credentials_run, secret, kind):
    written = everything_written(credentials_run.out / kind)
    assert written, f"nothing under {kind}/"
    assert secret not in written


def test_url_credentials_are_sent_as_a_header_and_redacted_in_the_warc(credentials_run):
    warc = everything_written(credentials_run.out / "warc")
    assert "Authorization: <redacted>" in warc
    assert "newsdesk" not in warc  # not even the user name
    assert len(credentials_run.records()) >= 5  # the crawl went on as usual


def test_credentials_never_appear_in_the_manifest(credentials_run):
    manifest = everything_written(credentials_run.out / "crawls")
    assert manifest
    for secret in (SECRET_KEY, SECRET_ACCESS, SECRET_PASSWORD):
        assert secret not in manifest


def test_credentials_never_appear_in_error_messages(tmp_path):
    import subprocess
    import sys

    from tests.reliability.support import REPO

    proc = subprocess.run([sys.executable, "-m", "archive", "crawl", f"ftp://newsdesk:{SECRET_PASSWORD}@host.example/",
                           "--out", str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 2
    assert "ftp://" in proc.stderr  # the message still says which seed is wrong
    assert SECRET_PASSWORD not in proc.stderr


def test_replay_binds_loopback_by_default():
    import argparse

    from archive.cli import replay

    parser = argparse.ArgumentParser()
    replay.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["replay", "some-archive"])
    assert args.host == "127.0.0.1"
