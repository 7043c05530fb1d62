"""``python -m tests.e2e.frontier_worker crawl ...``: the ``newsarchive`` CLI, with the crawl state
of a ``--frontier`` crawl in Redis (``crawler.frontier_state``) as every worker must share it.

A shim until ``crawler.state.open_state`` opens the Redis state itself when
``NEWSARCHIVE_FRONTIER_URL`` is set (requested in issue 9's report; test_redis_frontier.py's
``test_crawl_state_follows_the_frontier`` fails until it does). It wraps ``open_state`` exactly
as that change would, so the end-to-end tests check the combination the change will produce.
"""

from __future__ import annotations

import sys

import crawler.state as state
from crawler.frontier_state import open_frontier_state

_open_state = state.open_state


def open_state(settings):
    if settings.get("NEWSARCHIVE_FRONTIER_URL"):
        return open_frontier_state(settings)
    return _open_state(settings)


state.open_state = open_state

if __name__ == "__main__":
    from archive.cli import main

    sys.exit(main(sys.argv[1:]))
