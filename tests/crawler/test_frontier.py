"""The Redis frontier's parts against a real redis-server: claims, expiring fingerprints, the
worker registry, the idle decision, the add-on and the CLI checks."""

from __future__ import annotations

import json
import pickle
import time
from types import SimpleNamespace

import pytest
import scrapy
from scrapy import Request
from scrapy.exceptions import DontCloseSpider
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from archive.cli import main as cli_main
from archive.cli.status import format_status
from crawler.frontier import (
    DUPEFILTER_CLASS,
    QUEUE_CLASS,
    SCHEDULER,
    FrontierAddon,
    FrontierConfig,
    FrontierError,
    FrontierKeys,
    claim_sites,
    connect,
    preflight,
    redact,
    sites_fingerprint,
)
from crawler.frontier_dupefilter import ExpiringDupeFilter
from crawler.frontier_queue import ReliableQueue, frontier_holds_work
from crawler.frontier_scheduler import FrontierScheduler
from crawler.frontier_workers import RateMeter, WorkerRegistry, read_status
from crawler.sites import SiteConfig
from tests.support.redis import redis_session_fixture, redis_url_fixture  # noqa: F401 - fixtures

KEYS = FrontierKeys("newsarchive", "news")


class NewsLike(scrapy.Spider):
    name = "news"
    site_configs: list = []

    def parse(self, response):  # pragma: no cover - never crawled here
        return []


@pytest.fixture
def client(redis_url):
    return connect(redis_url)


def make_queue(client, worker: str) -> ReliableQueue:
    q = ReliableQueue(client, NewsLike(), KEYS.queue_template)
    q.bind(KEYS, worker)
    return q


def alive(client, worker: str, ms: int = 60000) -> None:
    client.set(KEYS.alive(worker), "1", px=ms)
    client.hset(KEYS.workers, worker, "{}")


# --- the reliable queue ---------------------------------------------------------------------------


def test_pop_claims_in_the_same_step_and_settle_forgets(client):
    q = make_queue(client, "w1")
    for i, prio in enumerate((0, 5, 10)):
        q.push(Request(f"https://news.example/{i}", priority=prio))
    first = q.pop()
    assert first.url == "https://news.example/2"  # highest priority first, as scrapy-redis
    assert len(q) == 2 and client.hlen(KEYS.active("w1")) == 1
    [token] = q.claims
    assert q.claims[token] is first
    assert q.settle([token]) == 1
    assert client.hlen(KEYS.active("w1")) == 0 and not q.claims
    assert q.settle([token]) == 0  # already gone: the scheduler counts it as lost


def test_a_dead_workers_claims_go_back_with_their_priority(client):
    dead, live = make_queue(client, "dead"), make_queue(client, "live")
    alive(client, "dead")
    for i, prio in enumerate((0, 5, 10)):
        dead.push(Request(f"https://news.example/{i}", priority=prio))
    dead.pop(), dead.pop()
    assert live.reap("dead") == -1  # alive: nothing happens
    client.delete(KEYS.alive("dead"))
    assert live.reap("dead") == 2
    assert not client.hexists(KEYS.workers, "dead") and client.hlen(KEYS.active("dead")) == 0
    assert [live.pop().url for _ in range(3)] == [f"https://news.example/{i}" for i in (2, 1, 0)]
    assert live.pop() is None


def test_frontier_state_queued_busy_orphaned_drained(client):
    me, other = make_queue(client, "me"), make_queue(client, "other")
    alive(client, "me"), alive(client, "other")
    assert me.state() == ("drained", "")
    me.push(Request("https://news.example/a"))
    assert me.state() == ("queued", "")
    other.pop()
    assert me.state() == ("busy", "other")
    assert other.state() == ("drained", "")  # its own claims are settled when it is idle
    client.delete(KEYS.alive("other"))
    assert me.state() == ("orphaned", "other")
    assert frontier_holds_work(client, KEYS)
    me.reap("other")
    assert me.state() == ("queued", "")


def test_an_undecodable_request_is_dropped_not_retried_forever(client):
    q = make_queue(client, "w1")
    client.zadd(KEYS.queue, {b"not a pickle": 0})
    q.push(Request("https://news.example/ok"))
    assert q.pop().url == "https://news.example/ok"
    assert q.undecodable == 1 and client.hlen(KEYS.active("w1")) == 1


def test_claimed_values_hold_the_score_and_the_request(client):
    q = make_queue(client, "w1")
    q.push(Request("https://news.example/x", priority=7))
    q.pop()
    [value] = client.hvals(KEYS.active("w1"))
    score, _, data = value.partition(b"\n")
    assert float(score) == -7 and pickle.loads(data)["url"] == "https://news.example/x"


# --- expiring fingerprints ------------------------------------------------------------------------


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_fingerprints_expire_by_role(client):
    clock = Clock()
    crawler = get_crawler()
    df = ExpiringDupeFilter(client, KEYS.seen, page_ttl=60, article_ttl=3600, clock=clock,
                            fingerprinter=crawler.request_fingerprinter)
    home = Request("https://news.example/", meta={"newsarchive_role": "homepage"})
    article = Request("https://news.example/a.html", meta={"newsarchive_role": "article"})
    assert not df.request_seen(home) and not df.request_seen(article)
    assert df.request_seen(home) and df.request_seen(article)
    clock.t += 61
    assert not df.request_seen(home)  # re-polled after the page TTL
    assert df.request_seen(article)
    clock.t += 3600
    assert not df.request_seen(article)  # update check after the article TTL
    assert df.request_fingerprint(home) == crawler.request_fingerprinter.fingerprint(home).hex()


def test_expired_fingerprints_are_trimmed_and_close_keeps_them(client):
    clock = Clock()
    df = ExpiringDupeFilter(client, KEYS.seen, page_ttl=10, clock=clock)
    for i in range(5):
        df.request_seen(Request(f"https://news.example/{i}"))
    clock.t += 5
    df.request_seen(Request("https://news.example/late"))
    clock.t += 6
    assert df.trim() == 5 and client.zcard(KEYS.seen) == 1
    df.close("finished")
    assert client.zcard(KEYS.seen) == 1


# --- settings, add-on, sites ----------------------------------------------------------------------


def test_addon_turns_the_frontier_on_only_with_a_url():
    off = Settings()
    FrontierAddon().update_settings(off)
    assert off.get("SCHEDULER") != SCHEDULER
    on = Settings({"NEWSARCHIVE_FRONTIER_URL": "redis://127.0.0.1:1/0", "NEWSARCHIVE_FRONTIER_NAME": "x"})
    FrontierAddon().update_settings(on)
    assert (on["SCHEDULER"], on["SCHEDULER_QUEUE_CLASS"], on["DUPEFILTER_CLASS"]) == (SCHEDULER, QUEUE_CLASS,
                                                                                      DUPEFILTER_CLASS)
    assert on.getbool("SCHEDULER_PERSIST") and on["SCHEDULER_QUEUE_KEY"] == "x:%(spider)s:requests"


def test_config_checks_and_redaction():
    with pytest.raises(FrontierError, match="redis://"):
        FrontierConfig.from_settings(Settings({"NEWSARCHIVE_FRONTIER_URL": "http://127.0.0.1:6379"}))
    c = FrontierConfig.from_settings(Settings({"NEWSARCHIVE_FRONTIER_URL": "redis://h:1/0",
                                               "NEWSARCHIVE_FRONTIER_WORKER_TIMEOUT": 3,
                                               "NEWSARCHIVE_FRONTIER_HEARTBEAT": 5}))
    assert c.heartbeat == 1.0  # at least three beats per timeout
    assert redact("redis://user:s3cret@host:6379/2") == "redis://user:***@host:6379/2"
    assert redact("redis://host:6379/2") == "redis://host:6379/2"


def test_a_frontier_holding_another_crawls_requests_refuses_other_sites(client, redis_url):
    a = [SiteConfig.from_seed("https://a.example/")]
    b = [SiteConfig.from_seed("https://b.example/")]
    claim_sites(client, KEYS, sites_fingerprint(a))
    claim_sites(client, KEYS, sites_fingerprint(b))  # idle frontier: the next crawl may differ
    make_queue(client, "w").push(Request("https://b.example/x"))
    with pytest.raises(FrontierError, match="other seeds"):
        claim_sites(client, KEYS, sites_fingerprint(a))
    settings = Settings({"NEWSARCHIVE_FRONTIER_URL": redis_url})
    with pytest.raises(FrontierError, match="other seeds"):
        preflight(settings, ["https://a.example/"], None)
    preflight(settings, ["https://b.example/"], None)


# --- workers --------------------------------------------------------------------------------------


def test_registry_publishes_counts_rates_and_totals(client):
    reg = WorkerRegistry(client, KEYS, "w1", timeout=60, interval=20, info={"crawl_id": "w1"})
    reg.register()
    try:
        reg.publish({"downloader/response_count": 10, "newsarchive/records/written": 4})
        reg.publish({"downloader/response_count": 25, "newsarchive/records/written": 9})
        status = read_status(client, KEYS)
        [w] = status["workers"]
        assert w["alive"] and w["counts"] == {"fetched": 25, "records": 9, "claimed": 0}
        assert status["totals"] == {"fetched": 25, "records": 9}
        assert status["workers_alive"] == 1 and status["queued"] == 0
        text = format_status({**status, "url": "redis://x/0"})
        assert "workers 1 alive, 0 dead" in text and "w1" in text
    finally:
        reg.unregister()
    assert not client.exists(KEYS.alive("w1")) and not client.hexists(KEYS.workers, "w1")


def test_heartbeat_thread_keeps_a_worker_alive_and_its_death_is_seen(client):
    reg = WorkerRegistry(client, KEYS, "w1", timeout=0.6, interval=0.1)
    other = WorkerRegistry(client, KEYS, "w2", timeout=0.6, interval=0.1)
    reg.register()  # (the thread is stopped below)
    time.sleep(1.0)  # longer than the TTL: only the thread keeps the key
    assert other.dead_workers() == []
    reg.heartbeat._stop.set()  # the process "dies": no more beats, nobody cleans up
    reg.heartbeat._thread.join()
    time.sleep(0.8)
    assert other.dead_workers() == ["w1"]
    assert read_status(client, KEYS)["workers_dead"] == 1


def test_rates_are_per_minute_over_the_window():
    m = RateMeter(window=60)
    assert m.add(0, {"fetched": 0}) == {"fetched": 0.0}
    assert m.add(30, {"fetched": 50}) == {"fetched": 100.0}
    m.add(90, {"fetched": 110})
    # The base is the newest sample at least a window old (t=30): t=0 is dropped.
    assert m.add(120, {"fetched": 110}) == {"fetched": 40.0}
    assert [t for t, _ in m.samples] == [30, 90, 120]


# --- the scheduler --------------------------------------------------------------------------------


_made: list[FrontierScheduler] = []


@pytest.fixture(autouse=True)
def _stop_schedulers():
    """Schedulers built here must not tick (LoopingCall) or beat (thread) into later tests."""
    yield
    while _made:
        s = _made.pop()
        if s._loop is not None and s._loop.running:
            s._loop.stop()
        if s.registry is not None:
            s.registry.heartbeat._stop.set()


def make_scheduler(redis_url, tmp_path, crawl_id: str) -> tuple[FrontierScheduler, scrapy.Spider]:
    crawler = get_crawler(NewsLike, {
        "NEWSARCHIVE_FRONTIER_URL": redis_url, "NEWSARCHIVE_OUT": str(tmp_path / crawl_id),
        "NEWSARCHIVE_CRAWL_ID": crawl_id, "NEWSARCHIVE_FRONTIER_HEARTBEAT": 30,
        "ADDONS": {FrontierAddon: 0},
    })
    crawler._apply_settings()
    spider = NewsLike.from_crawler(crawler)
    crawler.spider = spider
    # What the scheduler reads of the engine: the requests in progress, and its next call.
    crawler.engine = SimpleNamespace(_slot=SimpleNamespace(inprogress=set(), nextcall=SimpleNamespace(
        schedule=lambda: None)))
    scheduler = FrontierScheduler.from_crawler(crawler)
    scheduler.open(spider)
    _made.append(scheduler)
    return scheduler, spider


def test_claims_settle_when_the_engine_lets_go_of_their_request(redis_url, tmp_path):
    a, _ = make_scheduler(redis_url, tmp_path, "A")
    inprogress = a.crawler.engine._slot.inprogress  # as the engine keeps it, watched
    for i in range(4):
        a.enqueue_request(Request(f"https://news.example/{i}"))
    for _ in range(3):
        inprogress.add(a.next_request())  # the engine adds each request as it takes it
    first, second, third = a.queue.claims.values()
    assert a.server.hlen(KEYS.active("A")) == 3
    inprogress.remove(first)  # downloaded, parsed, items through the pipelines: settled at once
    assert a.server.hlen(KEYS.active("A")) == 2 and a.stats.get_value("newsarchive/frontier/settled") == 1
    a.item_scraped({"url": second.url}, SimpleNamespace(request=second))  # its record is written
    assert a.server.hlen(KEYS.active("A")) == 1
    inprogress.remove(second)  # no second settle
    assert a.stats.get_value("newsarchive/frontier/settled") == 2
    assert set(a.queue.claims.values()) == {third}


def test_without_the_engine_hook_claims_settle_on_the_next_request(redis_url, tmp_path):
    a, _ = make_scheduler(redis_url, tmp_path, "A")
    a.crawler.engine._slot.inprogress = held = set()  # a Scrapy whose slot we cannot watch
    for i in range(3):
        a.enqueue_request(Request(f"https://news.example/{i}"))
    held.add(a.next_request())
    held.add(a.next_request())
    held.pop()
    held.add(a.next_request())  # the engine asks for more: finished claims settle first
    assert a.server.hlen(KEYS.active("A")) == 2 and set(a.queue.claims.values()) == held


def test_idle_workers_wait_for_each_other_then_both_close(redis_url, tmp_path):
    a, _ = make_scheduler(redis_url, tmp_path, "A")
    b, _ = make_scheduler(redis_url, tmp_path, "B")
    assert a.enqueue_request(Request("https://news.example/", meta={"newsarchive_role": "homepage"}))
    assert not b.enqueue_request(Request("https://news.example/"))  # one filter for both
    assert b.stats.get_value("dupefilter/filtered") == 1
    assert a.next_request().url == "https://news.example/"
    assert b.next_request() is None
    with pytest.raises(DontCloseSpider):
        b.spider_idle()  # A works on the homepage: the links it finds are B's work too
    a.enqueue_request(Request("https://news.example/a.html"))
    with pytest.raises(DontCloseSpider):
        b.spider_idle()  # queued
    assert b.next_request().url == "https://news.example/a.html"
    with pytest.raises(DontCloseSpider):
        a.spider_idle()  # A is idle (its claim settles) but B is not
    b.spider_idle()  # B settles its claim: the frontier is drained, B closes...
    a.spider_idle()  # ...and so does A
    assert a.stats.get_value("newsarchive/frontier/settled") == 1
    assert read_status(a.server, KEYS)["in_flight"] == 0
    a.engine_stopped(), b.engine_stopped()
    assert read_status(a.server, KEYS)["workers"] == []


def test_a_worker_requeues_a_dead_workers_claims(redis_url, tmp_path):
    a, _ = make_scheduler(redis_url, tmp_path, "A")
    b, _ = make_scheduler(redis_url, tmp_path, "B")
    a.enqueue_request(Request("https://news.example/1"))
    a.enqueue_request(Request("https://news.example/2"))
    held = b.crawler.engine._slot.inprogress
    held.add(b.next_request())
    held.add(b.next_request())
    b.registry.heartbeat._stop.set()  # B is killed: no beat, no unregister
    b.registry.heartbeat._thread.join()
    b.server.delete(KEYS.alive("B"))  # ...and its key expires
    with pytest.raises(DontCloseSpider):
        a.spider_idle()  # orphaned: reaped now
    assert a.stats.get_value("newsarchive/frontier/reaped_requests") == 2
    assert {a.next_request().url, a.next_request().url} == {"https://news.example/1", "https://news.example/2"}
    a.spider_idle()
    a.engine_stopped()


def test_a_resumed_crawl_id_takes_back_what_it_held(redis_url, tmp_path):
    a, _ = make_scheduler(redis_url, tmp_path, "A")
    a.enqueue_request(Request("https://news.example/1"))
    a.crawler.engine._slot.inprogress.add(a.next_request())
    a.registry.heartbeat._stop.set()  # killed mid-request
    again, _ = make_scheduler(redis_url, tmp_path, "A")  # `--crawl-id A` after the crash
    assert again.stats.get_value("newsarchive/frontier/reaped_requests") == 1
    assert again.next_request().url == "https://news.example/1"
    again.spider_idle()
    again.engine_stopped()


def test_engine_slot_tracks_requests_in_progress():
    """FrontierScheduler settles a claim once its request leaves the engine slot's
    ``inprogress`` (no public signal says "finished"): the e2e probe checks the timing against
    a real crawl, this that the attribute is still what Scrapy keeps."""
    from scrapy.core.engine import _Slot
    from scrapy.utils.reactor import CallLaterOnce

    slot = _Slot(True, CallLaterOnce(lambda: None), None)
    request = Request("https://news.example/")
    slot.add_request(request)
    assert request in slot.inprogress
    slot.remove_request(request)
    assert request not in slot.inprogress


# --- command line ---------------------------------------------------------------------------------


def test_crawl_refuses_a_bad_or_unreachable_frontier(capsys, tmp_path):
    assert cli_main(["crawl", "https://news.example/", "--out", str(tmp_path), "--frontier", "http://x"]) == 2
    assert "redis://" in capsys.readouterr().err
    code = cli_main(["crawl", "https://news.example/", "--out", str(tmp_path),
                     "--frontier", "redis://127.0.0.1:1/0"])
    assert code == 2 and "cannot reach the frontier" in capsys.readouterr().err


def test_status_json(redis_url, capsys):
    client = connect(redis_url)
    make_queue(client, "w").push(Request("https://news.example/"))
    assert cli_main(["status", "--frontier", redis_url, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["queued"] == 1 and out["workers"] == [] and out["url"] == redis_url
    assert cli_main(["status", "--frontier", redis_url]) == 0
    assert "queued 1, in flight 0" in capsys.readouterr().out
