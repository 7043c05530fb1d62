"""Record lines are what ``json.dumps(ensure_ascii=False)`` writes, byte for byte, whoever writes them."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.records import record_line


def stdlib_line(record) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


# What a record holds: text in any script (control characters, quotes, U+2028, emoji; no lone
# surrogates, which UTF-8 cannot carry), 64-bit ints, booleans, null, lists and objects.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | TEXT
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(TEXT, inner, max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(TEXT, VALUES, max_size=8))
def test_same_bytes_as_the_stdlib(record):
    assert record_line(record) == stdlib_line(record)


def test_a_real_record_shape():
    record = {"id": "ab" * 20, "title": "Ça « marche » \u2028 \U0001f600", "text": 'a "quote"\n\nb\\c\t\x00',
              "authors": ["A. B."], "word_count": 3, "links": {"article": [{"url": "https://x/y?a=1&b=2",
              "text": "</script>"}]}, "previous": None, "ok": True}
    assert record_line(record) == stdlib_line(record)


@pytest.mark.parametrize("record", [
    {"big": 2**70},  # beyond 64 bits
    {1: "int key", None: "null key"},  # keys the stdlib turns into strings
    {"s": type("Label", (str,), {})("a subclass")},
])
def test_what_orjson_refuses_is_written_by_the_stdlib(record):
    assert record_line(record) == stdlib_line(record)


@pytest.mark.parametrize(("record", "error"), [
    ({"text": "lone \ud800 surrogate"}, UnicodeEncodeError),
    ({"when": datetime(2026, 11, 30, tzinfo=timezone.utc)}, TypeError),
])
def test_what_the_stdlib_refuses_still_raises(record, error):
    with pytest.raises(error):
        stdlib_line(record)
    with pytest.raises(error):
        record_line(record)
