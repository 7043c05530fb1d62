#!/usr/bin/env python3
"""Throughput benchmark (issue 8): a full ``newsarchive crawl`` of newsite.py vs plain trafilatura.

Runs, in one go on the same machine:
  1. baseline: ``trafilatura.extract`` over the same N pages, one process (pages/s);
  2. ``newsarchive crawl`` of ``newsite.py --n N`` (start-up included, everything on: WARC, records,
     index, dedup, manifest), with politeness delays off since the site is ours on loopback;
and prints the ratio, pages/s and the peak RSS of every process of the crawl (sampled from /proc).

    python scripts/bench_crawl.py --n 2000
    python scripts/bench_crawl.py --n 20000 --skip-baseline      # memory flatness
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO.parent / "shared" / "bench"
FAST = [
    "--set",
    "DOWNLOAD_DELAY=0",
    "--set",
    "AUTOTHROTTLE_ENABLED=False",
    "--set",
    "CONCURRENT_REQUESTS_PER_DOMAIN=32",
    "--set",
    "CONCURRENT_REQUESTS=32",
]


def source_pages(src: Path, n: int) -> list[str]:
    files = sorted(p for p in src.iterdir() if p.name.endswith((".html", ".html.gz")))
    pages = []
    for p in files:
        data = gzip.decompress(p.read_bytes()) if p.name.endswith(".gz") else p.read_bytes()
        pages.append(data.decode("utf-8", "replace"))
    return [pages[i % len(pages)] for i in range(n)]


def baseline(pages: list[str]) -> float:
    import trafilatura

    trafilatura.extract(pages[0])  # warm-up: imports and first-call caches
    t0 = time.perf_counter()
    for html in pages:
        trafilatura.extract(html)
    return len(pages) / (time.perf_counter() - t0)


class RssSampler(threading.Thread):
    """Peak RSS of a process tree, by pid, from /proc (VmHWM is each process's own high-water mark)."""

    def __init__(self, root_pid: int):
        super().__init__(daemon=True)
        self.root = root_pid
        self.peak: dict[int, tuple[str, int]] = {}
        self.cpu: dict[int, float] = {}  # user + system seconds, last seen
        self.tick = os.sysconf("SC_CLK_TCK")
        self.stop = threading.Event()

    def _children(self, pid: int) -> list[int]:
        out = []
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out += [int(x) for x in f.read().split()]
        except OSError:
            pass
        return out

    def run(self) -> None:
        while not self.stop.is_set():
            todo, seen = [self.root], set()
            while todo:
                pid = todo.pop()
                if pid in seen:
                    continue
                seen.add(pid)
                todo += self._children(pid)
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    cmd = (
                        Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
                    )
                except OSError:
                    continue
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    self.cpu[pid] = (int(fields[11]) + int(fields[12])) / self.tick
                except (OSError, IndexError, ValueError):
                    pass
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        kb = int(line.split()[1])
                        if kb > self.peak.get(pid, ("", 0))[1]:
                            self.peak[pid] = (cmd, kb)
            self.stop.wait(0.2)


def crawl(url: str, n: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as out:
        cmd = [sys.executable, "-m", "archive", "crawl", url, "--out", out, *FAST, *extra]
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        sampler = RssSampler(proc.pid)
        sampler.start()
        stdout, stderr = proc.communicate()
        elapsed = time.perf_counter() - t0
        sampler.stop.set()
        sampler.join()
        manifests = list(Path(out, "crawls").glob("*.json"))
        manifest = json.loads(manifests[0].read_text()) if manifests else {}
        if proc.returncode != 0:
            print(stderr[-3000:], file=sys.stderr)
        counts = manifest.get("counts", {})
        return {
            "returncode": proc.returncode,
            "seconds": elapsed,
            "records": counts.get("records"),
            "responses": counts.get("responses"),
            "pages_per_s": n / elapsed,
            "peak_rss_mb": sorted(
                ((kb / 1024, cmd) for cmd, kb in sampler.peak.values()), reverse=True
            ),
            "cpu_ms_per_page": sorted(
                ((1000 * sampler.cpu.get(pid, 0) / n, sampler.peak[pid][0]) for pid in sampler.peak),
                reverse=True,
            ),
            "summary": stdout.strip().splitlines()[:1],
            "engine_seconds": (manifest.get("stats") or {}).get("elapsed_time_seconds"),
        }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--latency-ms", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], help="extra crawl settings NAME=VALUE")
    args = ap.parse_args()
    if not (BENCH / "newsite.py").exists():
        print(f"needs {BENCH}/newsite.py", file=sys.stderr)
        return 2
    src = BENCH / "extraction" / "scrapinghub" / "html"
    extra = [x for s in args.set for x in ("--set", s)]

    base = None
    if not args.skip_baseline:
        base = baseline(source_pages(src, args.n))
        print(f"baseline trafilatura.extract, one process: {base:.1f} pages/s")

    site = subprocess.Popen(
        [
            sys.executable,
            str(BENCH / "newsite.py"),
            "--src",
            str(src),
            "--n",
            str(args.n),
            "--port",
            "0",
            "--latency-ms",
            str(args.latency_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = site.stdout.readline()
        url = line.split()[1]
        time.sleep(0.3)
        result = crawl(url, args.n, extra)
    finally:
        site.terminate()
        site.wait()
    print(
        f"newsarchive crawl: {result['pages_per_s']:.1f} pages/s ({args.n} pages in {result['seconds']:.1f}s, "
        f"{result['records']} records, {result['responses']} responses, exit {result['returncode']})"
    )
    if result["engine_seconds"]:
        outside = result["seconds"] - result["engine_seconds"]
        print(
            f"  of which Scrapy's engine ran {result['engine_seconds']:.1f}s; start-up and shut-down "
            f"(imports, worker pool, manifest) {outside:.1f}s"
        )
    if base:
        print(f"ratio crawl / baseline: {result['pages_per_s'] / base:.2f}x (goal >= 1.6x)")
    print("CPU per page, by process (ms; load-independent, unlike pages/s):")
    for ms, cmd in result["cpu_ms_per_page"]:
        print(f"  {ms:7.2f} ms  {cmd}")
    print("peak RSS per process:")
    for mb, cmd in result["peak_rss_mb"]:
        print(f"  {mb:7.1f} MB  {cmd}")
    return 0 if result["returncode"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
