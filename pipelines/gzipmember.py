"""Gzip members for the archive's files, compressed by ISA-L when it is installed.

WARC records and article records are each one gzip member, and compressing them was the largest
CPU cost of the crawl process. ISA-L (python-isal, ``isal.isal_zlib``) writes standard deflate
streams, so every reader (zlib, gzip, warcio, pywb, ``zcat``) reads its members as before, in
a fifth to a half of zlib's time. Levels stay zlib's 0-9 (the settings' meaning does not change):
ISA-L takes a level only where it keeps at most as many bytes as zlib would, measured on the
181 news pages of the extraction benchmark (170 KB each) and on their article records (15 KB of
JSON each):

============  ==================  ==================
zlib level    zlib: ms, kept      ISA-L level: ms, kept
============  ==================  ==================
1             0.88 ms, 23.5%      1: 0.22 ms, 23.1%
2             0.96 ms, 22.7%      3: 0.42 ms, 22.0%
3             1.07 ms, 22.1%      3: 0.42 ms, 22.0%
============  ==================  ==================

Level 0 (stored) and levels 4-9 (smaller than ISA-L's best) stay with zlib.
"""

from __future__ import annotations

import zlib
from typing import Protocol

try:  # a dependency, but a platform without a wheel still gets working (zlib) archives
    from isal import isal_zlib
except ImportError:  # pragma: no cover - exercised by monkeypatching ``isal_zlib`` to None
    isal_zlib = None

GZIP_WBITS = zlib.MAX_WBITS + 16  # a gzip header and trailer around the deflate stream

# zlib level -> the ISA-L level that keeps at most as many bytes (see the module docstring).
ISAL_LEVEL_FOR_ZLIB = {1: 1, 2: 3, 3: 3}


class Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...
    def flush(self, mode: int = ..., /) -> bytes: ...


def compressor_name(level: int) -> str:
    """Which library compresses at ``level``: ``"isal"`` or ``"zlib"``."""
    return "isal" if isal_zlib is not None and level in ISAL_LEVEL_FOR_ZLIB else "zlib"


def compressobj(level: int) -> Compressor:
    """A compressor whose output (up to its ``flush()``) is one complete gzip member."""
    if not 0 <= level <= 9:
        raise ValueError(f"gzip level must be 0..9, not {level}")
    if compressor_name(level) == "isal":
        return isal_zlib.compressobj(ISAL_LEVEL_FOR_ZLIB[level], isal_zlib.DEFLATED, GZIP_WBITS)
    return zlib.compressobj(level, zlib.DEFLATED, GZIP_WBITS)


def gzip_member(data: bytes, level: int = 3) -> bytes:
    """One complete gzip member (header, deflate stream, CRC and size trailer) of ``data``."""
    c = compressobj(level)
    return c.compress(data) + c.flush()
