"""Bytes to HTML text: refuse what is not HTML, find the real encoding, never raise.

Crawled bodies lie: a server says ``charset=utf-8`` over windows-1252 bytes, a CMS declares
iso-8859-1 in ``<meta>`` while templating UTF-8 into it, a proxy pads with NUL bytes, a URL
that looked like an article serves a PDF. The declared charsets are tried in the order a
browser trusts them (w3lib's helpers, which Scrapy itself uses), each one strictly, and a
declared charset is dropped when it fails or produces mojibake; charset_normalizer (already a
trafilatura dependency) guesses only when every declaration failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from w3lib.encoding import (
    html_body_declared_encoding,
    http_content_type_encoding,
    read_bom,
    resolve_encoding,
)

# Magic numbers of formats that get served under HTML-looking URLs (downloads, images,
# documents, archives, media). Checked before any decoding.
_MAGIC = (
    b"%PDF-",
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"\xff\xd8\xff",  # JPEG
    b"RIFF",  # WEBP, WAV, AVI
    b"PK\x03\x04",  # zip, docx, epub
    b"\x1f\x8b",  # gzip (an undecoded Content-Encoding)
    b"BZh",
    b"7z\xbc\xaf\x27\x1c",
    b"\xfd7zXZ\x00",
    b"Rar!\x1a\x07",
    b"\x00\x00\x01\x00",  # ico
    b"ID3",  # mp3
    b"OggS",
    b"fLaC",
    b"\x1aE\xdf\xa3",  # matroska / webm
    b"\xd0\xcf\x11\xe0",  # MS Office (OLE)
    b"\x7fELF",
    b"MZ",
    b"\x00asm",
    b"wOFF",
    b"wOF2",
)
_MP4_BRAND = re.compile(rb"^....ftyp", re.DOTALL)

# Bytes a text document does not contain (C0 controls except tab, LF, FF, CR, ESC). NUL is
# counted apart: stray NULs in otherwise good HTML are removed, not a reason to refuse it.
_CONTROL = bytes(b for b in range(1, 32) if b not in (9, 10, 12, 13, 27))
_SAMPLE = 8192
_MAX_CONTROL_SHARE = 0.10

_HTML_SNIFF = re.compile(
    rb"<(?:!doctype\s+html|html|head|body|meta|title|p|div|article|script|a\s)[\s>/]",
    re.IGNORECASE,
)
_NOT_HTML_TYPES = re.compile(
    r"^(?:image|audio|video|font|model)/|^application/(?:pdf|zip|gzip|octet-stream|"
    r"x-|vnd\.|msword|ogg|wasm|json|javascript|ld\+json)|^text/(?:css|javascript|csv|calendar)",
    re.IGNORECASE,
)

# Typical UTF-8 read as a single-byte charset: "Ã©", "â€™", "Â " ... A declared single-byte
# charset that shows these while the bytes are valid UTF-8 was a lie.
_MOJIBAKE = re.compile("[ÂÃ][\u0080-\u00bf]|â€[\u0080-\u00bf\u2018-\u203a™œ]|Ã[©¨¢¡³¶¼]")
_UNICODE = {"utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"}


@dataclass(frozen=True)
class Decoded:
    """What ``decode_body`` found: the text (None when refused), the encoding used, and a
    reason token for a refusal (``binary``, ``not_html``, ``empty``, ``decode_error``)."""

    text: str | None
    encoding: str | None = None
    reason: str = "ok"
    source: str = ""  # "bom", "http", "meta", "utf-8", "detected", "fallback"


def looks_binary(body: bytes) -> bool:
    """True for media/documents/archives (magic numbers) and for bodies full of control bytes."""
    head = body[:16]
    if head.startswith(_MAGIC) or _MP4_BRAND.match(head):
        return True
    sample = body[:_SAMPLE]
    if not sample:
        return False
    controls = len(sample) - len(sample.translate(None, _CONTROL))
    if controls / len(sample) > _MAX_CONTROL_SHARE:
        return True
    # Mostly NUL and no markup left once they are gone: a binary format, not padded HTML.
    nuls = sample.count(0)
    return nuls > len(sample) * 0.3 and not _HTML_SNIFF.search(sample.replace(b"\x00", b""))


def _utf16_without_bom(sample: bytes) -> str | None:
    """UTF-16 markup without a BOM: NUL in every other byte, and text in the others (Latin
    script markup is ASCII in the low byte); a binary format has no such pattern."""
    if len(sample) < 64 or sample.count(0) < len(sample) * 0.3:
        return None
    sample = sample[: len(sample) // 2 * 2]
    even, odd = sample[0::2], sample[1::2]
    for nuls, text, name in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if nuls.count(0) > len(nuls) * 0.8 and text.count(0) < len(text) * 0.05:
            controls = len(text) - len(text.translate(None, _CONTROL))
            if controls < len(text) * 0.05:
                return name
    return None


def _strict(body: bytes, encoding: str) -> str | None:
    try:
        return body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _detect(body: bytes) -> str | None:
    """charset_normalizer's best guess, on a head+tail sample of large bodies (speed)."""
    from charset_normalizer import from_bytes  # imported late: only lying pages need it

    sample = body if len(body) < 200_000 else body[:100_000] + body[-100_000:]
    best = from_bytes(sample).best()
    return resolve_encoding(best.encoding) if best is not None else None


def _mojibake(text: str) -> bool:
    return len(_MOJIBAKE.findall(text, 0, 200_000)) >= 2


def decode_body(body: bytes, content_type: str | None = None) -> Decoded:
    """Decode an HTTP body to text, refusing non-HTML; never raises."""
    if not body or not body.strip():
        return Decoded(None, reason="empty")
    if content_type and _NOT_HTML_TYPES.search(content_type.strip()):
        return Decoded(None, reason="not_html")

    bom_encoding, bom = read_bom(body)
    if bom_encoding is None and (wide := _utf16_without_bom(body[:_SAMPLE])):
        bom_encoding, bom = wide, b""
    if bom_encoding is not None:
        text = body[len(bom or b"") :].decode(bom_encoding, errors="replace")
        text = text.replace("\x00", "")
        if not text.strip():
            return Decoded(None, reason="empty")
        return Decoded(text, bom_encoding, source="bom")

    if looks_binary(body):
        return Decoded(None, reason="binary")
    if b"\x00" in body:
        body = body.replace(b"\x00", b"")
    if not content_type and not _HTML_SNIFF.search(body[: _SAMPLE * 4]):
        return Decoded(None, reason="not_html")

    declared: list[tuple[str, str]] = []
    http = http_content_type_encoding(content_type) if content_type else None
    if http:
        declared.append((http, "http"))
    meta = html_body_declared_encoding(body[:_SAMPLE])
    meta = resolve_encoding(meta) if meta else None
    if meta and meta not in {e for e, _ in declared}:
        declared.append((meta, "meta"))

    for encoding, source in declared:
        if encoding in {"utf-16", "utf-32"} or encoding.startswith(("utf-16", "utf-32")):
            continue  # a UTF-16 declaration over bytes without NUL pattern is wrong
        text = _strict(body, encoding)
        if text is None:
            continue
        if encoding not in _UNICODE and _mojibake(text) and (utf8 := _strict(body, "utf-8")):
            return Decoded(utf8, "utf-8", source="utf-8")
        return Decoded(text, encoding, source=source)

    text = _strict(body, "utf-8")
    if text is not None:
        return Decoded(text, "utf-8", source="utf-8")
    try:
        detected = _detect(body)
    except Exception:  # a detector bug must not cost the page
        detected = None
    if detected and (text := _strict(body, detected)) is not None:
        return Decoded(text, detected, source="detected")
    # Last resort: the first declaration (or windows-1252) with replacement characters.
    fallback = declared[0][0] if declared else "cp1252"
    try:
        text = body.decode(fallback, errors="replace")
    except LookupError:
        return Decoded(None, reason="decode_error")
    # Text that no encoding reads and the last resort fills with U+FFFD is bytes, not a page
    # (random or compressed data served as text/html gets here past looks_binary's sample).
    if text.count("\ufffd") > 0.01 * len(text):
        return Decoded(None, reason="binary")
    return Decoded(text, fallback, source="fallback")
