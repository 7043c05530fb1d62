"""WACZ packaging: validates with py-wacz, holds the WARCs, an index and searchable pages."""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import zipfile

import pytest

pytest.importorskip("wacz", reason="py-wacz is not installed (pip install 'newsarchive[replay]')")

from archive.cli import wacz as wacz_cli
from tests.archive.replay_archive import CRAWL_2, build_archive, headline, paragraphs


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return build_archive(tmp_path_factory.mktemp("wacz") / "archive", n=12)


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    wacz_cli.register(parser.add_subparsers())
    args = parser.parse_args(["wacz", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def packaged(archive, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "news.wacz"
    assert run_cli(str(archive.root), "--out", str(out), "--validate") == 0
    return out


def pages_of(path) -> list[dict]:
    with zipfile.ZipFile(path) as z:
        return [json.loads(line) for line in z.read("pages/pages.jsonl").splitlines()]


def test_wacz_validate_passes(packaged):
    proc = subprocess.run([sys.executable, "-m", "wacz", "validate", "-f", str(packaged)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation succeeded" in proc.stdout
    assert not packaged.with_name(packaged.name + ".open").exists()


def test_holds_the_warcs_unchanged_and_an_index_of_them(packaged, archive):
    warcs = sorted((archive.root / "warc").glob("*/*.warc.gz"))
    with zipfile.ZipFile(packaged) as z:
        names = set(z.namelist())
        for w in warcs:
            assert z.read(f"archive/{w.name}") == w.read_bytes()
        assert {"indexes/index.cdx.gz", "indexes/index.idx", "datapackage.json",
                "datapackage-digest.json", "pages/pages.jsonl"} <= names
        index = gzip.decompress(z.read("indexes/index.cdx.gz")).decode().splitlines()
    keys = {(json.loads(line.split(" ", 2)[2])["url"], line.split(" ", 2)[1]) for line in index}
    for c in archive.captures:
        assert (c.url, c.date.strftime("%Y%m%d%H%M%S")) in keys


def test_pages_name_real_captures_with_title_and_text(packaged, archive):
    header, *pages = pages_of(packaged)
    assert header["format"] == "json-pages-1.0" and header["hasText"] is True
    assert len(pages) == archive.n + 1  # every record of crawl 1, and the corrected article
    by_key = {(p["url"], p["ts"]): p for p in pages}
    for i in range(archive.n):
        c = next(c for c in archive.captures if c.url.endswith(f"/article-{i}.html")
                 and c.revisit_of is None)
        page = by_key[(c.url, c.date.strftime("%Y-%m-%dT%H:%M:%SZ"))]
        assert page["title"] == headline(i)
        assert page["text"] == "\n\n".join(paragraphs(i))
    corrected = [p for p in pages if p["title"] == headline(2, 1)]
    assert len(corrected) == 1 and corrected[0]["ts"] == "2026-11-30T10:00:01Z"
    assert "Correction:" in corrected[0]["text"]


def test_one_crawl_only(archive, tmp_path):
    out = tmp_path / "one.wacz"
    assert run_cli(str(archive.root), "--out", str(out), "--crawl", CRAWL_2) == 0
    with zipfile.ZipFile(out) as z:
        assert [n for n in z.namelist() if n.startswith("archive/")] == [
            f"archive/{p.name}" for p in (archive.root / "warc" / CRAWL_2).glob("*.warc.gz")]
    _, *pages = pages_of(out)
    assert [p["title"] for p in pages] == [headline(2, 1)]


def test_unfinished_warcs_are_left_out(archive, tmp_path):
    stray = archive.root / "warc" / CRAWL_2 / "NEWSARCHIVE-20261130110000-00001-x.warc.gz.open"
    stray.write_bytes(b"half a file")
    try:
        out = tmp_path / "a.wacz"
        assert run_cli(str(archive.root), "--out", str(out)) == 0
        with zipfile.ZipFile(out) as z:
            assert not [n for n in z.namelist() if n.endswith(".open")]
    finally:
        stray.unlink()


@pytest.mark.parametrize("problem", ["no-warcs", "not-a-folder", "bad-suffix"])
def test_bad_usage_exits_2_with_one_line(tmp_path, capsys, problem):
    root = tmp_path / "archive"
    out = tmp_path / ("x.zip" if problem == "bad-suffix" else "x.wacz")
    if problem != "not-a-folder":
        (root / "warc").mkdir(parents=True)
    assert run_cli(str(root), "--out", str(out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("newsarchive wacz: ")
    assert not out.exists()
