#!/usr/bin/env python3
"""Quality gate for article extraction: score the shared benchmark, fail below the pinned floor.

    python scripts/extraction_gate.py                 # score, compare with scripts/extraction_floor.json
    python scripts/extraction_gate.py --metadata      # also title / published-date accuracy
    python scripts/extraction_gate.py --speed         # also pages/s against trafilatura, same run
    python scripts/extraction_gate.py --update-floor  # pin the current scores as the new floor

The benchmark (the scrapinghub article-extraction set and its scorer) lives outside the
repository, in ``shared/bench`` next to the checkout (or ``--bench DIR`` /
``$NEWSARCHIVE_BENCH_DIR``). When it is absent the gate prints why and exits 0: a fresh clone
without the data cannot be judged, and must not fail for that. Exit codes: 0 pass or skipped,
1 below the floor, 2 bad usage or a broken floor file.

F1, precision and recall are the scorer's own (score_extraction.aggregate), so the numbers are
the ones ``score_extraction.py -e article_text:text`` prints. Each must stay within ``epsilon``
of its floor: page order and library versions move the last digit, a real regression moves more.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR_FILE = Path(__file__).resolve().parent / "extraction_floor.json"
METRICS = ("f1", "precision", "recall")


def find_bench(explicit: str | None) -> Path | None:
    candidates = [
        explicit,
        os.environ.get("NEWSARCHIVE_BENCH_DIR"),
        ROOT.parent / "shared" / "bench",
        "/work/shared/bench",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "score_extraction.py").is_file():
            return Path(candidate)
    return None


def load_scorer(bench: Path):
    sys.path.insert(0, str(bench))
    import score_extraction  # the benchmark's own scorer: same metric as its published table

    return score_extraction


def score(scorer, docs, func) -> tuple[dict, float]:
    """Scores and pages/s (time inside ``func`` only, as score_extraction.py measures it)."""
    records, elapsed = [], 0.0
    for doc in docs:
        html = doc.read_html()
        start = time.perf_counter()
        out = func(html, doc.url)
        elapsed += time.perf_counter() - start
        text = (out or {}).get("text", "") if isinstance(out, dict) else out or ""
        records.append(scorer.score_doc(doc, text))
    return scorer.aggregate(records), len(docs) / elapsed if elapsed else float("inf")


def pages_per_second(docs, func, passes: int = 3) -> float:
    """The fastest of ``passes`` timed passes: wall time on a busy machine is noisy."""
    htmls = [(doc.read_html(), doc.url) for doc in docs]
    best = float("inf")
    for _ in range(passes):
        start = time.perf_counter()
        for html, url in htmls:
            func(html, url)
        best = min(best, time.perf_counter() - start)
    return len(docs) / best


# ---------------------------------------------------------------------------- metadata accuracy

_LD = re.compile(r"<script[^>]*application/ld\+json[^>]*>.*?</script>", re.IGNORECASE | re.DOTALL)
_WORD = re.compile(r"\w+")


def _declared(html: str, url: str | None) -> tuple[str | None, str | None]:
    """(headline, datePublished) of the page's own ld+json article object, the reference; the
    headline without a " | Site" suffix (some CMSs copy the <title> into it)."""
    from urllib.parse import urlsplit

    from lxml.html import fromstring

    from pipelines.extraction_meta import (
        article_object,
        clean,
        parse_date,
        read_ldjson,
        read_meta,
        strip_site_name,
    )

    try:
        tree = fromstring(html)
        article = article_object(read_ldjson(tree))
    except Exception:
        return None, None
    if not article:
        return None, None
    site = " ".join(read_meta(tree).get("og:site_name", [""])[:1])
    headline = strip_site_name(
        clean(article.get("headline")), site, urlsplit(url or "").hostname or ""
    )
    return headline or None, parse_date(article.get("datePublished"))


def _same_title(ours: str | None, ref: str | None) -> bool:
    """Same words; or the reference is the 110-character cut of ours (Google's headline limit
    makes publishers truncate the ld+json headline)."""
    if not ours or not ref:
        return False
    a, b = _WORD.findall(ours.casefold()), _WORD.findall(ref.casefold())
    return a == b or (len(ref) >= 90 and a[: len(b) - 1] == b[:-1])


def _same_day(a: str | None, b: str | None) -> bool:
    return bool(a and b) and a[:10] == b[:10]


def metadata_accuracy(docs, extract_article) -> dict:
    """Title and published-date accuracy against the page's own ld+json, twice: on the page as
    served, and with every ld+json script removed, which measures the fallbacks (Open Graph,
    <meta>, <h1>, <time>, htmldate) the way they work on pages that declare nothing."""
    out = {}
    for label, hide in (("as served", False), ("ld+json removed", True)):
        titles = dates = title_ok = date_ok = 0
        for doc in docs:
            html = doc.read_html()
            ref_title, ref_date = _declared(html, doc.url)
            if not ref_title and not ref_date:
                continue
            rec = extract_article(_LD.sub("", html) if hide else html, doc.url) or {}
            if ref_title:
                titles += 1
                title_ok += _same_title(rec.get("title"), ref_title)
            if ref_date:
                dates += 1
                date_ok += _same_day(rec.get("published"), ref_date)
        out[label] = {"title": (title_ok, titles), "published": (date_ok, dates)}
    return out


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", help="benchmark folder (holds score_extraction.py)")
    parser.add_argument("--floor", type=Path, default=FLOOR_FILE)
    parser.add_argument("--metadata", action="store_true", help="report title/date accuracy")
    parser.add_argument("--speed", action="store_true", help="report pages/s next to trafilatura's")
    parser.add_argument("--update-floor", action="store_true", help="pin the current scores")
    args = parser.parse_args(argv)

    bench = find_bench(args.bench)
    if bench is None:
        print(
            "extraction gate: SKIPPED, no benchmark found (looked for shared/bench next to the "
            "checkout, $NEWSARCHIVE_BENCH_DIR, --bench)"
        )
        return 0
    try:
        floor = json.loads(args.floor.read_text()) if args.floor.exists() else None
    except ValueError as exc:
        print(f"extraction gate: cannot read {args.floor}: {exc}", file=sys.stderr)
        return 2
    if floor is None and not args.update_floor:
        print(
            f"extraction gate: no floor file {args.floor}; run with --update-floor", file=sys.stderr
        )
        return 2

    sys.path.insert(0, str(ROOT))
    import warnings

    warnings.simplefilter("ignore")  # dateutil's timezone warnings on odd pages
    from pipelines.extraction import extract_article

    scorer = load_scorer(bench)
    docs = scorer.load_scrapinghub_layout(bench / "extraction" / "scrapinghub")
    for doc in docs[:3]:  # warm-up (imports, caches), as the scorer does
        extract_article(doc.read_html(), doc.url)
    result, pages_per_s = score(scorer, docs, extract_article)
    print(f"extraction gate: {len(docs)} pages from {bench}")
    print(
        "  " + "  ".join(f"{m} {result[m]:.4f}" for m in METRICS) + f"  ({pages_per_s:.1f} pages/s)"
    )

    if args.speed:
        import trafilatura

        def traf(html, url):
            return trafilatura.extract(html, include_comments=False) or ""

        for doc in docs[:3]:
            traf(doc.read_html(), doc.url)
        ours_pps, traf_pps = pages_per_second(docs, extract_article), pages_per_second(docs, traf)
        print(
            f"  speed (best of 3 passes): ours {ours_pps:.1f} pages/s, trafilatura "
            f"{traf_pps:.1f} pages/s, ratio {ours_pps / traf_pps:.2f}"
        )

    if args.metadata:
        for label, acc in metadata_accuracy(docs, extract_article).items():
            (t_ok, t_n), (d_ok, d_n) = acc["title"], acc["published"]
            print(
                f"  metadata ({label}): title {t_ok}/{t_n} = {t_ok / max(1, t_n):.3f}, "
                f"published day {d_ok}/{d_n} = {d_ok / max(1, d_n):.3f}"
            )

    if args.update_floor:
        epsilon = (floor or {}).get("epsilon", 0.003)
        new = {m: round(result[m], 4) for m in METRICS}
        new.update(
            epsilon=epsilon,
            pages=len(docs),
            dataset="scrapinghub article-extraction-benchmark (shared/bench/extraction/scrapinghub)",
            pinned=datetime.now().strftime("%Y-%m-%d"),
        )
        args.floor.write_text(json.dumps(new, indent=2) + "\n")
        print(f"  floor pinned in {args.floor}")
        return 0

    epsilon = float(floor.get("epsilon", 0.003))
    failed = [m for m in METRICS if result[m] < float(floor[m]) - epsilon]
    for m in METRICS:
        mark = "FAIL" if m in failed else "ok"
        print(f"  {m:<9} {result[m]:.4f}  floor {float(floor[m]):.4f} - {epsilon}  {mark}")
    if failed:
        print(f"extraction gate: FAILED ({', '.join(failed)} below the floor)")
        return 1
    print("extraction gate: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
