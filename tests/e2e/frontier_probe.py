"""A test extension: is a request's frontier claim still held when its item is through the
pipelines? (``FrontierScheduler`` settles claims when the engine lets go of a request; a claim
settled any earlier would be lost if the worker died while its record was being written.)"""

from __future__ import annotations

import pickle

from scrapy import signals

from crawler.frontier import FrontierConfig, FrontierKeys, connect_from_settings
from pipelines.session import ArchiveSession


class ClaimProbe:
    def __init__(self, crawler):
        self.crawler = crawler
        config = FrontierConfig.from_settings(crawler.settings)
        self.client = connect_from_settings(crawler.settings, config)
        self.keys = FrontierKeys(config.name, "news")

    @classmethod
    def from_crawler(cls, crawler):
        o = cls(crawler)
        crawler.signals.connect(o.item_scraped, signal=signals.item_scraped)
        return o

    def item_scraped(self, item, response):
        worker = ArchiveSession.from_crawler(self.crawler).crawl_id
        claimed = {pickle.loads(v.partition(b"\n")[2])["url"] for v in self.client.hvals(self.keys.active(worker))}
        held = response.request.url in claimed
        self.crawler.stats.inc_value("probe/claim_held" if held else "probe/claim_missing")
