"""Deciding which records an export keeps: canonical-URL, exact-text and near-text dedup.

The export reads the archive twice. The first pass feeds ``DedupKeys`` a few fixed-size keys per
record that passed the filters (about 50 bytes: ordinal, canonical-URL hash, version, capture
time, text digest, SimHash); ``decide()`` turns them into the set of ordinals to write, and the
second pass writes those records. Two passes because every rule here needs the whole archive
before it can choose ("earliest capture", "latest version"): records are not in capture order
across crawls, and holding the records themselves until the end is what must not happen.

Rules, applied in this order and each counted:

1. canonical URL (always): records with the same ``id`` (sha1 of the crawl's record key: the
   canonical URL when it is on the page's own site, else the final URL, canonicalized by
   ``crawler.urlpolicy``) are one article. Keep the highest ``version`` when records carry one (a
   re-crawl that saw an updated article), else the earliest capture (``fetched_at``): the first
   capture is the one closest to publication, and a later capture of an unchanged page adds
   nothing. A syndicated copy whose canonical URL is on another site keeps its own id, as in the
   crawl; the text rules below are what remove it.
2. exact (``--dedup exact|near``): same ``text_sha1`` (normalized text) under different URLs;
   keep the earliest capture.
3. near (``--dedup near``): SimHashes within ``threshold`` bits; keep the earliest capture.
   Candidates come from a banded LSH index (``SimhashLSH``) so this is not O(n²).

Records with no text are never text-deduplicated: an empty text says nothing about sameness.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.textfp import hamming, simhash, text_sha1

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
SIMHASH_BITS = 64
MAX_NEAR_THRESHOLD = 16
EMPTY_TEXT_SHA1 = text_sha1("")


def _hash64(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest(), "big")


def canonical_key(record: dict) -> str | None:
    """The article's identity: the record ``id``, i.e. the crawl's record key (its canonical URL
    when on the page's own site, else its final URL, canonicalized). Records written without an
    ``id`` get the one the crawl would have given them, from the same function."""
    record_id = record.get("id")
    if isinstance(record_id, str) and record_id:
        return record_id
    final_url = record.get("final_url") or record.get("url")
    if not isinstance(final_url, str) or not final_url:
        return None
    canonical = record.get("canonical_url")
    # Lazy: it pulls in the crawler's URL policy (tldextract, w3lib), needed only for odd records.
    from pipelines.record import record_key

    key = record_key(final_url, canonical if isinstance(canonical, str) else None)
    return hashlib.sha1(key.encode("utf-8")).hexdigest()


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 string as an aware UTC datetime (naive values are taken as UTC), else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def _micros(dt: datetime | None) -> int:
    if dt is None:
        return INT64_MAX  # unknown capture time sorts last: never preferred over a known one
    return int(dt.timestamp() * 1_000_000)


def _version(record: dict) -> int:
    value = record.get("version")
    if isinstance(value, bool) or value is None:
        return INT64_MIN
    try:
        return int(value)
    except (TypeError, ValueError):
        return INT64_MIN


def fingerprints(record: dict) -> tuple[str, str] | None:
    """``(text_sha1, simhash)`` from the record, computed with the crawl's own functions when a
    field is missing; None when the record has no text to compare."""
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        return None
    digest, sim = record.get("text_sha1"), record.get("simhash")
    if not isinstance(digest, str) or not digest:
        digest = text_sha1(text)
    if digest == EMPTY_TEXT_SHA1:  # punctuation only: nothing to compare
        return None
    if not isinstance(sim, str) or len(sim) != 16:
        sim = simhash(text)
    return digest, sim


@dataclass
class DedupKeys:
    """Fixed-size keys of the records that passed the filters, in typed arrays (8 bytes a value,
    no Python object per record): this is the only state of an export that grows with the archive."""

    ordinal: array = field(default_factory=lambda: array("q"))
    canon: array = field(default_factory=lambda: array("Q"))
    version: array = field(default_factory=lambda: array("q"))
    fetched: array = field(default_factory=lambda: array("q"))
    text: array = field(default_factory=lambda: array("Q"))
    sim: array = field(default_factory=lambda: array("Q"))
    has_text: array = field(default_factory=lambda: array("b"))

    def __len__(self) -> int:
        return len(self.ordinal)

    def add(self, ordinal: int, record: dict, need_text: bool) -> None:
        key = canonical_key(record)
        self.ordinal.append(ordinal)
        # A record with no URL at all is its own article: a key no other record can have.
        self.canon.append(_hash64(key if key is not None else f"\0ordinal:{ordinal}"))
        self.version.append(_version(record))
        self.fetched.append(_micros(parse_time(record.get("fetched_at"))))
        fp = fingerprints(record) if need_text else None
        if fp is None:
            self.text.append(0)
            self.sim.append(0)
            self.has_text.append(0)
        else:
            self.text.append(int(fp[0][:16], 16) if _is_hex(fp[0]) else _hash64(fp[0]))
            self.sim.append(int(fp[1], 16) if _is_hex(fp[1]) else 0)
            self.has_text.append(1)

    def clear(self) -> None:
        for name in ("ordinal", "canon", "version", "fetched", "text", "sim", "has_text"):
            setattr(self, name, array(getattr(self, name).typecode))

    def table(self) -> pa.Table:
        return pa.table(
            {
                "ordinal": pa.array(self.ordinal, pa.int64()),
                "canon": pa.array(self.canon, pa.uint64()),
                "version": pa.array(self.version, pa.int64()),
                "fetched": pa.array(self.fetched, pa.int64()),
                "text": pa.array(self.text, pa.uint64()),
                "sim": pa.array(self.sim, pa.uint64()),
                "has_text": pa.array(self.has_text, pa.int8()),
            }
        )


def _is_hex(value: str) -> bool:
    try:
        int(value, 16)
    except ValueError:
        return False
    return True


class SimhashLSH:
    """Banded LSH over 64-bit SimHashes: a hash within ``threshold`` bits of a stored one is found.

    The hash is cut into ``threshold + 1`` bands (at least 4). Two hashes that differ in at most
    ``threshold`` bits cannot differ in every band (pigeonhole), so they share at least one band
    value exactly: looking up each band's bucket finds every true near duplicate, and only the
    bucket's members are compared bit by bit. With 4 bands of 16 bits a bucket holds about
    n / 65536 hashes, so a million records cost a few dozen comparisons each.

    Buckets hold indices into one array of stored hashes (4 bytes a band, 8 for the hash).
    """

    def __init__(self, threshold: int = 3) -> None:
        if not 0 <= threshold <= MAX_NEAR_THRESHOLD:
            raise ValueError(f"near threshold must be 0..{MAX_NEAR_THRESHOLD} bits")
        self.threshold = threshold
        self.bands = max(4, threshold + 1)
        width = SIMHASH_BITS // self.bands
        self._cuts = [(i * width, width if i < self.bands - 1 else SIMHASH_BITS - i * width)
                      for i in range(self.bands)]
        self._buckets: list[dict[int, array]] = [{} for _ in range(self.bands)]
        self._hashes = array("Q")
        self.comparisons = 0

    def _band_values(self, value: int) -> Iterator[tuple[int, int]]:
        for band, (shift, width) in enumerate(self._cuts):
            yield band, (value >> shift) & ((1 << width) - 1)

    def find(self, value: int) -> int | None:
        """Index of a stored hash within the threshold of ``value``, or None."""
        hex_value = f"{value:016x}"
        seen: set[int] = set()
        for band, key in self._band_values(value):
            bucket = self._buckets[band].get(key)
            if bucket is None:
                continue
            for idx in bucket:
                if idx in seen:
                    continue
                seen.add(idx)
                self.comparisons += 1
                # textfp.hamming is the crawl's definition of distance; candidates are few.
                if hamming(hex_value, f"{self._hashes[idx]:016x}") <= self.threshold:
                    return idx
        return None

    def add(self, value: int) -> int:
        idx = len(self._hashes)
        self._hashes.append(value)
        for band, key in self._band_values(value):
            bucket = self._buckets[band].get(key)
            if bucket is None:
                bucket = self._buckets[band][key] = array("I")
            bucket.append(idx)
        return idx

    def __len__(self) -> int:
        return len(self._hashes)


def _first_of_runs(sorted_keys: pa.ChunkedArray) -> pa.Array:
    """True where a sorted column starts a new run of equal values."""
    arr = sorted_keys.combine_chunks()
    if len(arr) == 0:
        return pa.array([], pa.bool_())
    changed = pc.not_equal(arr.slice(1), arr.slice(0, len(arr) - 1))
    return pa.concat_arrays([pa.array([True]), changed])


@dataclass
class Decision:
    keep: bytearray  # one byte per ordinal read: 1 = write it
    rows: int
    removed: dict[str, int]
    lsh_comparisons: int = 0


def decide(keys: DedupKeys, total_ordinals: int, mode: str, threshold: int = 3) -> Decision:
    """Which ordinals to write under ``mode`` (``none``, ``exact`` or ``near``), and how many
    rows each rule removed."""
    if mode not in ("none", "exact", "near"):
        raise ValueError(f"unknown dedup mode {mode!r}")
    removed = {"canonical_url": 0, "exact": 0, "near": 0}
    t = keys.table()
    passed = t.num_rows
    keys.clear()  # the table holds a copy; intermediate tables are dropped as soon as used

    by_canon = t.sort_by(
        [("canon", "ascending"), ("version", "descending"), ("fetched", "ascending"),
         ("ordinal", "ascending")]
    )
    del t
    survivors = by_canon.filter(_first_of_runs(by_canon["canon"]))
    del by_canon
    removed["canonical_url"] = passed - survivors.num_rows

    if mode in ("exact", "near"):
        textless = survivors.filter(pc.equal(survivors["has_text"], 0))
        texted = survivors.filter(pc.equal(survivors["has_text"], 1)).sort_by(
            [("text", "ascending"), ("fetched", "ascending"), ("ordinal", "ascending")]
        )
        kept = texted.filter(_first_of_runs(texted["text"]))
        removed["exact"] = texted.num_rows - kept.num_rows
        survivors = pa.concat_tables([textless, kept])
        del textless, texted, kept

    comparisons = 0
    keep = bytearray(total_ordinals)
    if mode == "near":
        ordered = survivors.sort_by([("fetched", "ascending"), ("ordinal", "ascending")])
        lsh = SimhashLSH(threshold)
        for batch in ordered.select(["ordinal", "sim", "has_text"]).to_batches(max_chunksize=65536):
            for ordinal, sim, has_text in zip(
                batch.column(0).to_pylist(), batch.column(1).to_pylist(),
                batch.column(2).to_pylist(), strict=True,
            ):
                if has_text:
                    if lsh.find(sim) is not None:
                        removed["near"] += 1
                        continue
                    lsh.add(sim)
                keep[ordinal] = 1
        comparisons = lsh.comparisons
    else:
        for chunk in survivors["ordinal"].chunks:
            for ordinal in chunk.to_pylist():
                keep[ordinal] = 1
    rows = passed - sum(removed.values())
    return Decision(keep=keep, rows=rows, removed=removed, lsh_comparisons=comparisons)
