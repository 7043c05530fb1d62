#!/usr/bin/env python
"""Export speed and peak memory per format on synthetic records (issue 7's closing figures).

    python scripts/bench_export.py [--records 100000] [--dedup near] [--format parquet ...]

Writes a synthetic archive (tests/archive/synthetic_records.py: ~2.4 KB of text a record, written
as the crawl writes them), then runs ``newsarchive export`` once per format, each in its own
process so that each peak RSS is that format's alone, and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.archive.synthetic_records import bulk_records, write_crawl  # noqa: E402

CRAWL = "20240301T080000Z-bench0"
CHILD = """
import json, resource, sys, time
from archive.cli.export import main
t = time.perf_counter()
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "seconds": time.perf_counter() - t,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--dedup", choices=("none", "exact", "near"), default="near")
    ap.add_argument("--format", action="append", choices=("jsonl", "parquet", "csv"))
    ap.add_argument("--work", type=Path, help="folder to keep the archive and exports in")
    args, extra = ap.parse_known_args()
    formats = args.format or ["parquet", "jsonl", "csv"]

    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        work = args.work or Path(tmp)
        archive = work / "archive"
        t = time.perf_counter()
        n = write_crawl(archive, CRAWL, bulk_records(args.records, CRAWL), per_file=50_000)
        print(f"synthetic archive: {n:,} records, {_size_mb(archive):.0f} MB, "
              f"written in {time.perf_counter() - t:.1f} s", file=sys.stderr)

        print("| format | records | dedup | seconds | records/s | peak RSS MB | output MB |")
        print("|---|---|---|---|---|---|---|")
        for fmt in formats:
            out = work / f"export-{fmt}"
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, str(archive), "--format", fmt, "--out", str(out),
                 "--dedup", args.dedup, *extra],
                cwd=REPO, capture_output=True, text=True, check=False,
            )
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            rows = json.loads((out / "manifest.json").read_text())["rows"]
            print(f"| {fmt} | {n:,} | {args.dedup} | {r['seconds']:.1f} | {n / r['seconds']:,.0f} | "
                  f"{r['peak_mb']:.0f} | {_size_mb(out):.0f} ({rows:,} rows) |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
