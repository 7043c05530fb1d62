"""End-to-end crawls: the real CLI in a subprocess against local sites on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_BENCH = REPO.parent / "shared" / "bench"

# Our own sites on loopback: no politeness delay needed, and tests should not wait for it.
FAST = ["--set", "DOWNLOAD_DELAY=0", "--set", "AUTOTHROTTLE_ENABLED=False",
        "--set", "CONCURRENT_REQUESTS_PER_DOMAIN=16"]


@dataclass
class CrawlRun:
    out: Path
    returncode: int
    stdout: str
    stderr: str

    @property
    def manifests(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.out / "crawls").glob("*.json"))]

    def records(self) -> list[dict]:
        import gzip

        out = []
        for path in sorted((self.out / "articles").rglob("*.jsonl.gz")):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                out.extend(json.loads(line) for line in f)
        return out

    def warcs(self) -> list[Path]:
        return sorted((self.out / "warc").rglob("*.warc.gz"))


def run_cli(args: list[str], timeout: float = 300, check: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "archive", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    if check and proc.returncode != 0:
        raise AssertionError(f"newsarchive {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc


def crawl(out: Path, *args: str, timeout: float = 300) -> CrawlRun:
    proc = run_cli(["crawl", *args, "--out", str(out), *FAST], timeout=timeout)
    return CrawlRun(out, proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def crawl_run():
    return crawl
