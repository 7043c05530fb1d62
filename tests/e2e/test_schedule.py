"""``newsarchive schedule``: runs in a loop, one at a time per archive, stops cleanly on signals."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import FAST, REPO, run_cli
from tests.support.servers import demo_site, newsite

pytestmark = pytest.mark.e2e


def manifests(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "crawls").glob("*.json"))]


class Scheduler:
    """``newsarchive schedule`` in the background, its output read line by line."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "archive", "schedule", *args], cwd=REPO,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert self.proc.poll() is None, f"schedule exited early:\n{''.join(self.seen)}"
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no {text!r} in:\n{''.join(self.seen)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_runs_in_a_loop_and_each_run_is_incremental(tmp_path):
    out = tmp_path / "archive"
    with demo_site() as site:
        proc = run_cli(["schedule", "--every", "1s", "--jitter", "0", "--runs", "2", site.url + "/",
                        "--out", str(out), *FAST], timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    first, second = manifests(out)
    assert first["crawl_id"] != second["crawl_id"]
    assert first["counts"]["records"] == len(site.article_urls)
    assert second["counts"]["records"] == 0 and second["counts"]["new"] == 0
    assert "run 2 finished with exit code 0" in proc.stdout
    assert not list(out.rglob("*.open"))


def test_one_schedule_per_archive_and_sigterm_stops_it(tmp_path):
    out = tmp_path / "archive"
    with demo_site() as site:
        first = Scheduler("--every", "1h", site.url + "/", "--out", str(out), *FAST)
        try:
            first.wait_for("run 1 finished")
            first.wait_for("next run in")
            second = run_cli(["schedule", "--every", "1h", site.url + "/", "--out", str(out)], timeout=60)
            assert second.returncode == 2
            assert "another schedule runs on this archive" in second.stderr
            assert f"pid {first.proc.pid}" in second.stderr
            first.proc.send_signal(signal.SIGTERM)
            assert first.proc.wait(30) == 0  # while waiting: stops at once
            first.wait_for("stopped", timeout=5)
        finally:
            first.stop()
    assert len(manifests(out)) == 1


def test_sigterm_during_a_run_lets_the_run_finish(tmp_path):
    out = tmp_path / "archive"
    with newsite(60, latency_ms=60) as url:
        sched = Scheduler("--every", "1s", "--jitter", "0", url + "/", "--out", str(out), *FAST,
                          "--set", "CONCURRENT_REQUESTS_PER_DOMAIN=2")
        try:
            sched.wait_for("run 1 starting")
            deadline = time.monotonic() + 60
            while not list((out / "warc").rglob("*.open")):  # the crawl is under way
                assert time.monotonic() < deadline
                time.sleep(0.05)
            sched.proc.send_signal(signal.SIGTERM)
            sched.wait_for("stopping after the current run")
            assert sched.proc.wait(120) == 0
        finally:
            sched.stop()
    [only] = manifests(out)
    assert only["finish_reason"] == "finished"
    assert only["counts"]["records"] >= 55  # the whole run, not a cut-short one
    assert not list(out.rglob("*.open"))


HOLDER = textwrap.dedent("""
    import sys, time
    from crawler.state import FileLock
    FileLock(sys.argv[1]).acquire()
    print("HELD", flush=True)
    time.sleep(600)
""")


def test_a_dead_schedulers_lock_does_not_block_the_next(tmp_path):
    out = tmp_path / "archive"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out / "state" / "schedule.lock")],
                              cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "HELD"
    holder.send_signal(signal.SIGKILL)  # dies holding it
    holder.wait()
    with demo_site() as site:
        proc = run_cli(["schedule", "--every", "1s", "--runs", "1", site.url + "/", "--out", str(out),
                        *FAST], timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert len(manifests(out)) == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--every", "soon"], "not a duration"),
    (["--every", "0s"], "--every must be positive"),
    (["--every", "1m", "--crawl-id", "x"], "--crawl-id"),
    (["--every", "1m", "ftp://x"], "not an http(s) URL"),
])
def test_bad_usage_is_one_line_and_exit_2(tmp_path, args, message):
    proc = run_cli(["schedule", *args, "--out", str(tmp_path / "a")] + (
        ["http://127.0.0.1:9/"] if "ftp://x" not in args else []), timeout=60)
    assert proc.returncode == 2 and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
