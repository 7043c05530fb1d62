"""Text fingerprints for exact and near-duplicate detection (record fields ``text_sha1``, ``simhash``).

SimHash is written here rather than taken from a library: the ones on PyPI are unmaintained or
pull in C extensions for what is twenty lines; what matters is that the crawl and the export
compute exactly the same value, so both import it from here.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)


def normalize_text(text: str) -> str:
    """Case-, space- and Unicode-form-insensitive form of a text, for digests."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORD.findall(text))


def text_sha1(text: str) -> str:
    return hashlib.sha1(normalize_text(text).encode("utf-8")).hexdigest()


def shingles(text: str, size: int = 4) -> list[str]:
    words = normalize_text(text).split()
    if len(words) < size:
        return [" ".join(words)] if words else []
    return [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]


def simhash(text: str, bits: int = 64) -> str:
    """64-bit SimHash over word 4-shingles, as 16 hex digits (stable across processes/runs)."""
    weights = [0] * bits
    for sh in shingles(text):
        h = int.from_bytes(hashlib.blake2b(sh.encode("utf-8"), digest_size=8).digest(), "big")
        for i in range(bits):
            weights[i] += 1 if (h >> i) & 1 else -1
    value = 0
    for i, w in enumerate(weights):
        if w > 0:
            value |= 1 << i
    return f"{value:016x}"


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex SimHashes; <= 3 of 64 is the usual near-duplicate bar."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def hamming_int(a: int, b: int) -> int:
    """``hamming`` for SimHashes already parsed to ints: the inner loop of near-dup search."""
    return (a ^ b).bit_count()
