"""The bundled demo site: discovery documents list exactly its articles, pages are self-consistent,
and the server's HTTP (validators, 304, gzip, types, 404/301) is what crawlers will rely on."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import xml.etree.ElementTree as ET
from collections import deque
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urldefrag, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import lxml.html
import pytest

from crawler.demo.server import SITE_ROOT, DemoSite, accepts_gzip, etag_matches
from tests.support.servers import Fetched, fetch

SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"


@pytest.fixture(scope="module")
def site():
    with DemoSite() as s:
        yield s


def ok(url: str, **kw) -> Fetched:
    r = fetch(url, **kw)
    assert r.status == 200, f"{url}: {r.status}"
    return r


def xml(site: DemoSite, path: str) -> ET.Element:
    return ET.fromstring(ok(site.url + path).body)


def by_url(site: DemoSite) -> dict[str, dict]:
    return {a["url"]: a for a in site.articles}


def test_eight_articles_under_the_server_url(site):
    assert len(site.article_urls) == 8
    assert len(set(site.article_urls)) == 8
    assert all(u.startswith(site.url + "/") for u in site.article_urls)
    assert {urlsplit(u).path.split("/")[1] for u in site.article_urls} == {"world", "business"}
    assert len({a["template"] for a in site.articles}) >= 4  # the markup varies


def test_feed_is_rss2_listing_every_article_with_date_title_category(site):
    rss = xml(site, "/feed.xml")
    assert rss.tag == "rss" and rss.get("version") == "2.0"
    items = rss.findall("./channel/item")
    expected = by_url(site)
    assert sorted(i.findtext("link") for i in items) == sorted(site.article_urls)
    for item in items:
        art = expected[item.findtext("link")]
        assert item.findtext("title") == art["title"]
        assert parsedate_to_datetime(item.findtext("pubDate")) == datetime.fromisoformat(art["published"])
        categories = [c.text for c in item.findall("category")]
        assert art["section"] in categories and set(art["tags"]) <= set(categories)
    dates = [parsedate_to_datetime(i.findtext("pubDate")) for i in items]
    assert dates == sorted(dates, reverse=True)  # newest first, as feeds are


def test_news_sitemap_has_publication_date_title_language_keywords(site):
    urlset = xml(site, "/news-sitemap.xml")
    entries = urlset.findall(f"{SM}url")
    expected = by_url(site)
    assert sorted(e.findtext(f"{SM}loc") for e in entries) == sorted(site.article_urls)
    for e in entries:
        art = expected[e.findtext(f"{SM}loc")]
        news = e.find(f"{NEWS}news")
        assert news.findtext(f"{NEWS}title") == art["title"]
        assert news.findtext(f"{NEWS}publication/{NEWS}language") == "en"
        assert news.findtext(f"{NEWS}publication/{NEWS}name") == "Meridian Courier"
        published = datetime.fromisoformat(news.findtext(f"{NEWS}publication_date"))
        assert published == datetime.fromisoformat(art["published"])
        assert [k.strip() for k in news.findtext(f"{NEWS}keywords").split(",")] == art["tags"]


def test_sitemap_index_points_at_both_sitemaps_and_every_listed_page_is_served(site):
    index = xml(site, "/sitemap-index.xml")
    assert [s.findtext(f"{SM}loc") for s in index.findall(f"{SM}sitemap")] == [
        f"{site.url}/sitemap.xml", f"{site.url}/news-sitemap.xml"]
    locs = [u.findtext(f"{SM}loc") for u in xml(site, "/sitemap.xml").findall(f"{SM}url")]
    assert set(site.article_urls) <= set(locs)
    assert f"{site.url}/" in locs
    assert not any("/private/" in u for u in locs)
    for loc in locs:
        assert ok(loc).headers["Content-Type"] == "text/html; charset=utf-8"


def test_robots_allows_all_but_private_and_names_the_sitemaps(site):
    robots = RobotFileParser()
    robots.parse(ok(site.url + "/robots.txt").body.decode().splitlines())
    assert all(robots.can_fetch("newsarchive", u) for u in site.article_urls)
    assert not robots.can_fetch("newsarchive", f"{site.url}/private/")
    assert robots.site_maps() == [f"{site.url}/sitemap-index.xml", f"{site.url}/news-sitemap.xml"]
    assert fetch(f"{site.url}/private/").status == 200  # there to be refused, not missing


@pytest.mark.parametrize("i", range(8))
def test_article_page_declares_itself(site, i):
    art = site.articles[i]
    doc = lxml.html.fromstring(ok(art["url"]).body)
    assert doc.xpath("string(//link[@rel='canonical']/@href)") == art["url"]
    assert doc.xpath("string(//meta[@property='og:url']/@content)") == art["url"]
    assert doc.xpath("string(//meta[@property='og:title']/@content)") == art["title"]
    assert doc.xpath("string(//meta[@property='article:published_time']/@content)") == art["published"]
    assert doc.xpath("string(//h1)").strip() == art["title"]
    assert art["lead"] in doc.text_content()
    blocks = [json.loads(s) for s in doc.xpath("//script[@type='application/ld+json']/text()")]
    if art["ld_json"] is None:
        assert blocks == []
        return
    [block] = blocks
    nodes = block.get("@graph", [block])
    [story] = [n for n in nodes if n.get("@type") in ("NewsArticle", "LiveBlogPosting")]
    assert story["headline"] == art["title"]
    assert story["datePublished"] == art["published"]
    assert story["dateModified"] == art["modified"]


def test_every_internal_link_resolves_and_no_placeholder_is_left(site):
    """Walk the whole site from the homepage: the demo crawl must meet no 404 and no {{BASE}}."""
    seen: set[str] = set()
    queue = deque([site.url + "/"])
    statuses: dict[str, int] = {}
    while queue:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        r = fetch(url)
        statuses[url] = r.status
        assert b"{{BASE}}" not in r.body, url
        if r.status != 200 or not r.headers["Content-Type"].startswith("text/html"):
            continue
        for href in lxml.html.fromstring(r.body).xpath("//a/@href | //img/@src | //link/@href"):
            target = urldefrag(urljoin(url, href)).url
            if urlsplit(target).netloc == urlsplit(site.url).netloc:
                queue.append(target)
    assert {u: s for u, s in statuses.items() if s != 200} == {}
    assert set(site.article_urls) <= seen
    assert f"{site.url}/private/" in seen  # linked, so robots.txt has something to refuse


def test_conditional_get_answers_304_without_body(site):
    url = site.article_urls[0]
    first = ok(url)
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and last_modified.endswith("GMT")
    assert first.headers["Cache-Control"] == "no-cache"

    by_etag = fetch(url, headers={"If-None-Match": etag})
    assert (by_etag.status, by_etag.body) == (304, b"")
    assert by_etag.headers["ETag"] == etag and "Content-Length" not in by_etag.headers

    by_date = fetch(url, headers={"If-Modified-Since": last_modified})
    assert (by_date.status, by_date.body) == (304, b"")

    # If-None-Match decides when present, even if the date alone would say "not modified".
    other = fetch(url, headers={"If-None-Match": '"something-else"', "If-Modified-Since": last_modified})
    assert other.status == 200 and other.body == first.body
    assert fetch(url, headers={"If-Modified-Since": "Thu, 01 Jan 2015 00:00:00 GMT"}).status == 200
    assert fetch(url, headers={"If-Modified-Since": "not a date"}).status == 200

    # The gzip variant's tag validates the resource too (weak comparison).
    zipped = ok(url, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["ETag"] != etag
    assert fetch(url, headers={"If-None-Match": f"W/{zipped.headers['ETag']}"}).status == 304
    head = fetch(url, method="HEAD", headers={"If-None-Match": etag})
    assert head.status == 304


def test_an_edited_file_gets_new_validators(tmp_path):
    root = tmp_path / "site"
    shutil.copytree(SITE_ROOT, root)
    with DemoSite(root=root) as s:
        url = s.article_urls[0]
        before = ok(url)
        page = root / urlsplit(url).path.lstrip("/")
        page.write_text(page.read_text(encoding="utf-8").replace("</article>", "<p>Correction.</p></article>", 1),
                        encoding="utf-8")
        later = page.stat().st_mtime + 10
        os.utime(page, (later, later))
        after = fetch(url, headers={"If-None-Match": before.headers["ETag"]})
        assert after.status == 200 and b"Correction." in after.body
        assert after.headers["ETag"] != before.headers["ETag"]
        assert parsedate_to_datetime(after.headers["Last-Modified"]) > parsedate_to_datetime(
            before.headers["Last-Modified"])
        assert fetch(url, headers={"If-Modified-Since": before.headers["Last-Modified"]}).status == 200


def test_gzip_only_when_asked(site):
    url = site.article_urls[1]
    plain = ok(url)
    assert "Content-Encoding" not in plain.headers and plain.headers["Vary"] == "Accept-Encoding"
    zipped = ok(url, headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert int(zipped.headers["Content-Length"]) == len(zipped.body) < len(plain.body)
    assert gzip.decompress(zipped.body) == plain.body
    refused = ok(url, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers
    image = ok(site.url + "/images/logo.png", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in image.headers and image.body.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(("path", "content_type"), [
    ("/", "text/html; charset=utf-8"),
    ("/world/", "text/html; charset=utf-8"),
    ("/feed.xml", "application/rss+xml; charset=utf-8"),
    ("/sitemap.xml", "application/xml; charset=utf-8"),
    ("/news-sitemap.xml", "application/xml; charset=utf-8"),
    ("/robots.txt", "text/plain; charset=utf-8"),
    ("/static/site.css", "text/css; charset=utf-8"),
    ("/images/logo.png", "image/png"),
])
def test_content_types(site, path, content_type):
    r = ok(site.url + path)
    assert r.headers["Content-Type"] == content_type
    assert int(r.headers["Content-Length"]) == len(r.body)


def test_unknown_hidden_and_escaping_paths_are_404_and_directories_redirect(site):
    for path in ("/nope.html", "/_articles.json", "/world/../_articles.json", "/../server.py",
                 "/static/.hidden", "/world/2026/11/23/missing.html"):
        r = fetch(site.url + path)
        assert r.status == 404, path
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    moved = fetch(site.url + "/world")
    assert moved.status == 301 and moved.headers["Location"] == f"{site.url}/world/"


@pytest.mark.parametrize(("header", "expected"), [
    ("gzip", True), ("GZIP", True), ("deflate, gzip;q=0.5", True), ("x-gzip", True), ("*", True),
    ("gzip;q=0", False), ("*;q=0", False), ("deflate, br", False), ("", False), (None, False),
    ("br, *;q=0.1", True), ("gzip;q=0, *", False),
])
def test_accepts_gzip(header, expected):
    assert accepts_gzip(header) is expected


def test_etag_matching_is_weak_and_knows_the_gzip_variant():
    assert etag_matches('"abc"', "abc")
    assert etag_matches('W/"abc"', "abc")
    assert etag_matches('"x", "abc-gzip"', "abc")
    assert etag_matches("*", "abc")
    assert not etag_matches('"abcd"', "abc")
