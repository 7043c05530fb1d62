"""SafetyMiddleware and the log redaction, fed requests directly (no network, a fake resolver)."""

from __future__ import annotations

import io
import logging

import pytest
import pytest_twisted
from scrapy import Request
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from crawler.middlewares.safety import (
    LogRedaction,
    RedactingFilter,
    SafetyMiddleware,
    UnsafeRequest,
    basic_authorization,
    reactor_resolve,
    redact,
    secret_values,
    seed_origins,
)
from crawler.spiders.news import NewsSpider

DNS = {
    "news.example": ["93.184.216.34"],
    "other.example": ["93.184.216.35"],
    "intranet.example": ["10.0.0.5"],
    "rebind.example": ["93.184.216.34", "127.0.0.1"],  # any private answer is enough
    "v6.example": ["2606:2800:220:1:248:1893:25c8:1946"],
    "v6-local.example": ["fe80::1"],
    "garbage.example": ["not-an-ip"],
}


class FakeResolver:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, host: str) -> list[str]:
        self.calls.append(host)
        return DNS.get(host, [])


def make(seeds=(), allow_private=False):
    crawler = get_crawler()
    crawler.stats.open_spider()
    resolver = FakeResolver()
    mw = SafetyMiddleware(crawler.stats, allow_private=allow_private, seeds=seeds, resolve=resolver)
    return mw, crawler.stats, resolver


async def outcome(mw: SafetyMiddleware, url: str, **meta) -> str | Request | None:
    try:
        return await mw.process_request(Request(url, meta=meta))
    except UnsafeRequest as exc:
        return f"refused: {exc}"


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "ftp://news.example/x", "s3://bucket/key", "data:text/html,<p>x</p>",
])
async def test_other_schemes_are_refused(url):
    mw, stats, resolver = make(seeds=["http://news.example/"], allow_private=True)
    result = await outcome(mw, url)
    assert isinstance(result, str) and "(scheme)" in result
    assert stats.get_value("newsarchive/safety/refused/scheme") == 1
    assert resolver.calls == []


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://127.0.0.1:8080/admin", "http://localhost/", "http://[::1]/",
    "http://10.1.2.3/", "http://192.168.1.1/", "http://172.16.0.1/", "http://169.254.169.254/latest/",
    "http://100.64.0.1/", "http://0.0.0.0/", "http://[fe80::1]/", "http://[::ffff:127.0.0.1]/",
    "http://2130706433/", "http://0x7f000001/", "http://127.1/", "http://printer.local/",
    "http://intranet.example/", "http://rebind.example/", "http://v6-local.example/",
    "http://garbage.example/",
])
async def test_private_loopback_link_local_and_reserved_hosts_are_refused(url):
    mw, stats, _ = make(seeds=["https://news.example/"])
    result = await outcome(mw, url)
    assert isinstance(result, str) and "(private_address)" in result, result
    assert stats.get_value("newsarchive/safety/refused/private_address") == 1
    assert not stats.get_value("newsarchive/safety/refused_redirects")


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("url", [
    "https://news.example/2026/11/30/story.html", "http://93.184.216.34/", "http://v6.example/",
])
async def test_public_hosts_pass(url):
    mw, stats, _ = make()
    assert await outcome(mw, url) is None
    assert not stats.get_value("newsarchive/safety/refused/private_address")


@pytest_twisted.ensureDeferred
async def test_names_that_do_not_resolve_are_refused_and_asked_again():
    """The downloader would look the name up again (failures are not cached): a name whose
    first answer fails and whose second is private must not get through."""
    mw, stats, resolver = make()
    for _ in range(2):
        assert "(unresolved)" in await outcome(mw, "http://unresolvable.example/")
    assert resolver.calls == ["unresolvable.example"] * 2
    assert stats.get_value("newsarchive/safety/refused/unresolved") == 2


@pytest_twisted.ensureDeferred
async def test_behind_a_proxy_unresolved_names_are_the_proxys_business():
    mw, _, _ = make()
    assert await outcome(mw, "http://unresolvable.example/", proxy="http://proxy.internal:3128") is None
    mw.proxies = {"http": "http://proxy.internal:3128"}
    assert await outcome(mw, "http://unresolvable.example/") is None
    assert "(unresolved)" in await outcome(mw, "https://unresolvable.example/")  # no https proxy
    # a name that does resolve, privately, is refused whatever the proxy
    assert "(private_address)" in await outcome(mw, "http://intranet.example/", proxy="http://p:3128")


@pytest_twisted.ensureDeferred
async def test_offline_crawls_resolve_nothing():
    crawler = get_crawler(settings_dict={"NEWSARCHIVE_ARCHIVESOURCE_ENABLED": True})
    mw = SafetyMiddleware.from_crawler(crawler)
    assert mw.resolve_names is False
    mw.resolve = FakeResolver()
    assert await outcome(mw, "http://unresolvable.example/") is None
    assert "refused" in await outcome(mw, "http://10.0.0.1/")  # IP literals are still judged
    assert mw.resolve.calls == []


@pytest_twisted.ensureDeferred
async def test_a_seed_opens_its_own_host_and_port_only():
    mw, _, _ = make(seeds=["http://127.0.0.1:8000/", "http://intranet.example/"])
    assert await outcome(mw, "http://127.0.0.1:8000/2026/story.html") is None
    assert await outcome(mw, "http://127.0.0.1:8000/robots.txt") is None
    assert "refused" in await outcome(mw, "http://127.0.0.1:6379/")  # redis on the same host
    assert "refused" in await outcome(mw, "http://127.0.0.2:8000/")
    # a seed on a default port opens both default ports of its host
    assert await outcome(mw, "https://intranet.example/a") is None
    assert await outcome(mw, "http://intranet.example:80/b") is None
    assert "refused" in await outcome(mw, "http://intranet.example:8443/")


def test_seed_origins():
    assert seed_origins(["http://Example.com./a", "https://x.example:8443/", "mailto:a@b", "http://[::1"]) == {
        ("example.com", 80), ("example.com", 443), ("x.example", 8443)}


@pytest_twisted.ensureDeferred
async def test_allow_private_setting_lets_private_hosts_through():
    mw, stats, resolver = make(allow_private=True)
    assert await outcome(mw, "http://10.1.2.3/") is None
    assert await outcome(mw, "http://intranet.example/") is None
    assert resolver.calls == []
    assert not stats.get_value("newsarchive/safety/refused/private_address")


@pytest_twisted.ensureDeferred
async def test_redirects_to_private_hosts_are_refused_and_counted():
    mw, stats, _ = make(seeds=["https://news.example/"])
    result = await outcome(mw, "http://169.254.169.254/latest/meta-data/",
                           redirect_urls=["https://news.example/go"])
    assert "refused" in result
    assert stats.get_value("newsarchive/safety/refused_redirects") == 1


@pytest_twisted.ensureDeferred
async def test_each_host_is_resolved_once():
    mw, _, resolver = make()
    for path in ("a", "b", "c"):
        await outcome(mw, f"https://news.example/{path}")
        await outcome(mw, f"http://intranet.example/{path}")
    assert sorted(resolver.calls) == ["intranet.example", "news.example"]


@pytest_twisted.ensureDeferred
async def test_url_credentials_leave_the_url_and_a_seed_sends_them_as_a_header():
    mw, stats, _ = make(seeds=["https://desk:s3cret@news.example/"])
    again = await mw.process_request(Request("https://desk:s3cret@news.example/"))
    assert isinstance(again, Request) and again.url == "https://news.example/"
    assert stats.get_value("newsarchive/safety/userinfo_removed") == 1
    # the rescheduled request, and every other request to the seed's origin, carry the header
    assert await mw.process_request(again) is None
    assert again.headers[b"Authorization"] == basic_authorization("https://desk:s3cret@x/")
    other = Request("https://news.example/2026/11/30/a.html")
    await mw.process_request(other)
    assert other.headers[b"Authorization"].startswith(b"Basic ")
    # a page's link with credentials for another host: stripped, and no header
    link = await mw.process_request(Request("https://admin:admin@other.example/"))
    assert link.url == "https://other.example/"
    assert await mw.process_request(link) is None
    assert b"Authorization" not in link.headers


def test_basic_authorization_decodes_percent_escapes():
    assert basic_authorization("http://a%40b:p%3Aw@h/") == b"Basic " + __import__("base64").b64encode(b"a@b:p:w")
    assert basic_authorization("http://h/") is None


def test_from_crawler_reads_settings_and_the_spiders_seeds(tmp_path):
    crawler = get_crawler(NewsSpider, settings_dict={"NEWSARCHIVE_SAFETY_ALLOW_PRIVATE": True})
    mw = SafetyMiddleware.from_crawler(crawler)
    assert mw.allow_private is True
    spider = NewsSpider.from_crawler(crawler, seeds=["http://127.0.0.1:8000/"])
    mw.spider_opened(spider)
    assert ("127.0.0.1", 8000) in mw.seed_origins
    with pytest.raises(NotConfigured):
        SafetyMiddleware.from_crawler(get_crawler(settings_dict={"NEWSARCHIVE_SAFETY_ENABLED": False}))


def test_it_runs_before_robots_txt_and_refusals_are_ignore_requests():
    settings = Settings()
    settings.setmodule("crawler.settings")
    mws = settings.getwithbase("DOWNLOADER_MIDDLEWARES")
    assert mws["crawler.middlewares.safety.SafetyMiddleware"] < mws[
        "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware"]
    assert issubclass(UnsafeRequest, IgnoreRequest)


@pytest_twisted.ensureDeferred
async def test_reactor_resolver_finds_localhost():
    assert "127.0.0.1" in await reactor_resolve("localhost")
    assert await reactor_resolve("nonexistent.invalid") == []


# --- secrets in logs ----------------------------------------------------------------------------

def test_secret_values_come_from_secret_looking_names():
    settings = Settings({"AWS_SECRET_ACCESS_KEY": "abcd1234", "AWS_SESSION_TOKEN": "tok-12345",
                         "TELNETCONSOLE_PASSWORD": "hunter22", "DOWNLOAD_DELAY": "0.25",
                         "HTTPPROXY_AUTH_ENCODING": "latin-1", "NEWSARCHIVE_X_KEY": "on"})
    found = secret_values(settings, environ={"GITHUB_TOKEN": "ghp_xyz0123", "HOME": "/root",
                                             "SOME_KEY_ENABLED": "true", "API_TOKEN": "short",
                                             "KEY_TIMEOUT_SECONDS": "12345678"})
    assert found == {"abcd1234", "tok-12345", "hunter22", "ghp_xyz0123"}


@pytest.mark.parametrize("text, expected", [
    ("GET http://user:pw@host:8000/x", "GET http://<redacted>@host:8000/x"),
    ("ftp://token@ftp.example/f and https://a:b@c.example/", "ftp://<redacted>@ftp.example/f and https://<redacted>@c.example/"),
    ("http://host/path@not-userinfo", "http://host/path@not-userinfo"),
    ("mailto:desk@news.example", "mailto:desk@news.example"),
    ("key=abcd1234;", "key=<redacted>;"),
])
def test_redact(text, expected):
    assert redact(text, {"abcd1234"}) == expected


def test_filter_redacts_messages_arguments_and_tracebacks():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    f = RedactingFilter()
    f.secrets = {"s3cr3t-value"}
    handler.addFilter(f)
    log = logging.getLogger("test_safety.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("settings: %(s)s", {"s": {"AWS_SECRET_ACCESS_KEY": "s3cr3t-value"}})
        log.warning("fetching %s", "http://u:p@h/")
        try:
            raise ValueError("bad value s3cr3t-value")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    out = stream.getvalue()
    assert "s3cr3t-value" not in out and "u:p@" not in out
    assert out.count("<redacted>") >= 3
    assert "ValueError" in out  # the traceback is still there


def test_log_redaction_extension_installs_on_root_handlers():
    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    root.addHandler(handler)
    try:
        crawler = get_crawler(settings_dict={"AWS_SECRET_ACCESS_KEY": "ext-s3cret"})
        ext = LogRedaction.from_crawler(crawler)
        assert ext.filter in handler.filters
        assert "ext-s3cret" in ext.filter.secrets
        with pytest.raises(NotConfigured):
            LogRedaction.from_crawler(get_crawler(settings_dict={"NEWSARCHIVE_SAFETY_REDACT_LOGS": False}))
    finally:
        root.removeHandler(handler)
