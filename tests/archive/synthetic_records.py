"""Synthetic archives of article records (DESIGN.md schema_version 1) for export tests and
``scripts/bench_export.py``.

Records are written the way the crawl writes them (``pipelines.records.gzip_member``: one gzip
member per line, ``articles/<crawl_id>/articles-<serial>.jsonl.gz``, a ``crawls/<crawl_id>.json``
manifest), streamed so that a generator of 100,000 records does not hold them.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipelines.records import gzip_member
from pipelines.textfp import simhash, text_sha1

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=timezone.utc)


def vocabulary(size: int = 5000, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choices(letters, k=rng.randint(3, 10))))
    return sorted(words)


VOCAB = vocabulary()


def article_text(rng: random.Random, words: int = 300, paragraph: int = 60) -> str:
    tokens = rng.choices(VOCAB, k=words)
    paragraphs = [" ".join(tokens[i : i + paragraph]) for i in range(0, words, paragraph)]
    return "\n\n".join(p.capitalize() + "." for p in paragraphs)


def edit_text(rng: random.Random, text: str, edits: int = 1) -> str:
    """The same article lightly edited: ``edits`` words replaced (a typo fixed, a name changed)."""
    tokens = text.split(" ")
    for _ in range(edits):
        i = rng.randrange(len(tokens))
        tokens[i] = rng.choice(VOCAB)
    return " ".join(tokens)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def make_record(
    *,
    url: str,
    text: str,
    crawl_id: str,
    fetched_at: datetime,
    published: str | None = None,
    language: str | None = "en",
    title: str = "A headline",
    canonical_url: str | None = None,
    fast_simhash: random.Random | None = None,
    **extra: object,
) -> dict:
    """A complete record. ``fast_simhash``: draw the SimHash from this RNG instead of computing
    it (pure-Python SimHash costs milliseconds a record, too slow for 100,000 in a test); the
    export trusts the field, as it trusts the crawl's."""
    canonical = canonical_url or url
    domain = url.split("/")[2]
    sim = f"{fast_simhash.getrandbits(64):016x}" if fast_simhash else simhash(text)
    record = {
        "id": hashlib.sha1(canonical.encode()).hexdigest(),
        "url": url,
        "final_url": url,
        "canonical_url": canonical,
        "domain": domain,
        "site_name": domain.split(".")[0].title(),
        "title": title,
        "authors": ["A. Writer"],
        "published": published,
        "modified": None,
        "language": language,
        "description": "A description.",
        "section": "world",
        "tags": ["tag"],
        "text": text,
        "word_count": len(text.split()),
        "images": [{"url": f"{url}/image.jpg", "caption": "A caption", "credit": None}],
        "links": {
            "article": [{"url": f"https://{domain}/other", "text": "other"}],
            "navigation": [],
            "media": [],
        },
        "discovered_via": {"kind": "feed", "source": f"https://{domain}/feed.xml",
                           "published": published, "title": title},
        "fetched_at": iso(fetched_at),
        "http_status": 200,
        "content_type": "text/html; charset=utf-8",
        "text_sha1": text_sha1(text),
        "simhash": sim,
        "warc": {"file": f"warc/{crawl_id}/NEWSARCHIVE-x-00000-host.warc.gz", "offset": 0,
                 "length": 1000, "record_id": "<urn:uuid:00000000-0000-0000-0000-000000000000>",
                 "payload_digest": "sha1:AAAA"},
        "crawl_id": crawl_id,
        "extractor": {"name": "trafilatura", "version": "2.3.1", "options": {"favor_precision": True}},
        "version": 1,
        "previous": None,
        "schema_version": 1,
    }
    record.update(extra)
    return record


def write_crawl(
    root: Path,
    crawl_id: str,
    records: Iterable[dict],
    *,
    per_file: int = 1000,
    seeds: list[str] | None = None,
    robots: bool | None = True,
) -> int:
    """Write ``records`` as the crawl would, plus its manifest; returns how many were written."""
    folder = Path(root) / "articles" / crawl_id
    folder.mkdir(parents=True, exist_ok=True)
    count, serial, f = 0, 0, None
    try:
        for record in records:
            if f is None:
                f = open(folder / f"articles-{serial:05d}.jsonl.gz", "wb")  # noqa: SIM115
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
            f.write(gzip_member(line.encode("utf-8")))
            count += 1
            if count % per_file == 0:
                f.close()
                f, serial = None, serial + 1
    finally:
        if f is not None:
            f.close()
    manifest = {
        "crawl_id": crawl_id,
        "seeds": seeds or ["https://news.example/"],
        "started_at": iso(T0),
        "finished_at": iso(T0 + timedelta(hours=1)),
        "settings": {"ROBOTSTXT_OBEY": robots},
    }
    (Path(root) / "crawls").mkdir(parents=True, exist_ok=True)
    (Path(root) / "crawls" / f"{crawl_id}.json").write_text(json.dumps(manifest), encoding="utf-8")
    return count


def bulk_records(n: int, crawl_id: str, *, paragraphs: int = 6, seed: int = 1,
                 domains: int = 20) -> Iterable[dict]:
    """``n`` distinct articles of ``paragraphs`` x 60 words, fast enough for 100,000: texts are
    drawn from a pool of paragraphs plus a sentence of their own, and the fingerprints are cheap
    stand-ins (sha1 of the raw text, a random SimHash): the export takes them as given, as it
    takes the crawl's, so they only have to be distinct."""
    rng = random.Random(seed)
    pool = [article_text(rng, 60) for _ in range(1000)]
    for i in range(n):
        domain = f"site{i % domains}.example"
        fetched = T0 + timedelta(seconds=30 * i)
        text = "\n\n".join(rng.choices(pool, k=paragraphs)) + f"\n\nThis is article number {i}."
        record = make_record(
            url=f"https://{domain}/2024/article-{i}",
            text="",
            crawl_id=crawl_id,
            fetched_at=fetched,
            published=iso(fetched - timedelta(hours=2)),
            language=("en", "fr", "de")[i % 3],
            title=f"Article {i}",
            fast_simhash=rng,
        )
        record.update(text=text, word_count=len(text.split()),
                      text_sha1=hashlib.sha1(text.encode()).hexdigest())
        yield record
