"""The fast simhash must give textfp's exact value."""

from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import textfp
from pipelines.extraction_fingerprint import simhash


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["the", "council", "budget", "roads", "Tax", "ÉTÉ", "2025", "x"]),
        max_size=80,
    )
)
def test_same_value_as_textfp(words):
    text = " ".join(words)
    assert simhash(text) == textfp.simhash(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400))
def test_same_value_on_any_text(text):
    assert simhash(text) == textfp.simhash(text)


def test_known_values():
    assert simhash("") == textfp.simhash("") == "0000000000000000"
    text = (
        "Japan says it plans to tell Trump it will build up military and upgrade security strategy"
    )
    assert simhash(text) == textfp.simhash(text)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_fingerprints_equal_textfp(text):
    from pipelines.extraction_fingerprint import fingerprints

    assert fingerprints(text) == (textfp.text_sha1(text), textfp.simhash(text))
