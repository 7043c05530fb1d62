"""Record each article once per crawl, and across crawls only when its text changed.

Within a crawl, by the record id (its canonical URL): the spider's dupefilter sees request URLs;
different URLs (tracking variants, redirects, AMP pages) can still land on the same article, which
only the extracted canonical URL reveals. Text duplicates under different canonical URLs are kept:
they are separate captures (syndication), and the dataset export removes them on request.

Across crawls (with the crawl state), known article URLs are not even requested (the spider skips
them); what reaches this pipeline for a known article is an update check or a new URL of it. A new
record version is written only when the extracted text changed (``text_sha1``): it gets the next
``version`` number and a ``previous`` pointer to the record it supersedes. Same text, different
bytes (a new ad slot, a rotated "most read" box) is not a new version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import DropItem, NotConfigured

from crawler.state import RECORDED, CrawlState, state_from_crawler
from crawler.urlpolicy import canonicalize

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self


class DedupPipeline:
    def __init__(self, stats, state: CrawlState | None = None):
        self.stats = stats
        self.state = state
        self.seen: set[bytes] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("NEWSARCHIVE_DEDUP_ENABLED", True):
            raise NotConfigured("NEWSARCHIVE_DEDUP_ENABLED is off")
        return cls(crawler.stats, state_from_crawler(crawler))

    def process_item(self, item: dict) -> dict:
        key = bytes.fromhex(item["id"])  # 20 bytes a record: a million articles is ~60 MB of set
        if key in self.seen:
            self.stats.inc_value("newsarchive/skipped/duplicate_url")
            if self.state is not None:
                self.state.url_finished(canonicalize(item["url"]), RECORDED, article_id=item["id"])
            raise DropItem(f"already recorded in this crawl: {item['canonical_url']}", log_level="INFO")
        self.seen.add(key)
        if self.state is not None:
            self._version(item)
        return item

    def _version(self, item: dict) -> None:
        assert self.state is not None
        known = self.state.article(item["id"])
        if known is None:
            item["version"], item["previous"] = 1, None
            return
        if known.text_sha1 == item.get("text_sha1"):
            self.stats.inc_value("newsarchive/incremental/unchanged")
            self.state.article_checked(item["id"], record_id=(item.get("warc") or {}).get("record_id"),
                                       url=canonicalize(item["url"]))
            raise DropItem(f"text unchanged since version {known.version}: {item['canonical_url']}",
                           log_level="DEBUG")
        item["version"] = known.version + 1
        item["previous"] = known.record
