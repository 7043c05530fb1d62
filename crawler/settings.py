"""Scrapy settings for newsarchive: polite, bounded and archival by default.

Every newsarchive setting has the prefix ``NEWSARCHIVE_`` and is documented in docs/settings.md
(a test fails when one is not). Scrapy's own names are used where the meaning is the same.
"""

from __future__ import annotations

import os

BOT_NAME = "newsarchive"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# --- who we are -------------------------------------------------------------------------------
# A crawler that archives news must be reachable: site operators read the User-Agent.
NEWSARCHIVE_CONTACT_URL = os.environ.get(
    "NEWSARCHIVE_CONTACT_URL", "https://github.com/newsarchive/newsarchive"
)
# USER_AGENT, unless set, is built from NEWSARCHIVE_CONTACT_URL by crawler.addon.
ADDONS = {"crawler.addon.NewsarchiveAddon": 0}
NEWSARCHIVE_OPERATOR = ""

# --- politeness -------------------------------------------------------------------------------
ROBOTSTXT_OBEY = True
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
CONCURRENT_REQUESTS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0.25
DOWNLOAD_TIMEOUT = 30
# One cap for the bytes on the wire and for what decompression may produce (gzip bombs).
DOWNLOAD_MAXSIZE = 32 * 1024 * 1024
DOWNLOAD_WARNSIZE = 8 * 1024 * 1024
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
REDIRECT_MAX_TIMES = 10
COOKIES_ENABLED = False
# Scrapy starts this many asyncio workers per response to process its spider output; our spider
# yields one item per article page, so Scrapy's default (100) only costs scheduling: measured, it
# was half of the crawl process's CPU (scripts/bench_crawl.py).
CONCURRENT_ITEMS = 8
# Scrapy re-reads a callback's source (inspect + ast) to warn about `return value` in generators,
# and its cache is keyed by the bound method, which is a new object for every request: a lint
# for spider authors that cost the crawl ~0.15 ms a page. The spider's tests cover it instead.
WARN_ON_GENERATOR_RETURN_VALUE = False
TELNETCONSOLE_ENABLED = False
# Scrapy's remote-control server runs code on request (token-guarded, on 127.0.0.1); an
# unattended archive crawl does not need it open.
REMOTE_CONTROL_ENABLED = False
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = "INFO"

# Link depth is counted by the spider itself (NEWSARCHIVE_DISCOVERY_MAX_DEPTH): feeds and sitemaps
# (robots.txt -> sitemap index -> sitemap -> article) must not use up the hops that bound link
# following, which is where calendars and endless pagination live.
DEPTH_LIMIT = 0
DEPTH_STATS_VERBOSE = False
SCHEDULER_DISK_QUEUE = "scrapy.squeues.PickleFifoDiskQueue"
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"

DOWNLOADER_MIDDLEWARES = {
    # Retry-After aware retries replace Scrapy's RetryMiddleware.
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.retry_after.RetryAfterMiddleware": 550,
    # Scrapy's meta-refresh redirects, found without decoding whole pages (at Scrapy's 580).
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "crawler.middlewares.metarefresh.HeadMetaRefreshMiddleware": 580,
    # Above HttpCompressionMiddleware (590) and RedirectMiddleware (600): sees every raw
    # exchange, redirects included, before bodies are decoded.
    "crawler.middlewares.capture.WarcCaptureMiddleware": 950,
    # Drops the queued links of a discovery document found to be dead, before robots.txt (100).
    "crawler.middlewares.breaker.SourceBreakerMiddleware": 50,
}

ITEM_PIPELINES = {
    "pipelines.extraction_pipeline.ExtractionPipeline": 100,
    "pipelines.dedup.DedupPipeline": 200,
    "pipelines.records.RecordsPipeline": 300,
}

EXTENSIONS = {
    "pipelines.manifest.ManifestExtension": 900,
    # Freezes the start-up heap and collects young objects less often (crawler/gctune.py).
    "crawler.gctune.GcTuningExtension": 20,
}

# --- newsarchive ------------------------------------------------------------------------------
NEWSARCHIVE_OUT = "./archive"
NEWSARCHIVE_CRAWL_ID = None  # generated: <UTC yyyymmddThhmmssZ>-<short random>
NEWSARCHIVE_MAX_ARTICLES = 0  # 0 = no limit
NEWSARCHIVE_SINCE = None  # skip discovered articles published before this age/date

NEWSARCHIVE_DISCOVERY_FOLLOW_LINKS = True
# Articles link mostly to other sites and to old stories; hubs, feeds and sitemaps are where new
# articles are announced. Turn on for sites with neither feeds nor useful section fronts.
NEWSARCHIVE_DISCOVERY_FOLLOW_ARTICLE_LINKS = False
NEWSARCHIVE_DISCOVERY_MAX_DEPTH = 3  # link hops from a homepage (feeds and sitemaps do not count)
NEWSARCHIVE_DISCOVERY_ROBOTS_SITEMAPS = True
NEWSARCHIVE_DISCOVERY_ALLOW_PRIVATE = False  # follow links to private/loopback hosts no seed names
NEWSARCHIVE_DISCOVERY_ALLOWED_DOMAINS = []  # extra domains beyond the seeds' own sites
NEWSARCHIVE_DISCOVERY_MAX_SITEMAP_URLS = 50000

NEWSARCHIVE_WARC_ENABLED = True
NEWSARCHIVE_WARC_MAX_SIZE = 1024 * 1024 * 1024
# zlib level 3: on 170 KB news pages 1.1 ms a page and 22.1% of the size, against 2.2 ms and
# 19.8% at level 6 and 3.6 ms and 19.6% at level 9: compressing WARCs was the crawl process's
# largest CPU cost, for about a tenth more bytes on disk (scripts/bench_crawl.py, docs/performance.md).
NEWSARCHIVE_WARC_GZIP_LEVEL = 3

NEWSARCHIVE_EXTRACTION_WORKERS = 0  # 0 = one per CPU core
NEWSARCHIVE_EXTRACTION_TIMEOUT = 30.0
NEWSARCHIVE_EXTRACTION_MAX_PENDING = 64
# Bodies over this are archived but not extracted ("too_large"): a page near the 32 MB download
# cap can take GBs in an lxml tree; real article pages are well under 2 MB.
NEWSARCHIVE_EXTRACTION_MAX_BYTES = 8 * 1024 * 1024

NEWSARCHIVE_RECORDS_MAX_RECORDS = 50000

# The crawl process's garbage collector: start-up heap frozen at engine start, young-generation
# threshold raised from Python's 700 (a tenth of the process's CPU went to collection).
NEWSARCHIVE_GC_ENABLED = True
NEWSARCHIVE_GC_THRESHOLD = 10000

NEWSARCHIVE_INDEX_ENABLED = True
NEWSARCHIVE_RETRY_AFTER_MAX = 120.0  # seconds; a longer Retry-After gives up on that URL

# Serving responses from an archive (offline runs): crawler.addon puts ArchiveSourceMiddleware at
# 900 in DOWNLOADER_MIDDLEWARES when this is on.
NEWSARCHIVE_ARCHIVESOURCE_ENABLED = False
NEWSARCHIVE_ARCHIVESOURCE_URI = None
NEWSARCHIVE_ARCHIVESOURCE_TIMESTAMP = None

# --- S3 storage (docs/s3.md): NEWSARCHIVE_OUT=s3://bucket/prefix ----------------------------------
# Credentials, endpoint and region are Scrapy's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
# AWS_SESSION_TOKEN, AWS_ENDPOINT_URL, AWS_REGION_NAME, AWS_USE_SSL, AWS_VERIFY; unset, boto3's
# standard chain (environment, ~/.aws, instance role) decides.
# "path" for MinIO and other stores without per-bucket DNS names; None lets botocore choose.
NEWSARCHIVE_S3_ADDRESSING_STYLE = os.environ.get("NEWSARCHIVE_S3_ADDRESSING_STYLE") or None
# Local folder files are written to before upload; None: ~/.cache/newsarchive/spool/<bucket>/<prefix>
NEWSARCHIVE_S3_SPOOL_DIR = os.environ.get("NEWSARCHIVE_S3_SPOOL_DIR") or None
NEWSARCHIVE_S3_MULTIPART_THRESHOLD = 64 * 1024 * 1024
NEWSARCHIVE_S3_MULTIPART_CHUNKSIZE = 64 * 1024 * 1024
NEWSARCHIVE_S3_UPLOAD_WORKERS = 4
NEWSARCHIVE_S3_RETRIES = 5  # further attempts per file after the first, with backoff
NEWSARCHIVE_S3_RETRY_BACKOFF = 2.0  # seconds before the first retry; doubles, at most 60
NEWSARCHIVE_S3_TIMEOUT = 60.0  # connect and read timeout of each S3 request, seconds
NEWSARCHIVE_S3_INTEGRITY = "etag"  # "etag": size + ETag; "size": size only (SSE-KMS stores)

# --- safety (docs/reliability.md) ----------------------------------------------------------------
# Refuses non-http(s) schemes and hosts on loopback / private / link-local / reserved addresses
# before any connection (robots.txt fetches and redirects included): before RobotsTxtMiddleware.
DOWNLOADER_MIDDLEWARES["crawler.middlewares.safety.SafetyMiddleware"] = 60
# Built before Scrapy logs the overridden settings, so secrets given with --set stay out of logs.
EXTENSIONS["crawler.middlewares.safety.LogRedaction"] = 0
NEWSARCHIVE_SAFETY_ENABLED = True
NEWSARCHIVE_SAFETY_ALLOW_PRIVATE = False  # a seed's own host and port are allowed regardless
NEWSARCHIVE_SAFETY_REDACT_LOGS = True

# --- incremental crawls (docs/incremental.md) ----------------------------------------------------
# Recovery first: a dead crawl's .open files are finished before anything writes into the archive.
EXTENSIONS["pipelines.recovery.RecoveryExtension"] = 10
NEWSARCHIVE_RECOVERY_ENABLED = True
NEWSARCHIVE_STATE_ENABLED = True
NEWSARCHIVE_STATE_DIR = None  # None: <out>/state, or a local folder for an s3:// archive
NEWSARCHIVE_STATE_CLOCK = os.environ.get("NEWSARCHIVE_STATE_CLOCK") or None  # tests move it
NEWSARCHIVE_STATE_MAX_ATTEMPTS = 3  # runs that may fail to fetch an article before it is given up
NEWSARCHIVE_STATE_POLL_INTERVAL = 0  # least time between polls of one feed/sitemap/homepage
NEWSARCHIVE_STATE_POLL_MAX_INTERVAL = 0  # unchanged documents back off (doubling) up to this
# Decisions are committed in batches of up to this many seconds (a commit per page cost a fifth
# of the state's CPU); a kill -9 loses at most that batch, which recovery reads back.
NEWSARCHIVE_STATE_COMMIT_INTERVAL = 1.0
NEWSARCHIVE_UPDATES_ENABLED = True
NEWSARCHIVE_UPDATES_SCHEDULE = "1h,6h,24h,72h"  # update checks, after publication
NEWSARCHIVE_UPDATES_MAX_PER_RUN = 0  # 0: every check that is due
NEWSARCHIVE_CONDITIONAL_ENABLED = True
DOWNLOADER_MIDDLEWARES["crawler.middlewares.conditional.ConditionalGetMiddleware"] = 580

# --- shared frontier (docs/frontier.md) -------------------------------------------------------
# Set (or `newsarchive crawl --frontier redis://host:port/db`) to share one scheduler queue and
# duplicate filter in Redis between any number of crawler processes; the add-on does the rest.
ADDONS = {**ADDONS, "crawler.frontier.FrontierAddon": 10}
NEWSARCHIVE_FRONTIER_URL = None
NEWSARCHIVE_FRONTIER_PASSWORD = os.environ.get("NEWSARCHIVE_FRONTIER_PASSWORD")  # kept out of the URL and the manifest
NEWSARCHIVE_FRONTIER_NAME = "newsarchive"  # key prefix: several frontiers can share one Redis
NEWSARCHIVE_FRONTIER_WORKER_TIMEOUT = 60.0  # seconds without a heartbeat before a worker's requests are requeued
NEWSARCHIVE_FRONTIER_HEARTBEAT = 5.0  # seconds between heartbeats / idle checks
NEWSARCHIVE_FRONTIER_PAGE_TTL = 600.0  # seconds a homepage, section, feed or sitemap URL counts as seen
NEWSARCHIVE_FRONTIER_ARTICLE_TTL = 21600.0  # seconds an article URL counts as seen

# A feed's or sitemap's links are abandoned after this many of them failed for good (4xx) with
# none working: a stale or generated sitemap costs a few dozen requests, not 50,000. 0 = off.
NEWSARCHIVE_DISCOVERY_BREAKER_FAILURES = 25
# Article requests in flight per feed or sitemap; the rest of a big document waits in the spider
# (as small tuples, not queued Requests) until these come back.
NEWSARCHIVE_DISCOVERY_BATCH = 200
