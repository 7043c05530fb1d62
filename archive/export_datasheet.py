"""The export's README.md: a datasheet for people and a Hugging Face dataset card for tools.

The YAML header is what the Hugging Face Hub and ``datasets.load_dataset(<folder>)`` read: the
``configs`` entry points the default config's train split at the data shards, so the folder
loads as it is. It is written by hand, with every scalar JSON-quoted (a JSON string is a valid
YAML double-quoted scalar), so no YAML library is needed and no domain name or title can break it.

Everything in the datasheet comes from the manifest, so the two never disagree.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from archive.export_writers import DATA_DIR, EXTENSIONS
from pipelines.session import OPEN_SUFFIX

README = "README.md"
TOP_DOMAINS = 50
_LANG_CODE = re.compile(r"^[a-z]{2,3}$")
_SIZE_CATEGORIES = [
    (1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"),
]


def _q(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def size_category(rows: int) -> str:
    for bound, name in _SIZE_CATEGORIES:
        if rows < bound:
            return name
    return "100M<n<1B"


def data_files_glob(manifest: dict[str, Any]) -> str:
    """Glob of the data shards, relative to the export folder (one folder level per partition)."""
    ext = EXTENSIONS[manifest["format"]]
    middle = "*/" if manifest.get("partition_by") else ""
    return f"{DATA_DIR}/{middle}*{ext}"


def card_header(manifest: dict[str, Any]) -> str:
    languages = sorted(
        {lang.split("-")[0] for lang in manifest["counts"]["by_language"] if _LANG_CODE.match(lang.split("-")[0])}
    )
    lines = [
        "---",
        f"pretty_name: {_q(_title(manifest))}",
        "license: other",
        f"license_name: {_q('news-publishers-copyright')}",
    ]
    if languages:
        lines.append("language:")
        lines += [f"- {_q(lang)}" for lang in languages]
    lines += [
        "tags:",
        f"- {_q('news')}",
        f"- {_q('web-archive')}",
        "size_categories:",
        f"- {_q(size_category(manifest['rows']))}",
        "configs:",
        f"- config_name: {_q('default')}",
        "  data_files:",
        f"  - split: {_q('train')}",
        f"    path: {_q(data_files_glob(manifest))}",
        "---",
    ]
    return "\n".join(lines) + "\n"


def _title(manifest: dict[str, Any]) -> str:
    domains = list(manifest["counts"]["by_domain"])
    if not domains:
        return "News articles (empty export)"
    head = ", ".join(domains[:3]) + (f" and {len(domains) - 3} more" if len(domains) > 3 else "")
    return f"News articles from {head}"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return out


def _counts(title: str, counts: dict[str, int], rows: int, limit: int | None = None) -> list[str]:
    items = list(counts.items())
    shown = items[:limit] if limit else items
    table_rows = [(k, f"{v:,}", f"{100 * v / rows:.1f}%" if rows else "-") for k, v in shown]
    rest = items[len(shown):]
    if rest:
        n = sum(v for _, v in rest)
        table_rows.append((f"{len(rest)} others", f"{n:,}", f"{100 * n / rows:.1f}%"))
    return [f"### {title}", "", *_table((title.split()[-1], "rows", "share"), table_rows), ""]


def _robots(crawls: list[dict[str, Any]]) -> str:
    """What the crawl manifests say about robots.txt, without claiming more than they do."""
    ignored = [m["crawl_id"] for m in crawls if m.get("robotstxt_obey") is False]
    if ignored:
        return "robots.txt NOT obeyed in crawl(s) " + ", ".join(ignored)
    if crawls and all(m.get("robotstxt_obey") is True for m in crawls):
        return "robots.txt obeyed"
    return "robots.txt obeyed by default; the crawl manifests do not record the setting"


def render(manifest: dict[str, Any]) -> str:
    c, f, d = manifest["counts"], manifest["filters"], manifest["dedup"]
    rows = manifest["rows"]
    first, last = manifest["date_range"]
    crawls = manifest["source"]["crawls"]
    active_filters = {k: v for k, v in f.items() if v not in (None, [], "") and k != "date_field"}
    glob = data_files_glob(manifest)
    lines = [
        card_header(manifest),
        f"# {_title(manifest)}",
        "",
        "## What this is",
        "",
        f"{rows:,} news articles ({manifest['format']}, {len(manifest['files'])} file(s) under "
        f"`{DATA_DIR}/`) from {len(c['by_domain']):,} domain(s) in {len(c['by_language']):,} "
        f"language(s), dated {first or '?'} to {last or '?'} (publication date, else capture date). "
        "Each row is one article: its main text without navigation, its metadata, and a pointer "
        "(`warc`) to the raw HTTP response kept in the source archive's WARC files.",
        "",
        f"Exported from `{manifest['source']['archive']}`, crawl(s): "
        + ", ".join(f"`{cid}`" for cid in manifest["source"]["crawl_ids"]) + ".",
        "",
        "## Counts",
        "",
        *_counts("By domain", c["by_domain"], rows, TOP_DOMAINS),
        *_counts("By language", c["by_language"], rows),
        *_counts("By month", c["by_month"], rows),
        "## Fields",
        "",
        *_table(("field", "type", "meaning"),
                [(f"`{s['name']}`", f"`{s['type']}`", s["description"]) for s in manifest["schema"]]),
        "",
        "Dates are ISO 8601 strings as the pages declared them (some are bare dates). Nested "
        "values (lists, `images`, `links`, ...) are JSON text in CSV cells; "
        "`extractor.options` is JSON text in every format.",
        "",
        "## How it was made",
        "",
        "- **Crawl**: newsarchive (Scrapy) discovered articles through feeds, sitemaps, news "
        f"sitemaps and home pages, fetched them politely ({_robots(crawls)}, throttled) and kept "
        "every HTTP exchange in WARC files.",
        "- **Extraction**: main text and metadata by "
        + (", ".join(f"{k} ({v:,} rows)" for k, v in manifest["extractors"].items()) or "the crawl's extractor")
        + "; non-article pages (section fronts, error, paywall and bot-challenge pages) produce no record.",
        "- **Seeds**: " + ("; ".join(
            f"`{m['crawl_id']}`: {', '.join(m.get('seeds') or []) or '?'} "
            f"({m.get('started_at') or '?'} to {m.get('finished_at') or '?'})" for m in crawls
        ) or "-"),
        f"- **Read**: {c['read']:,} records"
        + (f", {c['bad_lines']:,} unreadable lines skipped" if c["bad_lines"] else "")
        + (f", {len(c['bad_files'])} damaged files skipped" if c["bad_files"] else "") + ".",
        "- **Filters**: " + (", ".join(f"`{k}` = `{v}`" for k, v in active_filters.items()) or "none")
        + "; removed " + (", ".join(f"{k}: {v:,}" for k, v in c["filtered"].items()) or "nothing")
        + f". Dates filtered on {f['date_field']}.",
        f"- **Deduplication** (`{d['mode']}`): canonical URL always ({d['canonical_url']}), "
        f"removed {d['removed']['canonical_url']:,}"
        + (f"; exact text ({d['exact']}), removed {d['removed']['exact']:,}" if d["mode"] != "none" else "")
        + (f"; near-duplicate text (SimHash within {d['near_threshold']} bits, earliest capture "
           f"kept), removed {d['removed']['near']:,}" if d["mode"] == "near" else "")
        + ".",
        "- **Software**: " + ", ".join(f"{k} {v}" for k, v in manifest["versions"].items())
        + f"; created {manifest['created_at']}"
        + (f" by `{manifest['command']}`" if manifest.get("command") else "") + ".",
        "- `manifest.json` beside this file lists every data file with its rows, bytes and sha256.",
        "",
        "## Loading",
        "",
        "```python",
    ]
    if manifest["format"] == "parquet":
        lines += [
            "import pandas as pd; df = pd.read_parquet('data')",
            f"import duckdb; duckdb.sql(\"SELECT * FROM '{glob}'\")",
            f"import polars as pl; pl.read_parquet('{glob}')",
        ]
    elif manifest["format"] == "jsonl":
        lines += [
            "import pandas as pd, glob",
            f"df = pd.concat(pd.read_json(p, lines=True) for p in sorted(glob.glob('{glob}')))",
            f"import duckdb; duckdb.sql(\"SELECT * FROM read_json('{glob}')\")",
        ]
    else:
        lines += [
            "import pandas as pd, glob",
            f"df = pd.concat(pd.read_csv(p) for p in sorted(glob.glob('{glob}')))",
            f"import duckdb; duckdb.sql(\"SELECT * FROM read_csv('{glob}')\")",
        ]
    lines += [
        "from datasets import load_dataset; ds = load_dataset('path/to/this/folder')",
        "```",
        "",
    ]
    if manifest.get("partition_by"):
        lines += [
            f"Files are split into one folder per {manifest['partition_by']} "
            f"(`{DATA_DIR}/<value>/`, percent-encoded, `unknown` when there is none)"
            + (" (the month of `published`, else `fetched_at`)" if manifest["partition_by"] == "month"
               else f"; the `{manifest['partition_by']}` column is in the files as well")
            + ".",
            "",
        ]
    lines += [
        "## Known limits",
        "",
        "- Text and metadata come from automatic extraction: some articles lose a paragraph or "
        "keep a caption, and `published` is what the page or its feed declared.",
        "- Only pages the crawler reached are here: paywalled, bot-blocked, robots-excluded and "
        "removed articles are missing, so counts are not a measure of a site's output.",
        "- Near-duplicate detection compares 64-bit SimHashes of word 4-grams; very short texts "
        "and heavily edited rewrites are not caught, and a kept row is the earliest capture, not "
        "necessarily the original publisher.",
        "- In CSV, long texts may exceed a spreadsheet's cell limit (32,767 characters in Excel), "
        "and cells starting with `=`, `+`, `-` or `@` are kept as published: spreadsheets may read "
        "them as formulas.",
        "",
        "## Rights",
        "",
        "The article texts, titles and images are copyrighted by their publishers and authors. "
        "They were collected for research and archiving, with robots.txt and the sites' terms "
        "respected at crawl time (see How it was made). This dataset carries no licence to republish the "
        "articles: check the law that applies to you (for example text-and-data-mining "
        "exceptions) and the publishers' terms before sharing or using it beyond research.",
        "",
    ]
    return "\n".join(lines)


def write_datasheet(out_dir: Path, manifest: dict[str, Any]) -> Path:
    path = Path(out_dir) / README
    tmp = Path(str(path) + OPEN_SUFFIX)
    tmp.write_text(render(manifest), encoding="utf-8")
    os.replace(tmp, path)
    return path
