"""Archive every HTTP exchange into WARC files, and index it, as it comes off the wire.

At priority 950 this middleware's ``process_response`` runs before HttpCompressionMiddleware
(590) and RedirectMiddleware (600): the body is still content-encoded and every redirect hop is
archived as its own exchange. What Scrapy and Twisted have already normalised by then (header
case, header order, connection headers) is listed in docs/warc.md.

Revisits: a request that carries its URL's previous capture (``request.meta["newsarchive_previous"]``,
set by the spider from the crawl state) is compared with it. A ``200`` whose payload digest is
the previous one is written as a ``revisit`` record (identical-payload-digest profile); a ``304``
answer to the conditional request as a ``revisit`` record with the server-not-modified profile
(WARC 1.1, 6.7.2), since it carries no payload of its own. Both refer to the previous capture
(``WARC-Refers-To-Target-URI``, ``-Date`` and ``WARC-Refers-To``), and
``request.meta["newsarchive_revisit"]`` tells the spider. Every other full ``200`` capture is
logged in the crawl state for the next run to refer to.
"""

from __future__ import annotations

import errno
import http
import logging
import socket
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_from_coro
from twisted.web.http_headers import Headers as TxHeaders

from crawler.state import Capture, CrawlState, state_from_crawler
from crawler.urlpolicy import strip_userinfo
from pipelines.cdxj import CdxjIndexWriter
from pipelines.session import ArchiveSession
from pipelines.warc import (
    REVISIT_NOT_MODIFIED,
    Exchange,
    WarcFileWriter,
    timestamp14,
    warc_date,
)
from pipelines.warc import (
    payload_digest as payload_digest,  # re-exported: tests and callers import it from here
)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response
    from scrapy.statscollectors import StatsCollector
    from typing_extensions import Self

logger = logging.getLogger(__name__)

META_KEY = "newsarchive_warc"
PREVIOUS_KEY = "newsarchive_previous"
REVISIT_KEY = "newsarchive_revisit"
IDENTICAL_PAYLOAD = "identical-payload-digest"
SERVER_NOT_MODIFIED = "server-not-modified"
NOT_MODIFIED_PROFILE = REVISIT_NOT_MODIFIED
ARCHIVED_SCHEMES = ("http", "https")
# Credentials: the proxy's never reached the site, and neither belongs in a shareable archive.
DROPPED_REQUEST_HEADERS = frozenset({"proxy-authorization"})
REDACTED_REQUEST_HEADERS = frozenset({"authorization"})
REDACTED = "<redacted>"


def _text(value: bytes) -> str:
    """Header bytes as text: UTF-8 when valid (warcio then %-encodes it losslessly), else Latin-1."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def reason_phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def host_header(url: str) -> str:
    """The Host value Twisted's Agent sends when the request has none (port only if not default)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    if parts.port is not None and (parts.scheme, parts.port) in (("http", 80), ("https", 443)):
        host = host.rsplit(":", 1)[0]
    return host


def wire_request_headers(request: Request) -> list[tuple[str, str]]:
    """Request headers in the order and case Scrapy's HTTP/1.1 handler (Twisted) sends them.

    Twisted writes ``Content-Length`` first when there is a body, then the headers with its
    canonical name case, then ``Host`` if the request had none.
    """
    raw = list(TxHeaders(request.headers).getAllRawHeaders())
    headers: list[tuple[str, str]] = []
    names = {name.lower() for name, _ in raw}
    if request.body and b"content-length" not in names:
        headers.append(("Content-Length", str(len(request.body))))
    for name, values in raw:
        key = name.decode("latin-1")
        if key.lower() in DROPPED_REQUEST_HEADERS:
            continue
        for value in values:
            text = REDACTED if key.lower() in REDACTED_REQUEST_HEADERS else _text(value)
            headers.append((key, text))
    if b"host" not in names:
        headers.append(("Host", host_header(request.url)))
    return headers


def first_header(headers: list[tuple[str, str]], name: str) -> str | None:
    name = name.lower()
    return next((value for key, value in headers if key.lower() == name), None)



_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException | None) -> bool:
    """An OSError (or one it was raised from) saying the disk or the quota is full."""
    for _ in range(8):  # a chain is short; never follow a cycle
        if exc is None:
            return False
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def exchange_from(request: Request, response: Response, date: datetime) -> Exchange:
    return Exchange(
        # SafetyMiddleware takes credentials out of URLs before fetching; with it switched off
        # they still stay out of WARC-Target-URI and the index.
        url=strip_userinfo(response.url),
        method=request.method,
        request_headers=wire_request_headers(request),
        request_body=request.body,
        protocol=response.protocol or "HTTP/1.1",
        status=response.status,
        reason=reason_phrase(response.status),
        response_headers=[
            (_text(name), _text(value))
            for name, values in response.headers.items()
            for value in values
        ],
        body=response.body,
        ip_address=None if response.ip_address is None else str(response.ip_address),
        date=date,
    )


class WarcCaptureMiddleware:
    """Writes each raw exchange to WARC and the CDXJ index; puts the pointer in request.meta.

    ``request.meta["newsarchive_warc"]`` holds ``{file, offset, length, record_id,
    payload_digest}`` of the response (or revisit) record; a redirect copies meta, and the next
    hop's response overwrites it, so the page a spider parses carries its own pointer. A write
    error is logged and counted (``newsarchive/warc/errors``), never raised into the crawl.
    """

    def __init__(
        self,
        writer: WarcFileWriter,
        index: CdxjIndexWriter | None,
        stats: StatsCollector,
        clock: Callable[[], datetime] | None = None,
        state: CrawlState | None = None,
        on_disk_full: Callable[[], object] | None = None,
    ) -> None:
        self.writer = writer
        self.index = index
        self.stats = stats
        self.state = state
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._on_disk_full = on_disk_full
        self._disk_full = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        if not settings.getbool("NEWSARCHIVE_WARC_ENABLED", True):
            raise NotConfigured("NEWSARCHIVE_WARC_ENABLED is off")
        session = ArchiveSession.from_crawler(crawler)
        writer = WarcFileWriter(
            session,
            hostname=socket.gethostname(),
            max_size=settings.getint("NEWSARCHIVE_WARC_MAX_SIZE", 1 << 30),
            gzip_level=settings.getint("NEWSARCHIVE_WARC_GZIP_LEVEL", 3),
            warcinfo={
                "operator": settings.get("NEWSARCHIVE_OPERATOR") or "",
                "robots": "obey" if settings.getbool("ROBOTSTXT_OBEY") else "ignore",
            },
        )
        index = CdxjIndexWriter(session) if settings.getbool("NEWSARCHIVE_INDEX_ENABLED", True) else None
        assert crawler.stats is not None
        o = cls(writer, index, crawler.stats, state=state_from_crawler(crawler),
                on_disk_full=lambda: deferred_from_coro(crawler.engine.close_spider_async(reason="disk_full")))
        crawler.signals.connect(o.spider_closed, signal=signals.spider_closed)
        return o

    def process_response(self, request: Request, response: Response) -> Response:
        request.meta.pop(META_KEY, None)  # a redirected request's copy points at the last hop
        request.meta.pop(REVISIT_KEY, None)
        if "cached" in response.flags:
            # Replayed from HTTPCACHE: archiving it again would claim a fetch that never happened.
            self.stats.inc_value("newsarchive/warc/skipped/cached")
            return response
        if urlsplit(response.url).scheme not in ARCHIVED_SCHEMES:
            self.stats.inc_value("newsarchive/warc/skipped/scheme")
            return response
        ex = exchange_from(request, response, self._clock())
        previous = request.meta.get(PREVIOUS_KEY)
        profile = self._revisit_profile(ex, previous)
        records, nbytes = self.writer.records_written, self.writer.bytes_written
        try:
            if profile is None:
                pointer = self.writer.write_exchange(ex)
            else:
                pointer = self._write_revisit(ex, previous, profile)
        except OSError as exc:
            logger.error("WARC capture of %s failed: %s", response.url, exc)
            self.stats.inc_value("newsarchive/warc/errors")
            if is_disk_full(exc):
                self._stop_on_full_disk()
            return response
        finally:
            self._update_stats(records, nbytes)
        request.meta[META_KEY] = pointer
        if profile is not None:
            request.meta[REVISIT_KEY] = {"profile": profile, "refers_to": previous["record_id"]}
            self.stats.inc_value(f"newsarchive/warc/revisits/{profile}")
        elif ex.status == 200 and self.state is not None:
            self.state.add_capture(Capture(
                record_id=pointer["record_id"], url=ex.url, warc_date=warc_date(ex.date),
                payload_digest=pointer["payload_digest"],
                etag=first_header(ex.response_headers, "ETag"),
                last_modified=first_header(ex.response_headers, "Last-Modified"),
            ))
        # A server-not-modified revisit is not indexed: its 304 headers would be replayed with
        # the earlier payload. The capture it refers to stays the one replay finds.
        if self.index is not None and profile != SERVER_NOT_MODIFIED:
            self._index(ex, pointer, "response" if profile is None else "revisit")
        return response

    def _stop_on_full_disk(self) -> None:
        """Fetching on while nothing can be archived would only load the sites for nothing: the
        crawl is closed (finish reason ``disk_full``) the first time the disk is full."""
        if self._disk_full:
            return
        self._disk_full = True
        logger.error("The archive's disk is full: closing the crawl (finish reason disk_full)")
        if self._on_disk_full is not None:
            self._on_disk_full()

    @staticmethod
    def _revisit_profile(ex: Exchange, previous: dict | None) -> str | None:
        if not previous or not previous.get("payload_digest") or not previous.get("record_id"):
            return None
        if ex.status == 304:
            return SERVER_NOT_MODIFIED
        if ex.status == 200 and ex.payload_digest == previous["payload_digest"]:
            return IDENTICAL_PAYLOAD
        return None

    def _write_revisit(self, ex: Exchange, previous: dict, profile: str) -> dict:
        refs = {
            "refers_to_uri": previous["uri"],
            "refers_to_date": previous["date"],
            "refers_to_record_id": previous["record_id"],
            "payload_digest": previous["payload_digest"],
        }
        if profile == SERVER_NOT_MODIFIED:
            return self.writer.write_revisit(ex, **refs, profile=NOT_MODIFIED_PROFILE)
        return self.writer.write_revisit(ex, **refs)

    def spider_closed(self) -> None:
        try:
            self.writer.close()
        except OSError as exc:
            logger.error("Finishing the WARC file failed: %s", exc)
            self.stats.inc_value("newsarchive/warc/errors")
        self.stats.set_value("newsarchive/warc/files", self.writer.files_written)
        if self.index is not None:
            try:
                self.index.close()
            except OSError as exc:
                logger.error("Writing the CDXJ index failed: %s", exc)
                self.stats.inc_value("newsarchive/index/errors")

    def _index(self, ex: Exchange, pointer: dict, record_type: str = "response") -> None:
        assert self.index is not None
        # The first Content-Type, as cdxj-indexer reads it from the record (Scrapy's
        # headers[...] would give the last one).
        content_type = next(
            (value for name, value in ex.response_headers if name.lower() == "content-type"), None
        )
        try:
            self.index.add(
                ex.url,
                timestamp14(ex.date),
                content_type,
                ex.status,
                pointer["payload_digest"],
                pointer["length"],
                pointer["offset"],
                pointer["file"].removeprefix("warc/"),
                record_type,
            )
        except OSError as exc:
            logger.error("Indexing %s failed: %s", ex.url, exc)
            self.stats.inc_value("newsarchive/index/errors")

    def _update_stats(self, records_before: int, bytes_before: int) -> None:
        self.stats.inc_value(
            "newsarchive/warc/records", self.writer.records_written - records_before
        )
        self.stats.inc_value("newsarchive/warc/bytes", self.writer.bytes_written - bytes_before)
        self.stats.set_value("newsarchive/warc/files", self.writer.files_written)
