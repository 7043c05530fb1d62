"""Issue 5's acceptance: incremental crawls through the CLI against local sites, the clock moved
with NEWSARCHIVE_STATE_CLOCK (no sleeping).

- newsite.py: run 1 on 120 articles; run 2 right away records nothing and fetches only the
  discovery documents; the site grows to 181 and run 3 fetches exactly the 61 new articles; an
  hour and a half later run 4 re-checks the articles published that day and writes
  identical-payload-digest revisits, no records.
- the demo site (ETag / Last-Modified, 304s): an article whose text changes gets a version 2
  record pointing at version 1; one that does not gets a server-not-modified revisit.
- kill -9 in the middle of a crawl, then a second run: every article recorded exactly once, every
  WARC valid, no ``.open`` file left.
"""

from __future__ import annotations

import gzip
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.warcrecord import read_record
from crawler.demo.server import SITE_ROOT
from pipelines.recovery import gzip_members
from tests.e2e.conftest import FAST, REPO, crawl
from tests.support.servers import demo_site, free_port, newsite, newsite_article_urls

pytestmark = pytest.mark.e2e

T0 = "2026-11-29T12:30:00Z"  # newsite's articles are dated 2026-11-29T12:00Z in its sitemaps


def clock(value: str) -> list[str]:
    return ["--set", f"NEWSARCHIVE_STATE_CLOCK={value}"]


def manifest_of(out: Path, before: set[str]) -> dict:
    """The manifest of the run that just finished (the one not in ``before``)."""
    [new] = [p for p in (out / "crawls").glob("*.json") if p.name not in before]
    return json.loads(new.read_text())


def manifests(out: Path) -> set[str]:
    return {p.name for p in (out / "crawls").glob("*.json")} if (out / "crawls").is_dir() else set()


def records_of(out: Path, crawl_id: str) -> list[dict]:
    recs = []
    for path in sorted((out / "articles" / crawl_id).glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            recs.extend(json.loads(line) for line in f)
    return recs


def warc_records(out: Path, crawl_id: str) -> list:
    """(type, target URI, headers) of every record of a crawl's WARC files."""
    found = []
    for path in sorted((out / "warc" / crawl_id).glob("*.warc.gz")):
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f):
                found.append((rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI"),
                              rec.rec_headers))
    return found


def warcio_check(out: Path) -> None:
    warcs = sorted((out / "warc").rglob("*.warc.gz"))
    assert warcs
    proc = subprocess.run([sys.executable, "-m", "warcio.cli", "check", *map(str, warcs)],
                          capture_output=True, text=True)
    if proc.returncode != 0 and "No module named" in proc.stderr:
        proc = subprocess.run(["warcio", "check", *map(str, warcs)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def figures(manifest: dict) -> str:
    c = manifest["counts"]
    return (f"records {c['records']} (new {c['new']}, updated {c['updated']}), requests "
            f"{c['requests']}, unchanged {c['unchanged']}, skipped known {c['skipped']}, "
            f"{manifest['stats'].get('elapsed_time_seconds', 0):.1f}s")


# --- newsite: 120, again, 181, later -------------------------------------------------------------


@pytest.fixture(scope="module")
def newsite_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("incremental")
    port = free_port()
    runs: dict[str, dict] = {}
    urls: dict[int, list[str]] = {}

    def run(name: str, when: str) -> None:
        before = manifests(out)
        result = crawl(out, url + "/", *clock(when))
        assert result.returncode == 0, result.stderr[-4000:]
        runs[name] = manifest_of(out, before)
        print(f"\n{name}: {figures(runs[name])}")

    # "--port" after newsite()'s own "--port 0": the same URL for both sizes of the site.
    with newsite(120, extra_args=["--port", str(port)]) as url:
        urls[120] = newsite_article_urls(url, 120)
        run("run1", T0)
        run("run2", "2026-11-29T12:31:00Z")
    with newsite(181, extra_args=["--port", str(port)]) as url2:
        assert url2 == url
        urls[181] = newsite_article_urls(url, 181)
        run("run3", "2026-11-29T12:32:00Z")
        run("run4", "2026-11-29T14:00:00Z")  # past the +1h update slot of that day's articles
    return out, runs, urls


def test_run1_records_the_120_articles(newsite_runs):
    out, runs, urls = newsite_runs
    m = runs["run1"]
    recorded = {r["url"] for r in records_of(out, m["crawl_id"])}
    assert recorded <= set(urls[120])
    # Every article was fetched; those not recorded are counted with a reason (paywall pages).
    assert len(recorded) + sum(m["skipped"].values()) == 120
    assert m["counts"]["new"] == len(recorded) == m["counts"]["records"]
    assert m["freshness"]["articles"] == len(recorded) and m["freshness"]["median_seconds"] is not None


def test_run2_records_nothing_and_fetches_only_discovery_documents(newsite_runs):
    out, runs, urls = newsite_runs
    m = runs["run2"]
    assert m["counts"]["records"] == 0
    assert m["counts"]["skipped"] == 120  # every article URL known: no request for any
    # robots.txt (twice: Scrapy's and the spider's sitemaps), homepage, feed, two sitemaps
    assert m["counts"]["requests"] <= 7
    fetched = {uri for kind, uri, _ in warc_records(out, m["crawl_id"]) if kind in ("response", "revisit")}
    assert not fetched & set(urls[181])
    # newsite ignores conditional GET: its unchanged documents are revisits, not full copies.
    assert m["stats"].get("newsarchive/warc/revisits/identical-payload-digest", 0) >= 4


def test_run3_fetches_and_records_exactly_the_61_new_articles(newsite_runs):
    out, runs, urls = newsite_runs
    m = runs["run3"]
    new = set(urls[181]) - set(urls[120])
    assert len(new) == 61
    fetched = [uri for kind, uri, _ in warc_records(out, m["crawl_id"]) if kind == "response"
               and uri in set(urls[181])]
    assert sorted(fetched) == sorted(new)  # each new article once, no old one
    recorded = [r["url"] for r in records_of(out, m["crawl_id"])]
    assert set(recorded) <= new and len(recorded) == len(set(recorded))
    assert len(recorded) + sum(m["skipped"].values()) == 61
    assert m["counts"]["skipped"] == 120
    # Across all runs no article is recorded twice.
    every = [r["id"] for name in ("run1", "run2", "run3", "run4")
             for r in records_of(out, runs[name]["crawl_id"])]
    assert len(every) == len(set(every))


def test_run4_rechecks_recent_articles_and_writes_revisits_only(newsite_runs):
    out, runs, _ = newsite_runs
    m = runs["run4"]
    checks = m["stats"].get("newsarchive/incremental/update_checks", 0)
    assert checks > 0
    assert m["counts"]["records"] == 0
    assert m["counts"]["unchanged"] == checks
    revisits = [h for kind, _, h in warc_records(out, m["crawl_id"]) if kind == "revisit"]
    profiles = Counter(h.get_header("WARC-Profile").rsplit("/", 1)[1] for h in revisits)
    assert profiles["identical-payload-digest"] >= checks
    for h in revisits:
        assert h.get_header("WARC-Refers-To-Target-URI") and h.get_header("WARC-Refers-To-Date")
    index = (out / "index" / f"{m['crawl_id']}.cdxj").read_text()
    assert index.count('"mime": "warc/revisit"') == len(revisits)
    warcio_check(out)


# --- the demo site: a changed article and an unchanged one ---------------------------------------

COFFEE = "/business/2026/11/28/coffee-roasters-squeezed-by-bean-prices.html"  # published 07:30Z
RAIL = "/world/2026/11/25/northern-rail-link-opens.html"  # published Nov 25 10:00Z: +72h = Nov 28 10:00Z
NEW_SENTENCE = "Update: the association now expects prices to ease by the summer."


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("site") / "site"
    shutil.copytree(SITE_ROOT, root)
    out = tmp_path_factory.mktemp("demo-archive")
    runs = {}
    with demo_site(root=root) as site:
        for name, when in (("run1", "2026-11-28T08:00:00Z"), ("run2", "2026-11-28T10:30:00Z"),
                           ("run3", "2026-11-28T10:45:00Z")):
            if name == "run2":
                page = root / COFFEE.lstrip("/")
                html = page.read_text(encoding="utf-8")
                page.write_text(html.replace("</p>\n      <p class=\"also-read\">",
                                             f" {NEW_SENTENCE}</p>\n      <p class=\"also-read\">", 1),
                                encoding="utf-8")
            before = manifests(out)
            result = crawl(out, site.url + "/", *clock(when))
            assert result.returncode == 0, result.stderr[-4000:]
            runs[name] = manifest_of(out, before)
            print(f"\ndemo {name}: {figures(runs[name])}")
        base = site.url
    return out, runs, base


def test_changed_text_gets_a_version_2_record_pointing_at_version_1(demo_runs):
    out, runs, base = demo_runs
    first = {r["url"]: r for r in records_of(out, runs["run1"]["crawl_id"])}
    assert base + COFFEE in first and first[base + COFFEE]["version"] == 1
    assert first[base + COFFEE]["previous"] is None
    [v2] = records_of(out, runs["run2"]["crawl_id"])
    assert v2["url"] == base + COFFEE and v2["version"] == 2
    assert NEW_SENTENCE in v2["text"] and NEW_SENTENCE not in first[base + COFFEE]["text"]
    prev = v2["previous"]
    data = (out / prev["file"]).read_bytes()[prev["offset"]: prev["offset"] + prev["length"]]
    v1 = json.loads(gzip.decompress(data))
    assert v1 == first[base + COFFEE]
    assert runs["run2"]["counts"]["updated"] == 1 and runs["run2"]["counts"]["new"] == 0


def test_unchanged_article_gets_a_revisit_record_and_no_json_record(demo_runs):
    out, runs, base = demo_runs
    v1 = next(r for r in records_of(out, runs["run1"]["crawl_id"]) if r["url"] == base + RAIL)
    original = read_record(out, v1["warc"])
    run2 = warc_records(out, runs["run2"]["crawl_id"])
    [revisit] = [h for kind, uri, h in run2 if kind == "revisit" and uri == base + RAIL]
    assert revisit.get_header("WARC-Profile").endswith("/revisit/server-not-modified")
    assert revisit.get_header("WARC-Refers-To-Target-URI") == v1["final_url"]
    assert revisit.get_header("WARC-Refers-To-Date") == original.rec_headers.get_header("WARC-Date")
    assert revisit.get_header("WARC-Refers-To") == v1["warc"]["record_id"]
    assert not [u for kind, u, _ in run2 if kind == "response" and u == base + RAIL]
    assert base + RAIL not in {r["url"] for r in records_of(out, runs["run2"]["crawl_id"])}
    assert runs["run2"]["counts"]["unchanged"] == 1
    # Unchanged discovery documents answered 304 and cost no body.
    assert runs["run2"]["stats"].get("newsarchive/conditional/not_modified", 0) >= 2
    warcio_check(out)


def test_no_check_due_means_no_article_request(demo_runs):
    out, runs, base = demo_runs
    m = runs["run3"]
    assert m["counts"]["records"] == 0 and m["counts"]["unchanged"] == 0
    fetched = {uri for kind, uri, _ in warc_records(out, m["crawl_id"])
               if kind in ("response", "revisit")}
    assert base + COFFEE not in fetched and base + RAIL not in fetched


# --- kill -9 ---------------------------------------------------------------------------------------


def count_records(out: Path) -> int:
    total = 0
    for path in (out / "articles").rglob("*.jsonl.gz*"):
        total += sum(1 for _ in gzip_members(path))
    return total


def test_kill_9_then_second_run_records_every_article_exactly_once(tmp_path):
    out = tmp_path / "archive"
    with newsite(120, latency_ms=40) as url:
        args = [sys.executable, "-m", "archive", "crawl", url + "/", "--out", str(out), *FAST,
                "--set", "CONCURRENT_REQUESTS_PER_DOMAIN=4", *clock(T0)]
        proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while count_records(out) < 25:
                assert proc.poll() is None, "the crawl finished before it could be killed"
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert list(out.rglob("*.open")), "a killed crawl leaves .open files behind"
        killed = count_records(out)
        second = crawl(out, url + "/", *clock(T0))
        assert second.returncode == 0, second.stderr[-4000:]
    assert not list(out.rglob("*.open"))
    recs = second.records()
    urls = Counter(r["url"] for r in recs)
    assert max(urls.values()) == 1, [u for u, n in urls.items() if n > 1]
    all_manifests = second.manifests
    # None lost: the state has every article as recorded (exactly the recorded ones) or as not
    # an article (a paywall page: skipped with a reason in one of the two runs).
    db = sqlite3.connect(out / "state" / "crawl-state.sqlite3")
    status = dict(db.execute("SELECT url, status FROM urls"))
    db.close()
    article_urls = set(newsite_article_urls(url, 120))
    assert {status.get(u) for u in article_urls} <= {"recorded", "rejected"}
    assert set(urls) == {u for u in article_urls if status[u] == "recorded"}
    skipped = sum(sum(m.get("skipped", {}).values()) for m in all_manifests)
    assert skipped >= 120 - len(urls) - 3  # the dead run's reasons died with it (no manifest)
    dead = next(m for m in all_manifests if m["finish_reason"] == "recovered")
    assert dead["counts"]["records"] >= killed - 1  # a record being written may be cut off
    assert (out / "index" / f"{dead['crawl_id']}.cdxj").is_file()
    for m in all_manifests:
        for entry in m["files"]:
            assert (out / entry["path"]).stat().st_size == entry["bytes"]
    warcio_check(out)
    print(f"\nkill -9 after {killed} records; second run recorded "
          f"{next(m for m in all_manifests if m['finish_reason'] != 'recovered')['counts']['records']}")
