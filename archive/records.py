"""Reading article records back out of an archive, as a stream.

Records live at ``<archive>/articles/<crawl_id>/articles-<serial>.jsonl.gz`` (DESIGN.md), in a
local folder or under ``s3://bucket/prefix``: every function takes either (or an archive opened
with :func:`archive.storage.open_archive`, to reuse one S3 client). Readers take a *snapshot* of
the committed files when they start: a crawl may be writing into the same archive, and a consumer
that reads the records twice (the export's two passes) must see the same lines both times. Files
still being written end in ``.open`` and are never listed.

A damaged line or a truncated gzip member is skipped and counted rather than raised: one bad
shard out of thousands should not stop a researcher's export, but it must show in the numbers.
A store that cannot be reached is not damage: it raises :class:`~pipelines.storage.StorageError`.
"""

from __future__ import annotations

import fnmatch
import gzip
import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from archive.storage import Archive, StorageError, open_archive

ARTICLES_DIR = "articles"
CRAWLS_DIR = "crawls"
RECORD_GLOB = "articles-*.jsonl.gz"

ArchiveLike = Path | str | os.PathLike[str] | Archive


def list_crawl_ids(root: ArchiveLike) -> list[str]:
    """Crawl ids that have record files, oldest first (crawl ids sort by start time)."""
    archive = open_archive(root)
    try:
        rels = archive.list(f"{ARTICLES_DIR}/")
    except FileNotFoundError:
        return []
    return sorted({rel.split("/")[1] for rel in rels if rel.count("/") == 2})


def record_files(root: ArchiveLike, crawl_ids: Iterable[str] | None = None) -> list[str]:
    """Layout paths of the committed record files, in crawl order then serial order, which is the
    order they were written."""
    archive = open_archive(root)
    wanted = None if crawl_ids is None else set(crawl_ids)
    files: list[str] = []
    for cid in list_crawl_ids(archive):
        if wanted is None or cid in wanted:
            files.extend(
                rel for rel in archive.list(f"{ARTICLES_DIR}/{cid}/")
                if rel.count("/") == 2 and fnmatch.fnmatchcase(rel.rsplit("/", 1)[1], RECORD_GLOB)
            )
    return files


def read_crawl_manifest(root: ArchiveLike, crawl_id: str) -> dict | None:
    """The crawl's ``crawls/<crawl_id>.json`` manifest, or None when it is missing or unreadable
    (a crawl that is still running has not written it yet). An unreachable store raises."""
    archive = open_archive(root)
    try:
        data = json.loads(archive.read_bytes(f"{CRAWLS_DIR}/{crawl_id}.json"))
    except StorageError:
        raise
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_error(archive: Archive, rel: str, exc: BaseException) -> StorageError:
    """A failure while streaming a file from a remote store, as a :class:`StorageError`.

    boto3's response stream raises its own exceptions mid-read (``ResponseStreamingError``,
    ``IncompleteReadError``, a read timeout that is also an ``OSError``): none of them means the
    file is damaged, so callers must not count them as bad data. The message is the store's,
    with the archive's credentials masked.
    """
    redact = getattr(archive, "_redact", str)
    return StorageError(redact(f"{archive.uri_of(rel)}: {type(exc).__name__}: {exc}"))


def is_transport_error(exc: BaseException) -> bool:
    """An exception of the S3 client stack (botocore, urllib3), raised while reading a body."""
    return type(exc).__module__.split(".", 1)[0] in ("botocore", "urllib3", "s3transfer")


@dataclass
class RecordFiles:
    """A fixed list of record files and the damage met while reading them.

    ``numbered()`` gives every non-blank line an ordinal that is the same on every pass over the
    same snapshot, so a first pass can decide which records to keep by ordinal and a second pass
    can pick them out without holding them in between.
    """

    archive: Archive
    files: list[str]  # layout paths (articles/<crawl_id>/articles-<serial>.jsonl.gz)
    lines: int = 0  # non-blank lines met, parsed or not: the ordinals handed out
    bad_lines: int = 0
    bad_files: list[str] = field(default_factory=list)

    @classmethod
    def scan(cls, root: ArchiveLike, crawl_ids: Iterable[str] | None = None) -> RecordFiles:
        archive = open_archive(root)
        return cls(archive=archive, files=record_files(archive, crawl_ids))

    def reset_counts(self) -> None:
        self.lines = 0
        self.bad_lines = 0
        self.bad_files = []

    def numbered(self, wanted: Callable[[int], bool] | None = None) -> Iterator[tuple[int, dict]]:
        """``(ordinal, record)`` for each parseable record; lines for which ``wanted(ordinal)`` is
        false are counted but not parsed, which is most of the cost of reading."""
        ordinal = -1
        remote = self.archive.remote
        for rel in self.files:
            try:
                with self.archive.open(rel) as raw, gzip.open(raw, "rb") as f:
                    for line in f:
                        if not line.strip():
                            continue
                        ordinal += 1
                        self.lines += 1
                        if wanted is not None and not wanted(ordinal):
                            continue
                        try:
                            record = json.loads(line)
                        except ValueError:
                            self.bad_lines += 1
                            continue
                        if not isinstance(record, dict):
                            self.bad_lines += 1
                            continue
                        yield ordinal, record
            except StorageError:
                raise  # the store is down or refused: not a damaged file
            except (gzip.BadGzipFile, EOFError, zlib.error):
                # Not gzip, or a truncated member (EOFError): the file is damaged.
                self.bad_files.append(rel)
            except OSError as exc:
                if remote:  # a read timeout from the store, not damage
                    raise read_error(self.archive, rel, exc) from None
                self.bad_files.append(rel)  # an unreadable local file counts as damaged
            except Exception as exc:
                if remote and is_transport_error(exc):  # boto3's stream errors are no OSErrors
                    raise read_error(self.archive, rel, exc) from None
                raise

    def __iter__(self) -> Iterator[dict]:
        for _, record in self.numbered():
            yield record


def iter_records(root: ArchiveLike, crawl_ids: Iterable[str] | None = None) -> Iterator[dict]:
    """Every readable record of an archive (optionally of some crawls only), streamed."""
    yield from RecordFiles.scan(root, crawl_ids)
