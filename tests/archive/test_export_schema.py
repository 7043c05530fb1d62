from __future__ import annotations

import pyarrow as pa

from archive.export_schema import FIELD_NAMES, arrow_schema, conform, schema_description
from tests.archive.synthetic_records import T0, make_record


def test_a_good_record_passes_unchanged_except_free_form_options() -> None:
    record = make_record(url="https://n.example/a", text="words", crawl_id="c", fetched_at=T0)
    row = conform(record)
    assert list(row) == FIELD_NAMES
    for name in FIELD_NAMES:
        if name != "extractor":
            assert row[name] == record[name], name
    assert row["extractor"]["options"] == '{"favor_precision": true}'
    pa.Table.from_pylist([row], schema=arrow_schema())  # fits the declared schema


def test_wrong_types_are_fitted_or_nulled_so_a_row_group_never_fails() -> None:
    bad = {
        "authors": "One Author", "tags": ("a", 1), "word_count": "12", "http_status": "n/a",
        "warc": {"offset": "5", "file": 3}, "links": "not a dict", "images": [{"url": "u"}],
        "title": 42, "unknown_field": "dropped",
    }
    row = conform(bad)
    assert row["authors"] == ["One Author"] and row["tags"] == ["a", "1"]
    assert row["word_count"] == 12 and row["http_status"] is None
    assert row["warc"]["offset"] == 5 and row["warc"]["file"] == "3" and row["warc"]["length"] is None
    assert row["links"] is None
    assert row["images"] == [{"url": "u", "caption": None, "credit": None}]
    assert row["title"] == "42" and "unknown_field" not in row
    assert row["text"] is None
    table = pa.Table.from_pylist([row], schema=arrow_schema())
    assert table.num_rows == 1


def test_chosen_fields_keep_their_order() -> None:
    assert list(conform({"url": "u", "title": "t"}, ["title", "url"])) == ["title", "url"]
    assert arrow_schema(["title", "url"]).names == ["title", "url"]
    assert [d["name"] for d in schema_description(["title"])] == ["title"]
