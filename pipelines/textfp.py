"""Text fingerprints for exact and near-duplicate detection (record fields ``text_sha1``, ``simhash``).

SimHash is written here rather than taken from a library: the ones on PyPI are unmaintained or
pull in C extensions for what is a few lines; what matters is that the crawl and the export
compute exactly the same value, so both import it from here.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)
SHINGLE = 4



def normalize_text(text: str) -> str:
    """Case-, space- and Unicode-form-insensitive form of a text, for digests."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORD.findall(text))


def text_sha1(text: str) -> str:
    return hashlib.sha1(normalize_text(text).encode("utf-8")).hexdigest()


def _shingles_of(words: list[str], size: int = SHINGLE) -> list[str]:
    if len(words) < size:
        return [" ".join(words)] if words else []
    return [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]


def shingles(text: str, size: int = SHINGLE) -> list[str]:
    return _shingles_of(normalize_text(text).split(), size)


def _simhash_of(grams: list[str]) -> str:
    """Bit i is set when strictly more of the shingles' blake2b-64 hashes have it than not.

    A Python loop over 64 bits of every shingle hash costs more than extracting the page; here
    the hashes are laid out as one byte string, each of its 8 byte columns becomes one big int
    and each bit column is counted with one AND and ``int.bit_count``, in C. Bit i of a
    big-endian hash is bit (i % 8) of its byte (7 - i // 8).
    """
    blake2b = hashlib.blake2b
    blob = b"".join([blake2b(g.encode("utf-8"), digest_size=8).digest() for g in grams])
    n = len(blob) // 8
    low_bits = int.from_bytes(b"\x01" * n, "big")  # bit 0 of every byte of a column
    value = 0
    for j in range(8):
        column = int.from_bytes(blob[7 - j :: 8], "big")
        for b in range(8):
            if 2 * ((column >> b) & low_bits).bit_count() > n:
                value |= 1 << (8 * j + b)
    return f"{value:016x}"


def simhash(text: str) -> str:
    """64-bit SimHash over word 4-shingles, as 16 hex digits (stable across processes/runs)."""
    return _simhash_of(shingles(text))


def fingerprints(text: str) -> tuple[str, str]:
    """``(text_sha1, simhash)``, normalising the text once."""
    norm = normalize_text(text)
    return hashlib.sha1(norm.encode("utf-8")).hexdigest(), _simhash_of(_shingles_of(norm.split()))


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex SimHashes; <= 3 of 64 is the usual near-duplicate bar."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def hamming_int(a: int, b: int) -> int:
    """``hamming`` for SimHashes already parsed to ints: the inner loop of near-dup search."""
    return (a ^ b).bit_count()
