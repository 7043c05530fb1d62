"""The local test servers start, answer as documented, and stop."""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import threading
import time
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import lxml.html
import pytest

from crawler.demo.server import DemoSite
from tests.support import hostile_site as hs
from tests.support.servers import (
    demo_site,
    fetch,
    free_port,
    hostile_site,
    newsite,
    newsite_article_urls,
    start_process_server,
)

SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def refused(url: str) -> bool:
    try:
        fetch(url, timeout=2)
    except ConnectionRefusedError:
        return True
    return False


# ------------------------------------------------------------------------------------ helpers
def test_free_port_is_bindable():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_start_process_server_reports_a_child_that_dies(tmp_path):
    cmd = [sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"]
    with pytest.raises(RuntimeError, match=r"(?s)exited with 3.*boom"), start_process_server(cmd):
        pass


def test_start_process_server_times_out_and_kills_a_silent_child(tmp_path):
    pidfile = tmp_path / "pid"
    cmd = [sys.executable, "-c",
           f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"]
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="timed out"), start_process_server(cmd, timeout=1):
        pass
    assert time.monotonic() - started < 10
    with pytest.raises(ProcessLookupError):
        os.kill(int(pidfile.read_text()), 0)


def test_demo_server_as_a_process_starts_serves_and_stops():
    with start_process_server([sys.executable, "-m", "crawler.demo.server", "--port", "0"]) as (proc, url):
        assert url.startswith("http://127.0.0.1:") and not url.endswith("/")
        home = fetch(url + "/")
        assert home.status == 200 and b"Meridian Courier" in home.body
    assert proc.returncode == 0  # SIGTERM is a clean stop
    assert refused(url + "/")


# ------------------------------------------------------------------------------------ demo site
def test_demo_site_starts_serves_and_stops():
    with demo_site() as site:
        assert isinstance(site, DemoSite)
        assert fetch(site.url + "/").status == 200
        assert fetch(site.url + "/no-such-page").status == 404
        assert all(fetch(u).status == 200 for u in site.article_urls)
    assert refused(site.url + "/")


def test_demo_site_close_ends_idle_keep_alive_connections():
    site = DemoSite().start()
    conn = http.client.HTTPConnection("127.0.0.1", int(site.url.rsplit(":", 1)[1]), timeout=5)
    conn.request("GET", "/")
    conn.getresponse().read()  # the connection stays open (HTTP/1.1 keep-alive)
    started = time.monotonic()
    site.close()
    assert time.monotonic() - started < 3
    conn.sock.settimeout(3)
    assert conn.sock.recv(1) == b""  # the server shut it
    conn.close()


def test_demo_site_latency():
    with demo_site(latency=0.3) as site:
        started = time.monotonic()
        assert fetch(site.url + "/robots.txt").status == 200
        assert time.monotonic() - started >= 0.3


def test_demo_site_refuses_a_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError):
        DemoSite(root=tmp_path / "absent")


# ------------------------------------------------------------------------------------ hostile site
@pytest.fixture(scope="module")
def hostile():
    with hostile_site(stall_seconds=30) as url:
        yield url


def hrefs(body: bytes) -> list[str]:
    return lxml.html.fromstring(body).xpath("//a/@href")


def test_hostile_expected_json_matches_module_and_homepage_links_every_case(hostile):
    served = json.loads(fetch(hostile + "/expected.json").body)
    assert served == hs.expected(hostile)
    assert len(served["good"]) == 9 and len(served["junk"]) >= 15
    links = hrefs(fetch(hostile + "/").body)
    for case in served["cases"]:
        assert case["href"] in links, case["name"]
    for odd in served["unfetchable_links"]:
        assert odd in links


def test_hostile_good_articles_are_articles(hostile):
    for story in hs.GOOD:
        r = fetch(hostile + story.path)
        assert r.status == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
        doc = lxml.html.fromstring(r.body)
        assert doc.xpath("string(//h1)") == story.title
        assert doc.xpath("string(//link[@rel='canonical']/@href)") == hostile + story.path
        assert len(doc.xpath("//article/p")) >= 5


def test_hostile_rate_limited_article_alternates_429_and_200(hostile):
    url = hostile + hs.RATE_LIMITED_STORY.path
    first, second = fetch(url), fetch(url)
    assert (first.status, first.headers["Retry-After"]) == (429, "1")
    assert second.status == 200 and hs.RATE_LIMITED_STORY.title.encode() in second.body


def test_hostile_encoding_cases(hostile):
    wrong = fetch(hostile + hs.CP1252_STORY.path)
    assert wrong.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<meta charset="utf-8">' in wrong.body
    with pytest.raises(UnicodeDecodeError):
        wrong.body.decode("utf-8")
    assert "Café" in wrong.body.decode("cp1252") and "€120" in wrong.body.decode("cp1252")

    meta = fetch(hostile + hs.META_CHARSET_STORY.path)
    assert meta.headers["Content-Type"] == "text/html"
    assert b"charset=windows-1252" in meta.body
    assert "Weiß" in meta.body.decode("cp1252")

    nul = fetch(hostile + hs.NUL_STORY.path)
    assert nul.status == 200 and nul.body.count(b"\x00") >= 5
    unclosed = fetch(hostile + hs.UNCLOSED_STORY.path)
    assert unclosed.status == 200 and b"</p>" not in unclosed.body and b"</html>" not in unclosed.body


def test_hostile_simple_bad_responses(hostile):
    binary = fetch(hostile + "/junk/binary.html")
    assert binary.headers["Content-Type"].startswith("text/html") and len(binary.body) == 65536
    with pytest.raises(UnicodeDecodeError):
        binary.body.decode("utf-8")
    empty = fetch(hostile + "/junk/empty.html")
    assert (empty.status, empty.body, empty.headers["Content-Length"]) == (200, b"", "0")
    assert fetch(hostile + "/junk/error-500.html").status == 500
    assert fetch(hostile + "/etc/passwd").status == 404
    assert fetch(hostile + "/huge/17.html").status == 404
    pdf = fetch(hostile + "/files/annual-report.pdf")
    assert pdf.headers["Content-Type"] == "application/pdf" and pdf.body.startswith(b"%PDF-")
    png = fetch(hostile + "/files/harbour.png")
    assert png.headers["Content-Type"] == "image/png" and png.body.startswith(b"\x89PNG")


def test_hostile_redirects(hostile):
    a = fetch(hostile + "/loop/a")
    assert (a.status, a.headers["Location"]) == (302, "/loop/b")
    b = fetch(hostile + "/loop/b")
    assert (b.status, b.headers["Location"]) == (302, hostile + "/loop/a")
    chain = fetch(hostile + "/chain/41")
    assert (chain.status, chain.headers["Location"]) == (301, "/chain/42")


def test_hostile_endless_spaces(hostile):
    december = hrefs(fetch(hostile + "/calendar/2026/12/").body)
    assert "/calendar/2027/01/" in december and "/calendar/2026/11/" in december
    assert fetch(hostile + "/calendar/2026/13/").status == 404
    page = hrefs(fetch(hostile + "/list?page=41").body)
    assert "/list?page=42" in page
    first, second = (set(hrefs(fetch(hostile + "/session/").body)) for _ in range(2))
    assert all("sid=" in h for h in first) and not first & second
    article = next(h for h in first if h.startswith("/articles/"))
    assert fetch(hostile + article).body == fetch(hostile + article.split("?")[0]).body


def test_hostile_truncated_body(hostile):
    conn = http.client.HTTPConnection(*hostile.removeprefix("http://").split(":"), timeout=5)
    conn.request("GET", "/junk/truncated.html")
    resp = conn.getresponse()
    assert resp.headers["Content-Length"] == str(hs.TRUNCATED_DECLARED_BYTES)
    with pytest.raises(http.client.IncompleteRead) as err:
        resp.read()
    assert len(err.value.partial) == 2000
    conn.close()


def test_hostile_stall_sends_headers_then_nothing(hostile):
    conn = http.client.HTTPConnection(*hostile.removeprefix("http://").split(":"), timeout=1)
    conn.request("GET", "/junk/stall.html")
    resp = conn.getresponse()
    assert resp.status == 200
    with pytest.raises(TimeoutError):
        resp.read()
    conn.close()


def test_hostile_connection_reset(hostile):
    with pytest.raises(ConnectionResetError):
        fetch(hostile + "/junk/reset.html")


def test_hostile_huge_page_streams_60_mb(hostile):
    conn = http.client.HTTPConnection(*hostile.removeprefix("http://").split(":"), timeout=10)
    conn.request("GET", "/junk/huge.html")
    resp = conn.getresponse()
    declared = int(resp.headers["Content-Length"])
    assert declared >= 60 * 10**6
    total = 0
    while chunk := resp.read(1 << 20):
        total += len(chunk)
    assert total == declared
    conn.close()


def test_hostile_gzip_bomb(hostile):
    r = fetch(hostile + "/junk/gzip-bomb.html", timeout=30)
    assert r.headers["Content-Encoding"] == "gzip" and len(r.body) < 2**20
    inflater, pending, total = zlib.decompressobj(31), r.body, 0
    while pending:  # 1 MiB of output at a time: the test must not hold 500 MiB itself
        total += len(inflater.decompress(pending, 1 << 20))
        pending = inflater.unconsumed_tail
    assert inflater.eof and total == hs.BOMB_INFLATED_BYTES


def test_hostile_feeds_and_sitemaps(hostile):
    with pytest.raises(ET.ParseError):
        ET.fromstring(fetch(hostile + "/feed.xml").body)
    odd = ET.fromstring(fetch(hostile + "/feed-odd.xml").body).findall("./channel/item")
    assert any(i.find("link") is None for i in odd)
    assert "yesterday, around teatime" in [i.findtext("pubDate") for i in odd]
    index = ET.fromstring(fetch(hostile + "/sitemap-index.xml").body)
    assert hostile + "/sitemap-index.xml" in [s.findtext(f"{SM}loc") for s in index]
    odd_map = ET.fromstring(fetch(hostile + "/sitemap.xml").body).findall(f"{SM}url")
    assert any(u.find(f"{SM}loc") is None for u in odd_map)
    news = ET.fromstring(fetch(hostile + "/news-sitemap.xml").body).findall(f"{SM}url")
    assert any(u.find(f"{SM}loc") is None for u in news)
    huge = fetch(hostile + "/sitemap-huge.xml", timeout=30)
    assert huge.body.count(b"<loc>") == hs.HUGE_SITEMAP_URLS
    robots = fetch(hostile + "/robots.txt").body.decode()
    assert f"Sitemap: {hostile}/sitemap-index.xml" in robots


def test_hostile_stats_count_requests_per_case(hostile):
    before = json.loads(fetch(hostile + "/_stats.json").body).get("calendar", 0)
    for month in ("01", "02", "03"):
        fetch(f"{hostile}/calendar/2030/{month}/")
    after = json.loads(fetch(hostile + "/_stats.json").body)["calendar"]
    assert after == before + 3


def test_hostile_site_stops_and_releases_stalled_clients():
    """In-process: close() must not wait for a stalled response's timer."""
    site = hs.HostileSite(stall_seconds=60).start()
    port = int(site.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/junk/stall.html")
    resp = conn.getresponse()
    outcome: list[object] = []
    reader = threading.Thread(target=lambda: outcome.append(_read_or_error(resp)))
    reader.start()
    time.sleep(0.2)
    started = time.monotonic()
    site.close()
    reader.join(5)
    assert not reader.is_alive() and time.monotonic() - started < 5
    assert isinstance(outcome[0], http.client.IncompleteRead)
    assert refused(site.url + "/")


def _read_or_error(resp: http.client.HTTPResponse) -> object:
    try:
        return resp.read()
    except Exception as exc:
        return exc


def test_hostile_script_refuses_a_public_address():
    script = Path(hs.__file__)
    with pytest.raises(RuntimeError, match="exited with 2"), start_process_server(
            [sys.executable, str(script), "--host", "0.0.0.0", "--port", "0"], timeout=10):
        pass


# ------------------------------------------------------------------------------------ newsite
def test_newsite_serves_n_articles():
    with newsite(5) as url:
        rss = ET.fromstring(fetch(url + "/feed.xml").body)
        links = [i.findtext("link") for i in rss.findall("./channel/item")]
        assert links == newsite_article_urls(url, 5)
        assert all(fetch(u).status == 200 for u in links)
        assert fetch(f"{url}/2026/11/29/article-5.html").status == 404
