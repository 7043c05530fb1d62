"""Package an archive as a WACZ file, so ReplayWeb.page can open and search it.

The packaging itself (zip layout, the compressed CDXJ with its ``.idx``, ``datapackage.json``
with hashes, ``datapackage-digest.json``) is py-wacz's, the Webrecorder reference
implementation: it re-indexes the WARCs because inside a WACZ they sit flat in ``archive/`` and
the index's ``filename`` must say so, unlike our ``index/*.cdxj`` whose names are relative to
``warc/``. What we add is ``pages/pages.jsonl``: one line per article record with the URL and
timestamp *of its WARC response record* (ReplayWeb.page opens a page by URL + timestamp, so
they must name a real capture), the record's title and its extracted text, which is what
ReplayWeb.page's full-text search reads.

An ``s3://bucket/prefix`` archive is copied down first (the chosen crawls' WARCs and record
files, into a temporary folder): a WACZ holds its WARCs whole anyway. ``out`` may be an
``s3://bucket/key.wacz``: the file is made locally, then uploaded and checked (size + ETag).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from archive.records import iter_records
from archive.storage import Archive, open_archive, project_settings
from archive.warcrecord import RecordNotFound, read_record
from pipelines.storage import S3Location, S3Storage, StorageConfigError, is_s3_uri

PAGES_HEADER = {"format": "json-pages-1.0", "id": "pages", "title": "Articles", "hasText": True}


class WaczError(Exception):
    """The archive cannot be packaged as asked (nothing to package, name clash): exit code 2."""


class WaczInvalid(RuntimeError):
    """py-wacz's own validation rejects the file made: exit code 1."""


@dataclass
class WaczResult:
    path: Path | str  # the file written, or the s3:// URI it was uploaded to
    warcs: int
    pages: int
    skipped: int  # records whose WARC response could not be found


def warc_files(root: Path, crawl_ids: Iterable[str] | None = None) -> list[Path]:
    """Committed WARC files (never ``.open`` ones), oldest crawl first."""
    base = Path(root) / "warc"
    wanted = None if crawl_ids is None else set(crawl_ids)
    files = [
        p for p in sorted(base.glob("*/*.warc.gz"))
        if wanted is None or p.parent.name in wanted
    ]
    names: dict[str, Path] = {}
    for p in files:
        if p.name in names:
            # py-wacz stores every WARC as archive/<basename>: two equal names would collide.
            raise WaczError(f"two WARC files share the name {p.name}: {names[p.name]} and {p}")
        names[p.name] = p
    return files


def capture_of(root: Path, pointer: dict) -> tuple[str, str] | None:
    """(WARC-Target-URI, WARC-Date) of the record a ``warc`` pointer names, or None."""
    try:
        rec = read_record(root, pointer)
    except (OSError, KeyError, TypeError, ValueError, RecordNotFound):
        return None
    return rec.rec_headers.get_header("WARC-Target-URI"), rec.rec_headers.get_header("WARC-Date")


def iter_pages(root: Path, crawl_ids: Iterable[str] | None = None) -> Iterator[dict | None]:
    """One ``pages.jsonl`` entry per article record (None for a record with no capture)."""
    seen: set[tuple[str, str]] = set()
    for rec in iter_records(root, crawl_ids):
        pointer = rec.get("warc") or {}
        capture = capture_of(root, pointer) if pointer else None
        if capture is None or not capture[0] or not capture[1]:
            yield None
            continue
        url, ts = capture
        if (url, ts) in seen:
            continue
        seen.add((url, ts))
        yield {"id": rec.get("id"), "url": url, "ts": ts,
               "title": rec.get("title") or url, "text": rec.get("text") or ""}


def write_pages(root: Path, dest: Path, crawl_ids: Iterable[str] | None = None) -> tuple[int, int]:
    """Write ``pages.jsonl`` (header line first); returns (pages written, records skipped)."""
    written = skipped = 0
    with open(dest, "w", encoding="utf-8") as f:
        f.write(json.dumps(PAGES_HEADER) + "\n")
        for page in iter_pages(root, crawl_ids):
            if page is None:
                skipped += 1
                continue
            # py-wacz reads pages.jsonl with the platform's default encoding when validating it.
            f.write(json.dumps(page, ensure_ascii=True) + "\n")
            written += 1
    return written, skipped


def _run_pywacz(argv: list[str]) -> tuple[int, str]:
    """Run py-wacz's own command line in-process; it prints progress chatter, which we keep
    (returned, for error messages) instead of letting it into our stdout."""
    from wacz.main import main as wacz_main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = wacz_main(argv)
    return int(code or 0), buf.getvalue()


def create_wacz(
    root: Path | str,
    out: Path | str,
    *,
    crawl_ids: Iterable[str] | None = None,
    title: str | None = None,
    description: str | None = None,
    validate: bool = False,
) -> WaczResult:
    """Package ``root`` (a local folder or ``s3://bucket/prefix``) as ``out`` (a local ``.wacz``
    or ``s3://bucket/key.wacz``). With ``validate``, a file that ``wacz validate`` rejects is
    never given its name (nor uploaded): :class:`WaczInvalid` is raised.
    """
    crawl_ids = list(crawl_ids) if crawl_ids is not None else None
    try:
        archive = open_archive(root)
        remote_out = S3Location.parse(str(out)) if is_s3_uri(out) else None
    except StorageConfigError as e:
        raise WaczError(str(e)) from None
    if remote_out is not None and not remote_out.prefix.endswith(".wacz"):
        raise WaczError(f"{out}: name the file, s3://bucket/key.wacz")
    with tempfile.TemporaryDirectory(prefix="newsarchive-wacz-") as tmp:
        if archive.remote:
            local_root = copy_down(archive, Path(tmp) / "archive", crawl_ids)
            title = title or f"newsarchive: {archive.uri.rstrip('/').rsplit('/', 1)[-1]}"
        else:
            local_root = Path(root)
        if remote_out is None:
            return _package(local_root, Path(out), crawl_ids, title, description, validate)
        staged = Path(tmp) / "out" / remote_out.prefix.rsplit("/", 1)[-1]
        result = _package(local_root, staged, crawl_ids, title, description, validate)
        return _upload(result, staged, remote_out)


def copy_down(archive: Archive, dest: Path, crawl_ids: Iterable[str] | None = None) -> Path:
    """The crawls' finished WARCs and record files, copied into ``dest`` in the archive layout."""
    wanted = None if crawl_ids is None else set(crawl_ids)
    try:
        rels = archive.list("warc/") + archive.list("articles/")
    except FileNotFoundError as e:
        raise WaczError(str(e)) from None
    for rel in rels:
        parts = rel.split("/")
        if len(parts) != 3 or (wanted is not None and parts[1] not in wanted):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        archive.download(rel, target)
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def _upload(result: WaczResult, staged: Path, location: S3Location) -> WaczResult:
    """Upload the finished file to ``location`` (its key) and check it, as a crawl's files are."""
    parent, _, name = location.prefix.rpartition("/")
    folder = S3Location(location.bucket, parent)
    storage = S3Storage.from_settings(folder.uri, project_settings(), spool=staged.parent)
    storage.store(name, "wacz")
    report = storage.close()
    if report.failed:
        raise OSError(f"could not upload to {location.uri}: {report.failed[name]}")
    return WaczResult(path=location.uri, warcs=result.warcs, pages=result.pages,
                      skipped=result.skipped)


def _package(root: Path, out: Path, crawl_ids: list[str] | None, title: str | None,
             description: str | None, validate: bool) -> WaczResult:
    warcs = warc_files(root, crawl_ids)
    if not warcs:
        raise WaczError(f"{root}: no WARC files to package")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".open")
    with tempfile.TemporaryDirectory(prefix="newsarchive-wacz-") as tmp:
        pages = Path(tmp) / "pages.jsonl"
        n_pages, skipped = write_pages(root, pages, crawl_ids)
        argv = ["create", "-o", str(partial), "--pages", str(pages), "--copy-pages",
                "--hash-type", "sha256", "--title", title or f"newsarchive: {root.resolve().name}"]
        if description:
            argv += ["--desc", description]
        code, chatter = _run_pywacz(argv + [str(p) for p in warcs])
    if code != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        last = chatter.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"py-wacz create failed ({code}): {last[0]}")
    if validate:
        ok, text = validate_wacz(partial)
        if not ok:
            partial.unlink(missing_ok=True)
            raise WaczInvalid(f"{out} does not validate: "
                              f"{(text.strip().splitlines() or ['no output'])[-1]}")
    partial.replace(out)
    return WaczResult(path=out, warcs=len(warcs), pages=n_pages, skipped=skipped)


def validate_wacz(path: Path) -> tuple[bool, str]:
    """py-wacz's ``wacz validate`` (structure, datapackage, file hashes); (ok, its output)."""
    code, chatter = _run_pywacz(["validate", "-f", str(path)])
    return code == 0, chatter


if __name__ == "__main__":  # a quick way to check a file: python -m archive.wacz FILE.wacz
    ok, text = validate_wacz(Path(sys.argv[1]))
    print(text, end="")
    sys.exit(0 if ok else 1)
