"""Decoding crawled bodies: lying charsets, <meta>-only charsets, NUL bytes, binaries, any bytes."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.extraction import extract_article, extract_page
from pipelines.extraction_decode import decode_body, looks_binary

TEXT = "Japan’s foreign minister — “firmly preparing” — said café owners in Zürich pay 5 €."
PARA = (
    f"<p>{TEXT} " + "The ministry said more talks would follow next week in Tokyo. " * 12 + "</p>"
)


def page_bytes(encoding: str, meta: str = "") -> bytes:
    return f"<!DOCTYPE html><html><head>{meta}<title>T</title></head><body><article>{PARA}</article></body></html>".encode(
        encoding
    )


def test_utf8_plain():
    decoded = decode_body(page_bytes("utf-8"), "text/html; charset=utf-8")
    assert TEXT in decoded.text and decoded.encoding == "utf-8" and decoded.source == "http"


def test_windows_1252_declared_as_utf8():
    body = page_bytes("cp1252")
    decoded = decode_body(body, "text/html; charset=utf-8")
    assert TEXT in decoded.text
    assert decoded.source == "detected"
    fields, reason = extract_page(
        body, "https://example.com/a", content_type="text/html; charset=UTF-8"
    )
    assert reason == "ok" and TEXT in fields["text"]


def test_charset_only_in_meta():
    russian = "Правительство объявило новые меры поддержки для малого бизнеса. " * 10
    body = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
        f"<title>Новости дня</title></head><body><article><p>{russian}</p></article></body></html>"
    ).encode("cp1251")
    decoded = decode_body(body, "text/html")
    assert decoded.encoding == "cp1251" and decoded.source == "meta"
    assert "Новости дня" in decoded.text
    fields, reason = extract_page(body, "https://example.ru/news/1", content_type="text/html")
    assert reason == "ok" and "Правительство объявило" in fields["text"]
    assert fields["encoding"] == "cp1251"


def test_meta_charset_lying_about_utf8_bytes():
    # the template says iso-8859-1 but the CMS writes UTF-8: decoding as declared gives "â€™"
    body = page_bytes("utf-8", '<meta charset="iso-8859-1">')
    decoded = decode_body(body, None)
    assert decoded.encoding == "utf-8" and TEXT in decoded.text


def test_latin1_label_means_windows_1252():
    body = page_bytes("cp1252", '<meta charset="iso-8859-1">')
    decoded = decode_body(body, None)
    assert decoded.encoding == "cp1252" and TEXT in decoded.text


def test_bom_wins_over_declarations():
    body = codecs.BOM_UTF8 + page_bytes("utf-8", '<meta charset="windows-1252">')
    decoded = decode_body(body, "text/html; charset=iso-8859-1")
    assert decoded.source == "bom" and TEXT in decoded.text


def test_utf16_with_and_without_bom():
    for body in (
        codecs.BOM_UTF16_LE + page_bytes("utf-16-le"),
        page_bytes("utf-16-le"),
        page_bytes("utf-16-be"),
    ):
        decoded = decode_body(body, None)
        assert decoded.text is not None and TEXT in decoded.text


def test_nul_bytes_are_removed():
    body = page_bytes("utf-8")
    body = body[:200] + b"\x00" * 40 + body[200:] + b"\x00\x00"
    decoded = decode_body(body, "text/html")
    assert "\x00" not in decoded.text and TEXT in decoded.text
    fields, reason = extract_page(body, "https://example.com/a")
    assert reason == "ok" and "\x00" not in fields["text"]


@pytest.mark.parametrize(
    "body",
    [
        b"%PDF-1.4\n1 0 obj",
        b"\xff\xd8\xff\xe0\x00\x10JFIF",
        b"GIF89a\x01\x00",
        b"PK\x03\x04\x14\x00",
        b"\x1f\x8b\x08\x00\x00\x00",
        b"\x00\x00\x00\x18ftypmp42",
        bytes(range(1, 32)) * 100,
        b"\x00\x01" * 4000,
    ],
    ids=["pdf", "jpeg", "gif", "zip", "gzip", "mp4", "controls", "nul-pattern"],
)
def test_binary(body):
    assert looks_binary(body)
    assert decode_body(body, "text/html").reason == "binary"


def test_html_is_not_binary():
    assert not looks_binary(page_bytes("utf-8"))


def test_empty_and_not_html():
    assert decode_body(b"", None).reason == "empty"
    assert decode_body(b"  \r\n", None).reason == "empty"
    assert decode_body(b'{"json": true}', "application/json").reason == "not_html"
    assert decode_body(b"plain words only", None).reason == "not_html"
    # a text/plain declaration with markup in it is still read
    assert decode_body(page_bytes("utf-8"), "text/plain").text is not None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_any_bytes_never_raise(body):
    fields, reason = extract_page(body, "https://example.com/a")
    assert isinstance(reason, str) and reason
    assert (fields is None) == (reason != "ok")
    extract_article(body)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "<p>",
                    "</p>",
                    "<div class='x'>",
                    "</div>",
                    "<a href='/a'>",
                    "</a>",
                    "<html>",
                    "<body>",
                    "<script>",
                    "</script>",
                    "<meta charset='utf-16'>",
                    "<!--",
                    "-->",
                    "<h1>",
                    "&#0;",
                    "\x00",
                ]
            ),
            st.text(max_size=80),
        ),
        max_size=60,
    ),
    st.sampled_from(
        [None, "text/html", "text/html; charset=utf-8", "text/html; charset=bogus-enc", "image/png"]
    ),
)
def test_any_markup_never_raises(parts, content_type):
    body = "".join(parts).encode("utf-8", "surrogatepass")
    fields, reason = extract_page(
        body, "https://example.com/a", content_type=content_type, time_budget=5
    )
    assert isinstance(reason, str) and (fields is None) == (reason != "ok")
