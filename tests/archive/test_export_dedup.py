from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.export_dedup import DedupKeys, SimhashLSH, canonical_key, decide
from pipelines.textfp import hamming
from tests.archive.synthetic_records import T0, make_record


def _flip(value: int, bits: list[int]) -> int:
    for b in bits:
        value ^= 1 << b
    return value


@settings(max_examples=200, deadline=None)
@given(
    base=st.integers(0, 2**64 - 1),
    threshold=st.integers(0, 16),
    flips=st.lists(st.integers(0, 63), unique=True, max_size=16),
)
def test_lsh_finds_every_hash_within_the_threshold(base: int, threshold: int, flips: list[int]) -> None:
    """The pigeonhole promise: no near duplicate within the threshold is ever missed."""
    lsh = SimhashLSH(threshold)
    lsh.add(base)
    other = _flip(base, flips)
    found = lsh.find(other)
    if len(flips) <= threshold:
        assert found == 0
    else:
        assert found is None


def test_lsh_agrees_with_brute_force_and_compares_few_candidates() -> None:
    rng = random.Random(4)
    stored = [rng.getrandbits(64) for _ in range(5_000)]
    lsh = SimhashLSH(3)
    for v in stored:
        lsh.add(v)
    queries = [rng.getrandbits(64) for _ in range(200)]
    queries += [_flip(stored[i], rng.sample(range(64), rng.randint(0, 5))) for i in range(0, 2000, 10)]
    for q in queries:
        expected = {i for i, v in enumerate(stored) if hamming(f"{q:016x}", f"{v:016x}") <= 3}
        got = lsh.find(q)
        assert (got is None) == (not expected)
        if got is not None:
            assert got in expected
    # 400 queries against 5,000 hashes: banding looks at a handful each, not at all of them
    assert lsh.comparisons < 400 * 5


def test_bands_grow_with_the_threshold() -> None:
    assert SimhashLSH(3).bands == 4
    assert SimhashLSH(0).bands == 4
    assert SimhashLSH(7).bands == 8
    with pytest.raises(ValueError):
        SimhashLSH(17)


def _keys(records: list[dict]) -> DedupKeys:
    keys = DedupKeys()
    for i, r in enumerate(records):
        keys.add(i, r, need_text=True)
    return keys


def test_decide_counts_each_rule_and_keeps_the_right_ordinals() -> None:
    from datetime import timedelta

    def rec(url: str, text: str, hours: int, **kw) -> dict:
        return make_record(url=url, text=text, crawl_id="c", fetched_at=T0 + timedelta(hours=hours), **kw)

    records = [
        rec("https://a.example/1", "alpha beta gamma delta epsilon", 5),
        rec("https://a.example/1", "alpha beta gamma delta epsilon zeta", 1),  # same URL, earlier
        rec("https://b.example/2", "alpha beta gamma delta epsilon zeta", 3),  # same text, later
        rec("https://c.example/3", "", 0),  # no text: never text-deduplicated
        rec("https://d.example/4", "", 0),
    ]
    d = decide(_keys(records), len(records), "exact")
    assert list(d.keep) == [0, 1, 0, 1, 1]
    assert d.removed == {"canonical_url": 1, "exact": 1, "near": 0}
    assert d.rows == 3
    none = decide(_keys(records), len(records), "none")
    assert list(none.keep) == [0, 1, 1, 1, 1]


def test_canonical_key_is_the_record_id_or_the_crawls_record_key() -> None:
    r = make_record(url="https://news.example/a", text="x", crawl_id="c", fetched_at=T0)
    assert canonical_key(r) == r["id"]
    del r["id"]
    r["canonical_url"] = "https://news.example/a?utm_source=feed"
    other = dict(r, final_url="https://news.example/a", canonical_url=None)
    assert canonical_key(r) == canonical_key(other)
    assert canonical_key({"text": "no url"}) is None
