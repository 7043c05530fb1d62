"""Reading article records back out of an archive, as a stream.

Records live at ``<root>/articles/<crawl_id>/articles-<serial>.jsonl.gz`` (DESIGN.md). Readers
take a *snapshot* of the committed files when they start: a crawl may be writing into the same
archive, and a consumer that reads the records twice (the export's two passes) must see the same
lines both times. Files still being written end in ``.open`` and never match the glob.

A damaged line or a truncated gzip member is skipped and counted rather than raised: one bad
shard out of thousands should not stop a researcher's export, but it must show in the numbers.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ARTICLES_DIR = "articles"
CRAWLS_DIR = "crawls"
RECORD_GLOB = "articles-*.jsonl.gz"


def list_crawl_ids(root: Path) -> list[str]:
    """Crawl ids that have an articles folder, oldest first (crawl ids sort by start time)."""
    base = Path(root) / ARTICLES_DIR
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir())


def record_files(root: Path, crawl_ids: Iterable[str] | None = None) -> list[Path]:
    """Committed record files, in crawl order then serial order, which is the order they were written."""
    base = Path(root) / ARTICLES_DIR
    wanted = None if crawl_ids is None else set(crawl_ids)
    files: list[Path] = []
    for cid in list_crawl_ids(root):
        if wanted is None or cid in wanted:
            files.extend(sorted((base / cid).glob(RECORD_GLOB)))
    return files


def read_crawl_manifest(root: Path, crawl_id: str) -> dict | None:
    """The crawl's ``crawls/<crawl_id>.json`` manifest, or None when it is missing or unreadable
    (a crawl that is still running has not written it yet)."""
    path = Path(root) / CRAWLS_DIR / f"{crawl_id}.json"
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class RecordFiles:
    """A fixed list of record files and the damage met while reading them.

    ``numbered()`` gives every non-blank line an ordinal that is the same on every pass over the
    same snapshot, so a first pass can decide which records to keep by ordinal and a second pass
    can pick them out without holding them in between.
    """

    root: Path
    files: list[Path]
    lines: int = 0  # non-blank lines met, parsed or not: the ordinals handed out
    bad_lines: int = 0
    bad_files: list[str] = field(default_factory=list)

    @classmethod
    def scan(cls, root: Path, crawl_ids: Iterable[str] | None = None) -> RecordFiles:
        return cls(root=Path(root), files=record_files(root, crawl_ids))

    def reset_counts(self) -> None:
        self.lines = 0
        self.bad_lines = 0
        self.bad_files = []

    def numbered(self, wanted: Callable[[int], bool] | None = None) -> Iterator[tuple[int, dict]]:
        """``(ordinal, record)`` for each parseable record; lines for which ``wanted(ordinal)`` is
        false are counted but not parsed, which is most of the cost of reading."""
        ordinal = -1
        for path in self.files:
            try:
                with gzip.open(path, "rb") as f:
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
            except (OSError, EOFError, zlib.error):
                # gzip.BadGzipFile is an OSError; a truncated member raises EOFError.
                self.bad_files.append(str(path.relative_to(self.root)))

    def __iter__(self) -> Iterator[dict]:
        for _, record in self.numbered():
            yield record


def iter_records(root: Path, crawl_ids: Iterable[str] | None = None) -> Iterator[dict]:
    """Every readable record of an archive (optionally of some crawls only), streamed."""
    yield from RecordFiles.scan(root, crawl_ids)
