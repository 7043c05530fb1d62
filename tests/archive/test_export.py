from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from archive.cli import export as cli
from archive.export import ExportOptions, UsageError, export
from archive.export_schema import FIELD_NAMES
from tests.archive.synthetic_records import (
    T0,
    article_text,
    edit_text,
    iso,
    make_record,
    write_crawl,
)

CRAWL_A = "20240301T080000Z-aaaaaa"
CRAWL_B = "20240401T080000Z-bbbbbb"


# --- a small archive with something for every filter and dedup rule -------------------------


def _varied_records() -> dict[str, list[dict]]:
    rng = random.Random(11)
    a: list[dict] = []
    b: list[dict] = []
    domains = ["news.example", "sport.news.example", "badnews.example", "daily.org"]
    languages = ["en", "en-GB", "fr", None]
    for i in range(40):
        domain = domains[i % 4]
        published = None if i % 7 == 0 else iso(T0 + timedelta(days=3 * i))
        if i % 5 == 0 and published:
            published = published[:10]  # a bare date, as pages often declare
        words = 20 + 10 * i
        text = article_text(rng, words)
        if i % 6 == 0:
            text += " The climate summit ended without agreement."
        rec = make_record(
            url=f"https://{domain}/story-{i}",
            text=text,
            crawl_id=CRAWL_A,
            fetched_at=T0 + timedelta(days=3 * i, hours=1),
            published=published,
            language=languages[(i // 4) % 4],
            title=f"Story {i}" + (" about Climate" if i % 4 == 1 else ""),
        )
        a.append(rec)
    # crawl B: a re-capture of story-3 (same canonical URL, later) and an exact copy of story-5's
    # text under a new URL captured *earlier* than story-5: the earliest capture must win.
    b.append(make_record(url=a[3]["url"], text=a[3]["text"] + " Update.",
                         crawl_id=CRAWL_B, fetched_at=T0 + timedelta(days=200),
                         published=a[3]["published"], language=a[3]["language"], title="Story 3"))
    b.append(make_record(url="https://daily.org/copy-of-5", text=a[5]["text"], crawl_id=CRAWL_B,
                         fetched_at=T0 - timedelta(days=1), published=a[5]["published"],
                         language=a[5]["language"], title="Copy of 5"))
    return {CRAWL_A: a, CRAWL_B: b}


@pytest.fixture(scope="module")
def varied(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[dict]]]:
    root = tmp_path_factory.mktemp("varied")
    crawls = _varied_records()
    for cid, records in crawls.items():
        write_crawl(root, cid, records, per_file=15)
    return root, crawls


def _all(crawls: dict[str, list[dict]]) -> list[dict]:
    return [r for records in crawls.values() for r in records]


# --- reading exports back ---------------------------------------------------------------------


def read_rows(out: Path) -> list[dict]:
    manifest = json.loads((out / "manifest.json").read_text())
    rows: list[dict] = []
    for entry in manifest["files"]:
        path = out / entry["path"]
        if manifest["format"] == "parquet":
            rows += pq.read_table(path).to_pylist()
        elif manifest["format"] == "jsonl":
            with gzip.open(path, "rt", encoding="utf-8") as f:
                rows += [json.loads(line) for line in f]
        else:
            rows += read_csv(path, manifest["fields"])
    return rows


def read_csv(path: Path, fields: list[str]) -> list[dict]:
    """CSV back to typed rows: JSON cells for nested values, ints for int columns."""
    nested = {"authors", "tags", "images", "links", "discovered_via", "warc", "extractor", "previous"}
    ints = {"word_count", "http_status", "schema_version", "version"}
    out = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == fields
        for cells in reader:
            row = {}
            for name, cell in zip(fields, cells, strict=True):
                if cell == "":
                    row[name] = None
                elif name in nested:
                    row[name] = json.loads(cell)
                elif name in ints:
                    row[name] = int(cell)
                else:
                    row[name] = cell
            out.append(row)
    return out


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="newsarchive")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["export", *argv])
    return args.func(args)


# --- formats ----------------------------------------------------------------------------------


def test_parquet_jsonl_and_csv_hold_the_same_rows(varied, tmp_path: Path) -> None:
    root, _ = varied
    rows = {}
    for fmt in ("parquet", "jsonl", "csv"):
        assert run_cli(str(root), "--format", fmt, "--out", str(tmp_path / fmt), "--shard-rows", "9") == 0
        rows[fmt] = read_rows(tmp_path / fmt)
    assert len(rows["parquet"]) > 30
    assert rows["parquet"] == rows["jsonl"]
    # CSV cannot tell an empty string from null; nothing in these records is an empty string.
    assert rows["csv"] == rows["jsonl"]
    assert list(rows["jsonl"][0]) == FIELD_NAMES


def test_rows_are_the_records_fitted_to_the_schema(varied, tmp_path: Path) -> None:
    root, crawls = varied
    export(root, tmp_path / "out", ExportOptions(format="jsonl", dedup="none"))
    by_id = {r["id"]: r for r in read_rows(tmp_path / "out")}
    original = crawls[CRAWL_A][10]
    row = by_id[original["id"]]
    assert row["text"] == original["text"]
    assert row["images"] == original["images"]
    assert row["warc"] == original["warc"]
    # free-form options travel as JSON text, so every format has one column type
    assert json.loads(row["extractor"]["options"]) == original["extractor"]["options"]


def test_parquet_declares_schema_and_bounds_row_groups(varied, tmp_path: Path) -> None:
    root, _ = varied
    export(root, tmp_path / "out", ExportOptions(format="parquet", row_group_rows=6, shard_rows=1000))
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    (entry,) = manifest["files"]
    f = pq.ParquetFile(tmp_path / "out" / entry["path"])
    assert f.schema_arrow.names == FIELD_NAMES
    assert f.schema_arrow.field("authors").type.value_type == pa.string()
    assert f.schema_arrow.field("word_count").type == pa.int64()
    assert f.schema_arrow.field("warc").type.field("offset").type == pa.int64()
    sizes = [f.metadata.row_group(i).num_rows for i in range(f.metadata.num_row_groups)]
    assert max(sizes) <= 6 and sum(sizes) == entry["rows"]


def test_fields_choose_and_order_columns(varied, tmp_path: Path) -> None:
    root, _ = varied
    assert run_cli(str(root), "--format", "csv", "--out", str(tmp_path / "o"),
                   "--fields", "title,url", "--fields", "word_count") == 0
    with open(next((tmp_path / "o" / "data").glob("*.csv")), encoding="utf-8", newline="") as f:
        assert next(csv.reader(f)) == ["title", "url", "word_count"]


def test_csv_quotes_text_with_newlines_commas_and_quotes(tmp_path: Path) -> None:
    text = 'First, "quoted" paragraph.\n\nSecond paragraph; with a comma, too.'
    write_crawl(tmp_path / "a", CRAWL_A, [make_record(url="https://news.example/q", text=text,
                                                     crawl_id=CRAWL_A, fetched_at=T0)])
    export(tmp_path / "a", tmp_path / "o", ExportOptions(format="csv", fields=("url", "text")))
    raw = next((tmp_path / "o" / "data").glob("*.csv")).read_bytes()
    assert raw.startswith(b"url,text\r\n")
    assert b'"First, ""quoted"" paragraph.\n\nSecond' in raw
    assert read_csv(next((tmp_path / "o" / "data").glob("*.csv")), ["url", "text"])[0]["text"] == text


# --- filters ----------------------------------------------------------------------------------


def _date(r: dict) -> datetime:
    value = r["published"] or r["fetched_at"]
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


FILTER_CASES = [
    (dict(since="2024-04-15"), lambda r: _date(r) >= datetime(2024, 4, 15, tzinfo=timezone.utc)),
    (dict(until="2024-04"), lambda r: _date(r) < datetime(2024, 5, 1, tzinfo=timezone.utc)),
    (dict(since="2024-03-10", until="2024-04-30T12:00:00Z"),
     lambda r: datetime(2024, 3, 10, tzinfo=timezone.utc) <= _date(r)
     <= datetime(2024, 4, 30, 12, tzinfo=timezone.utc)),
    (dict(domains=("news.example",)), lambda r: r["domain"] in ("news.example", "sport.news.example")),
    (dict(domains=("sport.news.example", "daily.org")),
     lambda r: r["domain"] in ("sport.news.example", "daily.org")),
    (dict(languages=("en",)), lambda r: r["language"] in ("en", "en-GB")),
    (dict(languages=("en-gb", "fr")), lambda r: r["language"] in ("en-GB", "fr")),
    (dict(min_words=200), lambda r: r["word_count"] >= 200),
    (dict(query="climate"), lambda r: "climate" in (r["title"] + " " + r["text"]).lower()),
    (dict(query='"climate summit" agreement'), lambda r: "climate summit ended without agreement" in r["text"]),
    (dict(crawl_ids=(CRAWL_B,)), lambda r: r["crawl_id"] == CRAWL_B),
]


@pytest.mark.parametrize(("options", "keep"), FILTER_CASES, ids=[str(c[0]) for c in FILTER_CASES])
def test_each_filter_is_honoured(varied, tmp_path: Path, options: dict, keep) -> None:
    root, crawls = varied
    result = export(root, tmp_path / "o", ExportOptions(format="jsonl", dedup="none", **options))
    got = sorted((r["url"], r["fetched_at"]) for r in read_rows(tmp_path / "o"))
    # without text dedup only the canonical-URL rule applies: story-3's later re-capture goes
    expected = sorted(
        (r["url"], r["fetched_at"]) for r in _all(crawls)
        if keep(r) and not (r["crawl_id"] == CRAWL_B and r["url"].endswith("/story-3")
                            and "crawl_ids" not in options)
    )
    assert got == expected
    assert 0 < len(got) < len(_all(crawls))
    assert result.manifest["counts"]["read"] == (2 if "crawl_ids" in options else 42)


def test_filtered_counts_per_filter(varied, tmp_path: Path) -> None:
    root, _ = varied
    result = export(root, tmp_path / "o", ExportOptions(format="jsonl", min_words=200, languages=("fr",)))
    filtered = result.manifest["counts"]["filtered"]
    c = result.manifest["counts"]
    assert set(filtered) == {"language", "min_words"}
    assert c["read"] == sum(filtered.values()) + c["passed_filters"]


# --- dedup ------------------------------------------------------------------------------------


def test_canonical_url_dedup_keeps_earliest_capture_and_exact_keeps_earliest(varied, tmp_path: Path) -> None:
    root, _ = varied
    result = export(root, tmp_path / "o", ExportOptions(format="jsonl", dedup="exact"))
    rows = read_rows(tmp_path / "o")
    urls = {r["url"]: r for r in rows}
    assert urls["https://daily.org/story-3"]["crawl_id"] == CRAWL_A  # the earlier capture
    # the copy was captured before story-5: it is the one kept
    assert "https://daily.org/copy-of-5" in urls
    assert "https://sport.news.example/story-5" not in urls
    assert result.manifest["dedup"]["removed"] == {"canonical_url": 1, "exact": 1, "near": 0}
    assert len(rows) == 40
    assert len({r["id"] for r in rows}) == len(rows)


def test_canonical_url_dedup_prefers_the_latest_version(tmp_path: Path) -> None:
    records = [
        make_record(url="https://news.example/live", text=f"version {v} of the story " * 10,
                    crawl_id=CRAWL_A, fetched_at=T0 + timedelta(hours=h), version=v)
        for v, h in ((1, 0), (3, 1), (2, 2))
    ]
    write_crawl(tmp_path / "a", CRAWL_A, records)
    result = export(tmp_path / "a", tmp_path / "o", ExportOptions(format="jsonl", dedup="none"))
    (row,) = read_rows(tmp_path / "o")
    assert row["text"].startswith("version 3")
    assert result.manifest["dedup"]["removed"]["canonical_url"] == 2


def near_dup_archive(root: Path, seed: int = 5) -> tuple[list[dict], set[str]]:
    """200 articles; 19 of them repeat an earlier article's text, one word changed, under a new
    URL on another site and a later capture time."""
    rng = random.Random(seed)
    originals = [article_text(rng, 700) for _ in range(181)]
    records = [
        make_record(url=f"https://site{i % 5}.example/a/{i}", text=text, crawl_id=CRAWL_A,
                    fetched_at=T0 + timedelta(minutes=i))
        for i, text in enumerate(originals)
    ]
    copies = set()
    for j, src in enumerate(rng.sample(range(181), 19)):
        url = f"https://syndicator.example/wire/{j}"
        copies.add(url)
        records.append(make_record(url=url, text=edit_text(rng, originals[src], 1), crawl_id=CRAWL_A,
                                   fetched_at=T0 + timedelta(days=1, minutes=j)))
    rng.shuffle(records)  # file order is not capture order
    write_crawl(root, CRAWL_A, records, per_file=64)
    return records, copies


def brute_force_near(records: list[dict], threshold: int) -> int:
    """Rows left by the greedy earliest-first rule, comparing every pair (the oracle)."""
    from pipelines.textfp import hamming

    kept: list[str] = []
    for r in sorted(records, key=lambda r: r["fetched_at"]):
        if all(hamming(r["simhash"], k) > threshold for k in kept):
            kept.append(r["simhash"])
    return len(kept)


def test_near_dedup_removes_lightly_edited_copies(tmp_path: Path) -> None:
    records, copies = near_dup_archive(tmp_path / "a")
    result = export(tmp_path / "a", tmp_path / "o", ExportOptions(format="parquet", dedup="near"))
    rows = read_rows(tmp_path / "o")
    # SimHash at the default 3 bits misses the odd copy whose one edit moved more bits
    assert 181 <= len(rows) <= 185
    assert len(rows) == brute_force_near(records, 3)
    assert result.manifest["dedup"]["removed"] == {"canonical_url": 0, "exact": 0, "near": 200 - len(rows)}
    assert all(r["url"] in copies or "/a/" in r["url"] for r in rows)
    # all originals stay: no two different articles were merged
    assert sum(1 for r in rows if r["url"] not in copies) == 181

    wide = export(tmp_path / "a", tmp_path / "o6",
                  ExportOptions(format="jsonl", dedup="near", near_threshold=8))
    assert wide.rows == 181 == brute_force_near(records, 8)
    assert {r["url"] for r in read_rows(tmp_path / "o6")}.isdisjoint(copies)


def test_exact_dedup_does_not_touch_near_copies(tmp_path: Path) -> None:
    near_dup_archive(tmp_path / "a")
    assert export(tmp_path / "a", tmp_path / "o", ExportOptions(format="jsonl", dedup="exact")).rows == 200


def test_missing_fingerprints_are_computed_with_the_crawls_functions(tmp_path: Path) -> None:
    rng = random.Random(2)
    text = article_text(rng, 200)
    a = make_record(url="https://x.example/1", text=text, crawl_id=CRAWL_A, fetched_at=T0)
    b = make_record(url="https://y.example/2", text=text.upper(), crawl_id=CRAWL_A,
                    fetched_at=T0 + timedelta(hours=1))
    del b["text_sha1"], b["simhash"]
    write_crawl(tmp_path / "a", CRAWL_A, [b, a])
    result = export(tmp_path / "a", tmp_path / "o", ExportOptions(format="jsonl", dedup="exact"))
    assert [r["url"] for r in read_rows(tmp_path / "o")] == ["https://x.example/1"]
    assert result.manifest["dedup"]["removed"]["exact"] == 1


# --- shards, partitions, manifest, datasheet -------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_manifest_sums_match_the_files(varied, tmp_path: Path, fmt: str) -> None:
    root, _ = varied
    out = tmp_path / "o"
    assert run_cli(str(root), "--format", fmt, "--out", str(out), "--shard-rows", "7",
                   "--partition-by", "language") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    on_disk = sorted(p.relative_to(out).as_posix() for p in (out / "data").rglob("*") if p.is_file())
    assert on_disk == [e["path"] for e in manifest["files"]]
    total = 0
    for entry in manifest["files"]:
        path = out / entry["path"]
        assert entry["bytes"] == path.stat().st_size
        assert entry["sha256"] == _sha256(path)
        n = len(read_rows_of(path, fmt, manifest["fields"]))
        assert n == entry["rows"] <= 7
        total += n
    assert manifest["rows"] == total == sum(manifest["counts"]["by_language"].values())
    c, removed = manifest["counts"], manifest["dedup"]["removed"]
    assert c["passed_filters"] - sum(removed.values()) == total
    assert not list(out.rglob("*.open"))


def read_rows_of(path: Path, fmt: str, fields: list[str]) -> list[dict]:
    if fmt == "parquet":
        return pq.read_table(path).to_pylist()
    if fmt == "jsonl":
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return [json.loads(line) for line in f]
    return read_csv(path, fields)


def test_partition_folders_hold_only_their_value(varied, tmp_path: Path) -> None:
    root, _ = varied
    export(root, tmp_path / "o", ExportOptions(format="parquet", partition_by="language"))
    folders = sorted(p.name for p in (tmp_path / "o" / "data").iterdir())
    assert folders == ["en", "en-gb", "fr", "unknown"]
    for p in (tmp_path / "o" / "data" / "en-gb").glob("*.parquet"):
        assert {r["language"] for r in pq.read_table(p).to_pylist()} == {"en-GB"}
    for p in (tmp_path / "o" / "data" / "unknown").glob("*.parquet"):
        assert {r["language"] for r in pq.read_table(p).to_pylist()} == {None}
    # pyarrow's default discovery (what pandas.read_parquet uses) loads the folder as one table
    table = pq.read_table(tmp_path / "o" / "data")
    assert table.num_rows == json.loads((tmp_path / "o" / "manifest.json").read_text())["rows"]
    assert table.column_names == FIELD_NAMES


def test_partition_folder_names_are_safe_path_segments() -> None:
    from archive.export_writers import partition_dir

    assert partition_dir("news.example.com") == "news.example.com"
    assert partition_dir("2024-05") == "2024-05"
    assert partition_dir(None) == partition_dir("") == "unknown"
    assert partition_dir("a/b") == "a%2Fb"
    assert partition_dir("..") == "%2E."  # no parent folder, and not hidden
    assert partition_dir("_x") == "%5Fx"


def test_partition_by_month_with_few_open_files(varied, tmp_path: Path) -> None:
    root, _ = varied
    result = export(root, tmp_path / "o", ExportOptions(format="jsonl", partition_by="month",
                                                        max_open_shards=2))
    months = {p.parent.name for p in (tmp_path / "o" / "data").rglob("*.jsonl.gz")}
    assert months == set(result.manifest["counts"]["by_month"])
    # crawl B goes back to earlier months: their files were closed, so new shards are started
    assert len(result.manifest["files"]) > len(months)
    assert sum(e["rows"] for e in result.manifest["files"]) == result.rows
    for entry in result.manifest["files"]:
        month = entry["path"].split("/")[1]
        with gzip.open(tmp_path / "o" / entry["path"], "rt") as f:
            assert {(r["published"] or r["fetched_at"])[:7] for r in map(json.loads, f)} == {month}


def test_shard_bytes_rotates_files(varied, tmp_path: Path) -> None:
    root, _ = varied
    result = export(root, tmp_path / "o", ExportOptions(format="csv", shard_bytes=20_000))
    assert len(result.manifest["files"]) > 3
    assert all(e["bytes"] < 20_000 + 8_000 for e in result.manifest["files"])  # + one row at most


def test_manifest_records_filters_dedup_schema_source_and_versions(varied, tmp_path: Path) -> None:
    root, _ = varied
    assert run_cli(str(root), "--format", "parquet", "--out", str(tmp_path / "o"), "--lang", "en",
                   "--dedup", "near", "--crawl-id", CRAWL_A) == 0
    m = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert m["filters"]["lang"] == ["en"] and m["filters"]["crawl_id"] == [CRAWL_A]
    assert m["dedup"]["mode"] == "near" and m["dedup"]["near_threshold"] == 3
    assert m["dedup"]["near_bands"] == 4
    assert [s["name"] for s in m["schema"]] == FIELD_NAMES
    assert m["source"]["crawl_ids"] == [CRAWL_A]
    assert m["source"]["crawls"][0]["seeds"] == ["https://news.example/"]
    assert m["source"]["record_files"][0]["path"].startswith(f"articles/{CRAWL_A}/")
    assert set(m["versions"]) >= {"newsarchive", "pyarrow", "python"}
    assert m["command"].startswith("newsarchive export ") and "--lang en" in m["command"]
    assert datetime.fromisoformat(m["created_at"]).tzinfo is not None


def test_datasheet_is_a_dataset_card_with_counts_and_rights(varied, tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    root, _ = varied
    export(root, tmp_path / "o", ExportOptions(format="parquet", partition_by="domain"))
    text = (tmp_path / "o" / "README.md").read_text()
    assert text.startswith("---\n")
    header = yaml.safe_load(text.split("---\n")[1])
    (config,) = header["configs"]
    assert config["config_name"] == "default"
    (data_files,) = config["data_files"]
    assert data_files["split"] == "train"
    matched = sorted(p.relative_to(tmp_path / "o").as_posix() for p in (tmp_path / "o").glob(data_files["path"]))
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert matched == [e["path"] for e in manifest["files"]]
    assert header["language"] == ["en", "fr"]
    assert header["license"] == "other"
    for domain, n in manifest["counts"]["by_domain"].items():
        assert f"| {domain} | {n:,} |" in text
    for heading in ("## Fields", "## How it was made", "## Known limits", "## Rights"):
        assert heading in text
    assert "copyrighted" in text and "robots.txt obeyed" in text
    assert "| `text` | `string` |" in text


def test_datasheet_does_not_claim_robots_when_a_crawl_ignored_them(tmp_path: Path) -> None:
    write_crawl(tmp_path / "a", CRAWL_A, [make_record(url="https://n.example/1", text="some words here",
                                                     crawl_id=CRAWL_A, fetched_at=T0)], robots=False)
    export(tmp_path / "a", tmp_path / "o", ExportOptions(format="jsonl"))
    assert f"robots.txt NOT obeyed in crawl(s) {CRAWL_A}" in (tmp_path / "o" / "README.md").read_text()


def test_same_input_gives_the_same_data_files(varied, tmp_path: Path) -> None:
    root, _ = varied
    digests = []
    for name in ("one", "two"):
        m = export(root, tmp_path / name, ExportOptions(format="jsonl", dedup="near")).manifest
        digests.append([(e["path"], e["sha256"]) for e in m["files"]])
    assert digests[0] == digests[1]


# --- loaders ----------------------------------------------------------------------------------


@pytest.mark.parametrize("partition_by", [None, "language", "month"])
def test_pandas_reads_the_parquet_folder(varied, tmp_path: Path, partition_by) -> None:
    pd = pytest.importorskip("pandas")
    root, _ = varied
    result = export(root, tmp_path / "o", ExportOptions(format="parquet", shard_rows=10,
                                                        partition_by=partition_by))
    df = pd.read_parquet(tmp_path / "o" / "data")
    assert len(df) == result.rows and list(df.columns) == FIELD_NAMES


def test_duckdb_reads_every_format(varied, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    root, _ = varied
    for fmt, reader in (("parquet", "read_parquet"), ("jsonl", "read_json"), ("csv", "read_csv")):
        result = export(root, tmp_path / fmt, ExportOptions(format=fmt, shard_rows=10))
        glob = (tmp_path / fmt / "data" / "*").as_posix()
        n = duckdb.sql(f"SELECT count(*) FROM {reader}('{glob}')").fetchall()[0][0]
        assert n == result.rows


# --- command line -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--fields", "title,nonsense"], "unknown field(s) nonsense"),
        (["--since", "last tuesday"], "not a date"),
        (["--since", "2024-05", "--until", "2024-04"], "--since must be before --until"),
        (["--crawl-id", "20990101T000000Z-ffffff"], "unknown crawl id(s)"),
        (["--near-threshold", "40"], "--near-threshold must be 0..16"),
        (["--query", '"unbalanced'], "--query"),
    ],
)
def test_bad_usage_exits_2_with_one_line(varied, tmp_path: Path, capsys, extra, message) -> None:
    root, _ = varied
    assert run_cli(str(root), "--format", "jsonl", "--out", str(tmp_path / "o"), *extra) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_bad_input_exits_2(varied, tmp_path: Path, capsys) -> None:
    root, _ = varied
    assert run_cli(str(tmp_path / "nowhere"), "--format", "csv", "--out", str(tmp_path / "o")) == 2
    assert "archive not found" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.txt").write_text("x")
    assert run_cli(str(root), "--format", "csv", "--out", str(tmp_path / "full")) == 2
    assert "not empty" in capsys.readouterr().err
    assert run_cli(str(root), "--format", "csv", "--out", "ftp://host/prefix") == 2
    assert "a local folder or s3://bucket/prefix" in capsys.readouterr().err
    assert run_cli(str(root), "--format", "csv", "--out", "s3://user:secret@bucket/p") == 2
    err = capsys.readouterr().err
    assert "credentials do not go in the s3:// URI" in err and "user:secret" not in err


def test_cli_is_quiet_on_success_in_a_pipe(varied, tmp_path: Path, capsys) -> None:
    root, _ = varied
    assert run_cli(str(root), "--format", "jsonl", "--out", str(tmp_path / "o")) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_write_failure_exits_1_and_leaves_no_partial_dataset(varied, tmp_path: Path, monkeypatch, capsys) -> None:
    from archive import export_writers

    root, _ = varied
    calls = {"n": 0}
    real = export_writers._JsonlShard.write

    def failing(self, row):
        calls["n"] += 1
        if calls["n"] == 25:
            raise OSError(28, "No space left on device")
        return real(self, row)

    monkeypatch.setattr(export_writers._JsonlShard, "write", failing)
    out = tmp_path / "o"
    assert run_cli(str(root), "--format", "jsonl", "--out", str(out), "--shard-rows", "10") == 1
    assert "No space left on device" in capsys.readouterr().err
    assert not (out / "manifest.json").exists()
    assert [p for p in out.rglob("*") if p.is_file()] == []


def test_sizes_and_options_parse(tmp_path: Path) -> None:
    assert cli.size("512K") == 512 * 1024 and cli.size("1G") == 2**30 and cli.size("100") == 100
    assert cli.size("256MiB") == 256 * 2**20
    with pytest.raises(argparse.ArgumentTypeError):
        cli.size("lots")
    with pytest.raises(UsageError):
        ExportOptions(format="xml").validate()


def test_an_export_that_keeps_nothing_is_still_complete(varied, tmp_path: Path) -> None:
    root, _ = varied
    result = export(root, tmp_path / "o", ExportOptions(format="parquet", query="zzzz-nowhere"))
    assert result.rows == 0 and result.manifest["files"] == []
    assert result.manifest["counts"]["filtered"] == {"query": 42}
    assert "(empty export)" in (tmp_path / "o" / "README.md").read_text()


def test_progress_draws_only_on_a_terminal() -> None:
    import io

    from archive.export_progress import Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    pipe = io.StringIO()
    p = Progress(stream=pipe)
    p.stage("reading")
    p.update(10)
    p.done()
    assert pipe.getvalue() == "" and not p.enabled

    tty = Tty()
    p = Progress(stream=tty, interval=0)
    p.stage("reading")
    p.update(1500, errors=2)
    p.done()
    assert tty.getvalue().startswith("\rreading: 1,500 records (") and ", 2 errors" in tty.getvalue()
    assert tty.getvalue().endswith("\n")


def test_hugging_face_datasets_loads_the_folder_from_its_card(varied, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    datasets = pytest.importorskip("datasets")
    root, _ = varied
    result = export(root, tmp_path / "o", ExportOptions(format="parquet", partition_by="language"))
    ds = datasets.load_dataset(str(tmp_path / "o"), split="train")
    assert ds.num_rows == result.rows
    assert ds.column_names == FIELD_NAMES
