"""Peak memory of an export is bounded by its settings, not by the size of the archive.

50,000 synthetic records (about 120 MB of gzip, 2.4 KB of text each) are exported to Parquet
in a child process that reports its own peak RSS. Holding those records as Python objects takes
about 540 MB; the export, with default settings, peaks near 210 MB, most of it the interpreter and
pyarrow (a 5,000-record export peaks near 170 MB). The bounds sit well above those figures and
well below "all in memory".
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.archive.synthetic_records import bulk_records, write_crawl

REPO = Path(__file__).resolve().parents[2]
CRAWL = "20240301T080000Z-memory"
PEAK_BOUND_MB = 400  # measured 200-210 MB; one run under heavy machine load reached 332
GROWTH_BOUND_MB = 90

CHILD = """
import json, resource, sys
from archive.cli.export import main
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _export_peak(archive: Path, out: Path) -> float:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(archive), "--format", "parquet", "--out", str(out),
         "--dedup", "near"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["rc"] == 0
    return report["peak_mb"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss is in KB on Linux only")
def test_export_peak_memory_does_not_follow_the_archive_size(tmp_path: Path) -> None:
    small, large = tmp_path / "small", tmp_path / "large"
    write_crawl(small, CRAWL, bulk_records(5_000, CRAWL), per_file=10_000)
    write_crawl(large, CRAWL, bulk_records(50_000, CRAWL), per_file=10_000)

    peak_small = _export_peak(small, tmp_path / "out-small")
    peak_large = _export_peak(large, tmp_path / "out-large")

    manifest = json.loads((tmp_path / "out-large" / "manifest.json").read_text())
    assert manifest["rows"] == 50_000
    assert peak_large < PEAK_BOUND_MB, f"peak {peak_large:.0f} MB"
    # ten times the records, a few dozen MB more: the dedup keys and LSH buckets
    assert peak_large - peak_small < GROWTH_BOUND_MB, f"{peak_small:.0f} -> {peak_large:.0f} MB"
