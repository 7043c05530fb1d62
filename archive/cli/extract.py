"""``newsarchive extract FILE_OR_URL... [--url URL]``: article records as JSON lines on stdout.

HTML files give one record each; WARC files give one record per archived HTML response that is an
article, with its ``warc`` pointer. A file may also be an ``s3://bucket/key`` (a WARC is streamed
from the bucket, not downloaded first; credentials from the ``AWS_*`` environment). Nothing is
written to the archive: this is for looking, piping and testing extraction on single pages.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

from archive.cli import UsageError

MAX_BYTES = 32 * 1024 * 1024


def register(sub) -> None:
    p = sub.add_parser("extract", help="extract article records from HTML or WARC files",
                       description="Print one JSON record per article found in HTML files, WARC "
                       "files or URLs. Files may be s3://bucket/key (AWS_* environment, docs/s3.md).")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_URL",
                   help="an HTML or WARC file (local or s3://bucket/key), or an http(s) URL")
    p.add_argument("--url", help="the page's URL, for an HTML file (resolves links, sets the record's url)")
    p.add_argument("--all", action="store_true", help="also print a line for pages that are not articles")
    p.set_defaults(func=run)


def is_warc(path: Path | str) -> bool:
    name = str(path).lower()
    return name.endswith((".warc", ".warc.gz", ".arc.gz"))


def _emit(record: dict) -> None:
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


def _extract_one(body: bytes, url: str, content_type: str | None, extra: dict, show_all: bool) -> int:
    from archive.reprocess import record_fields
    from pipelines.extraction import extract_page
    from pipelines.record import build_record

    fields, reason = extract_page(body, url, content_type=content_type, final_url=url)
    if fields is None:
        if show_all:
            _emit({"url": url, "skipped": reason})
        print(f"newsarchive extract: {url}: not an article ({reason})", file=sys.stderr)
        return 0
    item = {"url": url, "final_url": url, "content_type": content_type, **extra}
    _emit(build_record(item, record_fields(fields), crawl_id=extra.get("crawl_id")))
    return 1


def extract_warc(path: Path | str, show_all: bool) -> int:
    """Records of a WARC file (a local path or ``s3://bucket/key``, streamed)."""
    from archive.reprocess import iter_warc_pages

    found = 0
    for page in iter_warc_pages(path, str(path)):
        extra = {"http_status": page.http_status, "warc": page.pointer, "fetched_at": page.date}
        found += _extract_one(page.body, page.url, page.content_type, extra, show_all)
    return found


def fetch(url: str) -> tuple[bytes, str | None, str]:
    from crawler.addon import default_user_agent

    req = urllib.request.Request(url, headers={"User-Agent": default_user_agent("")})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.read(MAX_BYTES), resp.headers.get("Content-Type"), resp.geturl()


def _read_s3(uri: str) -> bytes:
    from archive.storage import open_file

    with open_file(uri) as f:
        return f.read(MAX_BYTES)


def run(args) -> int:
    from archive.records import is_transport_error
    from crawler.urlpolicy import is_http_url
    from pipelines.storage import StorageConfigError, is_s3_uri

    if args.url and len(args.inputs) > 1:
        raise UsageError("--url applies to a single input")
    for item in args.inputs:
        if is_http_url(item):
            try:
                body, ctype, final = fetch(item)
            except OSError as e:
                print(f"newsarchive extract: {item}: {e}", file=sys.stderr)
                return 1
            _extract_one(body, final, ctype, {}, args.all)
            continue
        if is_s3_uri(item):
            try:
                if is_warc(item):
                    extract_warc(item, args.all)
                else:
                    _extract_one(_read_s3(item), args.url or item, None, {}, args.all)
            except StorageConfigError as e:
                raise UsageError(f"{item}: {e}") from None
            except FileNotFoundError:
                raise UsageError(f"{item}: no such file") from None
            except OSError as e:  # the store could not be reached (StorageError)
                print(f"newsarchive extract: {e}", file=sys.stderr)
                return 1
            except Exception as e:
                if not is_transport_error(e):  # boto3's errors while streaming the body
                    raise
                print(f"newsarchive extract: {item}: {type(e).__name__}: {e}", file=sys.stderr)
                return 1
            continue
        path = Path(item)
        if not path.is_file():
            raise UsageError(f"{item}: no such file")
        if is_warc(path):
            extract_warc(path, args.all)
            continue
        with open(path, "rb") as f:
            body = f.read(MAX_BYTES)
        _extract_one(body, args.url or path.resolve().as_uri(), None, {}, args.all)
    return 0
