"""Keep the crawler from becoming a way into the operator's network, and keep secrets out of logs.

``SafetyMiddleware`` is the last word on where a request may go, checked before any connection
(robots.txt fetches included: it runs before RobotsTxtMiddleware). The spider's link policy
(``crawler.urlpolicy``) already drops most bad links by their text; this middleware also sees
redirects, meta refreshes and robots.txt requests, and it looks at the addresses a host name
resolves to, which the URL alone cannot tell. It refuses:

- schemes other than http and https (``file:``, ``ftp:``, ``s3:``, ``data:`` have download
  handlers in Scrapy, so a redirect or a refresh to them would otherwise be fetched);
- hosts that are, or resolve to, loopback, private, link-local, carrier-grade NAT, multicast or
  reserved addresses, and names that do not resolve at all, unless a seed names that host and
  port or ``NEWSARCHIVE_SAFETY_ALLOW_PRIVATE`` is on.

Host names are resolved with the reactor's own resolver, the one the downloader connects with:
with Scrapy's DNS cache on (the default) the address checked here is the address connected to,
so a name cannot resolve to a public address for the check and to a private one for the fetch.
Names are not resolved when ArchiveSourceMiddleware serves the crawl from an archive (offline);
behind an HTTP proxy a name that does not resolve here is left to the proxy.

User names and passwords in URLs (``http://user:pass@host/``) are taken out of the URL, which
would carry them into logs, WARC headers, the index and records; for a seed's own origin they
are sent as a ``Basic`` ``Authorization`` header on every request to that origin instead (as
Scrapy's HttpAuthMiddleware does for its domain), which the WARC writer redacts.

``LogRedaction`` (an extension, so it is in place before Scrapy logs the overridden settings)
replaces the values of secret-looking settings and environment variables, and the user names
and passwords of URLs, in every log record.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies, proxy_bypass

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.settings import SETTINGS_PRIORITIES
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IResolutionReceiver
from zope.interface import implementer

from crawler.urlpolicy import is_private_host, strip_userinfo

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings
    from scrapy.statscollectors import StatsCollector
    from typing_extensions import Self

logger = logging.getLogger(__name__)

ALLOWED_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Resolutions kept per crawl: enough for a wide crawl, small enough to forget nothing important.
_RESOLVED_CACHE_SIZE = 10_000

Resolver = Callable[[str], Awaitable[list[str]]]
Origin = tuple[str, int]


class UnsafeRequest(IgnoreRequest):
    """A request refused by SafetyMiddleware. Its own class, so the spider's errback counts it
    as ``newsarchive/skipped/download_error/UnsafeRequest`` and not as any other IgnoreRequest."""


def origin_of(url: str) -> Origin | None:
    """``(host, port)`` with the scheme's default port filled in; None for a URL without a host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").rstrip(".").lower()
    if not host or parts.scheme not in _DEFAULT_PORTS:
        return None
    return host, port if port is not None else _DEFAULT_PORTS[parts.scheme]


def seed_origins(seeds: Iterable[str]) -> set[Origin]:
    """The origins seeds open: their own host and port. A seed on a default port opens both 80
    and 443, since sites move between http and https on the same host."""
    out: set[Origin] = set()
    for seed in seeds:
        origin = origin_of(seed)
        if origin is None:
            continue
        out.add(origin)
        if origin[1] in _DEFAULT_PORTS.values():
            out.update((origin[0], port) for port in _DEFAULT_PORTS.values())
    return out


def is_unsafe_address(address: str) -> bool:
    """True for an IP address that is not on the public internet (the rules of
    ``urlpolicy.is_private_host``, applied to what a name resolved to)."""
    try:
        ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True  # a resolver that returns garbage is not one to trust
    return is_private_host(address)


def basic_authorization(url: str) -> bytes | None:
    """The ``Authorization`` value for the user name and password in ``url``, if it has any."""
    parts = urlsplit(url)
    if parts.username is None:
        return None
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return b"Basic " + base64.b64encode(pair.encode("utf-8"))


@implementer(IResolutionReceiver)
class _Addresses:
    """Collects what the reactor's name resolver finds for one host into a Deferred list."""

    def __init__(self) -> None:
        self.addresses: list[str] = []
        self.done: Deferred[list[str]] = Deferred()

    def resolutionBegan(self, resolution: Any) -> None:
        pass

    def addressResolved(self, address: Any) -> None:
        self.addresses.append(str(address.host))

    def resolutionComplete(self) -> None:
        self.done.callback(self.addresses)


async def reactor_resolve(host: str) -> list[str]:
    """Every address the reactor's name resolver gives for ``host`` (empty when it fails).

    The same resolver (and, by default, Scrapy's DNS cache) the HTTP client then connects with;
    lookups run in the resolver's thread pool, never on the reactor thread.
    """
    from twisted.internet import reactor  # the installed one; never install at import

    receiver = _Addresses()
    reactor.nameResolver.resolveHostName(receiver, host, 0)
    return await maybe_deferred_to_future(receiver.done)


class SafetyMiddleware:
    """Refuses unsafe requests before any connection; see the module docstring for the rules.

    Refusals raise :class:`UnsafeRequest` and are counted as ``newsarchive/safety/refused/<reason>``
    (``scheme``, ``no_host``, ``private_address``, ``unresolved``), redirects among them also as
    ``newsarchive/safety/refused_redirects``.
    """

    def __init__(
        self,
        stats: StatsCollector,
        *,
        allow_private: bool = False,
        seeds: Iterable[str] = (),
        resolve: Resolver = reactor_resolve,
        resolve_names: bool = True,
        use_env_proxies: bool = False,
    ) -> None:
        self.stats = stats
        self.allow_private = allow_private
        self.resolve = resolve
        self.resolve_names = resolve_names
        # HttpProxyMiddleware's source: the *_proxy environment variables.
        self.proxies: dict[str, str] = getproxies() if use_env_proxies else {}
        self.seed_origins: set[Origin] = set()
        self._credentials: dict[Origin, bytes] = {}
        self._resolved: dict[str, bool] = {}
        self.add_seeds(seeds)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        if not settings.getbool("NEWSARCHIVE_SAFETY_ENABLED", True):
            raise NotConfigured("NEWSARCHIVE_SAFETY_ENABLED is off")
        assert crawler.stats is not None
        # Served from an archive, requests never reach the network (ArchiveSourceMiddleware
        # raises IgnoreRequest for what the archive lacks): there is nothing to resolve, and an
        # offline machine could not resolve it anyway.
        offline = settings.getbool("NEWSARCHIVE_ARCHIVESOURCE_ENABLED", False)
        o = cls(crawler.stats, allow_private=settings.getbool("NEWSARCHIVE_SAFETY_ALLOW_PRIVATE", False),
                resolve_names=not offline, use_env_proxies=settings.getbool("HTTPPROXY_ENABLED", True))
        crawler.signals.connect(o.spider_opened, signal=signals.spider_opened)
        return o

    def spider_opened(self, spider: Spider) -> None:
        """Seeds are the spider's: the news spider's site configurations, or ``start_urls``."""
        seeds = list(getattr(spider, "start_urls", []) or [])
        for site in getattr(spider, "site_configs", []) or []:
            seeds.extend(site.start_urls)
        self.add_seeds(seeds)

    def add_seeds(self, seeds: Iterable[str]) -> None:
        for seed in seeds:
            origins = seed_origins([seed])
            self.seed_origins |= origins
            auth = basic_authorization(seed)
            if auth is not None:
                for origin in origins:
                    self._credentials[origin] = auth

    async def process_request(self, request: Request) -> Request | None:
        url = request.url
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            self._refuse(request, "scheme")
        if "@" in urlsplit(url).netloc:
            return self._without_userinfo(request)
        origin = origin_of(url)
        if origin is None:
            self._refuse(request, "no_host")
        auth = self._credentials.get(origin)
        if auth is not None and b"Authorization" not in request.headers:
            request.headers[b"Authorization"] = auth
        if self.allow_private or origin in self.seed_origins:
            return None
        host = origin[0]
        if is_private_host(host):
            self._refuse(request, "private_address")
        reason = await self._unsafe_resolution(host) if self.resolve_names else None
        # Behind a proxy, names are the proxy's to resolve: not resolving here says nothing.
        if reason and not (reason == "unresolved" and self._proxied(request, origin)):
            self._refuse(request, reason)
        return None

    def _proxied(self, request: Request, origin: Origin) -> bool:
        if request.meta.get("proxy"):
            return True
        scheme = urlsplit(request.url).scheme.lower()
        return scheme in self.proxies and not proxy_bypass(origin[0])

    def _without_userinfo(self, request: Request) -> Request:
        """The same request without user name and password in its URL; it goes round the
        scheduler again, and through this middleware, which adds the seed's credentials if it
        goes to a seed's origin. Credentials found in a page's links are dropped."""
        self.stats.inc_value("newsarchive/safety/userinfo_removed")
        return request.replace(url=strip_userinfo(request.url))

    async def _unsafe_resolution(self, host: str) -> str | None:
        """``private_address`` or ``unresolved`` for a name the request must not go to, else None.

        A name that does not resolve now is refused too: the downloader would look it up again
        a moment later (failures are not cached), and a name whose first answer fails and whose
        second is private must not get through. Only answers are cached.
        """
        try:
            ipaddress.ip_address(host)
            return None  # an IP literal: is_private_host has judged it already
        except ValueError:
            pass
        private = self._resolved.get(host)
        if private is None:
            addresses = await self.resolve(host)
            if not addresses:
                return "unresolved"
            private = any(is_unsafe_address(a) for a in addresses)
            if len(self._resolved) >= _RESOLVED_CACHE_SIZE:
                self._resolved.pop(next(iter(self._resolved)))
            self._resolved[host] = private
        return "private_address" if private else None

    def _refuse(self, request: Request, reason: str) -> None:
        self.stats.inc_value(f"newsarchive/safety/refused/{reason}")
        if request.meta.get("redirect_urls"):
            self.stats.inc_value("newsarchive/safety/refused_redirects")
        # The URL is logged without its user name and password.
        logger.info("Refused %s: %s", strip_userinfo(request.url), reason)
        raise UnsafeRequest(f"refused ({reason}): {strip_userinfo(request.url)}")


# --------------------------------------------------------------------------- secrets in logs

# Names of settings and environment variables whose values are secrets (Scrapy's and boto3's
# AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, TELNETCONSOLE_PASSWORD, ...).
SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL", re.I)
# Shorter values are left alone: replacing "1" or "on" everywhere would garble every log line.
# Environment variables are anyone's (SOME_KEY_ENABLED=true), so theirs must look like a secret.
MIN_SECRET_LENGTH = 4
MIN_ENV_SECRET_LENGTH = 8
_NOT_SECRET = re.compile(r"(?i)true|false|yes|no|on|off|none|null|[\d.]+")
REDACTED = "<redacted>"
# scheme://user:password@host -> scheme://<redacted>@host (user names can be tokens too).
_URL_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^\s/?#@]+@", re.I)


def secret_values(settings: BaseSettings | None = None, environ: dict[str, str] | None = None) -> set[str]:
    """String values of settings (set above Scrapy's defaults) and environment variables whose
    names look secret."""
    candidates: list[tuple[str, Any, int]] = []
    if settings is not None:
        # Scrapy's own defaults (FTP_PASSWORD "guest") are no one's secret.
        candidates.extend(
            (name, settings.get(name), MIN_SECRET_LENGTH) for name in settings
            if SECRET_NAME.search(name) and (settings.getpriority(name) or 0) > SETTINGS_PRIORITIES["default"]
        )
    env = environ if environ is not None else os.environ
    candidates.extend((name, value, MIN_ENV_SECRET_LENGTH) for name, value in env.items())
    out: set[str] = set()
    for name, value, min_length in candidates:
        if not isinstance(value, str) or not SECRET_NAME.search(name):
            continue
        value = value.strip()
        if len(value) >= min_length and not _NOT_SECRET.fullmatch(value):
            out.add(value)
    return out


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without the given secret values and without user names and passwords in URLs."""
    for secret in sorted(secrets, key=len, reverse=True):  # longest first: one may contain another
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _URL_USERINFO.sub(rf"\g<1>{REDACTED}@", text)


class RedactingFilter(logging.Filter):
    """A handler filter that rewrites each record's message (and traceback) through :func:`redact`."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not format: leave it to the handler
            return True
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True


_FILTER = RedactingFilter()


def install_redaction(secrets: Iterable[str]) -> RedactingFilter:
    """Add ``secrets`` to the process-wide filter and put it on every root handler (once each)."""
    _FILTER.secrets |= set(secrets)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    return _FILTER


class LogRedaction:
    """Installs :class:`RedactingFilter` when the crawler is built, before Scrapy logs the
    overridden settings (which would print ``AWS_SECRET_ACCESS_KEY`` given with ``--set``)."""

    def __init__(self, secrets: set[str]) -> None:
        self.filter = install_redaction(secrets)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("NEWSARCHIVE_SAFETY_REDACT_LOGS", True):
            raise NotConfigured("NEWSARCHIVE_SAFETY_REDACT_LOGS is off")
        o = cls(secret_values(crawler.settings))
        # Handlers added later (a log file opened by a component) get the filter too.
        crawler.signals.connect(o.engine_started, signal=signals.engine_started)
        return o

    def engine_started(self) -> None:
        install_redaction(())
