"""The incremental-crawl state: what earlier runs fetched, recorded and still owe.

Scheduled crawls run every 15-60 minutes for months; each run must skip what the archive already
has, ask feeds and sitemaps only "has this changed?", re-check recent articles on a decaying
schedule, and pick up what a killed run left unfinished. This module keeps the facts those
decisions need, behind :class:`CrawlState`:

- **urls**: every article URL ever scheduled and its outcome (``pending`` until a record is
  written or the page is found not to be an article), so known articles are skipped before any
  request is sent and a killed run's unfinished URLs are fetched by the next one;
- **captures**: a log of full ``200`` captures (WARC record id, date, payload digest, validators),
  which conditional requests and WARC ``revisit`` records refer to;
- **documents**: per feed / sitemap / homepage / section front the capture last parsed, the
  discovery documents it led to (replayed when it answers ``304``) and its next poll time;
- **articles**: per record id the latest version (number, text digest, record pointer), its
  capture, and when it is due for its next update check.

:class:`SqliteCrawlState` keeps them in one SQLite file (WAL; decisions committed in batches that
span at most ``NEWSARCHIVE_STATE_COMMIT_INTERVAL``, a second, or 200 decisions), so a ``kill -9``
loses at most the last batch (recovery reads the records among it back), never the file. The URL
and article tables are what several crawler machines would share (issue 9: Redis); the interface
is small so that a shared implementation can replace parts of it. Not thread-safe: the crawl calls it from the
reactor thread only (SQLite enforces that).

A state that cannot be written (a full disk) does not stop the crawl: the failure is logged and
counted (``newsarchive/state/errors``), the decision is lost, and the crawl stays marked as not
accounted for (the **crawls** table), so the next run reads its records back in (recovery) rather
than recording them again.

Times are seconds since the epoch from the state clock, which ``NEWSARCHIVE_STATE_CLOCK`` can move
(tests move days in a second). WARC dates and ``fetched_at`` always stay the real time.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import os
import re
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

STATE_FILE = "crawl-state.sqlite3"
CRAWL_LOCK = "crawl.lock"
SCHEDULE_LOCK = "schedule.lock"
SCHEMA_VERSION = 1

PENDING, RECORDED, REJECTED, FAILED = "pending", "recorded", "rejected", "failed"
FINISHED = frozenset({RECORDED, REJECTED, FAILED})

DEFAULT_UPDATE_SCHEDULE = ("1h", "6h", "24h", "72h")

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


# --- small values ---------------------------------------------------------------------------------


def parse_duration(value: str | float | int | timedelta) -> float:
    """``90s``, ``30m``, ``6h``, ``3d``, ``2w`` or a number of seconds -> seconds."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.fullmatch(str(value))
    if not m:
        raise ValueError(f"not a duration (like 90s, 30m, 6h, 3d): {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_time(value: str | None) -> float | None:
    """An ISO 8601 date or datetime -> epoch seconds (naive means UTC); None when unparsable."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def make_clock(spec: str | None) -> Callable[[], float]:
    """``NEWSARCHIVE_STATE_CLOCK``: empty = real time; an ISO datetime = that fixed time; ``+2h`` /
    ``-30m`` = real time shifted. Only scheduling decisions use it."""
    if not spec:
        return time.time
    spec = str(spec).strip()
    if spec[0] in "+-":
        offset = parse_duration(spec[1:]) * (1 if spec[0] == "+" else -1)
        return lambda: time.time() + offset
    fixed = parse_time(spec)
    if fixed is None:
        raise ValueError(f"NEWSARCHIVE_STATE_CLOCK: expected an ISO datetime or +/-duration, got {spec!r}")
    return lambda: fixed


def next_check(base: float, last: float, schedule: tuple[float, ...]) -> float | None:
    """The first update slot (``base`` + offset) after ``last``; None when all have passed.

    Several missed slots (the crawler was down for a day) are covered by one check.
    """
    for offset in schedule:
        if base + offset > last:
            return base + offset
    return None


@dataclass(frozen=True)
class Capture:
    """A full ``200`` capture in the WARC archive: what revisits and conditional GETs refer to."""

    record_id: str
    url: str
    warc_date: str
    payload_digest: str | None
    etag: str | None = None
    last_modified: str | None = None

    def as_meta(self) -> dict[str, str | None]:
        """The ``newsarchive_previous`` request.meta value (docs/meta.md)."""
        return {"record_id": self.record_id, "uri": self.url, "date": self.warc_date,
                "payload_digest": self.payload_digest, "etag": self.etag,
                "last_modified": self.last_modified}


@dataclass(frozen=True)
class Document:
    url: str
    role: str | None
    record_id: str | None
    children: list[list[Any]]  # [url, role, depth, parse method name]
    next_poll: float | None
    unchanged_polls: int


@dataclass(frozen=True)
class ArticleState:
    id: str
    url: str
    version: int
    text_sha1: str | None
    record_id: str | None  # the capture the latest check found (revisits refer to it)
    record: dict | None  # pointer to the latest version's record: {crawl_id, file, offset, length, ...}
    checks: int
    next_check: float | None


@dataclass(frozen=True)
class PendingUrl:
    url: str
    via: dict | None
    attempts: int


class CrawlState(Protocol):
    """What the crawl asks of its state. Methods are called from the reactor thread."""

    def now(self) -> float: ...

    # frontier: article URLs and their outcome (shared between machines in issue 9)
    def url_status(self, url: str) -> str | None: ...
    def add_pending(self, url: str, via: dict | None) -> None: ...
    def pending(self) -> Iterator[PendingUrl]: ...
    def url_finished(self, url: str, status: str, *, article_id: str | None = None,
                     reason: str | None = None) -> None: ...
    def url_failed(self, url: str, reason: str) -> None: ...

    # captures
    def add_capture(self, capture: Capture) -> None: ...
    def capture(self, record_id: str | None) -> Capture | None: ...

    # discovery documents
    def document(self, url: str) -> Document | None: ...
    def document_polled(self, url: str, *, role: str | None, record_id: str | None,
                        children: list[list[Any]] | None, changed: bool) -> None: ...

    # articles
    def article(self, article_id: str) -> ArticleState | None: ...
    def due_articles(self) -> Iterator[ArticleState]: ...
    def article_recorded(self, record: dict, pointer: dict) -> None: ...
    def article_checked(self, article_id: str, *, record_id: str | None = None,
                        url: str | None = None) -> None: ...

    # crawls whose records the state has fully accounted for
    def begin_crawl(self, crawl_id: str) -> None: ...
    def end_crawl(self, crawl_id: str) -> None: ...
    def unfinished_crawls(self, exclude: str) -> list[str]: ...
    def crawl_reconciled(self, crawl_id: str) -> None: ...

    @property
    def errors(self) -> int: ...

    def commit(self) -> None: ...
    def close(self) -> None: ...


# --- locks ----------------------------------------------------------------------------------------


class LockedError(RuntimeError):
    """Another live process holds the lock (the message says which, when it can)."""


# Locks this process holds, by path: flock conflicts between two descriptors of one process too,
# and the CLI takes the crawl lock before the crawl's own components ask for it.
_HELD: dict[str, list[Any]] = {}


class FileLock:
    """An exclusive ``flock`` on a file: the kernel drops it when its process dies, however it
    dies, so a crashed crawl never blocks the next one. The holder's pid and host are written
    into the file only to make the refusal message useful. Re-entrant within a process."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = str(self.path.resolve())
        held = _HELD.get(key)
        if held is not None:
            held[1] += 1
            self._fd = held[0]
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise LockedError(f"{self.path} is held by {holder}") from None
        with contextlib.suppress(OSError):  # only informative: a full disk must not stop us
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        _HELD[key] = [fd, 1]
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        key = str(self.path.resolve())
        held = _HELD.get(key)
        self._fd = None
        if held is not None:
            held[1] -= 1
            if held[1] > 0:
                return
            del _HELD[key]
            with contextlib.suppress(OSError):
                os.ftruncate(held[0], 0)
            os.close(held[0])  # closing the descriptor drops the flock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


# --- SQLite ---------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS urls (
    url TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    article_id TEXT,
    via TEXT,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    first_seen REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS urls_pending ON urls (status) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS captures (
    record_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    warc_date TEXT NOT NULL,
    payload_digest TEXT,
    etag TEXT,
    last_modified TEXT,
    captured REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    url TEXT PRIMARY KEY,
    role TEXT,
    record_id TEXT,
    children TEXT,
    polled REAL,
    changed REAL,
    unchanged_polls INTEGER NOT NULL DEFAULT 0,
    next_poll REAL
);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    canonical_url TEXT,
    published TEXT,
    base REAL NOT NULL,
    first_fetched REAL NOT NULL,
    last_fetched REAL NOT NULL,
    version INTEGER NOT NULL,
    text_sha1 TEXT,
    record_id TEXT,
    record TEXT,
    checks INTEGER NOT NULL DEFAULT 0,
    next_check REAL
);
CREATE INDEX IF NOT EXISTS articles_due ON articles (next_check) WHERE next_check IS NOT NULL;
CREATE TABLE IF NOT EXISTS crawls (
    crawl_id TEXT PRIMARY KEY,
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL
);
"""

# Lazily committed writes (pending URLs, captures) are flushed at the latest after this many.
_LAZY_LIMIT = 500
# Decisions (an article recorded, a URL finished) are committed in batches: at the latest after
# this many, or NEWSARCHIVE_STATE_COMMIT_INTERVAL seconds after the batch's first one.
_BATCH_LIMIT = 200


def guarded_by(errors: type[Exception] | tuple[type[Exception], ...]):
    """A decorator factory for state methods: the store's own errors (a full disk, a lost Redis)
    are counted and logged by the state's ``_failed`` and the method returns ``default``; the
    crawl goes on, as a state is a help to the crawl, not its archive."""

    def guarded(default: Any = None):
        def decorate(method):
            @functools.wraps(method)
            def wrapper(self, *args, **kwargs):
                try:
                    return method(self, *args, **kwargs)
                except errors as exc:
                    self._failed(method.__name__, exc)
                    return default

            return wrapper

        return decorate

    return guarded


_guarded = guarded_by(sqlite3.Error)


class SqliteCrawlState:
    """:class:`CrawlState` in one SQLite file; see the module docstring for the tables."""

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time,
                 update_schedule: tuple[float, ...] = (), max_attempts: int = 3,
                 poll_interval: float = 0.0, poll_max_interval: float = 0.0,
                 commit_interval: float = 1.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.now = clock
        self.update_schedule = tuple(sorted(update_schedule))
        self.max_attempts = max(1, max_attempts)
        self.poll_interval = poll_interval
        self.poll_max_interval = max(poll_max_interval, poll_interval)
        self._opened_at = self.now()
        self._lazy = 0
        self._errors = 0
        self.commit_interval = commit_interval
        self._commit_due: float | None = None  # when the open batch of decisions is committed
        # timeout: another process (a `newsarchive status`-like reader) may hold a read lock.
        self._db = sqlite3.connect(str(self.path), timeout=30)
        self._db.row_factory = sqlite3.Row
        # The tables first, in one transaction and before WAL: a new state then costs ~60 KB
        # on disk instead of a WAL full of schema pages (a nearly full disk must not stop us).
        self._db.executescript(f"BEGIN;{_SCHEMA}COMMIT;")
        # WAL + NORMAL: a committed transaction survives the process being killed (it is in the
        # WAL file); only a power cut can lose the last few, and never corrupts the database.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            raise RuntimeError(f"{self.path}: state schema {row[0]} is newer than this newsarchive "
                               f"understands ({SCHEMA_VERSION})")
        self._db.commit()

    # -- transactions ------------------------------------------------------------------------------

    @property
    def errors(self) -> int:
        """Database operations that failed (their decisions are lost; see the module docstring)."""
        return self._errors

    def _failed(self, what: str, exc: sqlite3.Error) -> None:
        self._errors += 1
        if self._errors <= 5 or self._errors % 100 == 0:
            logger.error("Crawl state %s: %s failed (%s); error %d", self.path, what, exc, self._errors)
        with contextlib.suppress(sqlite3.Error):
            self._db.rollback()

    @_guarded()
    def commit(self) -> None:
        self._db.commit()
        self._lazy = 0
        self._commit_due = None

    def _lazy_write(self) -> None:
        """Writes that may wait: they are committed with the next decision that refers to them."""
        self._lazy += 1
        if self._lazy >= _LAZY_LIMIT:
            self.commit()

    def _decided(self) -> None:
        """A decision is written: commit the batch it joined once it is old or big enough.

        A commit per page was a fifth of the state's CPU. Batching keeps the kill -9 guarantees:
        a decision is written only after what it registers (a record is flushed to its file
        first), so a committed batch never names a record that is not there; a batch lost
        with the process is what recovery reads back from the dead crawl's records (its crawl
        stays ``running`` until :meth:`end_crawl`), and a lost rejection or failure only means
        that URL is fetched again.
        """
        self._lazy += 1
        now = time.monotonic()
        if self._commit_due is None:
            self._commit_due = now + self.commit_interval
        if self._lazy >= _BATCH_LIMIT or now >= self._commit_due:
            self.commit()

    def close(self) -> None:
        if self._db is None:
            return
        self.prune()
        self.commit()
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        self._db = None  # type: ignore[assignment]

    # -- crawls ------------------------------------------------------------------------------------

    @_guarded()
    def begin_crawl(self, crawl_id: str) -> None:
        self._db.execute("INSERT OR IGNORE INTO crawls (crawl_id, started, status) VALUES (?,?,?)",
                         (crawl_id, self.now(), "running"))
        self._db.commit()

    @_guarded()
    def end_crawl(self, crawl_id: str) -> None:
        """The crawl ended with every decision written: nothing of it to reconcile later."""
        if self._errors:
            return
        self._db.execute("UPDATE crawls SET status='complete', finished=? WHERE crawl_id=?",
                         (self.now(), crawl_id))
        self.commit()

    @_guarded(default=[])
    def unfinished_crawls(self, exclude: str) -> list[str]:
        rows = self._db.execute("SELECT crawl_id FROM crawls WHERE status='running' AND crawl_id!=? "
                                "ORDER BY crawl_id", (exclude,)).fetchall()
        return [r[0] for r in rows]

    @_guarded()
    def crawl_reconciled(self, crawl_id: str) -> None:
        self._db.execute("INSERT INTO crawls (crawl_id, started, finished, status) VALUES (?,?,?,?) "
                         "ON CONFLICT(crawl_id) DO UPDATE SET status=excluded.status, "
                         "finished=excluded.finished", (crawl_id, self.now(), self.now(), "reconciled"))
        self._db.commit()

    @_guarded(default=0)
    def prune(self) -> int:
        """Forget captures from earlier runs that nothing refers to any more."""
        cur = self._db.execute(
            "DELETE FROM captures WHERE captured < ? "
            "AND record_id NOT IN (SELECT record_id FROM articles WHERE record_id IS NOT NULL) "
            "AND record_id NOT IN (SELECT record_id FROM documents WHERE record_id IS NOT NULL)",
            (self._opened_at,),
        )
        return cur.rowcount

    @_guarded(default=[])
    def _rows(self, sql: str, params: tuple) -> list[sqlite3.Row]:
        return self._db.execute(sql, params).fetchall()

    # -- frontier ----------------------------------------------------------------------------------

    @_guarded()
    def url_status(self, url: str) -> str | None:
        row = self._db.execute("SELECT status FROM urls WHERE url=?", (url,)).fetchone()
        return row[0] if row else None

    @_guarded()
    def add_pending(self, url: str, via: dict | None) -> None:
        now = self.now()
        self._db.execute(
            "INSERT OR IGNORE INTO urls (url, status, via, first_seen, updated) VALUES (?,?,?,?,?)",
            (url, PENDING, json.dumps(via) if via else None, now, now),
        )
        self._lazy_write()

    def pending(self) -> Iterator[PendingUrl]:
        """Pending URLs, oldest first, read in pages so the caller may write meanwhile."""
        last = 0
        while True:
            rows = self._rows(
                "SELECT rowid, url, via, attempts FROM urls WHERE status=? AND rowid>? "
                "ORDER BY rowid LIMIT 1000", (PENDING, last))
            if not rows:
                return
            for row in rows:
                yield PendingUrl(row["url"], json.loads(row["via"]) if row["via"] else None,
                                 row["attempts"])
            last = rows[-1]["rowid"]

    @_guarded()
    def url_finished(self, url: str, status: str, *, article_id: str | None = None,
                     reason: str | None = None) -> None:
        if status not in FINISHED:
            raise ValueError(f"not a final URL status: {status!r}")
        now = self.now()
        self._db.execute(
            "INSERT INTO urls (url, status, article_id, reason, first_seen, updated) "
            "VALUES (?,?,?,?,?,?) ON CONFLICT(url) DO UPDATE SET status=excluded.status, "
            "article_id=coalesce(excluded.article_id, urls.article_id), reason=excluded.reason, "
            "via=NULL, updated=excluded.updated",
            (url, status, article_id, reason, now, now),
        )
        self._decided()

    @_guarded()
    def url_failed(self, url: str, reason: str) -> None:
        """A transient failure: the URL stays pending until it has failed ``max_attempts`` times."""
        now = self.now()
        self._db.execute(
            "INSERT INTO urls (url, status, reason, attempts, first_seen, updated) "
            "VALUES (?,?,?,1,?,?) ON CONFLICT(url) DO UPDATE SET attempts=urls.attempts+1, "
            "reason=excluded.reason, updated=excluded.updated WHERE urls.status=?",
            (url, PENDING, reason, now, now, PENDING),
        )
        self._db.execute("UPDATE urls SET status=?, via=NULL WHERE url=? AND status=? AND attempts>=?",
                         (FAILED, url, PENDING, self.max_attempts))
        self._decided()

    # -- captures ----------------------------------------------------------------------------------

    @_guarded()
    def add_capture(self, capture: Capture) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO captures VALUES (?,?,?,?,?,?,?)",
            (capture.record_id, capture.url, capture.warc_date, capture.payload_digest,
             capture.etag, capture.last_modified, self.now()),
        )
        self._lazy_write()

    @_guarded()
    def capture(self, record_id: str | None) -> Capture | None:
        if not record_id:
            return None
        row = self._db.execute(
            "SELECT record_id, url, warc_date, payload_digest, etag, last_modified FROM captures "
            "WHERE record_id=?", (record_id,)).fetchone()
        return Capture(*row) if row else None

    # -- documents ---------------------------------------------------------------------------------

    @_guarded()
    def document(self, url: str) -> Document | None:
        row = self._db.execute("SELECT * FROM documents WHERE url=?", (url,)).fetchone()
        if row is None:
            return None
        return Document(row["url"], row["role"], row["record_id"],
                        json.loads(row["children"]) if row["children"] else [],
                        row["next_poll"], row["unchanged_polls"])

    @_guarded()
    def document_polled(self, url: str, *, role: str | None, record_id: str | None,
                        children: list[list[Any]] | None, changed: bool) -> None:
        """A document was fetched and handled: keep what a ``304`` next time needs, and when
        to poll it next (an unchanged document is polled less often, up to the maximum)."""
        now = self.now()
        old = self.document(url)
        streak = 0 if changed or old is None else old.unchanged_polls + 1
        interval = min(self.poll_interval * (2 ** min(streak, 30)), self.poll_max_interval)
        self._db.execute(
            "INSERT INTO documents (url, role, record_id, children, polled, changed, unchanged_polls, next_poll) "
            "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(url) DO UPDATE SET "
            "role=coalesce(excluded.role, documents.role), "
            "record_id=coalesce(excluded.record_id, documents.record_id), "
            "children=coalesce(excluded.children, documents.children), polled=excluded.polled, "
            "changed=coalesce(excluded.changed, documents.changed), "
            "unchanged_polls=excluded.unchanged_polls, next_poll=excluded.next_poll",
            (url, role, record_id, None if children is None else json.dumps(children), now,
             now if changed else None, streak, now + interval if interval > 0 else None),
        )
        self._decided()

    # -- articles ----------------------------------------------------------------------------------

    @staticmethod
    def _article(row: sqlite3.Row) -> ArticleState:
        return ArticleState(row["id"], row["url"], row["version"], row["text_sha1"],
                            row["record_id"], json.loads(row["record"]) if row["record"] else None,
                            row["checks"], row["next_check"])

    @_guarded()
    def article(self, article_id: str) -> ArticleState | None:
        row = self._db.execute("SELECT * FROM articles WHERE id=?", (article_id,)).fetchone()
        return self._article(row) if row else None

    def due_articles(self) -> Iterator[ArticleState]:
        """Articles whose next update check is due, most overdue first (read in pages)."""
        now, after = self.now(), (float("-inf"), "")
        while True:
            # Keyset pages over (next_check, id): stable while the caller updates what it read.
            rows = self._rows(
                "SELECT * FROM articles WHERE next_check IS NOT NULL AND next_check<=? "
                "AND (next_check, id) > (?, ?) ORDER BY next_check, id LIMIT 1000", (now, *after))
            if not rows:
                return
            yield from (self._article(r) for r in rows)
            after = (rows[-1]["next_check"], rows[-1]["id"])

    @_guarded()
    def article_recorded(self, record: dict, pointer: dict) -> None:
        """A record version was written: the article, its URLs and its schedule move on together."""
        now = self.now()
        article_id = record["id"]
        version = int(record.get("version") or 1)
        capture_id = (record.get("warc") or {}).get("record_id")
        published = record.get("published") or (record.get("discovered_via") or {}).get("published")
        old = self.article(article_id)
        if old is not None and old.version >= version:
            # Seen already (recovery reconciling a record the state had): only the URLs below.
            pass
        elif old is None:
            base = parse_time(published) or now
            self._db.execute(
                "INSERT INTO articles (id, url, canonical_url, published, base, first_fetched, "
                "last_fetched, version, text_sha1, record_id, record, checks, next_check) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,0,?)",
                (article_id, record.get("final_url") or record["url"], record.get("canonical_url"),
                 published, base, now, now, version, record.get("text_sha1"), capture_id,
                 json.dumps(pointer), next_check(base, now, self.update_schedule)),
            )
        else:
            self._checked(article_id, now, version=version, text_sha1=record.get("text_sha1"),
                          record_id=capture_id, record=pointer)
        for url in self._record_urls(record):
            self._db.execute(
                "INSERT INTO urls (url, status, article_id, first_seen, updated) VALUES (?,?,?,?,?) "
                "ON CONFLICT(url) DO UPDATE SET status=excluded.status, article_id=excluded.article_id, "
                "via=NULL, reason=NULL, updated=excluded.updated",
                (url, RECORDED, article_id, now, now),
            )
        self._decided()

    @_guarded()
    def article_checked(self, article_id: str, *, record_id: str | None = None,
                        url: str | None = None) -> None:
        """An update check found nothing new to record (same payload, ``304`` or same text)."""
        now = self.now()
        self._checked(article_id, now, record_id=record_id)
        if url:
            self._db.execute(
                "INSERT INTO urls (url, status, article_id, first_seen, updated) VALUES (?,?,?,?,?) "
                "ON CONFLICT(url) DO UPDATE SET status=excluded.status, article_id=excluded.article_id, "
                "via=NULL, updated=excluded.updated", (url, RECORDED, article_id, now, now))
        self._decided()

    def _checked(self, article_id: str, now: float, *, version: int | None = None,
                 text_sha1: str | None = None, record_id: str | None = None,
                 record: dict | None = None) -> None:
        row = self._db.execute("SELECT base, checks, next_check FROM articles WHERE id=?",
                               (article_id,)).fetchone()
        if row is None:
            return
        # A check before the slot that was due (a new URL alias, say) does not use the slot up.
        used = row["next_check"] is not None and row["next_check"] <= now
        self._db.execute(
            "UPDATE articles SET last_fetched=?, checks=checks+?, next_check=?, "
            "version=coalesce(?, version), text_sha1=coalesce(?, text_sha1), "
            "record_id=coalesce(?, record_id), record=coalesce(?, record) WHERE id=?",
            (now, 1 if used else 0, next_check(row["base"], now, self.update_schedule), version,
             text_sha1, record_id, json.dumps(record) if record else None, article_id),
        )

    @staticmethod
    def _record_urls(record: dict) -> set[str]:
        from crawler.urlpolicy import canonicalize

        # Usually one URL: canonicalised once, not twice.
        return {canonicalize(u) for u in {record.get("url"), record.get("final_url")} if u}


# --- wiring into a crawl ---------------------------------------------------------------------------


def state_dir(settings: BaseSettings) -> Path:
    """``NEWSARCHIVE_STATE_DIR``, else ``<out>/state``; for an ``s3://`` archive a local folder
    under ``$XDG_STATE_HOME/newsarchive/`` named after the bucket and prefix."""
    configured = settings.get("NEWSARCHIVE_STATE_DIR")
    if configured:
        return Path(configured).expanduser()
    out = str(settings.get("NEWSARCHIVE_OUT") or "./archive")
    if "://" in out:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", out.split("://", 1)[1].strip("/")) or "archive"
        return base / "newsarchive" / name
    return Path(out) / "state"


def update_schedule(settings: BaseSettings) -> tuple[float, ...]:
    if not settings.getbool("NEWSARCHIVE_UPDATES_ENABLED", True):
        return ()
    value = settings.get("NEWSARCHIVE_UPDATES_SCHEDULE", DEFAULT_UPDATE_SCHEDULE)
    items = re.split(r"[\s,]+", value) if isinstance(value, str) else list(value)
    return tuple(parse_duration(v) for v in items if str(v).strip())


def open_state(settings: BaseSettings) -> CrawlState:
    """The crawl state: SQLite under the archive by default, Redis when the crawl shares a
    frontier (several processes must see one another's articles and poll times)."""
    if settings.get("NEWSARCHIVE_FRONTIER_URL"):
        from crawler.frontier_state import open_frontier_state

        return open_frontier_state(settings)
    directory = state_dir(settings)
    return SqliteCrawlState(
        directory / STATE_FILE,
        clock=make_clock(settings.get("NEWSARCHIVE_STATE_CLOCK")),
        update_schedule=update_schedule(settings),
        max_attempts=settings.getint("NEWSARCHIVE_STATE_MAX_ATTEMPTS", 3),
        poll_interval=parse_duration(settings.get("NEWSARCHIVE_STATE_POLL_INTERVAL") or 0),
        poll_max_interval=parse_duration(settings.get("NEWSARCHIVE_STATE_POLL_MAX_INTERVAL") or 0),
        commit_interval=settings.getfloat("NEWSARCHIVE_STATE_COMMIT_INTERVAL", 1.0),
    )


def crawl_lock_for(settings: BaseSettings) -> FileLock:
    """The archive's crawl lock (not yet taken). A front end (the CLI) takes it before starting
    Scrapy to refuse a second crawl with one clear line; the crawl's components then share it."""
    return FileLock(state_dir(settings) / CRAWL_LOCK)


def crawl_lock(crawler: Crawler) -> FileLock:
    """The per-archive crawl lock, taken once per crawler (state and recovery both need it) and
    released when the engine stops. Raises :class:`LockedError` when another crawl holds it."""
    lock = getattr(crawler, "_newsarchive_crawl_lock", None)
    if lock is None:
        from scrapy import signals

        lock = crawl_lock_for(crawler.settings).acquire()
        crawler._newsarchive_crawl_lock = lock
        crawler.signals.connect(lock.release, signal=signals.engine_stopped, weak=False)
    return lock


def state_from_crawler(crawler: Crawler) -> CrawlState | None:
    """The crawl's state, opened once per crawler and closed when the engine stops; None when
    ``NEWSARCHIVE_STATE_ENABLED`` is off (the default outside the newsarchive project settings).

    Raises :class:`LockedError` when another live crawl uses the same state.
    """
    if not crawler.settings.getbool("NEWSARCHIVE_STATE_ENABLED", False):
        return None
    if getattr(crawler, "_newsarchive_state_error", None):
        return None
    state = getattr(crawler, "_newsarchive_state", None)
    if state is None:
        from scrapy import signals

        crawl_lock(crawler)
        # One more hold on the (re-entrant) lock, dropped only once the state is closed: the
        # next crawl must not open the state while this one still writes to it.
        hold = crawl_lock_for(crawler.settings).acquire()
        try:
            state = open_state(crawler.settings)
        except sqlite3.Error as exc:
            # Crawling on without it would record every known article again: the spider stops
            # the crawl instead (state_error), with this reason in the log.
            hold.release()
            crawler._newsarchive_state_error = f"{state_dir(crawler.settings) / STATE_FILE}: {exc}"
            logger.error("Cannot open the crawl state %s", crawler._newsarchive_state_error)
            return None
        crawler._newsarchive_state = state

        from pipelines.session import ArchiveSession

        crawl_id = ArchiveSession.from_crawler(crawler).crawl_id
        state.begin_crawl(crawl_id)

        def close() -> None:
            try:
                state.end_crawl(crawl_id)
                state.close()
                if state.errors and crawler.stats is not None:
                    crawler.stats.set_value("newsarchive/state/errors", state.errors)
            finally:
                hold.release()

        crawler.signals.connect(close, signal=signals.engine_stopped, weak=False)
    return state


def format_time(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


__all__ = [
    "FAILED", "PENDING", "RECORDED", "REJECTED", "ArticleState", "Capture", "CrawlState", "Document",
    "FileLock", "LockedError", "PendingUrl", "SqliteCrawlState", "crawl_lock", "crawl_lock_for",
    "format_time",
    "make_clock", "next_check", "open_state", "parse_duration", "parse_time", "state_dir",
    "state_from_crawler", "update_schedule",
]
