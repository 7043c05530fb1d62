"""Reading WARC records back: by pointer (``{file, offset, length, ...}``) or a whole file.

Getting the bytes and parsing them are separate steps on purpose: :func:`fetch_bytes` is the only
part that knows where records live. ``root`` is a local archive folder, an ``s3://bucket/prefix``
URI or an archive opened with :func:`archive.storage.open_archive` (pass that when reading many
records: one client, no per-call set-up); on S3 a record is one ranged GET of
``offset .. offset+length-1``, never the whole WARC.
Parsing is warcio's, so what comes back is warcio's ``ArcWarcRecord``: ``rec_headers``,
``http_headers``, ``raw_stream`` (the payload as stored, still content-encoded) and
``content_stream()`` (decoded).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader
from warcio.recordloader import ArcWarcRecord, ArcWarcRecordLoader

from archive.storage import Archive, open_archive, open_file

GZIP_MAGIC = b"\x1f\x8b"


class RecordNotFound(LookupError):
    """The pointer does not lead to the record it names (wrong offset, truncated file, other id)."""


def fetch_bytes(root: Path | str | Archive, pointer: dict) -> bytes:
    """Exactly ``length`` bytes at ``offset`` of ``<root>/<file>``: one record's gzip member.

    A missing file raises ``FileNotFoundError``; a store that cannot be reached,
    :class:`~pipelines.storage.StorageError` (both ``OSError``).
    """
    archive = open_archive(root)
    rel = pointer["file"]
    offset, length = int(pointer["offset"]), int(pointer["length"])
    data = archive.read_range(rel, offset, length)
    if len(data) != length:
        raise RecordNotFound(
            f"{archive.uri_of(rel)}: wanted {length} bytes at {offset}, the file has {len(data)}"
        )
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


def read_record(
    root: Path | str | Archive, pointer: dict, *, check_digests: bool = False
) -> ArcWarcRecord:
    """The record a pointer names; checks its WARC-Record-ID when the pointer carries one."""
    record = parse_record(fetch_bytes(root, pointer), check_digests=check_digests)
    expected = pointer.get("record_id")
    found = record.rec_headers.get_header("WARC-Record-ID")
    if expected and found != expected:
        raise RecordNotFound(
            f"{pointer['file']}@{pointer['offset']}: record {found}, not {expected}"
        )
    return record


def iter_records(source: Path | str | os.PathLike[str] | BinaryIO) -> Iterator[ArcWarcRecord]:
    """Every record of a WARC file, in order: a local path, an ``s3://bucket/key`` URI (read with
    the environment's credentials), or an open binary stream such as ``archive.open(rel)``
    (which the caller closes).

    warcio streams the file (on S3, one GET read as it goes): read what you need from a record
    before asking for the next one.
    """
    if hasattr(source, "read"):
        yield from ArchiveIterator(source)
        return
    with open_file(source) as f:
        yield from ArchiveIterator(f)
