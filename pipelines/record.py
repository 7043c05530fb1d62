"""Assemble the article record (DESIGN.md, schema_version 1) from a crawled page and its extraction.

The extraction worker returns the fields that come from the page; the crawl adds what only it
knows (where the page came from, when, the WARC pointer). Keys are in the DESIGN.md order so records
read well in a terminal. ``version`` / ``previous`` (docs/record.md) are the record's place in the
article's history: 1 and null here, set by the dedup pipeline when an earlier crawl recorded it.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from crawler.urlpolicy import canonicalize, site_of

SCHEMA_VERSION = 1

FIELDS = (
    "id", "url", "final_url", "canonical_url", "domain", "site_name", "title", "authors", "published",
    "modified", "language", "description", "section", "tags", "text", "word_count", "images", "links",
    "discovered_via", "fetched_at", "http_status", "content_type", "text_sha1", "simhash", "warc",
    "crawl_id", "extractor", "version", "previous", "schema_version",
)


def record_key(final_url: str, canonical_url: str | None) -> str:
    """The URL a record is identified by: the page's canonical URL when it is on the same site.

    A canonical link to another site is usually syndication pointing at the original: the copy is
    still its own capture on its own site, so it keeps its own identity (export dedups the text).
    """
    if canonical_url and site_of(canonical_url) == site_of(final_url):
        return canonicalize(canonical_url)
    return canonicalize(final_url)


def build_record(item: dict, fields: dict, crawl_id: str) -> dict:
    final_url = item.get("final_url") or item["url"]
    canonical = fields.get("canonical_url")
    key = record_key(final_url, canonical)
    merged = {
        **fields,
        "id": hashlib.sha1(key.encode("utf-8")).hexdigest(),
        "url": item["url"],
        "final_url": final_url,
        "canonical_url": canonical or key,
        "domain": (urlsplit(final_url).hostname or "").lower(),
        "discovered_via": item.get("discovered_via"),
        "fetched_at": item.get("fetched_at"),
        "http_status": item.get("http_status"),
        "content_type": item.get("content_type"),
        "warc": item.get("warc"),
        "crawl_id": crawl_id,
        # The first version until the dedup pipeline, which knows earlier crawls, says otherwise.
        "version": 1,
        "previous": None,
        "schema_version": SCHEMA_VERSION,
    }
    record = {k: merged.get(k) for k in FIELDS}
    # Extra page-level fields an extractor adds (e.g. a published-date cross-check note) are kept.
    for k, v in fields.items():
        if k not in record:
            record[k] = v
    return record
