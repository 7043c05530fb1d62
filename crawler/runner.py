"""Run one crawl in this process and report what it did: shared by ``crawl``, ``demo`` and ``schedule``.

A Twisted reactor runs once per process, so this is called at most once per process; tests run
whole crawls through the CLI in a subprocess.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from crawler.sites import SitesConfigError, load_sites
from crawler.state import LockedError, crawl_lock_for
from crawler.urlpolicy import is_http_url
from pipelines.session import ArchiveSession
from pipelines.storage import S3Location, S3Options, StorageConfigError, import_boto3, is_s3_uri

# Stats that mean data could not be written: the crawl then exits 1. (newsarchive/s3/errors: files
# that stayed in the local spool because the store could not take them.)
ERROR_STATS = ("newsarchive/warc/errors", "newsarchive/records/errors", "newsarchive/manifest/errors",
               "newsarchive/index/errors", "newsarchive/s3/errors", "newsarchive/frontier/errors",
               "newsarchive/state/errors")


class CrawlFailed(Exception):
    """The crawl could not run or write at all: one line on stderr, exit code 1."""


@dataclass
class CrawlResult:
    crawl_id: str
    out: Path | str  # a local folder, or an s3:// URI (a str: Path would collapse "s3://")
    stats: dict[str, Any] = field(default_factory=dict)
    files: list[dict] = field(default_factory=list)

    @property
    def errors(self) -> dict[str, int]:
        return {k: self.stats[k] for k in ERROR_STATS if self.stats.get(k)}

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    @property
    def records(self) -> int:
        return int(self.stats.get("newsarchive/records/written", 0))

    def summary(self) -> str:
        s = self.stats
        skipped = {k.rsplit("/", 1)[-1] if "download_error" not in k else k.split("skipped/", 1)[1]: v
                   for k, v in s.items() if k.startswith("newsarchive/skipped/")}
        skip_text = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())) or "none"
        elapsed = s.get("elapsed_time_seconds", 0.0) or 0.0
        return (
            f"crawl {self.crawl_id}: {self.records} article records from "
            f"{s.get('downloader/response_count', 0)} responses in {elapsed:.1f}s; skipped: {skip_text}\n"
            f"archive: {self.out}"
        )


def build_settings(out: str | Path, overrides: dict[str, Any] | None = None) -> Settings:
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.set("NEWSARCHIVE_OUT", str(out), priority="cmdline")
    if not sys.stderr.isatty():
        # Quiet in a pipe: warnings and errors only, unless asked otherwise.
        settings.set("LOG_LEVEL", "WARNING", priority="cmdline")
    for key, value in (overrides or {}).items():
        settings.set(key, value, priority="cmdline")
    return settings


def check_out(out: str | Path, settings: Settings) -> None:
    """An ``s3://`` output must name a bucket, needs boto3 and sane NEWSARCHIVE_S3_* settings:
    say so before crawling."""
    if is_s3_uri(out):
        try:
            S3Location.parse(str(out))
            S3Options.from_settings(settings)
            import_boto3()
        except StorageConfigError as e:
            raise SitesConfigError(f"--out: {e}") from None


def check_seeds(seeds: list[str], sites_file: str | None) -> None:
    """Fail early, with one line, on what would otherwise fail deep inside Scrapy."""
    for seed in seeds:
        if not is_http_url(seed):
            raise SitesConfigError(f"not an http(s) URL: {seed!r}")
    if sites_file:
        load_sites(sites_file)
    if not seeds and not sites_file:
        raise SitesConfigError("give at least one SEED URL or --sites FILE")


def run_crawl(seeds: list[str], *, sites_file: str | None = None, out: str | Path = "./archive",
              overrides: dict[str, Any] | None = None) -> CrawlResult:
    check_seeds(seeds, sites_file)
    settings = build_settings(out, overrides)
    check_out(out, settings)
    # Taken here, before Scrapy starts, so a second crawl on the same archive is refused with one
    # line; the crawl's own components take the same (re-entrant) lock. The kernel drops it when
    # this process dies, however it dies.
    lock = crawl_lock_for(settings) if settings.getbool("NEWSARCHIVE_STATE_ENABLED", True) else None
    if lock is not None:
        try:
            lock.acquire()
        except LockedError as e:
            raise SitesConfigError(f"the archive is busy: {e}") from None
        except OSError as e:  # a full or read-only disk: nothing can be archived there
            raise CrawlFailed(f"cannot create the crawl state in {lock.path.parent}: {e.strerror or e}") from None
    try:
        process = CrawlerProcess(settings)
        crawler = process.create_crawler("news")
        logging.getLogger("scrapy.utils.log").setLevel(logging.WARNING)
        process.crawl(crawler, seeds=seeds, sites=sites_file)
        process.start()
    finally:
        if lock is not None:
            lock.release()
    session = ArchiveSession.from_crawler(crawler)
    return CrawlResult(crawl_id=session.crawl_id, out=out if is_s3_uri(out) else Path(out),
                       stats=dict(crawler.stats.get_stats()), files=list(session.files))
