"""Write article records as gzip JSON lines, one file per N records, per crawl.

Each record is its own gzip member: a concatenation of members is a valid gzip file, so a file cut
short by a killed process is still readable up to the last whole record (recovery truncates it
there), and every record could be read on its own by offset.
"""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from typing import TYPE_CHECKING, BinaryIO

from scrapy.exceptions import DropItem, NotConfigured

from pipelines.session import ArchiveSession

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self

logger = logging.getLogger(__name__)


def gzip_member(data: bytes, level: int = 6) -> bytes:
    """One complete gzip member (header, deflate stream, CRC and size trailer)."""
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


class RecordsWriter:
    """Rotating ``articles/<crawl_id>/articles-<serial>.jsonl.gz`` files for one crawl."""

    def __init__(self, session: ArchiveSession, max_records: int = 50000, level: int = 6):
        self.session = session
        self.max_records = max_records
        self.level = level
        self.serial = 0
        self.count = 0
        self.total = 0
        self._rel: str | None = None
        self._file: BinaryIO | None = None

    def _open(self) -> None:
        self._rel = f"articles/{self.session.crawl_id}/articles-{self.serial:05d}.jsonl.gz"
        self._file = open(self.session.open_path(self._rel), "wb")  # noqa: SIM115 (closed in _close)
        self.count = 0

    def _close(self) -> None:
        if self._file is None:
            return
        self._file.close()
        self._file = None
        self.session.commit(self._rel, "articles")
        self.serial += 1

    def write(self, record: dict) -> None:
        if self._file is None:
            self._open()
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        self._file.write(gzip_member(line.encode("utf-8"), self.level))
        self._file.flush()
        self.count += 1
        self.total += 1
        if self.count >= self.max_records:
            self._close()

    def close(self) -> None:
        self._close()


class RecordsPipeline:
    def __init__(self, crawler: Crawler, writer: RecordsWriter, max_articles: int):
        self.crawler = crawler
        self.stats = crawler.stats
        self.writer = writer
        self.max_articles = max_articles
        self._closing: asyncio.Future | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        s = crawler.settings
        if not s.getbool("NEWSARCHIVE_RECORDS_ENABLED", True):
            raise NotConfigured("NEWSARCHIVE_RECORDS_ENABLED is off")
        writer = RecordsWriter(ArchiveSession.from_crawler(crawler), s.getint("NEWSARCHIVE_RECORDS_MAX_RECORDS", 50000))
        return cls(crawler, writer, s.getint("NEWSARCHIVE_MAX_ARTICLES", 0))

    def process_item(self, item: dict) -> dict:
        if self.max_articles and self.writer.total >= self.max_articles:
            self.stats.inc_value("newsarchive/skipped/max_articles")
            raise DropItem("NEWSARCHIVE_MAX_ARTICLES reached", log_level="DEBUG")
        try:
            self.writer.write(item)
        except OSError as e:
            self.stats.inc_value("newsarchive/records/errors")
            logger.error("Could not write the record of %s: %s", item.get("url"), e)
            raise
        self.stats.inc_value("newsarchive/records/written")
        if self.max_articles and self.writer.total == self.max_articles:
            logger.info("Recorded NEWSARCHIVE_MAX_ARTICLES (%d) articles: closing", self.max_articles)
            # Not awaited: closing waits for the items in flight, this one included.
            self._closing = asyncio.ensure_future(self.crawler.engine.close_spider_async(reason="max_articles"))
        return item

    def close_spider(self) -> None:
        self.writer.close()
