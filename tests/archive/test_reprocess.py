"""Re-extraction from the WARCs of a crawled local site, with the network blocked."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import socket
from concurrent.futures import ProcessPoolExecutor

import pytest

from archive.cli import reprocess as reprocess_cli
from archive.records import iter_records
from archive.reprocess import (
    Page,
    ReprocessError,
    _extract_all,
    _no_network,
    _Pool,
    reprocess,
)
from pipelines.extraction_pipeline import extraction_mp_context
from tests.archive.replay_archive import CRAWL_2, article_url, build_archive, crawl_site

N = 40


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """A real crawl (``newsarchive crawl`` in a subprocess) of a 40-article site on 127.0.0.1."""
    root = tmp_path_factory.mktemp("crawled") / "archive"
    crawl_id = crawl_site(root, N)
    return root, crawl_id


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open an internet socket or resolve a name in this process fails the test."""
    attempts = []
    connect = socket.socket.connect

    def guarded(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError(f"test: network blocked ({address})")
        return connect(self, address)

    def no_dns(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError("test: name resolution blocked")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    attempts.clear()
    return attempts


def records_by_pointer(root) -> dict:
    return {(r["warc"]["file"], r["warc"]["offset"]): r for r in iter_records(root)}


def test_same_text_for_at_least_99_percent_with_network_blocked(crawled, tmp_path, no_network):
    root, crawl_id = crawled
    result = reprocess(root, tmp_path / "out", workers=1)  # in this process: under the block
    assert no_network == []
    totals = result.report["totals"]
    assert totals["old_records"] == N
    assert totals["same_text_ratio"] >= 0.99
    old, new = records_by_pointer(root), records_by_pointer(tmp_path / "out")
    same = [k for k in old if k in new and new[k]["text"] == old[k]["text"]]
    assert len(same) / len(old) >= 0.99
    # same schema, same capture, same crawl: only the extraction was run again
    for key in same:
        assert set(new[key]) == set(old[key])
        for f in ("id", "url", "final_url", "title", "warc", "crawl_id", "discovered_via",
                  "fetched_at", "text_sha1", "schema_version"):
            assert new[key][f] == old[key][f], f
    assert sorted(p.name for p in (tmp_path / "out" / "articles").iterdir()) == [crawl_id]
    assert not list((tmp_path / "out").rglob("*.open"))
    on_disk = json.loads((tmp_path / "out" / "reprocess-report.json").read_text())
    assert on_disk["totals"] == totals and on_disk["crawl_ids"] == [crawl_id]


def _try_connect() -> str:
    try:
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    except OSError as e:
        return str(e)
    return "connected"


def test_pool_workers_have_no_network_and_give_the_same_records(crawled, tmp_path):
    with ProcessPoolExecutor(1, mp_context=extraction_mp_context(), initializer=_no_network) as pool:
        assert "network access is disabled" in pool.submit(_try_connect).result(timeout=60)
    root, _ = crawled
    inline = reprocess(root, tmp_path / "one", workers=1)
    pooled = reprocess(root, tmp_path / "two", workers=2)
    assert pooled.report["totals"] == inline.report["totals"]
    a, b = records_by_pointer(tmp_path / "one"), records_by_pointer(tmp_path / "two")
    assert a.keys() == b.keys()
    assert all(a[k]["text"] == b[k]["text"] and a[k]["title"] == b[k]["title"] for k in a)


def _crash_on_marker(body, url, *rest):
    """Stands in for extraction: a worker that dies on one page, like a C extension crash."""
    if body == b"crash":
        os._exit(1)
    return {"text": body.decode()}, "ok"


def test_a_dying_worker_costs_one_page_not_the_run():
    pages = [Page(f"http://x.test/{i}", b"crash" if i == 5 else f"page {i}".encode(),
                  "text/html", 200, "", {"file": "f", "offset": i}) for i in range(12)]
    pool = _Pool(2, fn=_crash_on_marker)
    try:
        results = [(p.url, r) for p, r in _extract_all(iter(pages), {}, pool, 2, None)]
    finally:
        pool.close()
    assert [u for u, _ in results] == [p.url for p in pages]  # order kept
    for i, (_, (fields, reason)) in enumerate(results):
        if i == 5:
            assert (fields, reason) == (None, "extractor_crashed")
        else:
            assert (fields, reason) == ({"text": f"page {i}"}, "ok")
    assert pool.restarts >= 1


def _rewrite_records(root, change) -> None:
    path = next((root / "articles").glob("*/articles-*.jsonl.gz"))
    with gzip.open(path, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    records = change(records)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)


def test_diff_report_counts_added_removed_changed_by_domain(crawled, tmp_path):
    src, _ = crawled
    root = tmp_path / "archive"
    shutil.copytree(src, root)
    dropped, altered = {}, {}

    def change(records):
        records.sort(key=lambda r: r["url"])
        dropped.update(records[0])  # the crawl "missed" it: reprocess adds it
        altered.update(records[1])
        records[1]["text_sha1"] = "0" * 40  # older extraction gave other text: changed
        # a record whose capture is not in the WARCs (a damaged pointer)
        ghost = dict(records[2], id="f" * 40, url=records[2]["url"] + "?ghost",
                     warc={**records[2]["warc"], "offset": 1})
        return [*records[1:], ghost]

    _rewrite_records(root, change)
    report = reprocess(root, tmp_path / "out", workers=1).report
    domain = dropped["domain"]
    assert report["by_domain"] == {domain: {"same": N - 2, "changed": 1, "added": 1, "removed": 1}}
    assert report["examples"]["added"] == [dropped["url"]]
    assert report["examples"]["changed"] == [altered["url"]]
    [removed] = report["examples"]["removed"]
    assert removed["reason"] == "capture_not_found" and removed["url"].endswith("?ghost")
    assert report["totals"]["same_text_ratio"] == round((N - 2) / N, 6)


def test_revisits_are_extracted_from_their_original(tmp_path):
    arch = build_archive(tmp_path / "archive", n=4)
    report = reprocess(arch.root, tmp_path / "out", workers=1, crawl_ids=[CRAWL_2]).report
    assert "revisit_unresolved" not in report["skipped"]
    records = {r["url"]: r for r in iter_records(tmp_path / "out")}
    revisit = arch.latest(article_url(0))
    assert records[article_url(0)]["warc"]["offset"] == revisit.offset
    assert "Headline 0" in records[article_url(0)]["title"]
    assert report["examples"]["added"] == [article_url(0)]  # the crawl made no record of it


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    reprocess_cli.register(parser.add_subparsers())
    args = parser.parse_args(["reprocess", *argv])
    return args.func(args)


def test_cli_prints_a_summary(crawled, tmp_path, capsys):
    root, _ = crawled
    assert run_cli(str(root), "--out", str(tmp_path / "out"), "--workers", "1") == 0
    out = capsys.readouterr().out
    assert "same text 40 (100.00% of the previous records)" in out
    assert "reprocess-report.json" in out


@pytest.mark.parametrize("case", ["no-archive", "out-in-articles", "unknown-crawl", "s3-uri"])
def test_bad_usage_exits_2(crawled, tmp_path, capsys, case):
    root, _ = crawled
    argv = {
        "no-archive": [str(tmp_path / "nothing"), "--out", str(tmp_path / "o")],
        "out-in-articles": [str(root), "--out", str(root / "articles" / "new")],
        "unknown-crawl": [str(root), "--out", str(tmp_path / "o"), "--crawl", "20990101T000000Z-x"],
        "s3-uri": [str(root), "--out", "s3://key:secret@bucket/prefix"],
    }[case]
    assert run_cli(*argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("newsarchive reprocess: ")
    if case == "out-in-articles":
        assert not (root / "articles" / "new").exists()
    if case == "s3-uri":
        assert "credentials do not go in the s3:// URI" in err[0] and "secret" not in err[0]


def test_reprocess_refuses_to_write_into_the_archive(crawled):
    root, _ = crawled
    with pytest.raises(ReprocessError):
        reprocess(root, root)
