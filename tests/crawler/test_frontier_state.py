"""The Redis crawl state makes the SQLite state's decisions: the same checks run against both.

Then what only a shared state does: update checks leased to one worker, and two workers racing
on one article.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from crawler.frontier_state import RedisCrawlState, open_frontier_state
from crawler.state import FAILED, PENDING, RECORDED, REJECTED, Capture, SqliteCrawlState, parse_time
from tests.support.redis import redis_session_fixture, redis_url_fixture  # noqa: F401 - fixtures

H = 3600.0
P = parse_time("2026-11-29T12:00:00Z")
SCHEDULE = (1 * H, 6 * H, 24 * H, 72 * H)


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def record(n: int = 1, *, version: int = 1, text: str = "t1", published: str | None = "2026-11-29T12:00:00Z",
           capture: str = "<urn:uuid:c1>") -> dict:
    return {"id": f"{n:040x}", "url": f"https://news.example/a{n}.html?utm_source=x",
            "final_url": f"https://news.example/a{n}.html", "canonical_url": f"https://news.example/a{n}.html",
            "published": published, "text_sha1": text, "version": version, "warc": {"record_id": capture}}


def pointer(offset: int = 0) -> dict:
    return {"crawl_id": "c", "file": "articles/c/articles-00000.jsonl.gz", "offset": offset, "length": 10}


@pytest.fixture
def clock():
    return Clock(P + 0.5 * H)


@pytest.fixture
def make_state(request, tmp_path, clock):
    """Builds states of the implementation the test is parametrized with."""
    made = []

    def make(**kwargs):
        kwargs.setdefault("clock", clock)
        if request.param == "sqlite":
            s = SqliteCrawlState(tmp_path / "s.sqlite3", **kwargs)
        else:
            url = request.getfixturevalue("redis_url")
            from crawler.frontier import connect

            s = RedisCrawlState(connect(url), "test:state", **kwargs)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


both = pytest.mark.parametrize("make_state", ["sqlite", "redis"], indirect=True)


@pytest.fixture
def state(make_state):
    return make_state(update_schedule=SCHEDULE, max_attempts=2)


# --- the same decisions ---------------------------------------------------------------------------


@both
def test_pending_urls_come_back_until_finished(state):
    state.add_pending("https://news.example/a.html", {"kind": "feed", "source": "f"})
    state.add_pending("https://news.example/b.html", None)
    state.add_pending("https://news.example/a.html", {"kind": "other"})  # first wins
    assert [(p.url, p.via) for p in state.pending()] == [
        ("https://news.example/a.html", {"kind": "feed", "source": "f"}), ("https://news.example/b.html", None)]
    state.url_finished("https://news.example/a.html", REJECTED, reason="paywall")
    assert [p.url for p in state.pending()] == ["https://news.example/b.html"]
    assert state.url_status("https://news.example/a.html") == REJECTED
    assert state.url_status("https://news.example/b.html") == PENDING
    assert state.url_status("https://news.example/nope.html") is None
    with pytest.raises(ValueError):
        state.url_finished("https://news.example/b.html", PENDING)


@both
def test_transient_failures_are_retried_then_given_up(state):
    url = "https://news.example/flaky.html"
    state.add_pending(url, None)
    state.url_failed(url, "http_503")
    assert state.url_status(url) == PENDING and next(state.pending()).attempts == 1
    state.url_failed(url, "http_503")
    assert state.url_status(url) == FAILED and not list(state.pending())
    state.url_failed(url, "http_503")
    assert state.url_status(url) == FAILED


@both
def test_a_failure_of_an_unknown_url_makes_it_pending(state):
    state.url_failed("https://news.example/new.html", "download_error/TimeoutError")
    assert [(p.url, p.attempts) for p in state.pending()] == [("https://news.example/new.html", 1)]


@both
def test_a_failure_never_downgrades_a_recorded_url(state):
    state.article_recorded(record(1), pointer())
    state.url_failed("https://news.example/a1.html", "download_error/TimeoutError")
    assert state.url_status("https://news.example/a1.html") == RECORDED


@both
def test_pending_can_be_read_while_writing(state):
    for i in range(2500):
        state.add_pending(f"https://news.example/{i}.html", None)
    seen = 0
    for p in state.pending():
        state.url_finished(p.url, RECORDED)
        seen += 1
    assert seen == 2500 and not list(state.pending())


@both
def test_recorded_article_and_its_urls(state):
    state.add_pending("https://news.example/a1.html", None)
    state.article_recorded(record(1), pointer(0))
    a = state.article("1".zfill(40))
    assert (a.version, a.text_sha1, a.record_id, a.checks, a.record) == (1, "t1", "<urn:uuid:c1>", 0, pointer(0))
    assert a.url == "https://news.example/a1.html" and a.next_check == P + 1 * H
    assert state.url_status("https://news.example/a1.html") == RECORDED
    assert not list(state.pending())


@both
def test_update_checks_follow_the_decaying_schedule(state, clock):
    state.article_recorded(record(1), pointer())
    assert not list(state.due_articles())
    clock.t = P + 1.5 * H
    [due] = list(state.due_articles())
    state.article_checked(due.id)
    a = state.article(due.id)
    assert (a.checks, a.next_check) == (1, P + 6 * H)
    clock.t = P + 100 * H
    assert [a.id for a in state.due_articles()] == [due.id]
    state.article_checked(due.id)
    assert state.article(due.id).next_check is None
    assert not list(state.due_articles())


@both
def test_new_version_moves_the_article_on_and_reconciling_changes_nothing(state, clock):
    state.article_recorded(record(1), pointer(0))
    clock.t = P + 2 * H
    state.article_recorded(record(1, version=2, text="t2", capture="<urn:uuid:c2>"), pointer(50))
    a = state.article("1".zfill(40))
    assert (a.version, a.text_sha1, a.record_id, a.record["offset"], a.checks) == (2, "t2", "<urn:uuid:c2>", 50, 1)
    state.article_recorded(record(1, version=1), pointer(0))  # recovery reading an old record back
    assert state.article("1".zfill(40)) == a


@both
def test_captures_documents_and_backoff(make_state, clock):
    s = make_state(poll_interval=600, poll_max_interval=3000)
    s.add_capture(Capture("<c2>", "https://news.example/feed.xml", "2026-11-29T12:30:00Z", "sha1:2",
                          etag='"e2"', last_modified=None))
    assert s.capture("<c2>").etag == '"e2"' and s.capture(None) is None and s.capture("<nope>") is None
    url = "https://news.example/feed.xml"
    children = [["https://news.example/s1.xml", "discovery", 0, "parse_discovery"]]
    s.document_polled(url, role="discovery", record_id="<c2>", children=children, changed=True)
    d = s.document(url)
    assert (d.record_id, d.children, d.next_poll, d.unchanged_polls) == ("<c2>", children, clock.t + 600, 0)
    for expected in (1200, 2400, 3000, 3000):
        s.document_polled(url, role=None, record_id=None, children=None, changed=False)
        d = s.document(url)
        assert d.next_poll == clock.t + expected and d.children == children and d.record_id == "<c2>"
    s.document_polled(url, role=None, record_id="<r3>", children=[], changed=True)
    d = s.document(url)
    assert (d.record_id, d.children, d.next_poll, d.role) == ("<r3>", [], clock.t + 600, "discovery")
    assert s.document("https://news.example/other") is None


@both
def test_default_polling_is_every_run(state):
    state.document_polled("https://news.example/", role="homepage", record_id=None, children=[], changed=False)
    assert state.document("https://news.example/").next_poll is None


@both
def test_crawls_that_did_not_end_are_left_for_recovery(state):
    state.begin_crawl("c1")
    state.begin_crawl("c2")
    assert state.unfinished_crawls(exclude="c2") == ["c1"]
    state.end_crawl("c1")
    assert state.unfinished_crawls(exclude="c3") == ["c2"]
    state.crawl_reconciled("c2")
    assert state.unfinished_crawls(exclude="c3") == []
    assert state.errors == 0


# --- what sharing adds ----------------------------------------------------------------------------


def test_a_due_update_check_goes_to_one_worker_and_comes_back_if_never_done(redis_url, clock):
    from crawler.frontier import connect

    a, b = (RedisCrawlState(connect(redis_url), "test:state", clock=clock, update_schedule=SCHEDULE,
                            lease=600) for _ in range(2))
    for n in (1, 2):
        a.article_recorded(record(n), pointer(n))
    clock.t = P + 1.5 * H
    assert sorted(x.id for x in a.due_articles()) == [f"{1:040x}", f"{2:040x}"]
    assert list(b.due_articles()) == []  # leased to a
    a.article_checked(f"{1:040x}")  # a checked one, then died
    clock.t += 601
    assert [x.id for x in b.due_articles()] == [f"{2:040x}"]


def test_captures_nothing_refers_to_expire(redis_url, clock):
    from crawler.frontier import connect

    client = connect(redis_url)
    s = RedisCrawlState(client, "test:state", clock=clock, update_schedule=SCHEDULE, capture_ttl=100)
    for n in (1, 2):
        s.add_capture(Capture(f"<urn:uuid:c{n}>", f"https://news.example/a{n}.html", "d", "sha1:x"))
    s.article_recorded(record(1, capture="<urn:uuid:c1>"), pointer())
    assert client.ttl("test:state:capture:<urn:uuid:c1>") == -1  # referred to: kept
    assert 0 < client.ttl("test:state:capture:<urn:uuid:c2>") <= 100
    clock.t += 2 * H
    s.article_recorded(record(1, version=2, text="t2", capture="<urn:uuid:c2>"), pointer(9))
    assert client.ttl("test:state:capture:<urn:uuid:c2>") == -1
    assert 0 < client.ttl("test:state:capture:<urn:uuid:c1>") <= 100  # superseded: expires


def test_workers_racing_on_one_url_keep_a_consistent_row(redis_url, clock):
    """Optimistic transactions: concurrent failures of one URL are all counted."""
    from crawler.frontier import connect

    url = "https://news.example/contended.html"
    states = [RedisCrawlState(connect(redis_url), "test:state", clock=clock, max_attempts=1000) for _ in range(4)]
    states[0].add_pending(url, None)

    def fail(s):
        for _ in range(50):
            s.url_failed(url, "http_503")

    threads = [threading.Thread(target=fail, args=(s,)) for s in states]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert next(states[0].pending()).attempts == 200


def test_crawls_bookkeeping_is_per_archive(redis_url):
    from crawler.frontier import connect

    here, there = (RedisCrawlState(connect(redis_url), "test:state", archive=a) for a in ("m1:/a", "m2:/a"))
    here.begin_crawl("dead-here")
    there.begin_crawl("alive-there")
    assert here.unfinished_crawls(exclude="me") == ["dead-here"]
    assert there.unfinished_crawls(exclude="me") == ["alive-there"]


def test_redis_failures_are_counted_not_raised(caplog):
    from crawler.frontier import connect

    s = RedisCrawlState(connect("redis://127.0.0.1:1/0", params={"socket_connect_timeout": 0.2}), "x")
    assert s.url_status("https://news.example/a.html") is None
    s.add_pending("https://news.example/a.html", None)
    assert list(s.pending()) == [] and list(s.due_articles()) == []
    s.begin_crawl("c")
    s.end_crawl("c")  # does not even try: decisions were lost, the crawl stays to be reconciled
    assert s.errors == 5 and "Crawl state in Redis" in caplog.text


def test_open_frontier_state_reads_the_state_settings(redis_url):
    from scrapy.settings import Settings

    s = open_frontier_state(Settings({
        "NEWSARCHIVE_FRONTIER_URL": redis_url, "NEWSARCHIVE_FRONTIER_NAME": "crawlA",
        "NEWSARCHIVE_UPDATES_SCHEDULE": "2h,1h", "NEWSARCHIVE_STATE_MAX_ATTEMPTS": 5,
        "NEWSARCHIVE_STATE_POLL_INTERVAL": "10m", "NEWSARCHIVE_STATE_CLOCK": "2026-11-29T12:00:00Z",
    }))
    assert (s.prefix, s.update_schedule, s.max_attempts, s.poll_interval) == ("crawlA:state", (H, 2 * H), 5, 600)
    assert s.now() == P and s.archive.endswith(":" + str(Path("./archive").resolve()))
