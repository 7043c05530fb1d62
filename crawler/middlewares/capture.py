"""Archive every HTTP exchange into WARC files, and index it, as it comes off the wire.

At priority 950 this middleware's ``process_response`` runs before HttpCompressionMiddleware
(590) and RedirectMiddleware (600): the body is still content-encoded and every redirect hop is
archived as its own exchange. What Scrapy and Twisted have already normalised by then (header
case, header order, connection headers) is listed in docs/warc.md.
"""

from __future__ import annotations

import http
import logging
import socket
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.web.http_headers import Headers as TxHeaders

from pipelines.cdxj import CdxjIndexWriter
from pipelines.session import ArchiveSession
from pipelines.warc import Exchange, WarcFileWriter, timestamp14

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response
    from scrapy.statscollectors import StatsCollector
    from typing_extensions import Self

logger = logging.getLogger(__name__)

META_KEY = "newsarchive_warc"
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


def exchange_from(request: Request, response: Response, date: datetime) -> Exchange:
    return Exchange(
        url=response.url,
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
    payload_digest}`` of the response record; a redirect copies meta, and the next hop's
    response overwrites it, so the page a spider parses carries its own pointer. A write error
    is logged and counted (``newsarchive/warc/errors``), never raised into the crawl.
    """

    def __init__(
        self,
        writer: WarcFileWriter,
        index: CdxjIndexWriter | None,
        stats: StatsCollector,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.writer = writer
        self.index = index
        self.stats = stats
        self._clock = clock or (lambda: datetime.now(timezone.utc))

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
            gzip_level=settings.getint("NEWSARCHIVE_WARC_GZIP_LEVEL", 6),
            warcinfo={
                "operator": settings.get("NEWSARCHIVE_OPERATOR") or "",
                "robots": "obey" if settings.getbool("ROBOTSTXT_OBEY") else "ignore",
            },
        )
        index = CdxjIndexWriter(session) if settings.getbool("NEWSARCHIVE_INDEX_ENABLED", True) else None
        assert crawler.stats is not None
        o = cls(writer, index, crawler.stats)
        crawler.signals.connect(o.spider_closed, signal=signals.spider_closed)
        return o

    def process_response(self, request: Request, response: Response) -> Response:
        request.meta.pop(META_KEY, None)  # a redirected request's copy points at the last hop
        if "cached" in response.flags:
            # Replayed from HTTPCACHE: archiving it again would claim a fetch that never happened.
            self.stats.inc_value("newsarchive/warc/skipped/cached")
            return response
        if urlsplit(response.url).scheme not in ARCHIVED_SCHEMES:
            self.stats.inc_value("newsarchive/warc/skipped/scheme")
            return response
        ex = exchange_from(request, response, self._clock())
        records, nbytes = self.writer.records_written, self.writer.bytes_written
        try:
            pointer = self.writer.write_exchange(ex)
        except OSError as exc:
            logger.error("WARC capture of %s failed: %s", response.url, exc)
            self.stats.inc_value("newsarchive/warc/errors")
            return response
        finally:
            self._update_stats(records, nbytes)
        request.meta[META_KEY] = pointer
        if self.index is not None:
            self._index(ex, pointer)
        return response

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

    def _index(self, ex: Exchange, pointer: dict) -> None:
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
                "response",
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
