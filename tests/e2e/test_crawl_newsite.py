"""Issue 2's acceptance crawl: newsite.py serving the 181 real benchmark pages."""

from __future__ import annotations

import hashlib
import random
import subprocess

import pytest

from archive.warcrecord import read_record
from tests.e2e.conftest import crawl
from tests.support.servers import newsite

N = 181

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("archive")
    with newsite(N) as url:
        result = crawl(out, url)
    assert result.returncode == 0, result.stderr[-4000:]
    return result, url


def test_records_nearly_every_article_once(run):
    result, _url = run
    records = result.records()
    urls = [r["url"] for r in records]
    assert len(urls) == len(set(urls)), "a URL was recorded twice"
    article_urls = {u for u in urls if "/article-" in u}
    assert len(article_urls) >= 0.97 * N, f"only {len(article_urls)} of {N} articles recorded"
    assert len({r["id"] for r in records}) == len(records)


def test_every_warc_passes_warcio_check(run):
    result, _ = run
    warcs = result.warcs()
    assert warcs
    for path in warcs:
        proc = subprocess.run(["warcio", "check", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sampled_pointers_resolve_to_the_response_of_their_url(run):
    result, _ = run
    records = result.records()
    for rec in random.Random(7).sample(records, min(40, len(records))):
        warc = read_record(result.out, rec["warc"])
        assert warc.rec_type == "response"
        assert warc.rec_headers.get_header("WARC-Target-URI") == rec["final_url"]
        assert warc.rec_headers.get_header("WARC-Record-ID") == rec["warc"]["record_id"]
        assert warc.rec_headers.get_header("WARC-Payload-Digest") == rec["warc"]["payload_digest"]


def test_manifest_and_index(run):
    result, url = run
    [manifest] = result.manifests
    crawl_id = manifest["crawl_id"]
    assert manifest["seeds"] == [url]
    assert manifest["counts"]["records"] == len(result.records())
    for entry in manifest["files"]:
        data = (result.out / entry["path"]).read_bytes()
        assert len(data) == entry["bytes"] and hashlib.sha256(data).hexdigest() == entry["sha256"]
    kinds = {e["kind"] for e in manifest["files"]}
    assert {"warc", "articles", "index"} <= kinds
    index = (result.out / "index" / f"{crawl_id}.cdxj").read_text().splitlines()
    assert index == sorted(index)
    assert sum('"status": "200"' in line for line in index) >= N
    assert not list(result.out.rglob("*.open"))
