"""``newsarchive schedule --every INTERVAL [--jitter J] [--runs N] SEED... [crawl options]``.

Runs ``newsarchive crawl`` again and again, each run in its own process (a Twisted reactor cannot
be restarted), so each run gets its own crawl id, WARC folder and manifest, and the crawl state
makes every run after the first incremental. Runs start ``--every`` apart plus a random jitter (so
many archives scheduled alike do not hit a site in step); a run that overruns the interval is
followed by the next one straight away, never by two at once.

One scheduler per archive: it holds ``<state>/schedule.lock`` (an ``flock``, which the kernel drops
when the process dies, however it dies). SIGTERM or SIGINT stops the loop after the current run;
a second one asks the current run to stop too (Scrapy's graceful shutdown), then exits.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

from archive.cli import UsageError
from archive.cli.crawl import add_crawl_options, overrides_from


def parse_jitter(value: str, every: float) -> float:
    """``10%`` of the interval, or a duration (``5m``)."""
    from crawler.state import parse_duration

    value = value.strip()
    if value.endswith("%"):
        return every * float(value[:-1]) / 100
    return parse_duration(value)


def register(sub) -> None:
    p = sub.add_parser(
        "schedule", help="run crawl on a schedule, incrementally",
        description="Run `newsarchive crawl` every INTERVAL (plus jitter), one run at a time; each "
                    "run fetches only what is new or due for an update check. Stops after the "
                    "current run on SIGTERM / SIGINT.")
    p.add_argument("--every", required=True, metavar="INTERVAL",
                   help="time between the starts of two runs: 90s, 15m, 1h, ...")
    p.add_argument("--jitter", default="10%", metavar="J",
                   help="random extra wait before each next run: a share of INTERVAL (10%%, the "
                        "default) or a duration (2m); 0 for none")
    p.add_argument("--runs", type=int, default=0, metavar="N", help="stop after N runs (default: never)")
    add_crawl_options(p)
    p.set_defaults(func=run)


def crawl_command(args) -> list[str]:
    """The ``newsarchive crawl`` command line of one run (``--crawl-id`` is per run: not passed)."""
    cmd = [sys.executable, "-m", "archive", "crawl", *args.seeds, "--out", args.out]
    if args.sites:
        cmd += ["--sites", args.sites]
    if args.max_articles:
        cmd += ["--max-articles", str(args.max_articles)]
    if args.since:
        cmd += ["--since", args.since]
    for item in args.set:
        cmd += ["--set", item]
    if args.log_level:
        cmd += ["--log-level", args.log_level]
    return cmd


class Scheduler:
    """The loop, with its signal handling; ``run()`` returns the exit code."""

    def __init__(self, cmd: list[str], every: float, jitter: float, runs: int, out=sys.stdout):
        self.cmd = cmd
        self.every = every
        self.jitter = jitter
        self.runs = runs
        self.out = out
        self.stop = threading.Event()
        self.signals = 0
        self.child: subprocess.Popen | None = None

    def _say(self, text: str) -> None:
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        print(f"{stamp} newsarchive schedule: {text}", file=self.out, flush=True)

    def _on_signal(self, signum: int, _frame) -> None:
        self.signals += 1
        self.stop.set()
        child = self.child
        if self.signals == 1:
            if child is not None and child.poll() is None:
                self._say(f"{signal.Signals(signum).name}: stopping after the current run "
                          "(send it again to stop the run too)")
        elif child is not None and child.poll() is None:
            self._say("stopping the current run")
            child.send_signal(signal.SIGTERM)

    def run(self, crawl_lock=None) -> int:
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        last_code = 0
        done = 0
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                if crawl_lock is not None and not _free(crawl_lock):
                    self._say("another crawl is running on this archive: this run is skipped")
                else:
                    done += 1
                    self._say(f"run {done} starting")
                    # Its own session: a Ctrl-C in the terminal reaches the scheduler only, which
                    # then lets the run finish.
                    self.child = subprocess.Popen(self.cmd, start_new_session=True)
                    last_code = self.child.wait()
                    self.child = None
                    self._say(f"run {done} finished with exit code {last_code} "
                              f"after {time.monotonic() - started:.1f}s")
                if self.runs and done >= self.runs:
                    break
                wait = max(0.0, self.every + random.uniform(0, self.jitter) - (time.monotonic() - started))
                if not self.stop.is_set():
                    self._say(f"next run in {wait:.0f}s")
                self.stop.wait(wait)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if self.signals:
            self._say("stopped")
        return last_code


def _free(lock) -> bool:
    """Whether nobody holds ``lock`` right now (taken and given back at once)."""
    from crawler.state import LockedError

    try:
        lock.acquire()
    except LockedError:
        return False
    lock.release()
    return True


def run(args) -> int:
    from crawler.runner import build_settings, check_seeds
    from crawler.sites import SitesConfigError
    from crawler.state import (
        SCHEDULE_LOCK,
        FileLock,
        LockedError,
        crawl_lock_for,
        parse_duration,
        state_dir,
    )

    if args.crawl_id:
        raise UsageError("--crawl-id: every scheduled run gets its own crawl id")
    try:
        every = parse_duration(args.every)
        jitter = parse_jitter(args.jitter, every)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if every <= 0 or jitter < 0 or args.runs < 0:
        raise UsageError("--every must be positive, --jitter and --runs not negative")
    try:
        check_seeds(args.seeds, args.sites)
    except SitesConfigError as e:
        raise UsageError(str(e)) from None
    settings = build_settings(args.out, overrides_from(args))
    directory = state_dir(settings)
    lock = FileLock(directory / SCHEDULE_LOCK)
    try:
        lock.acquire()
    except LockedError as e:
        raise UsageError(f"another schedule runs on this archive ({e})") from None
    try:
        scheduler = Scheduler(crawl_command(args), every, jitter, args.runs)
        scheduler._say(f"every {args.every} (jitter up to {jitter:.0f}s) into {args.out}; "
                       f"pid {os.getpid()}, state {directory}")
        return scheduler.run(crawl_lock=crawl_lock_for(settings))
    finally:
        lock.release()


__all__ = ["Scheduler", "crawl_command", "parse_jitter", "register", "run"]
