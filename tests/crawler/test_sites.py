import re

import pytest

from crawler.sites import SiteConfig, SitesConfigError, load_sites


def write(tmp_path, text):
    p = tmp_path / "sites.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_load_sites_full_entry(tmp_path):
    p = write(tmp_path, """
[[site]]
name = "ex"
homepage = "https://www.news.example/"
feeds = ["https://news.example/rss.xml"]
sitemaps = ["https://news.example/news-sitemap.xml"]
allowed_paths = ["/world/"]
article_patterns = ['/\\d{4}/\\d{2}/[^/]+\\.html$']
deny_patterns = ['/live/']
allowed_domains = ["cdn.other.example"]
max_depth = 1
""")
    [site] = load_sites(p)
    assert site.name == "ex"
    assert site.start_urls == ["https://www.news.example/", "https://news.example/rss.xml",
                               "https://news.example/news-sitemap.xml"]
    assert site.sites == {"news.example", "other.example"}
    assert site.allows_path("https://news.example/world/a.html")
    assert not site.allows_path("https://news.example/sport/a.html")
    assert site.is_article_url("https://news.example/world/2025/10/a.html")
    assert site.is_article_url("https://news.example/world/") is False
    assert site.denies("https://news.example/live/now")
    assert site.max_depth == 1


@pytest.mark.parametrize("text, message", [
    ("this is not toml =", "not valid TOML"),
    ("x = 1", "no [[site]] entries"),
    ('[[site]]\nname = "a"', "needs a homepage"),
    ('[[site]]\nhomepage = "ftp://x.example/"', "not an http(s) URL"),
    ('[[site]]\nhomepage = "https://x.example/"\narticle_patterns = ["("]', "bad regular expression"),
    ('[[site]]\nhomepage = "https://x.example/"\nfeed = ["https://x.example/rss"]', "unknown keys"),
])
def test_bad_sites_files_give_one_clear_error(tmp_path, text, message):
    with pytest.raises(SitesConfigError, match=re.escape(message)):
        load_sites(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(SitesConfigError, match="no such file"):
        load_sites(tmp_path / "nope.toml")


def test_seed_site_has_no_patterns():
    site = SiteConfig.from_seed("https://news.example/feed.xml")
    assert site.is_article_url("https://news.example/a") is None
    assert site.start_urls == ["https://news.example/feed.xml"]
    with pytest.raises(SitesConfigError):
        SiteConfig.from_seed("javascript:alert(1)")
