"""The declared schema of exported rows (article record, ``schema_version`` 1) and how a record
is made to fit it.

One declared schema, not one inferred from the data: every shard of every export then has the
same column types, even a shard in which, say, ``modified`` is always null, which is what lets
pandas / DuckDB / Hugging Face ``datasets`` read a folder of shards as one table.

Dates stay ISO 8601 strings, as in the record: ``published`` comes from page metadata and is
sometimes a bare date, sometimes a local time with an offset; a timestamp column would have to
invent a time and drop the offset. ``extractor.options`` is free-form, so it is a JSON string in
every format (one column type, and JSON lines rows equal Parquet rows).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pyarrow as pa

SCHEMA_VERSION = 1

_LINK = pa.struct([("url", pa.string()), ("text", pa.string())])

# (name, type, meaning): the meaning is the datasheet's field table.
FIELDS: list[tuple[str, pa.DataType, str]] = [
    ("id", pa.string(), "stable id: sha1 of the canonical URL"),
    ("url", pa.string(), "URL as requested"),
    ("final_url", pa.string(), "URL after redirects"),
    ("canonical_url", pa.string(), "canonical URL the page declares"),
    ("domain", pa.string(), "host name of the article"),
    ("site_name", pa.string(), "name of the publication"),
    ("title", pa.string(), "headline"),
    ("authors", pa.list_(pa.string()), "author names"),
    ("published", pa.string(), "publication date, ISO 8601, cross-checked with feed / sitemap dates"),
    ("modified", pa.string(), "last modification date, ISO 8601"),
    ("language", pa.string(), "language code of the text"),
    ("description", pa.string(), "summary the page declares"),
    ("section", pa.string(), "section of the site"),
    ("tags", pa.list_(pa.string()), "tags / keywords"),
    ("text", pa.string(), "main article text only, paragraphs separated by a blank line"),
    ("word_count", pa.int64(), "words in text"),
    (
        "images",
        pa.list_(pa.struct([("url", pa.string()), ("caption", pa.string()), ("credit", pa.string())])),
        "images that belong to the article",
    ),
    (
        "links",
        pa.struct(
            [
                ("article", pa.list_(_LINK)),
                ("navigation", pa.list_(_LINK)),
                ("media", pa.list_(_LINK)),
            ]
        ),
        "links in the text; navigation / related lists; video, audio and gallery links",
    ),
    (
        "discovered_via",
        pa.struct(
            [
                ("kind", pa.string()),
                ("source", pa.string()),
                ("published", pa.string()),
                ("title", pa.string()),
            ]
        ),
        "how the crawler found the article: feed, sitemap, news_sitemap, homepage, link or seed",
    ),
    ("fetched_at", pa.string(), "capture time, ISO 8601 UTC"),
    ("http_status", pa.int64(), "HTTP status of the capture"),
    ("content_type", pa.string(), "Content-Type of the capture"),
    ("text_sha1", pa.string(), "sha1 of the normalized text (exact duplicates)"),
    ("simhash", pa.string(), "64-bit SimHash of the text, 16 hex digits (near duplicates)"),
    (
        "warc",
        pa.struct(
            [
                ("file", pa.string()),
                ("offset", pa.int64()),
                ("length", pa.int64()),
                ("record_id", pa.string()),
                ("payload_digest", pa.string()),
            ]
        ),
        "where the raw HTTP response lives in the archive's WARC files",
    ),
    ("crawl_id", pa.string(), "crawl that captured the article"),
    (
        "extractor",
        pa.struct([("name", pa.string()), ("version", pa.string()), ("options", pa.string())]),
        "text extractor name, version and options (options as a JSON string in Parquet)",
    ),
    ("version", pa.int64(), "1 for the first record of an article; n+1 when an update changed its text"),
    (
        "previous",
        pa.struct(
            [
                ("crawl_id", pa.string()),
                ("file", pa.string()),
                ("offset", pa.int64()),
                ("length", pa.int64()),
            ]
        ),
        "the record this version supersedes (null for version 1)",
    ),
    ("schema_version", pa.int64(), "record schema version (1)"),
]

FIELD_NAMES: list[str] = [name for name, _, _ in FIELDS]
_TYPES: dict[str, pa.DataType] = {name: t for name, t, _ in FIELDS}


def arrow_schema(fields: list[str] | None = None) -> pa.Schema:
    """The Arrow schema of the chosen columns, in the chosen order."""
    names = fields or FIELD_NAMES
    return pa.schema(
        [pa.field(n, _TYPES[n]) for n in names],
        metadata={"newsarchive.schema_version": str(SCHEMA_VERSION)},
    )


def schema_description(fields: list[str] | None = None) -> list[dict[str, str]]:
    """``[{name, type, description}]`` for the manifest and the datasheet."""
    names = fields or FIELD_NAMES
    meaning = {name: text for name, _, text in FIELDS}
    return [{"name": n, "type": str(_TYPES[n]), "description": meaning[n]} for n in names]


def _converter(t: pa.DataType) -> Callable[[Any], Any]:
    """A function that makes a value fit ``t``, or gives None when it cannot: a crawl bug in one
    record must not fail a whole Parquet row group, and every format must carry the same value.
    Built once per column (type checks on every value were most of the export's CPU time)."""
    if pa.types.is_string(t):
        def to_str(v: Any) -> Any:
            if v is None or type(v) is str:
                return v
            if isinstance(v, (dict, list)):
                return json.dumps(v, ensure_ascii=False, sort_keys=True)
            return str(v)
        return to_str
    if pa.types.is_integer(t):
        def to_int(v: Any) -> Any:
            if v is None or type(v) is int:
                return v
            try:
                return int(v)
            except (TypeError, ValueError):
                return None
        return to_int
    if pa.types.is_list(t):
        item = _converter(t.value_type)

        def to_list(v: Any) -> Any:
            if v is None:
                return None
            if isinstance(v, str):
                v = [v]
            elif not isinstance(v, (list, tuple)):
                return None
            return [item(x) for x in v]
        return to_list
    if pa.types.is_struct(t):
        members = [(f.name, _converter(f.type)) for f in t]

        def to_struct(v: Any) -> Any:
            if not isinstance(v, dict):
                return None
            return {name: conv(v.get(name)) for name, conv in members}
        return to_struct
    raise TypeError(f"no conversion to {t}")  # pragma: no cover - FIELDS only uses the types above


_CONVERTERS: dict[str, Callable[[Any], Any]] = {name: _converter(t) for name, t, _ in FIELDS}


def conform(record: dict, fields: list[str] | None = None) -> dict:
    """The exported row for ``record``: exactly the chosen columns, each fitted to its type."""
    return {n: _CONVERTERS[n](record.get(n)) for n in (fields or FIELD_NAMES)}
