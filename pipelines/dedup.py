"""Within a crawl, record each article once: by the record id (its canonical URL).

The spider's dupefilter sees request URLs; different URLs (tracking variants, redirects, AMP
pages) can still land on the same article, which only the extracted canonical URL reveals.
Text duplicates under different canonical URLs are kept: they are separate captures (syndication),
and the dataset export removes them on request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import DropItem, NotConfigured

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self


class DedupPipeline:
    def __init__(self, stats):
        self.stats = stats
        self.seen: set[bytes] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("NEWSARCHIVE_DEDUP_ENABLED", True):
            raise NotConfigured("NEWSARCHIVE_DEDUP_ENABLED is off")
        return cls(crawler.stats)

    def process_item(self, item: dict) -> dict:
        key = bytes.fromhex(item["id"])  # 20 bytes a record: a million articles is ~60 MB of set
        if key in self.seen:
            self.stats.inc_value("newsarchive/skipped/duplicate_url")
            raise DropItem(f"already recorded in this crawl: {item['canonical_url']}", log_level="INFO")
        self.seen.add(key)
        return item
