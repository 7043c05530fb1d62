"""``newsarchive extract FILE_OR_URL... [--url URL]``: article records as JSON lines on stdout.

HTML files give one record each; WARC files give one record per archived HTML response that is an
article, with its ``warc`` pointer. Nothing is written to the archive: this is for looking, piping
and testing extraction on single pages.
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
                       description="Print one JSON record per article found in HTML files, WARC files or URLs.")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_URL")
    p.add_argument("--url", help="the page's URL, for an HTML file (resolves links, sets the record's url)")
    p.add_argument("--all", action="store_true", help="also print a line for pages that are not articles")
    p.set_defaults(func=run)


def is_warc(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".warc", ".warc.gz", ".arc.gz"))


def _emit(record: dict) -> None:
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


def _extract_one(body: bytes, url: str, content_type: str | None, extra: dict, show_all: bool) -> int:
    from pipelines.extraction import extract_page
    from pipelines.record import build_record

    fields, reason = extract_page(body, url, content_type=content_type, final_url=url)
    if fields is None:
        if show_all:
            _emit({"url": url, "skipped": reason})
        print(f"newsarchive extract: {url}: not an article ({reason})", file=sys.stderr)
        return 0
    item = {"url": url, "final_url": url, "content_type": content_type, **extra}
    _emit(build_record(item, fields, crawl_id=extra.get("crawl_id")))
    return 1


def extract_warc(path: Path, show_all: bool) -> int:
    from warcio.archiveiterator import ArchiveIterator

    found = 0
    with open(path, "rb") as f:
        it = ArchiveIterator(f)
        for record in it:
            if record.rec_type != "response" or not record.http_headers:
                continue
            ctype = record.http_headers.get_header("Content-Type") or ""
            if "html" not in ctype.lower():
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            body = record.content_stream().read(MAX_BYTES)
            offset = it.get_record_offset()
            it.read_to_end(record)
            pointer = {
                "file": str(path), "offset": offset, "length": it.get_record_length(),
                "record_id": record.rec_headers.get_header("WARC-Record-ID"),
                "payload_digest": record.rec_headers.get_header("WARC-Payload-Digest"),
            }
            extra = {"http_status": int(record.http_headers.get_statuscode() or 0), "warc": pointer,
                     "fetched_at": record.rec_headers.get_header("WARC-Date")}
            found += _extract_one(body, url, ctype, extra, show_all)
    return found


def fetch(url: str) -> tuple[bytes, str | None, str]:
    from crawler.addon import default_user_agent

    req = urllib.request.Request(url, headers={"User-Agent": default_user_agent("")})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.read(MAX_BYTES), resp.headers.get("Content-Type"), resp.geturl()


def run(args) -> int:
    from crawler.urlpolicy import is_http_url

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
