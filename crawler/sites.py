"""Site configurations: what to crawl on each site, from seeds on the command line or a TOML file.

A sites file lists one ``[[site]]`` table per site::

    [[site]]
    name = "example"                       # optional; defaults to the homepage's host
    homepage = "https://news.example/"     # optional when feeds or sitemaps are given
    feeds = ["https://news.example/rss"]
    sitemaps = ["https://news.example/news-sitemap.xml"]
    allowed_paths = ["/world/", "/politics/"]      # prefixes; URLs elsewhere are not followed
    article_patterns = ['/\\d{4}/\\d{2}/\\d{2}/[^/]+$']   # regexes: a matching URL is an article
    deny_patterns = ['/live-tv/']                  # regexes: never fetched
    allowed_domains = ["cdn.news.example"]         # other sites that count as this one
    follow_links = true                            # follow homepage / section links
    max_depth = 2                                  # link hops from the homepage
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from crawler.urlpolicy import is_http_url, site_of


class SitesConfigError(ValueError):
    """A sites file that cannot be used; the message names the file and the entry."""


@dataclass
class SiteConfig:
    name: str
    homepage: str | None = None
    feeds: list[str] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)
    articles: list[str] = field(default_factory=list)
    seeds: list[str] = field(default_factory=list)  # URLs of unknown kind: sniffed on arrival
    allowed_paths: list[str] = field(default_factory=list)
    article_patterns: list[re.Pattern] = field(default_factory=list)
    deny_patterns: list[re.Pattern] = field(default_factory=list)
    allowed_domains: list[str] = field(default_factory=list)
    follow_links: bool = True
    max_depth: int | None = None

    @property
    def start_urls(self) -> list[str]:
        urls = [*([self.homepage] if self.homepage else []), *self.feeds, *self.sitemaps, *self.articles, *self.seeds]
        return list(dict.fromkeys(urls))

    @property
    def sites(self) -> set[str]:
        """Registrable domains that count as this site."""
        out = {site_of(u) for u in self.start_urls}
        out.update(site_of(f"http://{d}/") for d in self.allowed_domains)
        return out

    def allows_path(self, url: str) -> bool:
        if not self.allowed_paths:
            return True
        path = urlsplit(url).path or "/"
        return any(path.startswith(p) for p in self.allowed_paths)

    def denies(self, url: str) -> bool:
        return any(p.search(url) for p in self.deny_patterns)

    def is_article_url(self, url: str) -> bool | None:
        """True/False when the site says; None when it has no patterns (the spider guesses)."""
        if not self.article_patterns:
            return None
        return any(p.search(url) for p in self.article_patterns)

    @classmethod
    def from_seed(cls, url: str) -> SiteConfig:
        """A bare seed URL: its kind (homepage, feed, sitemap, article) is found when it is fetched."""
        if not is_http_url(url):
            raise SitesConfigError(f"not an http(s) URL: {url!r}")
        return cls(name=urlsplit(url).hostname or url, seeds=[url])


def _compile(patterns, where: str) -> list[re.Pattern]:
    out = []
    for p in patterns or []:
        try:
            out.append(re.compile(p))
        except re.error as e:
            raise SitesConfigError(f"{where}: bad regular expression {p!r}: {e}") from None
    return out


def _urls(value, where: str, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SitesConfigError(f"{where}: {key} must be a list of URLs")
    for v in value:
        if not is_http_url(v):
            raise SitesConfigError(f"{where}: {key}: not an http(s) URL: {v!r}")
    return value


KNOWN_KEYS = {
    "name", "homepage", "url", "feeds", "sitemaps", "articles", "allowed_paths", "article_patterns",
    "deny_patterns", "allowed_domains", "follow_links", "max_depth",
}


def load_sites(path: str | Path) -> list[SiteConfig]:
    """Read a sites TOML file; raises SitesConfigError with one clear line on any problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SitesConfigError(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SitesConfigError(f"{path}: not valid TOML: {e}") from None
    entries = data.get("site")
    if not isinstance(entries, list) or not entries:
        raise SitesConfigError(f"{path}: no [[site]] entries")
    sites = []
    for i, entry in enumerate(entries):
        where = f"{path}: site #{i + 1}"
        unknown = set(entry) - KNOWN_KEYS
        if unknown:
            raise SitesConfigError(f"{where}: unknown keys {sorted(unknown)}")
        homepage = entry.get("homepage") or entry.get("url")
        if homepage is not None:
            homepage = _urls(homepage, where, "homepage")[0]
        site = SiteConfig(
            name=str(entry.get("name") or (urlsplit(homepage).hostname if homepage else f"site-{i + 1}")),
            homepage=homepage,
            feeds=_urls(entry.get("feeds"), where, "feeds"),
            sitemaps=_urls(entry.get("sitemaps"), where, "sitemaps"),
            articles=_urls(entry.get("articles"), where, "articles"),
            allowed_paths=list(entry.get("allowed_paths") or []),
            article_patterns=_compile(entry.get("article_patterns"), where),
            deny_patterns=_compile(entry.get("deny_patterns"), where),
            allowed_domains=list(entry.get("allowed_domains") or []),
            follow_links=bool(entry.get("follow_links", True)),
            max_depth=entry.get("max_depth"),
        )
        if not site.start_urls:
            raise SitesConfigError(f"{where}: needs a homepage, feeds, sitemaps or articles")
        sites.append(site)
    return sites
