from __future__ import annotations

import gzip
import json
from pathlib import Path

from archive.records import (
    RecordFiles,
    iter_records,
    list_crawl_ids,
    read_crawl_manifest,
    record_files,
)
from tests.archive.synthetic_records import T0, make_record, write_crawl

CRAWL_A = "20240301T080000Z-aaaaaa"
CRAWL_B = "20240302T080000Z-bbbbbb"


def _records(crawl_id: str, n: int, start: int = 0) -> list[dict]:
    return [
        make_record(url=f"https://news.example/a{i}", text=f"text number {i} " * 5,
                    crawl_id=crawl_id, fetched_at=T0)
        for i in range(start, start + n)
    ]


def _archive(root: Path) -> None:
    write_crawl(root, CRAWL_B, _records(CRAWL_B, 3, 100), per_file=2)
    write_crawl(root, CRAWL_A, _records(CRAWL_A, 5), per_file=2)


def test_files_in_crawl_then_serial_order_and_open_files_ignored(tmp_path: Path) -> None:
    _archive(tmp_path)
    (tmp_path / "articles" / CRAWL_A / "articles-00003.jsonl.gz.open").write_bytes(b"partial")
    assert list_crawl_ids(tmp_path) == [CRAWL_A, CRAWL_B]
    assert record_files(tmp_path) == [
        f"articles/{CRAWL_A}/articles-00000.jsonl.gz",
        f"articles/{CRAWL_A}/articles-00001.jsonl.gz",
        f"articles/{CRAWL_A}/articles-00002.jsonl.gz",
        f"articles/{CRAWL_B}/articles-00000.jsonl.gz",
        f"articles/{CRAWL_B}/articles-00001.jsonl.gz",
    ]
    urls = [r["url"] for r in iter_records(tmp_path)]
    assert urls == [f"https://news.example/a{i}" for i in (0, 1, 2, 3, 4, 100, 101, 102)]


def test_crawl_id_filter(tmp_path: Path) -> None:
    _archive(tmp_path)
    assert {r["crawl_id"] for r in iter_records(tmp_path, [CRAWL_B])} == {CRAWL_B}
    assert len(list(iter_records(tmp_path, [CRAWL_B]))) == 3
    assert list(iter_records(tmp_path, ["20990101T000000Z-nonexist"])) == []


def test_missing_archive_has_no_records(tmp_path: Path) -> None:
    assert list_crawl_ids(tmp_path / "nowhere") == []
    assert list(iter_records(tmp_path / "nowhere")) == []


def test_bad_lines_and_truncated_file_are_counted_and_skipped(tmp_path: Path) -> None:
    _archive(tmp_path)
    folder = tmp_path / "articles" / CRAWL_A
    good = json.dumps(_records(CRAWL_A, 1, 50)[0])
    with gzip.open(folder / "articles-00003.jsonl.gz", "wt") as f:
        f.write("{not json\n\n[1, 2]\n" + good + "\n")
    whole = (folder / "articles-00000.jsonl.gz").read_bytes()
    (folder / "articles-00000.jsonl.gz").write_bytes(whole[: len(whole) - 40])  # crash mid-record

    files = RecordFiles.scan(tmp_path)
    urls = [r["url"] for r in files]
    # the first member of the cut file survives (one gzip member per record), the cut one is lost
    assert urls[0] == "https://news.example/a0"
    assert "https://news.example/a1" not in urls
    assert "https://news.example/a50" in urls
    assert files.bad_lines == 2
    assert files.bad_files == [f"articles/{CRAWL_A}/articles-00000.jsonl.gz"]


def test_ordinals_are_stable_across_passes_and_wanted_skips_parsing(tmp_path: Path) -> None:
    _archive(tmp_path)
    files = RecordFiles.scan(tmp_path)
    first = [(o, r["url"]) for o, r in files.numbered()]
    assert [o for o, _ in first] == list(range(8))
    assert files.lines == 8
    files.reset_counts()
    asked: list[int] = []

    def wanted(o: int) -> bool:
        asked.append(o)
        return o % 3 == 0

    second = list(files.numbered(wanted))
    assert asked == list(range(8))
    assert [(o, r["url"]) for o, r in second] == [p for p in first if p[0] % 3 == 0]


def test_snapshot_does_not_see_files_committed_later(tmp_path: Path) -> None:
    _archive(tmp_path)
    files = RecordFiles.scan(tmp_path)
    write_crawl(tmp_path, "20240303T080000Z-cccccc", _records("20240303T080000Z-cccccc", 2))
    assert len(list(files)) == 8


def test_read_crawl_manifest(tmp_path: Path) -> None:
    _archive(tmp_path)
    manifest = read_crawl_manifest(tmp_path, CRAWL_A)
    assert manifest is not None and manifest["crawl_id"] == CRAWL_A and manifest["seeds"]
    assert read_crawl_manifest(tmp_path, "20990101T000000Z-nonexist") is None
    (tmp_path / "crawls" / f"{CRAWL_B}.json").write_text("{broken", encoding="utf-8")
    assert read_crawl_manifest(tmp_path, CRAWL_B) is None
