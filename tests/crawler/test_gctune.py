"""The crawl process's collector: start-up heap frozen and threshold raised while the engine runs."""

from __future__ import annotations

import gc

import pytest
from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from crawler.gctune import GcTuningExtension


@pytest.fixture
def collector():
    """Whatever a test does, the pytest process gets its collector back."""
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    yield
    gc.set_threshold(*threshold)
    if gc.get_freeze_count() and not frozen:
        gc.unfreeze()


def test_frozen_and_raised_while_the_engine_runs_then_restored(collector):
    before = gc.get_threshold()
    crawler = get_crawler(settings_dict={"NEWSARCHIVE_GC_THRESHOLD": 12345})
    ext = GcTuningExtension.from_crawler(crawler)  # (signals hold receivers weakly)
    crawler.signals.send_catch_log(signals.engine_started)
    assert gc.get_threshold() == (12345, *before[1:])
    assert gc.get_freeze_count() > 0
    crawler.signals.send_catch_log(signals.engine_stopped)
    assert ext._saved is None
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_objects_made_while_crawling_are_still_collected(collector):
    ext = GcTuningExtension(10000)
    ext.engine_started()
    try:
        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: only the collector frees it
        ref = __import__("weakref").ref(a)
        del a, b
        gc.collect()
        assert ref() is None
    finally:
        ext.engine_stopped()


def test_someone_elses_frozen_objects_stay_frozen(collector):
    gc.freeze()
    frozen = gc.get_freeze_count()
    ext = GcTuningExtension(10000)
    ext.engine_started()
    ext.engine_stopped()
    assert gc.get_freeze_count() >= frozen


def test_switched_off_and_bad_threshold():
    with pytest.raises(NotConfigured):
        GcTuningExtension.from_crawler(get_crawler(settings_dict={"NEWSARCHIVE_GC_ENABLED": False}))
    with pytest.raises(ValueError, match="positive"):
        GcTuningExtension(0)
