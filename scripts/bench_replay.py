#!/usr/bin/env python3
"""Speed of the reading side: indexing, lookups, capture loading and re-extraction.

Builds an archive of N article responses with the crawl's own WARC writer (real news pages from
--src, cycled, half of them gzip-encoded on the wire like servers send them), writes the crawl's
records for them by running the crawl's extraction once, then times:

  build_index      archive.index.build_index over the WARCs          (records/s)
  lookup           archive.index.lookup of every URL                  (lookups/s)
  find_capture     archive.replay.find_capture of every URL           (captures/s)
  reprocess        archive.reprocess.reprocess, per --workers value   (pages/s)

  python scripts/bench_replay.py --n 2000
  python scripts/bench_replay.py --n 5000 --src ../shared/bench/extraction/scrapinghub/html \\
      --workers 1 2 --json bench-replay.json

Without --src it uses the shared benchmark pages when they are beside the project
(../shared/bench/extraction/scrapinghub/html), else generated pages.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archive.index import build_index, lookup  # noqa: E402
from archive.replay import find_capture  # noqa: E402
from archive.reprocess import reprocess  # noqa: E402
from pipelines.extraction import extract_page  # noqa: E402
from pipelines.record import build_record  # noqa: E402
from pipelines.records import RecordsWriter  # noqa: E402
from pipelines.session import ArchiveSession  # noqa: E402
from pipelines.warc import Exchange, WarcFileWriter  # noqa: E402

SHARED_PAGES = ROOT.parent / "shared" / "bench" / "extraction" / "scrapinghub" / "html"
CRAWL_ID = "20261129T000000Z-bench0"


def load_pages(src: Path | None) -> list[bytes]:
    if src is None and SHARED_PAGES.is_dir():
        src = SHARED_PAGES
    if src is None:
        sys.path.insert(0, str(ROOT / "tests" / "archive"))
        from replay_archive import article_html

        return [article_html(i) for i in range(50)]
    pages = []
    for p in sorted(src.iterdir()):
        if p.name.endswith((".html.gz", ".htm.gz")):
            pages.append(gzip.decompress(p.read_bytes()))
        elif p.name.endswith((".html", ".htm")):
            pages.append(p.read_bytes())
    if not pages:
        raise SystemExit(f"no *.html / *.html.gz under {src}")
    return pages


def build_archive(root: Path, n: int, pages: list[bytes]) -> list[str]:
    """N responses written by the crawl's WARC writer, and the crawl's records for them."""
    session = ArchiveSession(root=root, crawl_id=CRAWL_ID)
    writer = WarcFileWriter(session, hostname="bench", warcinfo={"software": "bench_replay"})
    records = RecordsWriter(session)
    t0 = datetime(2026, 11, 29, tzinfo=timezone.utc)
    urls = []
    for i in range(n):
        url = f"http://news{i % 7}.example.test/2026/11/29/article-{i}.html"
        html = pages[i % len(pages)] + f"<!-- article {i} -->".encode()
        wire = gzip.compress(html, mtime=0) if i % 2 else html
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(wire)))]
        if i % 2:
            headers.append(("Content-Encoding", "gzip"))
        ex = Exchange(url=url, method="GET", request_headers=[("Host", url.split("/")[2])],
                      request_body=b"", protocol="HTTP/1.1", status=200, reason="OK",
                      response_headers=headers, body=wire, ip_address="127.0.0.1",
                      date=t0 + timedelta(seconds=i))
        pointer = writer.write_exchange(ex)
        fields, _ = extract_page(html, url, content_type="text/html; charset=utf-8", final_url=url)
        if fields is not None:
            item = {"url": url, "final_url": url, "http_status": 200,
                    "content_type": "text/html; charset=utf-8",
                    "fetched_at": ex.date.isoformat(), "discovered_via": None, "warc": pointer}
            records.write(build_record(item, fields, CRAWL_ID))
        urls.append(url)
    writer.close()
    records.close()
    return urls


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="archived responses (default 2000)")
    ap.add_argument("--src", type=Path, help="folder of *.html / *.html.gz pages to cycle")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 0],
                    help="reprocess worker counts to time (0 = one per core; default: 1 0)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    pages = load_pages(args.src)
    results: dict = {"n": args.n, "source_pages": len(pages), "python": platform.python_version(),
                     "machine": platform.machine()}
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        root = Path(tmp) / "archive"
        secs, urls = timed(lambda: build_archive(root, args.n, pages))
        print(f"built {args.n} responses from {len(pages)} pages in {secs:.1f}s", file=sys.stderr)

        secs, _ = timed(lambda: build_index(root))
        results["build_index_records_per_s"] = round(args.n / secs, 1)
        index = root / "index" / f"{CRAWL_ID}.cdxj"

        secs, found = timed(lambda: sum(bool(lookup(index, u)) for u in urls))
        assert found == len(urls), f"lookup found {found} of {len(urls)}"
        results["lookup_per_s"] = round(len(urls) / secs, 1)

        secs, found = timed(lambda: sum(find_capture(root, u) is not None for u in urls))
        assert found == len(urls), f"find_capture found {found} of {len(urls)}"
        results["find_capture_per_s"] = round(len(urls) / secs, 1)

        for w in args.workers:
            out = Path(tmp) / f"reprocessed-{w}"
            secs, res = timed(lambda w=w, out=out: reprocess(root, out, workers=w))
            t = res.report["totals"]
            results[f"reprocess_workers_{res.report['workers']}"] = {
                "pages_per_s": round(t["captures"] / secs, 1),
                "records": t["new_records"], "same_text_ratio": t["same_text_ratio"]}
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
