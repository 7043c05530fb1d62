"""Gzip members from ISA-L or zlib: standard gzip either way, never larger than zlib's at a level."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pytest

from pipelines import gzipmember
from pipelines.gzipmember import compressobj, compressor_name, gzip_member
from tests.pipelines.test_warc import REL, records_of, warcio_check
from tests.pipelines.warc_helpers import gzip_members, make_exchange, make_writer

DATA = Path(__file__).parent / "data" / "extraction"
PAGES = [p.read_bytes() for p in sorted(DATA.glob("*.html"))]


@pytest.fixture(params=["isal", "zlib"])
def library(request, monkeypatch) -> str:
    """Each test runs with ISA-L (when installed) and with zlib alone (a platform without it)."""
    if request.param == "isal":
        if gzipmember.isal_zlib is None:
            pytest.skip("python-isal is not installed")
    else:
        monkeypatch.setattr(gzipmember, "isal_zlib", None)
    return request.param


@pytest.mark.parametrize("level", range(10))
def test_every_level_writes_one_standard_gzip_member(library, level):
    page = PAGES[0]
    c = compressobj(level)
    member = c.compress(page[:1000]) + c.compress(page[1000:]) + c.flush()
    assert member[:3] == b"\x1f\x8b\x08"
    d = zlib.decompressobj(zlib.MAX_WBITS + 16)
    assert d.decompress(member) == page and d.eof and d.unused_data == b""
    assert gzip.decompress(member + gzip_member(b"next\n", level)) == page + b"next\n"


def test_isal_only_where_it_is_installed_and_has_the_level(library):
    expected = "isal" if library == "isal" else "zlib"
    assert [compressor_name(level) for level in range(10)] == (
        ["zlib", expected, expected, expected] + ["zlib"] * 6
    )


def test_isal_keeps_no_more_bytes_than_zlib_at_the_same_level():
    if gzipmember.isal_zlib is None:
        pytest.skip("python-isal is not installed")
    for level in gzipmember.ISAL_LEVEL_FOR_ZLIB:
        ours = sum(len(gzip_member(page, level)) for page in PAGES)
        plain = 0
        for page in PAGES:
            c = zlib.compressobj(level, zlib.DEFLATED, 31)
            plain += len(c.compress(page) + c.flush())
        assert ours <= plain, level


def test_bad_level_is_refused():
    with pytest.raises(ValueError, match=r"0\.\.9"):
        compressobj(10)


def test_warc_files_from_either_library_hold_the_same_records(tmp_path, monkeypatch):
    """Only the compressed bytes differ: the records inside (and warcio's verdict) are the same."""
    got = {}
    for library in ("isal", "zlib"):
        if library == "zlib":
            monkeypatch.setattr(gzipmember, "isal_zlib", None)
        root = tmp_path / library
        writer = make_writer(root, gzip_level=3)
        pointer = writer.write_exchange(make_exchange(body=PAGES[1]))
        writer.close()
        path = root / REL
        assert warcio_check(path) == 0
        members = gzip_members(path.read_bytes())
        assert (pointer["offset"], pointer["length"]) == members[1][:2]
        got[library] = [text for _, _, text in members]
        assert records_of(path)[1][3] == PAGES[1]
    assert got["isal"] == got["zlib"]
