"""Write ``crawls/<crawl_id>.json`` when a crawl ends: what was asked, what happened, what was written.

It runs on ``engine_stopped``, after the item pipelines closed their record files and the capture
middleware closed its WARC and index (``spider_closed``), so the file list is complete.

For scheduled crawls it says what the run added: ``counts`` has ``new`` / ``updated`` records,
``unchanged`` update checks and ``skipped`` known articles (never requested), and ``freshness``
the publication-to-capture delay of the new articles (median and 90th percentile). A crawl that
died without its manifest gets one from recovery (:func:`write_recovered_manifest`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
import re
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

from crawler.urlpolicy import strip_userinfo
from crawler.version import __version__
from pipelines.session import ArchiveSession

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self

logger = logging.getLogger(__name__)

# Settings worth keeping with the data: they explain what the crawl could and could not see.
RECORDED_SETTINGS = (
    "USER_AGENT", "ROBOTSTXT_OBEY", "AUTOTHROTTLE_ENABLED", "AUTOTHROTTLE_TARGET_CONCURRENCY",
    "CONCURRENT_REQUESTS", "CONCURRENT_REQUESTS_PER_DOMAIN", "DOWNLOAD_DELAY", "DOWNLOAD_TIMEOUT",
    "DOWNLOAD_MAXSIZE", "RETRY_TIMES", "REDIRECT_MAX_TIMES",
)
SECRET = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL", re.I)
SOFTWARE = ("scrapy", "trafilatura", "warcio", "lxml", "twisted")


def software_versions() -> dict[str, str]:
    out = {"newsarchive": __version__, "python": platform.python_version()}
    for name in SOFTWARE:
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def recorded_settings(settings) -> dict[str, Any]:
    out = {}
    names = list(RECORDED_SETTINGS) + sorted(k for k in settings.attributes if k.startswith("NEWSARCHIVE_"))
    for name in names:
        if SECRET.search(name):
            continue
        value = settings.get(name)
        if isinstance(value, str) and "://" in value:
            value = strip_userinfo(value)  # redis://user:password@host, s3 endpoints with keys
        out[name] = _jsonable(value)
    return out


def skip_summary(stats: dict) -> dict[str, int]:
    """Every page not recorded, by reason (``newsarchive/skipped/<reason>`` stats)."""
    prefix = "newsarchive/skipped/"
    return {k[len(prefix):]: v for k, v in sorted(stats.items()) if k.startswith(prefix)}


def incremental_counts(stats: dict) -> dict[str, int]:
    """What this run added to the archive, next to what it found already there."""
    return {
        "new": stats.get("newsarchive/incremental/new", 0),
        "updated": stats.get("newsarchive/incremental/updated", 0),
        "unchanged": stats.get("newsarchive/incremental/unchanged", 0),
        "skipped": stats.get("newsarchive/incremental/skipped_known", 0),
    }


def freshness_summary(stats: dict) -> dict[str, Any]:
    """Publication-to-capture delay of this run's new articles (those with a date), seconds."""
    return {
        "articles": stats.get("newsarchive/freshness/count", 0),
        "median_seconds": stats.get("newsarchive/freshness/median_seconds"),
        "p90_seconds": stats.get("newsarchive/freshness/p90_seconds"),
    }


def write_recovered_manifest(session: ArchiveSession, *, recovered_by: str, records: int,
                             truncated: dict[str, int]) -> str:
    """The manifest of a crawl that died before writing its own: what recovery found and kept.

    ``session`` is the dead crawl's (its ``files`` are the files recovery committed or found).
    """
    rel = f"crawls/{session.crawl_id}.json"
    manifest = {
        "crawl_id": session.crawl_id,
        "started_at": None,
        "finished_at": None,
        "finish_reason": "recovered",
        "recovered_by": recovered_by,
        "recovered_at": _jsonable(datetime.now(timezone.utc)),
        "counts": {"records": records},
        "truncated_bytes": truncated,
        "software": software_versions(),
        "files": sorted(session.files, key=lambda f: f["path"]),
    }
    with open(session.open_path(rel), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    session.commit(rel, "manifest")
    return rel


class ManifestExtension:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.session = ArchiveSession.from_crawler(crawler)
        self.path: str | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("NEWSARCHIVE_MANIFEST_ENABLED", True):
            raise NotConfigured("NEWSARCHIVE_MANIFEST_ENABLED is off")
        o = cls(crawler)
        crawler.signals.connect(o.engine_stopped, signal=signals.engine_stopped)
        return o

    def build(self) -> dict:
        stats = self.crawler.stats.get_stats()
        spider = self.crawler.spider
        seeds = []
        for site in getattr(spider, "site_configs", []):
            # user:password@ in a seed URL is a credential, not part of what was crawled
            seeds.extend(strip_userinfo(u) for u in site.start_urls)
        return {
            "crawl_id": self.session.crawl_id,
            "started_at": _jsonable(stats.get("start_time")),
            "finished_at": _jsonable(stats.get("finish_time") or datetime.now(timezone.utc)),
            "finish_reason": stats.get("finish_reason"),
            "seeds": seeds,
            "counts": {
                "requests": stats.get("downloader/request_count", 0),
                "responses": stats.get("downloader/response_count", 0),
                "article_candidates": stats.get("newsarchive/pages/article_candidate", 0),
                "records": stats.get("newsarchive/records/written", 0),
                "warc_records": stats.get("newsarchive/warc/records", 0),
                **incremental_counts(stats),
            },
            "freshness": freshness_summary(stats),
            "skipped": skip_summary(stats),
            "settings": recorded_settings(self.crawler.settings),
            "software": software_versions(),
            "stats": _jsonable(stats),
            "files": sorted(self.session.files, key=lambda f: f["path"]),
        }

    def engine_stopped(self) -> None:
        rel = f"crawls/{self.session.crawl_id}.json"
        try:
            manifest = self.build()
            with open(self.session.open_path(rel), "w", encoding="utf-8") as f:
                json.dump(manifest, f, indent=2, ensure_ascii=False)
                f.write("\n")
            self.session.commit(rel, "manifest")
            self.path = rel
        except OSError as e:
            self.crawler.stats.inc_value("newsarchive/manifest/errors")
            logger.error("Could not write the crawl manifest %s: %s", rel, e)
