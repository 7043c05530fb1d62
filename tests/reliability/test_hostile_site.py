"""One crawl of the hostile site (tests/support/hostile_site.py), then every promise checked on it.

The crawl runs once per module through the real CLI in a subprocess; each test reads what it
left: exit code, time, memory, records, WARCs, the manifest, the log, and the site's own request
counts (``/_stats.json``). docs/reliability.md has the table of cases these tests hold up.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest

from tests.reliability.support import Run, crawl_cmd, run_measured, warcio_check
from tests.support import hostile_site as hs
from tests.support.servers import fetch, hostile_site

# The stall case holds its connection until DOWNLOAD_TIMEOUT: 3 attempts x 5 s here.
TIMEOUT_S = 5
MAX_SECONDS = 150
NET_SECONDS = 170
MAX_TREE_MEMORY = 1024 * 2**20  # the issue asks for "well under 1.5 GB": the whole process tree
# The largest single process (the crawl itself): the 32 MB bodies and the gzip bomb can be in
# memory at the same time (the 9 MB sitemap is streamed since issue 8, no longer a whole tree);
# the bound keeps room for the peaks seen when the whole suite loads the machine.
MAX_PROCESS_RSS = 900 * 2**20
# "A few dozen fetches at most" for each endless space.
MAX_TRAP_FETCHES = 36
# The 100,000-URL sitemap of 404s: the spider gives a discovery document up once its first
# links are dead and none worked; with the requests already in flight that is a few dozen more.
MAX_BROKEN_SOURCE_FETCHES = 100

# What each case that gives no record must be counted as (a regex over the skip reason): plain
# words a user reads in the manifest without knowing Scrapy's exception classes where we can.
SKIP_REASONS = {
    "binary-as-html": r"binary",
    "empty": r"empty",
    "huge-page": r"too_large",
    "gzip-bomb": r"too_large",
    "stall": r"download_error/DownloadTimeoutError",
    "truncated": r"download_error/ResponseDataLossError",
    "server-error": r"http_500",
    "connection-reset": r"download_error/(DownloadFailedError|ConnectionLost|ResponseFailed)",
    "not-found": r"http_404",
    "dot-segments-escape": r"http_404",
}
PLAIN_REASONS = {
    "binary-as-html": "binary",
    "huge-page": "too_large",
    "gzip-bomb": "too_large",
    "redirect-chain": "redirect_limit",
}

_SKIPPED = re.compile(r"\[news\] INFO: Skipped (\S+): (\S+)$", re.M)
_DROPPED = re.compile(r"INFO: Dropped: not recorded \(([^)]+)\): (\S+)$", re.M)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Run:
    out = tmp_path_factory.mktemp("hostile") / "archive"
    with hostile_site(stall_seconds=60) as url:
        run = run_measured(
            crawl_cmd(out, url + "/", "--log-level", "INFO",
                      "--set", f"DOWNLOAD_TIMEOUT={TIMEOUT_S}",
                      # A safety net for the suite, not for the crawler: a crawl that walks into
                      # a trap is closed here (and fails the finish_reason check below) instead
                      # of running for as long as the trap lasts.
                      "--set", f"CLOSESPIDER_TIMEOUT={NET_SECONDS}"),
            out, timeout=MAX_SECONDS * 2,
        )
        run.extra["url"] = url
        run.extra["expected"] = json.loads(fetch(url + "/expected.json").body)
        run.extra["hits"] = json.loads(fetch(url + "/_stats.json").body)
    return run


def skip_reasons(run: Run) -> dict[str, str]:
    """URL -> the reason the log gives for not recording it (spider skips and pipeline drops)."""
    out = {url: reason for url, reason in _SKIPPED.findall(run.stderr)}
    out.update({url: reason for reason, url in _DROPPED.findall(run.stderr)})
    return out


def captured_urls(run: Run) -> list[str]:
    """Every URL with a response record, from the crawl's CDXJ index."""
    urls = []
    for path in (run.out / "index").glob("*.cdxj"):
        for line in path.read_text().splitlines():
            urls.append(json.loads(line.split(" ", 2)[2])["url"])
    return urls


def case(run: Run, name: str) -> dict:
    return next(c for c in run.extra["expected"]["cases"] if c["name"] == name)


def test_crawl_ends_by_itself_with_exit_0_in_bounded_time(hostile):
    assert hostile.returncode == 0, hostile.stderr[-3000:]
    assert hostile.seconds < MAX_SECONDS
    assert hostile.manifest["finish_reason"] == "finished"


def test_peak_memory_is_bounded(hostile):
    # a 60 MB page and a 500 MB gzip bomb are on the site: neither may land in memory
    assert hostile.max_rss < MAX_PROCESS_RSS, f"largest process {hostile.max_rss / 2**20:.0f} MiB"
    if hostile.tree_memory:
        assert hostile.tree_memory < MAX_TREE_MEMORY, f"process tree {hostile.tree_memory / 2**20:.0f} MiB"


def test_every_good_article_is_recorded_once(hostile):
    records = hostile.records()
    by_url: dict[str, int] = {}
    for r in records:
        by_url[r["url"]] = by_url.get(r["url"], 0) + 1
    good = hostile.extra["expected"]["good"]
    missing = [u for u in good if u not in by_url]
    assert not missing
    assert all(by_url[u] == 1 for u in good), by_url


def test_no_record_for_junk_traps_or_discovery_documents(hostile):
    expected = hostile.extra["expected"]
    good = set(expected["good"])
    records = hostile.records()
    assert len(records) == len(good)
    junk = set(expected["junk"]) | set(expected["discovery"])
    for r in records:
        assert r["url"] in good and r["final_url"] in good, r["url"]
        assert r["url"] not in junk


STORIES = {"wrong-charset": hs.CP1252_STORY, "meta-charset": hs.META_CHARSET_STORY,
           "nul-bytes": hs.NUL_STORY, "unclosed-tags": hs.UNCLOSED_STORY,
           "rate-limited": hs.RATE_LIMITED_STORY}


@pytest.mark.parametrize("name", sorted(STORIES))
def test_tricky_pages_keep_their_text_exactly(hostile, name):
    """Recoded pages (windows-1252 under a utf-8 label, charset only in <meta>) and broken
    markup give the article's own sentences: no mojibake, no NUL, nothing lost."""
    story = STORIES[name]
    url = case(hostile, name)["url"]
    (record,) = [r for r in hostile.records() if r["url"] == url]
    text = record["text"]
    for paragraph in story.paragraphs:
        wanted = paragraph.replace("every 20 minutes", "every 20minutes") if name == "nul-bytes" else paragraph
        assert wanted in text or paragraph in text, (name, paragraph[:60], text[:300])
    assert record["title"].startswith(story.title)


def test_no_mojibake_or_control_characters_in_any_record(hostile):
    # the UTF-8 bytes of ’ é € ü read as windows-1252, the replacement character, NUL
    bad = re.compile("â€|Ã[©¼Ÿ¶]|\ufffd|\x00")
    for r in hostile.records():
        for field in ("title", "text", "description"):
            value = r.get(field) or ""
            assert not bad.search(value), (r["url"], field, bad.search(value).group())


def test_each_trap_is_bounded(hostile):
    hits = hostile.extra["hits"]
    for name in ("redirect-loop", "redirect-chain", "calendar", "pagination", "session-ids"):
        assert hits.get(name, 0) <= MAX_TRAP_FETCHES, (name, hits.get(name))
    # /huge/<n>.html (100,000 of them in the huge sitemap) and every other 404 together
    assert hits.get("not-found", 0) <= MAX_BROKEN_SOURCE_FETCHES, hits.get("not-found")
    huge = hostile.extra["expected"]["traps"]["huge_sitemap_urls"]
    assert sum(u.startswith(huge) for u in captured_urls(hostile)) <= MAX_BROKEN_SOURCE_FETCHES
    assert hostile.manifest["skipped"].get("broken_source", 0) > 40_000  # the rest: given up, counted
    # session ids are not new URLs: each article behind /session/ is fetched once in all
    articles = [c["name"] for c in hostile.extra["expected"]["cases"] if c["name"].startswith("good:")]
    assert all(hits.get(a, 0) == 1 for a in articles), {a: hits.get(a) for a in articles}


def test_every_case_is_requested_a_bounded_number_of_times(hostile):
    """Retries are bounded too: nothing is hammered (the rate-limited page is retried once)."""
    hits = hostile.extra["hits"]
    assert hits.get("rate-limited") == 2
    for name, n in hits.items():
        if name not in ("stats", "expected", "not-found"):  # 404s: the broken sitemap, above
            assert n <= MAX_TRAP_FETCHES, (name, n)


def test_unfetchable_links_are_not_fetched_as_assets_or_other_schemes(hostile):
    hits = hostile.extra["hits"]
    assert hits.get("pdf", 0) == 0 and hits.get("image", 0) == 0
    stats = hostile.manifest["stats"]
    assert stats.get("newsarchive/discovery/skipped/asset", 0) >= 2
    assert stats.get("newsarchive/discovery/skipped/not_http", 0) >= 5  # javascript:, mailto:, tel:, data:, ...
    for url in captured_urls(hostile):
        assert urlsplit(url).scheme in ("http", "https")
        assert urlsplit(url).port == urlsplit(hostile.extra["url"]).port


def test_malformed_absolute_hrefs_are_not_turned_into_paths(hostile):
    """``http:///no-host`` and ``ht tp://x/`` are broken absolute URLs (RFC 3986), not paths
    on this host, which is what ``urljoin`` makes of them."""
    fetched = captured_urls(hostile)
    assert not [u for u in fetched if "no-host" in u or "space-in-scheme" in u]


def test_every_warc_is_valid_and_no_file_is_left_open(hostile):
    warcs = hostile.warcs()
    assert warcs
    check = warcio_check(warcs)
    assert check.returncode == 0, check.stdout + check.stderr
    assert not hostile.open_files()
    listed = {f["path"] for f in hostile.manifest["files"]}
    assert {str(p.relative_to(hostile.out)) for p in warcs} <= listed


def test_file_names_never_come_from_urls(hostile):
    """Every file has a name of the archive layout (DESIGN.md), whatever the URLs looked like."""
    crawl_id = re.escape(hostile.manifest["crawl_id"])
    layout = re.compile(
        rf"warc/{crawl_id}/NEWSARCHIVE-\d{{14}}-\d{{5}}-[A-Za-z0-9.-]+\.warc\.gz"
        rf"|articles/{crawl_id}/articles-\d{{5}}\.jsonl\.gz"
        rf"|index/{crawl_id}\.cdxj|crawls/{crawl_id}\.json"
        r"|state/.*"  # the incremental crawl state: its own fixed names
    )
    names = [str(p.relative_to(hostile.out)) for p in hostile.out.rglob("*") if p.is_file()]
    assert names
    assert not [n for n in names if not layout.fullmatch(n)]


def test_each_skip_is_counted_in_the_manifest_with_its_reason(hostile):
    reasons = skip_reasons(hostile)
    skipped = hostile.manifest["skipped"]
    hits = hostile.extra["hits"]
    for name, pattern in SKIP_REASONS.items():
        c = case(hostile, name)
        if name not in ("not-found", "dot-segments-escape"):
            assert hits.get(name, 0) >= 1, f"{name} was never requested"
        reason = reasons.get(c["url"])
        assert reason is not None, f"no skip logged for {name} ({c['url']})"
        assert re.fullmatch(pattern, reason), (name, reason)
        assert skipped.get(reason, 0) >= 1, (name, reason, skipped)
    # every count has a reason, and the counts cover every logged skip
    assert all(isinstance(n, int) and n > 0 for n in skipped.values())
    logged: dict[str, int] = {}
    for reason in reasons.values():
        logged[reason] = logged.get(reason, 0) + 1
    for reason, n in logged.items():
        assert skipped.get(reason, 0) >= n, (reason, n, skipped)


def test_discovery_problems_are_counted_not_fatal(hostile):
    stats = hostile.manifest["stats"]
    # the sitemap index listing itself, the sitemaps, the news sitemap: each read as what it is
    for doc_type in ("sitemapindex", "urlset", "news_urlset", "rss"):
        assert stats.get(f"newsarchive/discovery/documents/{doc_type}", 0) >= 1, doc_type
    assert stats.get("newsarchive/discovery/skipped/over_limit", 0) >= 50_000  # past 50,000 URLs
    assert stats.get("newsarchive/discovery/errors/malformed", 0) >= 1  # the feed cut off half-way
    for reason in ("no_link", "bad_date"):
        assert stats.get(f"newsarchive/discovery/skipped/{reason}", 0) >= 1, reason


@pytest.mark.parametrize("name", ["huge-page", "gzip-bomb", "redirect-chain"])
def test_download_skip_reasons_are_plain_words(hostile, name):
    reasons = skip_reasons(hostile)
    url = case(hostile, name)["url"]
    if name == "redirect-chain":  # logged under the hop where the limit was reached
        chain = hostile.extra["expected"]["traps"]["redirect_chain"]
        url = next((u for u in reasons if u.startswith(chain)), url)
    assert reasons.get(url) == PLAIN_REASONS[name]


def test_binary_served_as_html_is_skipped_as_binary(hostile):
    assert skip_reasons(hostile).get(case(hostile, "binary-as-html")["url"]) == PLAIN_REASONS["binary-as-html"]
