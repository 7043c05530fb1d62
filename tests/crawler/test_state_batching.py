"""State decisions are committed in batches: by age, by count, at close; one transaction each."""

from __future__ import annotations

import sqlite3
import types

import pytest

import crawler.state as state_module
from crawler.state import REJECTED, SqliteCrawlState, open_state
from tests.crawler.test_state import pointer, record


class Monotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def monotonic(monkeypatch) -> Monotonic:
    fake = Monotonic()
    # Only crawler.state's view of the time module: the batch clock, nothing else.
    monkeypatch.setattr(state_module, "time", types.SimpleNamespace(time=state_module.time.time,
                                                                    monotonic=fake))
    return fake


def committed_articles(path) -> int:
    """What another process sees (and what survives a kill -9)."""
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT count(*) FROM articles").fetchone()[0]
    finally:
        db.close()


def test_a_batch_is_committed_once_it_is_older_than_the_interval(tmp_path, monotonic):
    path = tmp_path / "s.sqlite3"
    s = SqliteCrawlState(path, commit_interval=1.0)
    s.article_recorded(record(1), pointer())
    monotonic.t += 0.5
    s.article_recorded(record(2), pointer(10))
    assert committed_articles(path) == 0
    assert s.article(record(2)["id"]) is not None  # the crawl itself sees its own decisions
    monotonic.t += 0.5
    s.url_finished("https://news.example/x.html", REJECTED)  # one second after the first
    assert committed_articles(path) == 2
    s.article_recorded(record(3), pointer(20))  # a new batch starts its own second
    assert committed_articles(path) == 2
    s.close()
    assert committed_articles(path) == 3


def test_a_batch_is_committed_at_200_decisions_however_fast(tmp_path, monotonic):
    path = tmp_path / "s.sqlite3"
    s = SqliteCrawlState(path, commit_interval=3600.0)
    for n in range(199):
        s.article_recorded(record(n), pointer(n))
    assert committed_articles(path) == 0
    s.article_recorded(record(199), pointer(199))
    assert committed_articles(path) == 200
    s.close()


def test_interval_zero_commits_every_decision(tmp_path, monotonic):
    path = tmp_path / "s.sqlite3"
    s = SqliteCrawlState(path, commit_interval=0)
    s.article_recorded(record(1), pointer())
    assert committed_articles(path) == 1
    s.close()


def test_an_article_and_its_urls_are_committed_together(tmp_path, monotonic):
    path = tmp_path / "s.sqlite3"
    s = SqliteCrawlState(path, commit_interval=3600.0)
    s.article_recorded(record(1), pointer())
    s.commit()
    db = sqlite3.connect(path)
    urls = dict(db.execute("SELECT url, status FROM urls"))
    db.close()
    assert urls == {"https://news.example/a1.html": "recorded"}
    s.close()


def test_the_setting_reaches_the_state(tmp_path):
    from scrapy.settings import Settings

    s = open_state(Settings({"NEWSARCHIVE_OUT": str(tmp_path), "NEWSARCHIVE_STATE_COMMIT_INTERVAL": 0.25}))
    try:
        assert s.commit_interval == 0.25
    finally:
        s.close()
