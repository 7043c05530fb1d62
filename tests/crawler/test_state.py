"""The crawl state: durations and clocks, the SQLite tables' decisions, crash safety, locks."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone

import pytest

from crawler.state import (
    FAILED,
    PENDING,
    RECORDED,
    REJECTED,
    Capture,
    FileLock,
    LockedError,
    SqliteCrawlState,
    make_clock,
    next_check,
    parse_duration,
    parse_time,
    state_dir,
    update_schedule,
)

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
            "published": published, "text_sha1": text, "version": version,
            "warc": {"record_id": capture}}


def pointer(offset: int = 0) -> dict:
    return {"crawl_id": "c", "file": "articles/c/articles-00000.jsonl.gz", "offset": offset, "length": 10}


@pytest.fixture
def clock():
    return Clock(P + 0.5 * H)


@pytest.fixture
def state(tmp_path, clock):
    s = SqliteCrawlState(tmp_path / "state" / "s.sqlite3", clock=clock, update_schedule=SCHEDULE,
                         max_attempts=2)
    yield s
    s.close()


# --- values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("1.5h", 5400), ("3d", 259200),
                                               ("2w", 1209600), ("45", 45), (30, 30), ("250ms", 0.25)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "soon", "5 years", "-3m"])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_clock_fixed_shifted_and_real():
    assert make_clock("2026-11-29T12:00:00Z")() == P
    assert abs(make_clock("+2h")() - (time.time() + 2 * H)) < 5
    assert abs(make_clock("-30m")() - (time.time() - 1800)) < 5
    assert abs(make_clock(None)() - time.time()) < 5
    with pytest.raises(ValueError):
        make_clock("yesterday")


def test_parse_time_naive_is_utc_and_bad_is_none():
    assert parse_time("2026-11-29T12:00:00") == P
    assert parse_time("2026-11-29T13:00:00+01:00") == P
    assert parse_time("2026-11-29") == datetime(2026, 11, 29, tzinfo=timezone.utc).timestamp()
    assert parse_time("last tuesday") is None and parse_time(None) is None


def test_next_check_takes_the_first_slot_after_the_last_fetch():
    assert next_check(P, P + 0.5 * H, SCHEDULE) == P + 1 * H
    assert next_check(P, P + 1 * H, SCHEDULE) == P + 6 * H  # a slot is strictly after
    assert next_check(P, P + 30 * H, SCHEDULE) == P + 72 * H  # missed slots: one check
    assert next_check(P, P + 80 * H, SCHEDULE) is None  # then never
    assert next_check(P, P, ()) is None


def test_settings_helpers(tmp_path):
    from scrapy.settings import Settings

    s = Settings({"NEWSARCHIVE_OUT": str(tmp_path / "a")})
    assert state_dir(s) == tmp_path / "a" / "state"
    s3 = Settings({"NEWSARCHIVE_OUT": "s3://bucket/some/prefix"})
    assert state_dir(s3).parts[-2:] == ("newsarchive", "bucket_some_prefix")
    assert state_dir(Settings({"NEWSARCHIVE_STATE_DIR": str(tmp_path / "x")})) == tmp_path / "x"
    assert update_schedule(Settings({"NEWSARCHIVE_UPDATES_SCHEDULE": "6h, 1h"})) == (6 * H, H)
    assert update_schedule(Settings({"NEWSARCHIVE_UPDATES_SCHEDULE": ["2h"]})) == (2 * H,)
    assert update_schedule(Settings({"NEWSARCHIVE_UPDATES_ENABLED": False})) == ()


# --- frontier -------------------------------------------------------------------------------------


def test_pending_urls_come_back_until_finished(state):
    state.add_pending("https://news.example/a.html", {"kind": "feed", "source": "f"})
    state.add_pending("https://news.example/b.html", None)
    state.add_pending("https://news.example/a.html", {"kind": "other"})  # no change: first wins
    pending = list(state.pending())
    assert [(p.url, p.via) for p in pending] == [
        ("https://news.example/a.html", {"kind": "feed", "source": "f"}), ("https://news.example/b.html", None)]
    state.url_finished("https://news.example/a.html", REJECTED, reason="paywall")
    assert [p.url for p in state.pending()] == ["https://news.example/b.html"]
    assert state.url_status("https://news.example/a.html") == REJECTED
    assert state.url_status("https://news.example/nope.html") is None
    with pytest.raises(ValueError):
        state.url_finished("https://news.example/b.html", PENDING)


def test_transient_failures_are_retried_then_given_up(state):
    url = "https://news.example/flaky.html"
    state.add_pending(url, None)
    state.url_failed(url, "http_503")
    assert state.url_status(url) == PENDING and next(state.pending()).attempts == 1
    state.url_failed(url, "http_503")
    assert state.url_status(url) == FAILED and not list(state.pending())
    state.url_failed(url, "http_503")  # no resurrection
    assert state.url_status(url) == FAILED


def test_a_failure_never_downgrades_a_recorded_url(state):
    state.article_recorded(record(1), pointer())
    url = "https://news.example/a1.html"
    state.url_failed(url, "download_error/TimeoutError")
    assert state.url_status(url) == RECORDED


def test_pending_can_be_read_while_writing(state):
    for i in range(2500):
        state.add_pending(f"https://news.example/{i}.html", None)
    seen = 0
    for p in state.pending():
        state.url_finished(p.url, RECORDED)
        seen += 1
    assert seen == 2500 and not list(state.pending())


# --- articles -------------------------------------------------------------------------------------


def test_recorded_article_and_its_urls(state):
    state.article_recorded(record(1), pointer(0))
    a = state.article("1".zfill(40))
    assert (a.version, a.text_sha1, a.record_id, a.checks) == (1, "t1", "<urn:uuid:c1>", 0)
    assert a.record == pointer(0)
    assert a.next_check == P + 1 * H
    assert a.url == "https://news.example/a1.html"
    # The requested URL (campaign parameters canonicalized away) and the final URL are known.
    assert state.url_status("https://news.example/a1.html") == RECORDED


def test_update_checks_follow_the_decaying_schedule(state, clock):
    state.article_recorded(record(1), pointer())
    assert list(state.due_articles()) == []
    clock.t = P + 2 * H
    [due] = state.due_articles()
    state.article_checked(due.id, record_id="<urn:uuid:c2>")
    a = state.article(due.id)
    assert (a.checks, a.next_check, a.record_id) == (1, P + 6 * H, "<urn:uuid:c2>")
    clock.t = P + 100 * H  # the crawler was down for days: one check covers the missed slots
    [due] = state.due_articles()
    state.article_checked(due.id)
    assert state.article(due.id).next_check is None
    assert list(state.due_articles()) == []


def test_a_check_before_its_slot_does_not_use_the_slot_up(state, clock):
    state.article_recorded(record(1), pointer())
    clock.t = P + 0.75 * H  # a new URL of the same article, before the +1h slot
    state.article_checked("1".zfill(40), url="https://news.example/amp/a1.html")
    a = state.article("1".zfill(40))
    assert a.checks == 0 and a.next_check == P + 1 * H
    assert state.url_status("https://news.example/amp/a1.html") == RECORDED


def test_new_version_moves_the_article_on(state, clock):
    state.article_recorded(record(1), pointer(0))
    clock.t = P + 1.5 * H
    state.article_recorded(record(1, version=2, text="t2", capture="<urn:uuid:c2>"), pointer(99))
    a = state.article("1".zfill(40))
    assert (a.version, a.text_sha1, a.record_id, a.record["offset"], a.checks) == (2, "t2", "<urn:uuid:c2>", 99, 1)
    assert a.next_check == P + 6 * H


def test_reconciling_a_known_version_changes_nothing(state, clock):
    state.article_recorded(record(1, version=2, text="t2"), pointer(5))
    clock.t = P + 10 * H
    state.article_recorded(record(1, version=1, text="t1"), pointer(0))  # recovery reading v1 again
    state.article_recorded(record(1, version=2, text="t2"), pointer(5))
    a = state.article("1".zfill(40))
    assert (a.version, a.text_sha1, a.record["offset"], a.checks) == (2, "t2", 5, 0)


def test_article_without_a_date_is_scheduled_from_its_first_fetch(state, clock):
    state.article_recorded(record(2, published=None), pointer())
    assert state.article("2".zfill(40)).next_check == clock.t + 1 * H
    state.article_recorded(record(3, published="2019-01-01"), pointer())
    assert state.article("3".zfill(40)).next_check is None  # old news is not re-checked


def test_no_schedule_no_checks(tmp_path):
    s = SqliteCrawlState(tmp_path / "s.sqlite3", clock=Clock(P), update_schedule=())
    s.article_recorded(record(1), pointer())
    assert s.article("1".zfill(40)).next_check is None
    s.close()


# --- captures and documents -----------------------------------------------------------------------


def test_captures_and_their_pruning(tmp_path, clock):
    path = tmp_path / "s.sqlite3"
    s = SqliteCrawlState(path, clock=clock, update_schedule=SCHEDULE)
    for n in (1, 2, 3):
        s.add_capture(Capture(f"<urn:uuid:c{n}>", f"https://news.example/{n}", "2026-11-29T12:30:00.000001Z",
                              f"sha1:{n}", etag=f'"e{n}"', last_modified=None))
    s.article_recorded(record(1, capture="<urn:uuid:c1>"), pointer())
    s.document_polled("https://news.example/feed", role="discovery", record_id="<urn:uuid:c2>",
                      children=[], changed=True)
    assert s.capture("<urn:uuid:c3>").etag == '"e3"' and s.capture(None) is None
    s.close()
    clock.t += H  # the next run: unreferenced captures of earlier runs go
    s = SqliteCrawlState(path, clock=clock, update_schedule=SCHEDULE)
    s.close()
    s = SqliteCrawlState(path, clock=clock, update_schedule=SCHEDULE)
    assert s.capture("<urn:uuid:c1>") and s.capture("<urn:uuid:c2>") and s.capture("<urn:uuid:c3>") is None
    assert s.capture("<urn:uuid:c1>").as_meta()["payload_digest"] == "sha1:1"
    s.close()


def test_documents_keep_children_and_back_off_when_unchanged(tmp_path, clock):
    s = SqliteCrawlState(tmp_path / "s.sqlite3", clock=clock, poll_interval=600, poll_max_interval=3000)
    url = "https://news.example/feed.xml"
    children = [["https://news.example/s1.xml", "discovery", 0, "parse_discovery"]]
    s.document_polled(url, role="discovery", record_id="<r1>", children=children, changed=True)
    d = s.document(url)
    assert (d.record_id, d.children, d.next_poll, d.unchanged_polls) == ("<r1>", children, clock.t + 600, 0)
    for expected in (1200, 2400, 3000, 3000):  # doubling, up to the maximum
        s.document_polled(url, role=None, record_id=None, children=None, changed=False)
        d = s.document(url)
        assert d.next_poll == clock.t + expected and d.children == children and d.record_id == "<r1>"
    s.document_polled(url, role=None, record_id="<r2>", children=[], changed=True)
    d = s.document(url)
    assert (d.record_id, d.children, d.next_poll, d.role) == ("<r2>", [], clock.t + 600, "discovery")
    s.close()


def test_default_polling_is_every_run(state):
    state.document_polled("https://news.example/", role="homepage", record_id=None, children=[], changed=False)
    assert state.document("https://news.example/").next_poll is None


# --- crash safety ---------------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys, time
    from crawler.state import SqliteCrawlState
    s = SqliteCrawlState(sys.argv[1], update_schedule=(3600.0,))
    i = 0
    while True:
        rec = {"id": f"{i:040x}", "url": f"https://news.example/{i}.html", "text_sha1": "x",
               "version": 1, "warc": {"record_id": f"<r{i}>"}}
        s.add_pending(f"https://news.example/p{i}.html", None)
        s.article_recorded(rec, {"crawl_id": "c", "file": "f", "offset": i, "length": 1})
        if i == 50:
            print("READY", flush=True)
        i += 1
""")


def test_kill_9_while_writing_leaves_a_sound_database(tmp_path):
    path = tmp_path / "s.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                            text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    try:
        assert proc.stdout.readline().strip() == "READY"
        time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    recorded = db.execute("SELECT count(*) FROM urls WHERE status='recorded'").fetchone()[0]
    db.close()
    assert articles > 50
    assert recorded == articles  # an article and its URL are one transaction
    s = SqliteCrawlState(path)  # and it opens for the next run
    assert s.article(f"{0:040x}").version == 1
    s.close()


# --- locks ----------------------------------------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys, time
    from crawler.state import FileLock
    FileLock(sys.argv[1]).acquire()
    print("HELD", flush=True)
    time.sleep(600)
""")


def test_lock_refuses_a_second_process_and_dies_with_its_holder(tmp_path):
    path = tmp_path / "state" / "crawl.lock"
    repo = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE,
                              text=True, cwd=repo)
    try:
        assert holder.stdout.readline().strip() == "HELD"
        with pytest.raises(LockedError, match=f"pid {holder.pid} on "):
            FileLock(path).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with FileLock(path) as lock:  # the kernel dropped the dead holder's lock
        assert lock.held


def test_lock_is_reentrant_within_a_process(tmp_path):
    path = tmp_path / "l.lock"
    outer = FileLock(path).acquire()
    inner = FileLock(path).acquire()
    inner.release()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    probe = [sys.executable, "-c", "import sys; from crawler.state import FileLock, LockedError\n"
             "try:\n FileLock(sys.argv[1]).acquire()\nexcept LockedError:\n sys.exit(3)", str(path)]
    assert subprocess.run(probe, cwd=repo).returncode == 3  # still held by `outer`
    outer.release()
    assert subprocess.run(probe, cwd=repo).returncode == 0


# --- a state that cannot be written ---------------------------------------------------------------


def test_write_failures_are_counted_not_raised_and_the_crawl_stays_unaccounted(state):
    state.begin_crawl("c1")
    state._db.execute("PRAGMA query_only=ON")  # every write now fails, as on a full disk
    state.article_recorded(record(1), pointer())
    state.add_pending("https://news.example/p.html", None)
    state.url_finished("https://news.example/p.html", REJECTED)
    state.commit()
    assert state.errors >= 3
    state.end_crawl("c1")  # with errors: not marked complete
    state._db.execute("PRAGMA query_only=OFF")
    assert state.article(record(1)["id"]) is None
    assert state.unfinished_crawls(exclude="c2") == ["c1"]
    state.crawl_reconciled("c1")
    assert state.unfinished_crawls(exclude="c2") == []


def test_a_clean_crawl_is_marked_complete(state):
    state.begin_crawl("c1")
    state.article_recorded(record(1), pointer())
    state.end_crawl("c1")
    assert state.unfinished_crawls(exclude="c2") == [] and state.errors == 0
    state.begin_crawl("c2")  # the current crawl is never "unfinished" to itself
    assert state.unfinished_crawls(exclude="c2") == []
    assert state.unfinished_crawls(exclude="c3") == ["c2"]


def test_due_articles_most_overdue_first_across_pages(state, clock):
    for n in range(2300):  # more than one page
        rec = record(n, published=None)
        clock.t = P + n  # published (first fetched) one second apart: due one second apart
        state.article_recorded(rec, pointer())
    clock.t = P + 10 * H
    due = []
    for a in state.due_articles():
        due.append(a.next_check)
        state.article_checked(a.id)  # updating while reading must not skip or repeat any
    assert len(due) == 2300 and due == sorted(due)
    assert list(state.due_articles()) == []
