"""The crawl's CDXJ index, written as the crawl goes, identical to what cdxj-indexer produces.

Each response/revisit record adds one line ``<surt> <timestamp14> {json}`` with cdxj-indexer's
field names and value formats (``status``, ``length`` and ``offset`` are strings, ``mime`` is the
media type without parameters, ``warc/revisit`` for revisits). cdxj-indexer sorts whole lines as
strings and drops exact duplicates; doing the same here means a rebuilt index
(:func:`archive.index.build_index`) and the live one are byte for byte the same file, and the
order is (SURT key, timestamp) because a space sorts before any key character.

Memory stays bounded: lines are kept in a buffer that is sorted and spilled to an anonymous temp
file when full, and :meth:`CdxjIndexWriter.close` merges the sorted runs with ``heapq.merge``.
"""

from __future__ import annotations

import heapq
import json
import re
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO

import surt

from pipelines.session import ArchiveSession

# cdxj-indexer's CDXJIndexer.RE_SPACE: the media type ends at the first ';' or whitespace.
_MIME_END = re.compile(r"[;\s]")


def index_rel(crawl_id: str) -> str:
    return f"index/{crawl_id}.cdxj"


def url_key(url: str) -> str:
    """SURT key as cdxj-indexer computes it (falling back to the URL when surt cannot parse it)."""
    try:
        return surt.surt(url)
    except Exception:  # cdxj-indexer's own fallback; surt raises a variety of errors
        return url


def mime_type(content_type: str | None) -> str | None:
    """The ``mime`` field from a Content-Type header value, as cdxj-indexer derives it."""
    if content_type is None:
        return None
    if not content_type:
        return content_type
    return _MIME_END.split(content_type, 1)[0].strip()


def cdxj_line(
    url: str,
    timestamp14: str,
    mime: str | None,
    status: int | str | None,
    digest: str | None,
    length: int,
    offset: int,
    filename: str,
    record_type: str = "response",
) -> str:
    """One index line (with its newline), fields in cdxj-indexer's order; ``None`` fields omitted."""
    fields = {
        "url": url,
        "mime": "warc/revisit" if record_type == "revisit" else mime_type(mime),
        "status": None if status is None else str(status),
        "digest": digest,
        "length": str(length),
        "offset": str(offset),
        "filename": filename,
    }
    entry = {k: v for k, v in fields.items() if v is not None}
    return f"{url_key(url)} {timestamp14} {json.dumps(entry)}\n"


def _unique(lines: Iterable[str]) -> Iterator[str]:
    last = None
    for line in lines:
        if line != last:
            yield line
        last = line


class CdxjIndexWriter:
    """Collects index lines during a crawl and writes ``index/<crawl_id>.cdxj`` at :meth:`close`.

    ``filename`` values are relative to the archive's ``warc/`` folder
    (``<crawl_id>/NEWSARCHIVE-...warc.gz``), which is what pywb joins with ``archive_paths``.
    An index already committed for the same crawl id (a resumed crawl) is merged in, not lost.
    Not thread-safe: add from one thread (the reactor thread). Lines wait in memory up to
    ``max_buffer_bytes`` (4 MB, ~15,000 pages; as Python strings about 1.2x that) and are then
    spilled to a sorted run on disk, so the index costs a crawl bounded memory (at 16 MB it held
    about 6 MB of the ~40 MB a 20,000-page crawl's memory grew by).
    """

    def __init__(
        self, session: ArchiveSession, *, max_buffer_bytes: int = 4 * 1024 * 1024
    ) -> None:
        self.session = session
        self.max_buffer_bytes = max_buffer_bytes
        self._buffer: list[str] = []
        self._buffered = 0
        self._runs: list[IO[str]] = []
        self._count = 0
        self._closed = False

    @property
    def entries_added(self) -> int:
        return self._count

    def add(
        self,
        url: str,
        timestamp14: str,
        mime: str | None,
        status: int | str | None,
        digest: str | None,
        length: int,
        offset: int,
        filename: str,
        record_type: str,
    ) -> None:
        """Index one ``response`` or ``revisit`` record; ``mime`` may be a full Content-Type."""
        if self._closed:
            raise ValueError("CdxjIndexWriter is closed")
        if record_type not in ("response", "revisit"):
            raise ValueError(f"only response and revisit records are indexed, not {record_type!r}")
        line = cdxj_line(
            url, timestamp14, mime, status, digest, length, offset, filename, record_type
        )
        self._buffer.append(line)
        self._buffered += len(line)
        self._count += 1
        if self._buffered >= self.max_buffer_bytes:
            self._spill()

    def close(self) -> dict | None:
        """Write the sorted index and commit it; return its session entry (None if empty)."""
        if self._closed:
            return None
        self._closed = True
        rel = index_rel(self.session.crawl_id)
        existing = self.session.path(rel)
        if not self._count and not existing.exists():
            return None
        self._buffer.sort()
        partial = self.session.open_path(rel)
        try:
            with open(partial, "w", encoding="utf-8", newline="\n") as out:
                sources: list[Iterable[str]] = [self._buffer, *self._runs]
                if existing.exists():
                    previous = open(existing, encoding="utf-8", newline="\n")  # noqa: SIM115
                    self._runs.append(previous)
                    sources.append(previous)
                out.writelines(_unique(heapq.merge(*sources)))
        except OSError:
            # Half an index is no use to anyone and `newsarchive index` rebuilds it from the
            # WARCs: leave no .open file behind for recovery to puzzle over.
            partial.unlink(missing_ok=True)
            raise
        finally:
            for run in self._runs:
                run.close()
            self._runs = []
            self._buffer = []
        return self.session.commit(rel, "index")

    def _spill(self) -> None:
        self._buffer.sort()
        # Anonymous temp file next to the index, not in a possibly small /tmp.
        run = tempfile.TemporaryFile(  # noqa: SIM115 - closed in close()
            mode="w+",
            encoding="utf-8",
            newline="\n",
            dir=self.session.open_path(index_rel(self.session.crawl_id)).parent,
        )
        run.writelines(self._buffer)
        run.seek(0)
        self._runs.append(run)
        self._buffer = []
        self._buffered = 0
