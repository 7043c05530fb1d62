"""``text_sha1`` and ``simhash`` with the exact values of ``pipelines.textfp``, faster.

textfp's loop visits 64 bits of every shingle hash in Python, which costs more than the whole
text extraction of a page. Here the hashes are laid out as one byte string and each bit
column is counted with ``bytes.translate(...).count(1)``, which runs in C. Same shingles, same
blake2b digests, same tie rule (a bit is set when strictly more hashes have it than not), so
the digests are identical; tests/pipelines/test_extraction_fingerprint.py checks that against
textfp on random texts. This belongs in textfp itself; until it moves there, extraction uses it.
"""

from __future__ import annotations

import hashlib

from pipelines.textfp import normalize_text, shingles

# _BIT[b] maps a byte to 1 when its bit b is set, else 0.
_BIT = [bytes((v >> b) & 1 for v in range(256)) for b in range(8)]


def simhash(text: str, bits: int = 64) -> str:
    """64-bit SimHash over word 4-shingles, as 16 hex digits (== pipelines.textfp.simhash)."""
    if bits != 64:
        raise ValueError("only 64-bit simhashes are computed here")
    return _simhash_of(shingles(text))


def fingerprints(text: str) -> tuple[str, str]:
    """(text_sha1, simhash) of a text, normalising it once instead of twice (textfp's two
    functions each normalise); values equal textfp.text_sha1 and textfp.simhash."""
    norm = normalize_text(text)
    digest = hashlib.sha1(norm.encode("utf-8")).hexdigest()
    words = norm.split()
    if len(words) < 4:
        grams = [" ".join(words)] if words else []
    else:
        grams = [" ".join(words[i : i + 4]) for i in range(len(words) - 3)]
    return digest, _simhash_of(grams)


def _simhash_of(grams: list[str]) -> str:
    # bit i of the big-endian 64-bit hash is bit (i % 8) of its byte (7 - i // 8): each bit
    # column of all hashes is counted at once with bytes.translate/count, in C
    blob = b"".join(hashlib.blake2b(g.encode("utf-8"), digest_size=8).digest() for g in grams)
    n = len(blob) // 8
    value = 0
    for i in range(64):
        ones = blob[7 - i // 8 :: 8].translate(_BIT[i % 8]).count(1)
        if 2 * ones > n:
            value |= 1 << i
    return f"{value:016x}"
