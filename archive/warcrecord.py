"""Reading WARC records back: by pointer (``{file, offset, length, ...}``) or a whole file.

Getting the bytes and parsing them are separate steps on purpose: :func:`fetch_bytes` is the only
part that knows records live in local files, so a remote store (an S3 ranged GET of
``offset .. offset+length-1``) only has to replace it and hand the bytes to :func:`parse_record`.
Parsing is warcio's, so what comes back is warcio's ``ArcWarcRecord``: ``rec_headers``,
``http_headers``, ``raw_stream`` (the payload as stored, still content-encoded) and
``content_stream()`` (decoded).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader
from warcio.recordloader import ArcWarcRecord, ArcWarcRecordLoader

GZIP_MAGIC = b"\x1f\x8b"


class RecordNotFound(LookupError):
    """The pointer does not lead to the record it names (wrong offset, truncated file, other id)."""


def fetch_bytes(root: Path | str, pointer: dict) -> bytes:
    """Exactly ``length`` bytes at ``offset`` of ``<root>/<file>``: one record's gzip member."""
    path = Path(root) / pointer["file"]
    offset, length = int(pointer["offset"]), int(pointer["length"])
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(length)
    if len(data) != length:
        raise RecordNotFound(f"{path}: wanted {length} bytes at {offset}, the file has {len(data)}")
    return data


def parse_record(data: bytes, *, check_digests: bool = False) -> ArcWarcRecord:
    """Parse one record from its bytes (a gzip member or an uncompressed record)."""
    stream = BufferedReader(
        io.BytesIO(data), decomp_type="gzip" if data[:2] == GZIP_MAGIC else None
    )
    loader = ArcWarcRecordLoader(verify_http=False)
    try:
        return loader.parse_record_stream(stream, check_digests=check_digests)
    except Exception as exc:  # warcio raises ArchiveLoadFailed, zlib.error, EOFError, ...
        raise RecordNotFound(f"not a WARC record: {exc}") from exc


def read_record(root: Path | str, pointer: dict, *, check_digests: bool = False) -> ArcWarcRecord:
    """The record a pointer names; checks its WARC-Record-ID when the pointer carries one."""
    record = parse_record(fetch_bytes(root, pointer), check_digests=check_digests)
    expected = pointer.get("record_id")
    found = record.rec_headers.get_header("WARC-Record-ID")
    if expected and found != expected:
        raise RecordNotFound(
            f"{pointer['file']}@{pointer['offset']}: record {found}, not {expected}"
        )
    return record


def iter_records(path: Path | str) -> Iterator[ArcWarcRecord]:
    """Every record of a WARC file, in order.

    warcio streams the file: read what you need from a record before asking for the next one.
    """
    with open(path, "rb") as f:
        yield from ArchiveIterator(f)
