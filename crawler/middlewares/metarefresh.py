"""Scrapy's meta-refresh redirects, without decoding whole pages to find them.

Scrapy's ``MetaRefreshMiddleware`` looks for ``<meta http-equiv="refresh">`` in the first 4096
characters of ``response.text``, but ``response.text`` decodes the whole body first: 0.25 ms of
the crawl process's CPU for a 170 KB article page, whose text nothing else in the crawl process
reads (article bodies go to the extraction workers as bytes). This subclass decodes only the
bytes those 4096 characters can take (4 bytes a character at most), the way ``response.text``
does (BOM first, then the response's encoding, bad bytes replaced), and hands the answer to
Scrapy's own ``process_response`` through the cache Scrapy reads it from. Redirects, limits and
settings (``METAREFRESH_*``) are Scrapy's; a head too short to be sure of (a codec of more than 4
bytes a character), a short page and a Scrapy without that cache are left to Scrapy's reading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.http import HtmlResponse
from scrapy.utils import response as response_utils
from w3lib import html
from w3lib.encoding import html_to_unicode

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

HEAD_CHARS = 4096  # what scrapy.utils.response.get_meta_refresh reads of response.text
# 4 bytes per character (UTF-8, UTF-32, GB18030) and room for a character cut at the end.
HEAD_BYTES = 4 * HEAD_CHARS + 64


def head_text(response: HtmlResponse) -> str | None:
    """``response.text[:4096]`` without decoding the rest; None when the head cannot tell."""
    if len(response.body) <= HEAD_BYTES:
        return None  # short: Scrapy's own reading costs no more
    # As response.text: the response's encoding (declared in a header or a meta tag is cheap to
    # find; inferred, it was found by decoding the whole body), a BOM first.
    text = html_to_unicode(f"charset={response.encoding}", response.body[:HEAD_BYTES])[1]
    # The last character may be cut in two (and read as U+FFFD): only what comes before it counts.
    if len(text) < HEAD_CHARS + 8:
        return None
    return text[:HEAD_CHARS]


class HeadMetaRefreshMiddleware(MetaRefreshMiddleware):
    """``MetaRefreshMiddleware`` reading only the head of the page (see the module docstring)."""

    def process_response(self, request: Request, response: Response) -> Request | Response:
        cache = getattr(response_utils, "_metaref_cache", None)
        if isinstance(response, HtmlResponse) and cache is not None and response not in cache:
            head = head_text(response)
            if head is not None:
                encoding = response.encoding
                base = html.get_base_url(head, response.url, encoding)
                cache[response] = html.get_meta_refresh(
                    head, base, encoding, ignore_tags=self._ignore_tags
                )
        return super().process_response(request, response)
