"""Writing HTTP exchanges into rotating, gzip-per-record WARC/1.1 files.

Pure code (no Scrapy): the capture middleware turns Scrapy objects into :class:`Exchange` values
and this module turns those into WARC records, so the writer can be tested byte for byte and
reused by anything else that has raw exchanges.

Records are built with warcio (``RecordBuilder`` / ``WARCWriter``), which computes the block and
payload digests ``warcio check`` verifies. What the archive keeps and what it normalises is
written up in docs/warc.md.

Not thread-safe: call a writer from one thread only (in a crawl, the reactor thread).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import io
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version as _dist_version
from typing import BinaryIO
from urllib.parse import urlsplit

from warcio.recordbuilder import RecordBuilder
from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser
from warcio.timeutils import datetime_to_iso_date, iso_date_to_timestamp
from warcio.warcwriter import WARCWriter

from crawler.version import __version__
from pipelines import gzipmember
from pipelines.session import ArchiveSession

logger = logging.getLogger(__name__)

SOFTWARE = f"newsarchive/{__version__} warcio/{_dist_version('warcio')}"
WARC_FORMAT = "WARC File Format 1.1"
WARC_CONFORMS_TO = "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"

# The body handed to us has had its transfer coding removed by the HTTP client, so keeping the
# header verbatim would make readers (warcio, pywb) try to de-chunk plain bytes. Common Crawl's
# convention keeps the header under this name; see docs/warc.md.
TRANSFER_ENCODING_RENAMED = "X-Crawler-Transfer-Encoding"

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9.-]+")


REVISIT_NOT_MODIFIED = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"


class WarcWriteError(OSError):
    """A WARC file could not be written; the failed file never gets its final name."""


def payload_digest(body: bytes) -> str:
    """The ``WARC-Payload-Digest`` warcio writes for this body (sha1, base32)."""
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode("ascii")


@dataclass
class Exchange:
    """One HTTP exchange as it went over the wire (body still content-encoded)."""

    url: str
    method: str
    request_headers: list[tuple[str, str]]
    request_body: bytes
    protocol: str
    status: int
    reason: str
    response_headers: list[tuple[str, str]]
    body: bytes
    ip_address: str | None
    date: datetime

    @functools.cached_property
    def payload_digest(self) -> str:
        """Computed once: the capture compares it with the previous capture's, the writer
        writes it (warcio would hash the body again, in 16 KB steps of Python)."""
        return payload_digest(self.body)


def warc_date(dt: datetime) -> str:
    """WARC/1.1 date (microseconds kept, ``Z``) of an aware or naive-UTC datetime."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return datetime_to_iso_date(dt, use_micros=True)


def timestamp14(dt: datetime) -> str:
    """The CDXJ timestamp exactly as cdxj-indexer derives it from the record's WARC-Date."""
    return iso_date_to_timestamp(warc_date(dt))


def _request_target(url: str) -> str:
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return target


def _status_line_version(protocol: str) -> str:
    """warcio (and so pywb and cdxj-indexer) parse only HTTP/1.x status lines: h2 is written so."""
    return protocol.upper() if protocol.upper().startswith("HTTP/1.") else "HTTP/1.1"


def _warc_protocol(protocol: str) -> str | None:
    """``WARC-Protocol`` (WARC 1.1 extension) records the real protocol when it is not HTTP/1.x."""
    return None if protocol.upper().startswith("HTTP/1.") else protocol.lower()


def _honest_response_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [
        (TRANSFER_ENCODING_RENAMED, value) if name.lower() == "transfer-encoding" else (name, value)
        for name, value in headers
    ]


class _GzipMember:
    """Compresses everything written into one gzip member, finished by :meth:`finish`.

    Hand-written because warcio's own ``GzippingWrapper`` fixes zlib at level 9, and we make the
    level a setting and let ISA-L compress (:mod:`pipelines.gzipmember`); the member layout (one
    per record) is the same, so readers see no difference.
    """

    def __init__(self, out: BinaryIO, level: int) -> None:
        self._out = out
        self._compressor = gzipmember.compressobj(level)

    def write(self, data: bytes) -> None:
        self._out.write(self._compressor.compress(data))

    def flush(self) -> None:
        """warcio flushes once per record; the member is finished explicitly instead."""

    def finish(self) -> None:
        self._out.write(self._compressor.flush())
        self._out.flush()


def _write_all(out: BinaryIO, data: memoryview) -> None:
    """Write every byte: an unbuffered file may take fewer than it was given."""
    view = memoryview(data)
    while view:
        written = out.write(view)
        if written is None:  # a non-blocking file that would block: not ours, but never spin
            raise OSError("short write")
        view = view[written:]


class WarcFileWriter:
    """Writes exchanges into ``warc/<crawl_id>/NEWSARCHIVE-<ts>-<serial>-<host>.warc.gz`` files.

    Each file starts with a ``warcinfo`` record, is written as ``<name>.open`` and is renamed by
    ``session.commit`` once finished: at rotation (after the exchange that took it past
    ``max_size``; an exchange's records are never split between files) or at :meth:`close`.

    Not thread-safe: call it from one thread only (the reactor thread in a crawl).
    """

    def __init__(
        self,
        session: ArchiveSession,
        *,
        hostname: str,
        max_size: int = 1 << 30,
        gzip_level: int = 6,
        warcinfo: dict[str, str],
        clock: Callable[[], datetime] | None = None,
        id_factory: Callable[[], str] | None = None,
    ) -> None:
        if not 0 <= gzip_level <= 9:
            raise ValueError(f"gzip_level must be 0..9, not {gzip_level}")
        if max_size <= 0:
            raise ValueError(f"max_size must be positive, not {max_size}")
        self.session = session
        self.hostname = _UNSAFE_NAME_CHARS.sub("-", hostname) or "localhost"
        self.max_size = max_size
        self.gzip_level = gzip_level
        self.warcinfo = dict(warcinfo)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._new_id = id_factory or StatusAndHeadersParser.make_warc_id
        # Used to build records and serialise them into _GzipMember; gzip is ours, not warcio's.
        self._warcio = WARCWriter(None, gzip=False, warc_version=RecordBuilder.WARC_1_1)
        self._file: BinaryIO | None = None
        self._rel: str | None = None
        self._warcinfo_id: str | None = None
        self._serial = 0
        self._closed = False
        self._committed: list[dict] = []
        self._abandoned: list[str] = []
        self._records = 0
        self._bytes = 0

    # --- public API ---------------------------------------------------------------------------

    @property
    def files_written(self) -> int:
        """Files finished and committed under their final name."""
        return len(self._committed)

    @property
    def records_written(self) -> int:
        return self._records

    @property
    def bytes_written(self) -> int:
        """Compressed bytes written, warcinfo records included."""
        return self._bytes

    @property
    def abandoned_files(self) -> list[str]:
        """``.open`` files given up after a write error that could not be rolled back."""
        return list(self._abandoned)

    @property
    def current_file(self) -> str | None:
        """Final name (relative to the archive root) of the file being written, if any."""
        return self._rel

    def write_exchange(self, ex: Exchange) -> dict:
        """Write a ``response`` and its ``request`` record; return the response's pointer."""
        self._ensure_file()
        date = warc_date(ex.date)
        response_id = self._new_id()
        # The payload digest last: where warcio's create_warc_record would have added it.
        extra = {"WARC-IP-Address": ex.ip_address, "WARC-Payload-Digest": ex.payload_digest}
        response = self._warcio.create_warc_record(
            ex.url,
            "response",
            payload=io.BytesIO(ex.body),
            length=len(ex.body),
            warc_headers_dict=self._warc_headers("response", response_id, date, ex, extra),
            http_headers=self._response_http_headers(ex),
        )
        return self._write_pair(ex, response, response_id, date)

    def write_revisit(
        self,
        ex: Exchange,
        *,
        refers_to_uri: str,
        refers_to_date: str,
        refers_to_record_id: str | None,
        payload_digest: str,
        profile: str | None = None,
    ) -> dict:
        """Write a headers-only ``revisit`` and its ``request``.

        ``refers_to_date`` is the original's WARC-Date and ``payload_digest`` its payload
        digest: pywb finds the original through WARC-Refers-To-Target-URI + -Date. The profile
        is identical-payload-digest unless given (``REVISIT_NOT_MODIFIED`` for a 304, which
        carries no payload at all).
        """
        self._ensure_file()
        date = warc_date(ex.date)
        revisit_id = self._new_id()
        extra = {"WARC-IP-Address": ex.ip_address, "WARC-Refers-To": refers_to_record_id}
        revisit = self._warcio.create_revisit_record(
            ex.url,
            payload_digest,
            refers_to_uri,
            refers_to_date,
            http_headers=self._response_http_headers(ex),
            warc_headers_dict=self._warc_headers("revisit", revisit_id, date, ex, extra),
        )
        if profile:  # warcio's create_revisit_record fixes identical-payload-digest
            revisit.rec_headers.replace_header("WARC-Profile", profile)
        return self._write_pair(ex, revisit, revisit_id, date)

    def close(self) -> list[dict]:
        """Finish the current file; return every file this writer committed (session entries)."""
        if not self._closed:
            self._closed = True
            self._finish_file()
        return list(self._committed)

    # --- records ------------------------------------------------------------------------------

    def _warc_headers(
        self, rec_type: str, record_id: str, date: str, ex: Exchange, extra: dict[str, str | None]
    ) -> dict[str, str]:
        headers = {
            "WARC-Type": rec_type,
            "WARC-Record-ID": record_id,
            "WARC-Date": date,
            "WARC-Target-URI": ex.url,
            "WARC-Warcinfo-ID": self._warcinfo_id,
            "WARC-Protocol": _warc_protocol(ex.protocol),
            **extra,
        }
        return {k: v for k, v in headers.items() if v}

    @staticmethod
    def _response_http_headers(ex: Exchange) -> StatusAndHeaders:
        return StatusAndHeaders(
            f"{ex.status} {ex.reason}",
            _honest_response_headers(ex.response_headers),
            protocol=_status_line_version(ex.protocol),
        )

    def _request_record(self, ex: Exchange, concurrent_to: str, date: str):
        http_headers = StatusAndHeaders(
            f"{_request_target(ex.url)} HTTP/1.1", list(ex.request_headers), protocol=ex.method
        )
        return self._warcio.create_warc_record(
            ex.url,
            "request",
            payload=io.BytesIO(ex.request_body),
            length=len(ex.request_body),
            warc_headers_dict=self._warc_headers(
                "request", self._new_id(), date, ex, {"WARC-Concurrent-To": concurrent_to}
            ),
            http_headers=http_headers,
        )

    def _write_pair(self, ex: Exchange, main, main_id: str, date: str) -> dict:
        """Write ``main`` then its request record (warcio's order); rotate afterwards if full."""
        request = self._request_record(ex, main_id, date)
        assert self._file is not None and self._rel is not None
        offset, length = self._write_records([main, request])
        pointer = {
            "file": self._rel,
            "offset": offset,
            "length": length,
            "record_id": main_id,
            "payload_digest": main.rec_headers.get_header("WARC-Payload-Digest"),
        }
        if self._file.tell() >= self.max_size:
            self._finish_file()
        return pointer

    def _write_records(self, records: list) -> tuple[int, int]:
        """Write records one gzip member each; return offset and length of the first.

        The members are compressed in memory first (a record is at most DOWNLOAD_MAXSIZE of
        body), then written with one loop of unbuffered writes: when the disk fills up, no
        half-written bytes wait in a buffer to be flushed by the rollback, so the file can be
        cut back to where these records started and stays a valid WARC. If even that fails the
        file is abandoned under its ``.open`` name.
        """
        assert self._file is not None
        members = io.BytesIO()
        first_length = 0
        for record in records:
            before = members.tell()
            member = _GzipMember(members, self.gzip_level)
            self._warcio.out = member
            self._warcio.write_record(record)
            member.finish()
            first_length = first_length or members.tell() - before
        start = self._file.tell()
        try:
            _write_all(self._file, members.getbuffer())
        except OSError as exc:
            rel = self._rel
            self._rollback(start)
            raise WarcWriteError(f"cannot write WARC record to {rel}.open: {exc}") from exc
        self._records += len(records)
        self._bytes += members.tell()
        return start, first_length

    def _rollback(self, start: int) -> None:
        assert self._file is not None
        try:
            self._file.seek(start)
            self._file.truncate(start)
            self._file.flush()
        except OSError:
            logger.error("WARC file %s.open is damaged and is left unfinished", self._rel)
            self._abandon_file()

    # --- files --------------------------------------------------------------------------------

    def _next_rel(self) -> str:
        stamp = f"{self._clock().astimezone(timezone.utc):%Y%m%d%H%M%S}"
        while True:
            name = f"NEWSARCHIVE-{stamp}-{self._serial:05d}-{self.hostname}.warc.gz"
            self._serial += 1
            rel = f"warc/{self.session.crawl_id}/{name}"
            # A resumed crawl keeps its crawl_id and restarts serials: never overwrite. The
            # session knows the remote store too: on S3, an uploaded file has left the spool.
            if not self.session.exists(rel) and not os.path.exists(f"{self.session.path(rel)}.open"):
                return rel

    def _open_file(self, path: str) -> BinaryIO:
        # Unbuffered: see _write_records. Records arrive whole, so a buffer would save nothing.
        return open(path, "xb", buffering=0)

    def _ensure_file(self) -> None:
        """Open the next file and write its warcinfo, unless a file is open already."""
        if self._closed:
            raise ValueError("WarcFileWriter is closed")
        if self._file is not None:
            return
        rel = self._next_rel()
        try:
            path = self.session.open_path(rel)
            self._file = self._open_file(str(path))
        except OSError as exc:
            raise WarcWriteError(f"cannot create WARC file {rel}.open: {exc}") from exc
        self._rel = rel
        self._warcinfo_id = self._new_id()
        info = {
            "software": SOFTWARE,
            "format": WARC_FORMAT,
            "conformsTo": WARC_CONFORMS_TO,
            "hostname": self.hostname,
            "isPartOf": self.session.crawl_id,
            **self.warcinfo,
        }
        record = self._warcio.create_warcinfo_record(rel.rsplit("/", 1)[1], info)
        record.rec_headers.replace_header("WARC-Record-ID", self._warcinfo_id)
        record.rec_headers.replace_header("WARC-Date", warc_date(self._clock()))
        try:
            self._write_records([record])
        except WarcWriteError:
            # A file without its warcinfo must not receive records: give it up.
            self._abandon_file()
            raise

    def _finish_file(self) -> None:
        if self._file is None:
            return
        rel = self._rel
        try:
            self._file.close()
        except OSError as exc:
            self._abandon_file()
            raise WarcWriteError(f"cannot close WARC file {rel}.open: {exc}") from exc
        self._file = None
        self._rel = None
        try:
            entry = self.session.commit(rel, "warc")
        except OSError as exc:
            raise WarcWriteError(f"cannot finish WARC file {rel}: {exc}") from exc
        self._committed.append(entry)

    def _abandon_file(self) -> None:
        """Stop using the current file; it keeps its ``.open`` name (an empty one is removed)."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
        if self._rel is not None:
            path = f"{self.session.path(self._rel)}.open"
            with contextlib.suppress(OSError):
                if os.path.getsize(path) == 0:
                    os.remove(path)
                else:
                    self._abandoned.append(self._rel + ".open")
        self._file = None
        self._rel = None
