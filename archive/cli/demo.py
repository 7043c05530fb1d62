"""``newsarchive demo``: serve the bundled demo news site on 127.0.0.1 and crawl it.

The first thing a new user runs: no configuration, no network beyond loopback, and a short tour of
what landed on disk afterwards.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

# The demo site is ours and on loopback: no need to wait between requests.
DEMO_SETTINGS = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
}


def register(sub) -> None:
    p = sub.add_parser("demo", help="serve the bundled demo news site on 127.0.0.1 and crawl it",
                       description="Serve a small bundled news site on 127.0.0.1 and crawl it into --out.")
    p.add_argument("--out", default="./demo-archive", metavar="URI", help="archive folder (default ./demo-archive)")
    p.add_argument("--port", type=int, default=0, help="port for the demo site (default: any free port)")
    p.set_defaults(func=run)


def describe(out: Path, crawl_id: str) -> str:
    lines = ["", "What landed on disk:"]
    for sub in ("warc", "articles", "index", "crawls"):
        for path in sorted((out / sub).rglob("*")):
            if path.is_file() and crawl_id in str(path):
                lines.append(f"  {path}  ({path.stat().st_size:,} bytes)")
    records = sorted((out / "articles" / crawl_id).glob("*.jsonl.gz"))
    if records:
        lines.append("")
        lines.append("Articles recorded:")
        with gzip.open(records[0], "rt", encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                links = rec.get("links") or {}
                lines.append(
                    f"  - {rec.get('title')!r}: {rec.get('word_count')} words, "
                    f"{len(links.get('navigation') or [])} navigation and {len(links.get('media') or [])} media links"
                )
    lines.append("")
    lines.append(f"Look at one record: zcat {out}/articles/{crawl_id}/articles-00000.jsonl.gz | head -n 1")
    return "\n".join(lines)


def run(args) -> int:
    from crawler.demo.server import DemoSite
    from crawler.runner import run_crawl

    with DemoSite(port=args.port) as site:
        print(f"demo site: {site.url}/ ({len(site.article_urls)} articles)")
        result = run_crawl([site.url + "/"], out=args.out, overrides=dict(DEMO_SETTINGS))
    print(result.summary())
    print(describe(Path(args.out), result.crawl_id))
    return result.exit_code
