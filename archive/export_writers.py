"""Shard writers for the export: JSON lines (gzip), Parquet and CSV, rotated by rows and bytes,
optionally split into one folder per partition value (``data/en/part-00000.parquet``).

Partition folders are named by the value alone, not Hive's ``language=en``: the column stays in
the files (Hugging Face ``datasets`` ignores folder names, so a column kept only in the path
would be lost there), and with Hive names pandas / pyarrow find the column twice, once as a
string and once as a dictionary from the path, and refuse to load the folder.

Memory is bounded by settings, never by the archive: JSON lines and CSV stream each row to disk;
Parquet keeps the current row group of each open shard as Arrow record batches (their exact size
is known) and ``ShardedWriter`` flushes the largest row group whenever the sum over open shards
passes ``buffer_bytes``. At most ``max_open`` shards are open at once (the least recently used is
finished when another partition needs a file), so partitioning by a column with thousands of
values does not mean thousands of buffers.

Every shard is written under ``<name>.open`` and renamed when complete, as everywhere in the
archive, so a reader globbing ``data/**/*.parquet`` never meets a half file.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq

from archive.export_schema import arrow_schema
from pipelines.session import OPEN_SUFFIX, file_digest

FORMATS = ("jsonl", "parquet", "csv")
EXTENSIONS = {"jsonl": ".jsonl.gz", "parquet": ".parquet", "csv": ".csv"}
DATA_DIR = "data"
# Folder of the rows whose partition value is unknown (no language, no date).
NULL_PARTITION = "unknown"
# Rows a Parquet shard holds as Python dicts before turning them into an Arrow batch: small,
# because with ``max_open`` partitions open this many rows each are in memory as Python objects.
PY_BATCH_ROWS = 128


@dataclass
class FileEntry:
    path: str  # relative to the export folder, with "/" separators
    rows: int
    bytes: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows, "bytes": self.bytes, "sha256": self.sha256}


class _Shard:
    """One data file being written; subclasses know one format."""

    def __init__(self, path: Path, fields: list[str]) -> None:
        self.path = path
        self.fields = fields
        self.rows = 0
        # Closed by close() / abort(): the file outlives this call by design.
        self._raw = open(str(path) + OPEN_SUFFIX, "wb")  # noqa: SIM115

    def write(self, row: dict) -> None:
        raise NotImplementedError

    @property
    def buffered_bytes(self) -> int:
        return 0

    def flush(self) -> None:
        """Write out anything buffered (a Parquet row group)."""

    @property
    def bytes_written(self) -> int:
        return self._raw.tell()

    def _finish(self) -> None:
        self._raw.close()

    def close(self) -> None:
        """Finish the file and give it its final name."""
        self.flush()
        self._finish()
        os.replace(str(self.path) + OPEN_SUFFIX, self.path)

    def abort(self) -> None:
        try:
            self._raw.close()
        finally:
            Path(str(self.path) + OPEN_SUFFIX).unlink(missing_ok=True)


class _JsonlShard(_Shard):
    def __init__(self, path: Path, fields: list[str]) -> None:
        super().__init__(path, fields)
        # mtime=0: the same rows give the same bytes (and sha256) on every run.
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=6, mtime=0)

    def write(self, row: dict) -> None:
        line = json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
        self._gz.write(line.encode("utf-8"))
        self.rows += 1

    def _finish(self) -> None:
        self._gz.close()
        self._raw.close()


class _CsvShard(_Shard):
    """RFC 4180 CSV (quoted where needed, CRLF rows) that spreadsheets open: nested values
    (authors, images, links, ...) are JSON text in their cell, null is an empty cell."""

    def __init__(self, path: Path, fields: list[str]) -> None:
        super().__init__(path, fields)
        self._text = io.TextIOWrapper(self._raw, encoding="utf-8", newline="", write_through=True)
        self._csv = csv.writer(self._text, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        self._csv.writerow(fields)

    def write(self, row: dict) -> None:
        self._csv.writerow([_csv_cell(row[name]) for name in self.fields])
        self.rows += 1

    def _finish(self) -> None:
        self._text.close()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


class _ParquetShard(_Shard):
    def __init__(self, path: Path, fields: list[str], row_group_rows: int) -> None:
        super().__init__(path, fields)
        self._schema = arrow_schema(fields)
        self._row_group_rows = row_group_rows
        self._writer = pq.ParquetWriter(self._raw, self._schema, compression="zstd")
        self._pending: list[dict] = []
        self._batches: list[pa.RecordBatch] = []
        self._batched_rows = 0
        self._batched_bytes = 0

    def write(self, row: dict) -> None:
        self._pending.append(row)
        self.rows += 1
        if len(self._pending) >= min(PY_BATCH_ROWS, self._row_group_rows - self._batched_rows):
            self._to_batch()
            if self._batched_rows >= self._row_group_rows:
                self.flush()

    def _to_batch(self) -> None:
        if self._pending:
            batch = pa.RecordBatch.from_pylist(self._pending, schema=self._schema)
            self._pending = []
            self._batches.append(batch)
            self._batched_rows += batch.num_rows
            self._batched_bytes += batch.nbytes

    @property
    def buffered_bytes(self) -> int:
        return self._batched_bytes

    def flush(self) -> None:
        self._to_batch()
        if not self._batches:
            return
        table = pa.Table.from_batches(self._batches, schema=self._schema)
        self._batches = []
        self._writer.write_table(table, row_group_size=table.num_rows)
        self._batched_rows = 0
        self._batched_bytes = 0

    def _finish(self) -> None:
        self._writer.close()
        self._raw.close()

    def abort(self) -> None:
        self._batches = []
        self._pending = []
        with contextlib.suppress(Exception):  # the file is removed below in any case
            self._writer.close()
        super().abort()


def partition_dir(value: str | None) -> str:
    """Folder name for a partition value: percent-encoded, so any value is one safe path segment.

    A leading ``.`` or ``_`` is encoded too: pyarrow and pandas skip such folders as hidden."""
    if value in (None, ""):
        return NULL_PARTITION
    name = quote(value, safe="")
    if name[0] in "._":
        name = f"%{ord(name[0]):02X}{name[1:]}"
    return name


class ShardedWriter:
    """Writes rows into ``<out>/data/[<value>/]part-<serial>.<ext>`` shards."""

    def __init__(
        self,
        out_dir: Path,
        fmt: str,
        fields: list[str],
        *,
        partition_key: str | None = None,
        shard_rows: int = 100_000,
        shard_bytes: int = 256 * 2**20,
        row_group_rows: int = 10_000,
        buffer_bytes: int = 128 * 2**20,
        max_open: int = 32,
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        self.out_dir = Path(out_dir)
        self.fmt = fmt
        self.fields = fields
        self.partition_key = partition_key
        self.shard_rows = shard_rows
        self.shard_bytes = shard_bytes
        self.row_group_rows = row_group_rows
        self.buffer_bytes = buffer_bytes
        self.max_open = max_open
        self.files: list[FileEntry] = []
        self._open: OrderedDict[str | None, _Shard] = OrderedDict()
        self._serial: dict[str | None, int] = {}

    def _new_shard(self, partition: str | None) -> _Shard:
        folder = self.out_dir / DATA_DIR
        if self.partition_key is not None:
            folder = folder / partition_dir(partition)
        folder.mkdir(parents=True, exist_ok=True)
        serial = self._serial.get(partition, 0)
        self._serial[partition] = serial + 1
        path = folder / f"part-{serial:05d}{EXTENSIONS[self.fmt]}"
        if self.fmt == "parquet":
            return _ParquetShard(path, self.fields, self.row_group_rows)
        if self.fmt == "csv":
            return _CsvShard(path, self.fields)
        return _JsonlShard(path, self.fields)

    def write(self, row: dict, partition: str | None = None) -> None:
        shard = self._open.get(partition)
        if shard is None:
            if len(self._open) >= self.max_open:
                _, oldest = self._open.popitem(last=False)
                self._finish(oldest)
            shard = self._open[partition] = self._new_shard(partition)
        else:
            self._open.move_to_end(partition)
        shard.write(row)
        if shard.rows >= self.shard_rows or shard.bytes_written >= self.shard_bytes:
            del self._open[partition]
            self._finish(shard)
        elif self.fmt == "parquet":
            self._bound_buffers()

    def _bound_buffers(self) -> None:
        while sum(s.buffered_bytes for s in self._open.values()) > self.buffer_bytes:
            largest = max(self._open.values(), key=lambda s: s.buffered_bytes)
            largest.flush()
            if largest.bytes_written >= self.shard_bytes:
                self._open = OrderedDict((k, s) for k, s in self._open.items() if s is not largest)
                self._finish(largest)

    def _finish(self, shard: _Shard) -> None:
        shard.close()
        size, sha256 = file_digest(shard.path)
        rel = shard.path.relative_to(self.out_dir).as_posix()
        self.files.append(FileEntry(path=rel, rows=shard.rows, bytes=size, sha256=sha256))

    def close(self) -> list[FileEntry]:
        """Finish every open shard; the entries, sorted by path, are the manifest's ``files``."""
        while self._open:
            _, shard = self._open.popitem(last=False)
            self._finish(shard)
        self.files.sort(key=lambda e: e.path)
        return self.files

    def abort(self) -> None:
        """After a failure, remove every shard this writer made, finished or not: a glob over
        ``data/`` must not pick up part of an export as if it were the whole."""
        while self._open:
            _, shard = self._open.popitem(last=False)
            shard.abort()
        for entry in self.files:
            (self.out_dir / entry.path).unlink(missing_ok=True)
        self.files = []
