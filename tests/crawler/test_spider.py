"""The news spider's routing, fed Scrapy responses directly (no network)."""

import asyncio

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse, TextResponse, XmlResponse
from scrapy.utils.test import get_crawler

from crawler.spiders.news import NewsSpider, looks_like_article, parse_age

BASE = "https://news.example"


def make_spider(seeds=(f"{BASE}/",), sites=None, **settings):
    crawler = get_crawler(NewsSpider, settings_dict=settings)
    crawler.stats.open_spider()
    spider = NewsSpider.from_crawler(crawler, seeds=list(seeds), sites=sites)
    crawler.spider = spider
    return spider


def response(cls, url, body, role, site=0, depth=0, headers=None, **meta):
    req = Request(url, meta={"newsarchive_site": site, "newsarchive_role": role, "newsarchive_depth": depth, **meta})
    return cls(url=url, body=body, encoding="utf-8", request=req,
               headers=headers or {"Content-Type": "text/html; charset=utf-8"})


def start_requests(spider):
    async def collect():
        return [r async for r in spider.start()]
    return asyncio.run(collect())


HOMEPAGE = b"""<html><head><link rel="alternate" type="application/rss+xml" href="/feed.xml"></head><body>
<a href="/2026/11/29/storm-hits-coast.html">Storm hits coast</a>
<a href="/world/">World</a>
<a href="/tag/weather/">Weather</a>
<a href="https://other.example/2026/11/29/elsewhere.html">Elsewhere</a>
<a href="javascript:void(0)">js</a> <a href="mailto:desk@news.example">mail</a>
<a href="/calendar/2026/11/">Calendar</a>
<a href="/archive?page=40">Page 40</a>
<a href="/2026/11/29/storm-hits-coast.html?utm_source=home">Storm again</a>
<a href="/logo.png">logo</a>
</body></html>"""


def test_start_requests_from_seeds_and_sites(tmp_path):
    sites = tmp_path / "sites.toml"
    sites.write_text('[[site]]\nhomepage = "https://b.example/"\nfeeds = ["https://b.example/rss"]\n'
                     'articles = ["https://b.example/a.html"]\n')
    spider = make_spider(seeds=[f"{BASE}/feed.xml"], sites=str(sites))
    reqs = start_requests(spider)
    roles = [(r.url, r.meta["newsarchive_role"]) for r in reqs]
    assert roles == [
        ("https://b.example/", "homepage"), ("https://b.example/robots.txt", "robots"),
        ("https://b.example/rss", "discovery"), ("https://b.example/a.html", "article"),
        (f"{BASE}/feed.xml", "seed"),
    ]


def test_spider_needs_seeds():
    with pytest.raises(ValueError, match="needs seeds"):
        make_spider(seeds=[])


def test_homepage_seed_follows_article_and_section_links_but_not_junk():
    spider = make_spider()
    resp = response(HtmlResponse, f"{BASE}/", HOMEPAGE, "seed")
    out = list(spider.parse_seed(resp))
    assert not [o for o in out if isinstance(o, dict)], "a homepage is not an article"
    urls = {r.url: r.meta["newsarchive_role"] for r in out}
    assert urls[f"{BASE}/robots.txt"] == "robots"
    assert urls[f"{BASE}/feed.xml"] == "discovery"
    assert urls[f"{BASE}/2026/11/29/storm-hits-coast.html"] == "article"
    assert urls[f"{BASE}/world/"] == "section"
    assert not any("other.example" in u or "calendar" in u or "page=40" in u or "logo" in u for u in urls)
    assert sum("storm-hits-coast" in u for u in urls) == 1, "tracking variants are one URL"
    stats = spider.crawler.stats.get_stats()
    assert stats["newsarchive/discovery/skipped/off_site"] == 1
    assert stats["newsarchive/discovery/skipped/not_http"] == 2
    assert stats["newsarchive/pages/hub"] == 1


def test_link_depth_is_bounded():
    spider = make_spider(NEWSARCHIVE_DISCOVERY_MAX_DEPTH=2)
    deep = response(HtmlResponse, f"{BASE}/world/", HOMEPAGE, "section", depth=2)
    assert [o for o in spider.parse_page(deep) if isinstance(o, Request)] == []
    shallow = response(HtmlResponse, f"{BASE}/world/", HOMEPAGE, "section", depth=1)
    reqs = [o for o in spider.parse_page(shallow) if isinstance(o, Request)]
    assert reqs and all(r.meta["newsarchive_depth"] == 2 for r in reqs)


NEWS_SITEMAP = f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc>{BASE}/2026/11/29/storm-hits-coast.html</loc><news:news>
  <news:publication><news:name>News</news:name><news:language>en</news:language></news:publication>
  <news:publication_date>2026-11-29T08:00:00+00:00</news:publication_date>
  <news:title>Storm hits coast</news:title></news:news></url>
<url><loc>{BASE}/2020/01/01/old-story.html</loc><news:news>
  <news:publication_date>2020-01-01T08:00:00+00:00</news:publication_date><news:title>Old</news:title></news:news></url>
</urlset>""".encode()


def test_news_sitemap_keeps_date_and_title_and_since_filters():
    spider = make_spider(NEWSARCHIVE_SINCE="2026-11-01")
    resp = response(XmlResponse, f"{BASE}/news-sitemap.xml", NEWS_SITEMAP, "discovery",
                    headers={"Content-Type": "application/xml"})
    [req] = list(spider.parse_discovery(resp))
    via = req.meta["newsarchive_via"]
    assert via["kind"] == "news_sitemap" and via["title"] == "Storm hits coast"
    assert via["published"].startswith("2026-11-29T08:00:00")
    assert spider.crawler.stats.get_value("newsarchive/discovery/skipped/too_old") == 1


def test_article_page_becomes_an_item_with_provenance_from_the_sitemap():
    spider = make_spider()
    list(spider.parse_discovery(response(XmlResponse, f"{BASE}/news-sitemap.xml", NEWS_SITEMAP, "discovery",
                                         headers={"Content-Type": "application/xml"})))
    # Found again as a homepage link: the sitemap's provenance (with its date) is kept.
    url = f"{BASE}/2026/11/29/storm-hits-coast.html"
    page = b'<html><head><meta property="og:type" content="article"></head><body><p>x</p></body></html>'
    resp = response(HtmlResponse, url, page, "article", newsarchive_warc={"file": "w", "offset": 0})
    items = [o for o in spider.parse_page(resp) if isinstance(o, dict)]
    [item] = items
    assert item["url"] == url and item["body"] == page and item["warc"] == {"file": "w", "offset": 0}
    assert item["discovered_via"]["kind"] == "news_sitemap"


def test_non_html_is_a_counted_skip():
    spider = make_spider()
    resp = response(TextResponse, f"{BASE}/2026/11/29/a.pdf", b"%PDF-1.4", "article",
                    headers={"Content-Type": "application/pdf"})
    assert list(spider.parse_page(resp)) == []
    assert spider.crawler.stats.get_value("newsarchive/skipped/not_html") == 1


def test_robots_sitemaps_are_followed_on_site_only():
    spider = make_spider()
    body = f"User-agent: *\nDisallow: /private/\nSitemap: {BASE}/news-sitemap.xml\nSitemap: https://evil.example/s.xml\n"
    resp = response(TextResponse, f"{BASE}/robots.txt", body.encode(), "robots",
                    headers={"Content-Type": "text/plain"})
    assert [r.url for r in spider.parse_robots(resp)] == [f"{BASE}/news-sitemap.xml"]


def test_links_to_private_hosts_are_not_followed_unless_a_seed_points_there():
    spider = make_spider(seeds=["http://127.0.0.1:8000/"])
    page = b'<a href="http://127.0.0.1:8000/2026/11/29/a-story-here.html">a</a><a href="http://localhost:8000/x">b</a>'
    out = list(spider.parse_page(response(HtmlResponse, "http://127.0.0.1:8000/", page, "homepage")))
    assert [r.url for r in out] == ["http://127.0.0.1:8000/2026/11/29/a-story-here.html"]


def test_looks_like_article_and_parse_age():
    assert looks_like_article(b'<script type="application/ld+json">{"@type": "NewsArticle"}</script>')
    assert looks_like_article(b'<meta content="article" property="og:type">')
    assert not looks_like_article(b'<script type="application/ld+json">{"@type": "WebPage"}</script>')
    assert parse_age(None) is None
    with pytest.raises(ValueError):
        parse_age("yesterday")


def test_a_sitemap_whose_links_are_dead_trips_the_breaker():
    from scrapy.exceptions import IgnoreRequest
    from scrapy.spidermiddlewares.httperror import HttpError
    from twisted.python.failure import Failure

    from crawler.middlewares.breaker import SourceBreakerMiddleware

    spider = make_spider(NEWSARCHIVE_DISCOVERY_BREAKER_FAILURES=3)
    mw = SourceBreakerMiddleware(spider.crawler)
    via = {"kind": "sitemap", "source": f"{BASE}/sitemap.xml", "published": None, "title": None}

    def dead(i):
        req = Request(f"{BASE}/2026/11/29/gone-{i}.html", meta={"newsarchive_site": 0, "newsarchive_role": "article",
                                                               "newsarchive_via": via})
        resp = HtmlResponse(req.url, status=404, body=b"", request=req)
        try:
            raise HttpError(resp, "404")
        except HttpError:
            failure = Failure()
        failure.request = req
        return req, failure

    for i in range(2):
        spider.on_error(dead(i)[1])
    assert mw.process_request(dead(9)[0]) is None, "two dead links are not yet a dead sitemap"
    spider.on_error(dead(2)[1])
    with pytest.raises(IgnoreRequest, match="broken discovery source"):
        mw.process_request(dead(10)[0])
    other = Request(f"{BASE}/a.html", meta={"newsarchive_via": {**via, "source": f"{BASE}/feed.xml"}})
    assert mw.process_request(other) is None
    assert spider.crawler.stats.get_value("newsarchive/discovery/broken_sources") == 1


def test_a_sitemap_with_working_links_is_never_broken():
    spider = make_spider(NEWSARCHIVE_DISCOVERY_BREAKER_FAILURES=2)
    via = {"kind": "sitemap", "source": f"{BASE}/sitemap.xml"}
    spider._source_result(via, ok=True)
    for _ in range(5):
        spider._source_result(via, ok=False)
    assert not spider.broken_sources


def test_a_big_sitemap_is_released_a_batch_at_a_time():
    spider = make_spider(NEWSARCHIVE_DISCOVERY_BATCH=3)
    body = ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + "".join(f"<url><loc>{BASE}/2026/11/29/story-number-{i}.html</loc></url>" for i in range(10))
            + "</urlset>").encode()
    resp = response(XmlResponse, f"{BASE}/sitemap.xml", body, "discovery", headers={"Content-Type": "application/xml"})
    first = list(spider.parse_discovery(resp))
    assert [r.url.rsplit("-", 1)[1] for r in first] == ["0.html", "1.html", "2.html"]
    # one comes back: exactly one more goes out
    done = response(HtmlResponse, first[0].url, b"<html><body><p>x</p></body></html>", "article",
                    newsarchive_via=first[0].meta["newsarchive_via"], newsarchive_batch=first[0].meta["newsarchive_batch"])
    nxt = [o for o in spider.parse_page(done) if isinstance(o, Request)]
    assert [r.url.rsplit("-", 1)[1] for r in nxt] == ["3.html"]
    # when the crawl goes idle with requests lost on the way (say, to the dupefilter), the rest moves on
    engine_crawled = []
    spider.crawler.engine = type("E", (), {"crawl": staticmethod(engine_crawled.append)})()
    from scrapy.exceptions import DontCloseSpider

    with pytest.raises(DontCloseSpider):
        spider.spider_idle()
    assert len(engine_crawled) == 3


def test_a_hub_releases_its_article_links_in_batches_and_sections_at_once():
    spider = make_spider(NEWSARCHIVE_DISCOVERY_BATCH=2)
    links = "".join(f'<a href="/2026/11/29/story-number-{i}.html">s{i}</a>' for i in range(6))
    page = f'<html><body>{links}<a href="/world/">World</a></body></html>'.encode()
    out = [o for o in spider.parse_page(response(HtmlResponse, f"{BASE}/", page, "homepage")) if isinstance(o, Request)]
    roles = [(r.url.rsplit("/", 2)[-2:], r.meta["newsarchive_role"]) for r in out]
    assert [role for _, role in roles].count("article") == 2
    assert (["world", ""], "section") in roles
    first = next(r for r in out if r.meta["newsarchive_role"] == "article")
    assert first.meta["newsarchive_batch"] == f"{BASE}/"
    done = response(HtmlResponse, first.url, b"<html><body><p>x</p></body></html>", "article",
                    newsarchive_via=first.meta["newsarchive_via"], newsarchive_batch=first.meta["newsarchive_batch"])
    assert len([o for o in spider.parse_page(done) if isinstance(o, Request)]) == 1


def sitemap_response(n, extra=""):
    body = ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + "".join(f"<url><loc>{BASE}/2026/11/29/story-number-{i}.html</loc></url>" for i in range(n))
            + extra + "</urlset>").encode()
    return response(XmlResponse, f"{BASE}/sitemap.xml", body, "discovery", headers={"Content-Type": "application/xml"})


def answer(spider, req):
    done = response(HtmlResponse, req.url, b"<html><body><p>x</p></body></html>", "article",
                    newsarchive_via=req.meta["newsarchive_via"], newsarchive_batch=req.meta["newsarchive_batch"])
    return [o for o in spider.parse_page(done) if isinstance(o, Request)]


def test_a_sitemap_is_read_as_its_batches_go_out_and_counted_once_read():
    spider = make_spider(NEWSARCHIVE_DISCOVERY_BATCH=2)
    stats = spider.crawler.stats
    # the last entry repeats the first: the parser only finds that out at the end
    first = list(spider.parse_discovery(sitemap_response(3, f"<url><loc>{BASE}/2026/11/29/story-number-0.html</loc></url>")))
    assert len(first) == 2
    assert stats.get_value("newsarchive/discovery/documents/urlset") is None, "not read to its end yet"
    [third] = answer(spider, first[0])
    assert third.url.endswith("story-number-2.html")
    assert answer(spider, first[1]) == []  # the repeat is all that was left
    assert stats.get_value("newsarchive/discovery/documents/urlset") == 1
    assert stats.get_value("newsarchive/discovery/skipped/duplicate") == 1
    assert f"{BASE}/sitemap.xml" not in spider._backlog


def test_a_document_the_crawl_did_not_finish_is_counted_at_close():
    spider = make_spider(NEWSARCHIVE_DISCOVERY_BATCH=2)
    assert len(list(spider.parse_discovery(sitemap_response(10, "<url><loc>")))) == 2
    spider.closed("closespider_timeout")
    stats = spider.crawler.stats
    assert stats.get_value("newsarchive/discovery/documents/urlset") == 1
    assert stats.get_value("newsarchive/discovery/errors/malformed") is None, "the break was never reached"


def test_a_broken_sitemap_is_read_to_its_end_only_to_count_the_rest():
    spider = make_spider(NEWSARCHIVE_DISCOVERY_BATCH=3, NEWSARCHIVE_DISCOVERY_BREAKER_FAILURES=2)
    out = list(spider.parse_discovery(sitemap_response(10)))
    assert len(out) == 3
    spider.broken_sources.add(f"{BASE}/sitemap.xml")  # as the breaker does after 2 dead links
    assert answer(spider, out[0]) == []
    stats = spider.crawler.stats
    assert stats.get_value("newsarchive/skipped/broken_source") == 7
    assert stats.get_value("newsarchive/discovery/documents/urlset") == 1


def test_provenance_is_let_go_once_answered_and_the_url_stays_known():
    spider = make_spider()
    news = response(XmlResponse, f"{BASE}/news-sitemap.xml", NEWS_SITEMAP, "discovery",
                    headers={"Content-Type": "application/xml"})
    reqs = list(spider.parse_discovery(news))
    assert len(spider._via) == 2
    page = b'<html><head><meta property="og:type" content="article"></head><body><p>x</p></body></html>'
    resp = response(HtmlResponse, reqs[0].url, page, "article", newsarchive_via=reqs[0].meta["newsarchive_via"],
                    newsarchive_batch=reqs[0].meta["newsarchive_batch"])
    [item] = [o for o in spider.parse_page(resp) if isinstance(o, dict)]
    assert item["discovered_via"]["title"] == "Storm hits coast"
    assert reqs[0].url not in spider._via and len(spider._via) == 1
    # found again by a homepage link later: not scheduled a second time
    home = f'<html><body><a href="{reqs[0].url}">again</a></body></html>'.encode()
    assert [r for r in spider.parse_page(response(HtmlResponse, f"{BASE}/", home, "homepage"))
            if r.meta.get("newsarchive_role") == "article"] == []


def test_a_richer_provenance_found_while_the_request_is_out_goes_with_the_item():
    spider = make_spider()
    url = f"{BASE}/2026/11/29/storm-hits-coast.html"
    home = f'<html><body><a href="{url}">storm</a></body></html>'.encode()
    [req] = [r for r in spider.parse_page(response(HtmlResponse, f"{BASE}/", home, "homepage"))
             if r.meta.get("newsarchive_role") == "article"]
    assert req.meta["newsarchive_via"]["kind"] == "homepage"
    news = response(XmlResponse, f"{BASE}/news-sitemap.xml", NEWS_SITEMAP, "discovery",
                    headers={"Content-Type": "application/xml"})
    assert [r.url for r in spider.parse_discovery(news)] == [f"{BASE}/2020/01/01/old-story.html"]
    page = b'<html><head><meta property="og:type" content="article"></head><body><p>x</p></body></html>'
    resp = response(HtmlResponse, url, page, "article", newsarchive_via=req.meta["newsarchive_via"],
                    newsarchive_batch=req.meta["newsarchive_batch"])
    [item] = [o for o in spider.parse_page(resp) if isinstance(o, dict)]
    assert item["discovered_via"]["kind"] == "news_sitemap"
    assert item["discovered_via"]["title"] == "Storm hits coast"
