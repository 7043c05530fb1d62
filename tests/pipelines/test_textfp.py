"""textfp's values are a contract: records of old crawls and new exports must agree."""

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import textfp


def reference_simhash(text: str) -> str:
    """The definition, bit by bit: the fast version must give exactly this."""
    weights = [0] * 64
    for sh in textfp.shingles(text):
        h = int.from_bytes(hashlib.blake2b(sh.encode("utf-8"), digest_size=8).digest(), "big")
        for i in range(64):
            weights[i] += 1 if (h >> i) & 1 else -1
    value = sum(1 << i for i, w in enumerate(weights) if w > 0)
    return f"{value:016x}"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["the", "council", "budget", "roads", "Tax", "ÉTÉ", "2025", "x"]), max_size=80))
def test_simhash_equals_the_definition(words):
    text = " ".join(words)
    assert textfp.simhash(text) == reference_simhash(text)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_fingerprints_equal_the_two_functions(text):
    assert textfp.simhash(text) == reference_simhash(text)
    assert textfp.fingerprints(text) == (textfp.text_sha1(text), textfp.simhash(text))


def test_known_values():
    # Pinned: changing them breaks near-dup detection against records already written.
    assert textfp.simhash("") == "0000000000000000"
    text = "Japan says it plans to tell Trump it will build up military and upgrade security strategy"
    assert textfp.simhash(text) == reference_simhash(text) == "de0960f7620c8302"
    assert textfp.text_sha1("Hello,  World!") == hashlib.sha1(b"hello world").hexdigest()


def test_near_copies_are_close_and_others_far():
    a = "The council approved the new budget for road repairs after a long debate on Tuesday night " * 4
    b = a.replace("Tuesday", "Wednesday", 1)
    c = "Storm Orla forced evacuations along the coast as rivers rose above their banks overnight " * 4
    assert textfp.hamming(textfp.simhash(a), textfp.simhash(b)) <= 6
    assert textfp.hamming(textfp.simhash(a), textfp.simhash(c)) > 10
    assert textfp.hamming_int(int(textfp.simhash(a), 16), int(textfp.simhash(c), 16)) > 10
