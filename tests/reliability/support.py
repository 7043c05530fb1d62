"""Running whole crawls for the reliability suite: the real CLI in a subprocess, measured.

Each run records wall time, the exit code, stdout/stderr, and memory two ways: the peak RSS of
the largest single process (``ru_maxrss`` from ``wait4``, which covers the crawl and the
extraction workers it reaped) and the peak of the whole process tree's memory (PSS summed),
sampled from /proc every 0.1 s, which is what the machine actually had to hold.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Our own sites on loopback: no politeness delay, and short timeouts so stalls cost seconds.
FAST = ["--set", "DOWNLOAD_DELAY=0", "--set", "AUTOTHROTTLE_ENABLED=False",
        "--set", "CONCURRENT_REQUESTS_PER_DOMAIN=16", "--set", "NEWSARCHIVE_EXTRACTION_WORKERS=2"]


@dataclass
class Run:
    out: Path
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    max_rss: int  # bytes, the largest single process
    tree_memory: int  # bytes, the largest sampled PSS sum over the process tree (0 without /proc)
    extra: dict = field(default_factory=dict)

    @property
    def manifests(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.out / "crawls").glob("*.json"))]

    @property
    def manifest(self) -> dict:
        (only,) = self.manifests
        return only

    def records(self) -> list[dict]:
        out = []
        for path in sorted((self.out / "articles").rglob("*.jsonl.gz")):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                out.extend(json.loads(line) for line in f)
        return out

    def warcs(self) -> list[Path]:
        return sorted((self.out / "warc").rglob("*.warc.gz"))

    def open_files(self) -> list[Path]:
        return sorted(p for p in self.out.rglob("*.open") if p.is_file())


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError, ValueError):  # the process ended meanwhile
            out.extend(int(c) for c in (task / "children").read_text().split())
    return out


def _memory(pid: int) -> int:
    """Proportional set size (shared pages split between their users, so the extraction
    workers forked from one server are not counted many times over); RSS where PSS is missing."""
    for path, key in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue
    return 0


def tree_memory(pid: int) -> int:
    """Memory of ``pid`` and all its descendants now (bytes, PSS summed); 0 without /proc."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        total += _memory(p)
        todo.extend(_children(p))
    return total


def run_measured(cmd: list[str], out: Path, timeout: float, env: dict | None = None,
                 cwd: Path = REPO) -> Run:
    """Run ``cmd`` to the end (killing its process group after ``timeout`` s) and measure it."""
    with tempfile.TemporaryFile() as so, tempfile.TemporaryFile() as se:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, cwd=cwd, env=env, start_new_session=True)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.1):
                peak[0] = max(peak[0], tree_memory(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        killer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
        killer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
            done.set()
            sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        so.seek(0)
        se.seek(0)
        stdout = so.read().decode("utf-8", "replace")
        stderr = se.read().decode("utf-8", "replace")
    if proc.returncode == -signal.SIGKILL and seconds >= timeout:
        raise AssertionError(f"{cmd!r} did not end within {timeout}s; stderr tail:\n{stderr[-3000:]}")
    # ru_maxrss is in KiB on Linux
    return Run(out, proc.returncode, stdout, stderr, seconds, usage.ru_maxrss * 1024, peak[0])


def crawl_cmd(out: Path, *args: str, fast: bool = True) -> list[str]:
    return [sys.executable, "-m", "archive", "crawl", *args, "--out", str(out), *(FAST if fast else [])]


def warcio_check(paths: list[Path]) -> subprocess.CompletedProcess:
    """``warcio check`` over the files (exit 0 when every digest verifies)."""
    return subprocess.run([sys.executable, "-m", "warcio.cli", "check", *map(str, paths)],
                          capture_output=True, text=True, timeout=120)
