#!/usr/bin/env python3
"""A hostile news site on 127.0.0.1: everything that goes wrong on the real web, on purpose.

``python tests/support/hostile_site.py --port 0`` prints ``READY <url>`` and serves until
SIGINT/SIGTERM. Standard library only, so it runs as a plain script in a subprocess; the tests
start it through ``tests.support.servers.hostile_site()``.

The homepage links to a few good articles (the fictional Gannet Bay Gazette) and to every bad case:
binary bodies served as HTML, an empty 200, a 60 MB page, a gzip bomb, a server that sends headers
and then nothing, a truncated body, NUL bytes, unclosed tags, a utf-8 label on windows-1252 bytes, a
charset only in <meta>, redirect loops and endless chains, unfetchable links, ../ paths, an endless
calendar, endless pagination, session ids on every link, 429 then success, a 500, a connection
reset, PDF and PNG links, a feed cut off half-way, a sitemap index listing itself, a 100,000-URL
sitemap, and feed/sitemap entries without links or with bad dates.

``/expected.json`` says what a crawler should make of each case (``good`` article URLs, ``junk``
URLs, per-case detail); ``/_stats.json`` counts the requests each case received, so a test can
check that a crawl stopped at a trap instead of walking it. Both are also importable:
``expected(base)`` and ``HostileSite.hits``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import secrets
import signal
import socket
import struct
import sys
import threading
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

SITE = "Gannet Bay Gazette"
HUGE_PAGE_BYTES = 60 * 1024 * 1024
BOMB_INFLATED_BYTES = 500 * 1024 * 1024
HUGE_SITEMAP_URLS = 100_000
TRUNCATED_DECLARED_BYTES = 100_000
STALL_DECLARED_BYTES = 50_000
DEFAULT_STALL_SECONDS = 300.0
CHUNK = 64 * 1024

HTML = "text/html; charset=utf-8"
XML = "application/xml; charset=utf-8"


@dataclass(frozen=True)
class Story:
    slug: str
    title: str
    author: str
    published: str
    paragraphs: tuple[str, ...]
    folder: str = "articles"

    @property
    def path(self) -> str:
        return f"/{self.folder}/{self.slug}.html"


GOOD = (
    Story("lighthouse-keepers-return", "Gannet Rock lighthouse gets a keeper again after forty years",
          "Callum Dunmore", "2026-11-23T08:30:00+00:00", (
              "GANNET ROCK — For the first time since 1986, someone will live year-round in the keeper’s cottage at the Gannet Rock lighthouse. The coastal heritage trust said on Monday that it had appointed a resident warden who will look after the tower, count seabirds and guide the small groups of visitors who make the crossing in summer.",
              "The lighthouse was automated four decades ago, and since then the cottage has stood empty apart from occasional visits by maintenance crews. Salt and winter storms took their toll: by 2020 part of the roof had collapsed and the old lamp room was closed to the public.",
              "The trust spent three years and 1.2 million in donations restoring the buildings. The new warden, former ferry engineer Callum Rees, moves in next month with his partner and their dog.",
              "“People keep asking whether I will get lonely,” Mr Rees said. “There are forty thousand guillemots out there in June. I think I will have company.”",
              "The light itself remains automated and is maintained by the national lighthouse authority. Mr Rees will look after the buildings and the island, which is a protected nesting site.",
              "Boat trips to the rock resume in April, weather permitting, with places limited to 24 visitors a day.",
          )),
    Story("library-late-fees-abolished", "City libraries scrap late fees and see borrowing jump",
          "Priya Lomax", "2026-11-24T10:00:00+00:00", (
              "City libraries abolished overdue fines a year ago. Figures released this week show borrowing has risen by 18 percent since then, and more than 3,000 lapsed members have come back, many of them children.",
              "The library service had worried that removing fines would mean books going missing. Instead, the share of items returned within a month of their due date rose slightly, from 94 to 95 percent.",
              "“Fines were never a big source of income,” said head librarian Dora Finch. “What they did very well was keep away the people who had most to gain from a library card: families who could not risk a bill for a lost picture book.”",
              "The change cost the service about 40,000 a year in lost fines, which the council covered from its culture budget. Councillors will vote next month on whether to make it permanent.",
              "Several branches have used the extra visitors to justify longer Saturday opening hours, and the central library has started a weekly homework club that now draws more than 60 pupils.",
              "Borrowers who keep an item for more than three months will still be asked to pay for a replacement.",
          )),
    Story("orchard-frost-losses", "Late frost costs orchard growers half their cherry crop",
          "Hana Okafor", "2026-11-25T07:15:00+00:00", (
              "ORCHARD VALE — A sharp frost destroyed about half of this year’s cherry crop in the valley, growers said, after temperatures fell to minus four degrees just as the trees came into full blossom.",
              "Growers lit candles and ran wind machines through the night, but the cold settled on the valley floor where most of the older orchards stand. “You could hear the blossom crack in the morning,” said third-generation grower Hana Lutz. “By lunchtime the petals had gone brown.”",
              "The growers’ association estimates losses of around 2.5 million across its 70 members. Orchards on the higher slopes, where cold air drains away, escaped largely unharmed.",
              "Several growers are now considering frost netting or overhead sprinklers, which coat blossom in a thin layer of ice that shields it from harder cold. Both are expensive, and the association has asked the regional government to help with the cost.",
              "Farm shops in the valley said they expected to open as usual in June, but with a shorter season and higher prices.",
          )),
    Story("tram-depot-fire", "Fire at tram depot disrupts morning services",
          "Lars Ibsen", "2026-11-26T09:45:00+00:00", (
              "A fire at the northern tram depot early on Thursday damaged three trams and disrupted morning services on two lines, the city transport company said. Nobody was hurt.",
              "Firefighters were called at 4.20 a.m. after staff noticed smoke coming from a maintenance bay. Four engines attended and the fire was under control within an hour.",
              "Lines 2 and 5 ran a reduced service until about 10 a.m., with replacement buses between the depot and the central station. Commuters reported waits of up to 25 minutes at some stops.",
              "“Our priority this morning was getting people to work and school,” said transport company spokesperson Lars Ek. “Full services are running again and we are grateful to passengers for their patience.”",
              "The cause of the fire is being investigated. The damaged trams, all from the oldest series in the fleet, had been due to retire next year.",
          )),
)

NUL_STORY = Story("ferry-timetable", "Harbour ferry timetable changes from Monday", "Jo Brandvik",
                  "2026-11-26T12:00:00+00:00", (
                      "The harbour ferry will run every 20 minutes instead of every 15 on weekday evenings from Monday, the operator said, while it carries out maintenance on one of its three boats.",
                      "Daytime and weekend timetables are unchanged. The evening change will last about six weeks, until the boat returns from the shipyard on the east bank.",
                      "Season ticket holders will not pay extra, and the operator said it would show real-time departures on the screens at both landing stages.",
                      "Passenger numbers on the route have grown by a third since the new housing district on the south bank opened two years ago.",
                  ), folder="tricky")
UNCLOSED_STORY = Story("hedgehog-count", "Volunteers count record number of hedgehogs in city parks",
                       "Mira Holt", "2026-11-24T16:20:00+00:00", (
                           "Volunteers counted 212 hedgehogs in the city’s parks during this year’s autumn survey, the highest number since the count began in 2015.",
                           "The survey, run by the local wildlife group, uses footprint tunnels and night-time walks across 30 parks and cemeteries.",
                           "Organisers credited the rise to wilder verges and to the small holes residents have cut in garden fences so that hedgehogs can move from one garden to the next.",
                           "The group is looking for more volunteers for next year’s spring count and will hold a training evening at the central library in March.",
                       ), folder="tricky")
CP1252_STORY = Story("cafe-terraces", "Café owners welcome longer terrace season", "Renée Fabre",
                     "2026-11-23T11:10:00+00:00", (
                         "Café and restaurant owners have welcomed the council’s decision to let outdoor terraces stay open until the end of November, a month longer than before.",
                         "“It’s the difference between a good year and a bad one,” said Renée Dubois, who runs a café on the market square. Terrace permits cost €120 a season — the price is unchanged.",
                         "Residents’ groups had asked for a 10 p.m. closing time to limit noise; the council agreed to 10.30 p.m. on weekdays and 11 p.m. at weekends.",
                         "The council will review the longer season next summer, after asking both café owners and neighbours how it went.",
                     ), folder="tricky")
META_CHARSET_STORY = Story("carnival-parade", "Carnival parade returns to the old town after three years",
                           "Jürgen Maaß", "2026-11-25T15:30:00+00:00", (
                               "The old town’s winter carnival parade will return in February after a three-year break, organisers said, with 40 groups and six brass bands taking part.",
                               "The parade, modelled on the Rhineland carnivals that founder Jürgen Weiß saw as a student in Köln, was cancelled in 2024 because of roadworks on the main square.",
                               "“We have kept every costume,” said Mr Weiß, now 78. “Some of them will need a bit of work, and a few will need a lot.”",
                               "The route follows the old town’s ring road and finishes at the market hall, where a free concert is planned for the evening.",
                           ), folder="tricky")
RATE_LIMITED_STORY = Story("cycle-lanes", "Council approves protected cycle lanes on harbour road",
                           "Tomasz Nyberg", "2026-11-27T13:00:00+00:00", (
                               "Councillors approved plans on Tuesday for protected cycle lanes along the full length of the harbour road, one of the city’s busiest routes.",
                               "Construction will start in the spring and take about nine months. Parking spaces on one side of the road will go, and loading bays will be added for shops.",
                               "Cycling groups welcomed the decision. Some businesses on the road said they were worried about losing passing trade while the works are under way.",
                               "The council said it would count traffic and publish the figures every three months after the lanes open.",
                           ), folder="tricky")


@dataclass(frozen=True)
class Case:
    """One thing the site does, what a crawler should make of it, and why it is here."""

    name: str
    path: str  # what the homepage links to (relative to the site)
    expect: str  # article | no-record | trap | duplicate | not-fetched | discovery
    why: str


CASES: tuple[Case, ...] = (
    *(Case(f"good:{s.slug}", s.path, "article", "a plain, well-formed article") for s in GOOD),
    Case("nul-bytes", NUL_STORY.path, "article",
         "NUL bytes inside the HTML: lxml refuses str with NUL and libxml2 may stop at one"),
    Case("unclosed-tags", UNCLOSED_STORY.path, "article",
         "no closing tags for p, div, b, li, body or html"),
    Case("wrong-charset", CP1252_STORY.path, "article",
         "Content-Type and <meta> say utf-8, the bytes are windows-1252 (curly quotes, é, €)"),
    Case("meta-charset", META_CHARSET_STORY.path, "article",
         "Content-Type has no charset; only <meta http-equiv> names windows-1252 (ü, ß, ö)"),
    Case("rate-limited", RATE_LIMITED_STORY.path, "article",
         "odd-numbered requests get 429 with Retry-After: 1, even-numbered ones the article"),
    Case("binary-as-html", "/junk/binary.html", "no-record", "random bytes served as text/html"),
    Case("empty", "/junk/empty.html", "no-record", "200 with an empty body"),
    Case("huge-page", "/junk/huge.html", "no-record",
         f"{HUGE_PAGE_BYTES // 2**20} MB of HTML, streamed; above any sane DOWNLOAD_MAXSIZE"),
    Case("gzip-bomb", "/junk/gzip-bomb.html", "no-record",
         f"~500 KB gzip body that inflates to {BOMB_INFLATED_BYTES // 2**20} MB of zeros"),
    Case("stall", "/junk/stall.html", "no-record",
         "sends status and headers, then never the body (until the server stops)"),
    Case("truncated", "/junk/truncated.html", "no-record",
         f"Content-Length {TRUNCATED_DECLARED_BYTES}, about 2 KB sent, then the connection closes"),
    Case("server-error", "/junk/error-500.html", "no-record", "500 Internal Server Error, every time"),
    Case("connection-reset", "/junk/reset.html", "no-record",
         "reads the request, then resets the connection (RST) without answering"),
    Case("pdf", "/files/annual-report.pdf", "no-record", "a PDF document: not HTML"),
    Case("image", "/files/harbour.png", "no-record", "a PNG image: not HTML"),
    Case("not-found", "/junk/missing-page.html", "no-record", "404"),
    Case("redirect-loop", "/loop/a", "trap", "/loop/a -> /loop/b -> /loop/a ..."),
    Case("redirect-chain", "/chain/0", "trap", "/chain/N -> /chain/N+1, forever"),
    Case("calendar", "/calendar/2026/11/", "trap", "each month links to the next (and previous) month, forever"),
    Case("pagination", "/list?page=1", "trap", "each archive page links to page N+1, forever"),
    Case("session-ids", "/session/", "trap",
         "every link carries a fresh ?sid=<random>; the articles behind them are the good ones again"),
    Case("dot-segments", "/articles/../articles/lighthouse-keepers-return.html", "duplicate",
         "normalizes to a good article's URL"),
    Case("dot-segments-escape", "../../../../etc/passwd", "no-record",
         "resolves to /etc/passwd on this host: a 404"),
    Case("robots", "/robots.txt", "discovery", "allows everything, names the sitemap index"),
    Case("broken-feed", "/feed.xml", "discovery", "RSS cut off in the middle of an item"),
    Case("odd-feed", "/feed-odd.xml", "discovery",
         "well-formed RSS whose items lack links, titles or dates, or carry dates that are not dates"),
    Case("self-listing-sitemap-index", "/sitemap-index.xml", "discovery",
         "a sitemap index that lists itself, a missing sitemap and the huge one"),
    Case("odd-sitemap", "/sitemap.xml", "discovery", "entries without <loc>, with bad <lastmod>, padded URLs"),
    Case("huge-sitemap", "/sitemap-huge.xml", "discovery",
         f"{HUGE_SITEMAP_URLS:,} URLs (the protocol's limit is 50,000), every one a 404"),
    Case("odd-news-sitemap", "/news-sitemap.xml", "discovery",
         "Google News entries with a bad publication_date and one without <loc>"),
)

# Links that no crawler should request: schemes other than http(s), and URLs that do not parse.
UNFETCHABLE_LINKS = (
    "javascript:void(0)",
    "JavaScript:alert('hi')",
    "mailto:newsdesk@gannet-bay.example",
    "tel:+0000000000",
    "data:text/html,<p>inline</p>",
    "http://[::1",
    "http://",
    "http:///no-host",
    "ht tp://space-in-scheme.example/",
    "http://127.0.0.1:99999/port-out-of-range",
)


def expected(base: str) -> dict[str, Any]:
    """What a crawler should make of each case, with absolute URLs under ``base``."""
    base = base.rstrip("/")

    def absolute(path: str) -> str:
        return urljoin(base + "/", path)

    return {
        "base": base,
        "good": [absolute(c.path) for c in CASES if c.expect == "article"],
        "junk": [absolute(c.path) for c in CASES if c.expect in ("no-record", "trap")],
        "duplicates": [absolute(c.path) for c in CASES if c.expect == "duplicate"],
        "discovery": [absolute(c.path) for c in CASES if c.expect == "discovery"],
        "unfetchable_links": list(UNFETCHABLE_LINKS),
        "traps": {
            "calendar": absolute("/calendar/"),
            "pagination": absolute("/list"),
            "redirect_chain": absolute("/chain/"),
            "redirect_loop": absolute("/loop/"),
            "session_id_param": "sid",
            "huge_sitemap_urls": absolute("/huge/"),
        },
        "cases": [
            {"name": c.name, "url": absolute(c.path), "href": c.path, "expect": c.expect, "why": c.why}
            for c in CASES
        ],
    }


# ------------------------------------------------------------------------------------ pages
def _human(iso: str) -> str:
    d = datetime.fromisoformat(iso)
    return f"{d.day} {d.strftime('%B %Y')}"


def article_html(base: str, story: Story, charset_meta: str = '<meta charset="utf-8">') -> str:
    others = "\n".join(f'    <li><a href="{s.path}">{escape(s.title)}</a></li>' for s in GOOD if s != story)
    paras = "\n".join(f"    <p>{escape(p)}</p>" for p in story.paragraphs)
    ld = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle", "headline": story.title,
                     "datePublished": story.published, "author": {"@type": "Person", "name": story.author},
                     "mainEntityOfPage": base + story.path}, ensure_ascii=False)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
{charset_meta}
<title>{escape(story.title)} – {SITE}</title>
<link rel="canonical" href="{base}{story.path}">
<meta property="og:type" content="article">
<meta property="og:title" content="{escape(story.title)}">
<meta property="article:published_time" content="{story.published}">
<meta name="author" content="{escape(story.author)}">
<script type="application/ld+json">{ld}</script>
</head>
<body>
<header><a href="/">{SITE}</a>
  <nav><a href="/">Home</a> <a href="/list?page=1">Archive</a> <a href="/calendar/2026/11/">Events</a></nav>
</header>
<main>
  <article>
    <h1>{escape(story.title)}</h1>
    <p class="byline">By {escape(story.author)} · <time datetime="{story.published}">{_human(story.published)}</time></p>
{paras}
  </article>
  <aside>
    <h2>More stories</h2>
    <ul>
{others}
    </ul>
  </aside>
</main>
<footer><p>© 2026 {SITE}, a fictional paper for testing crawlers.</p></footer>
</body>
</html>
"""


def nul_bytes_page(base: str) -> bytes:
    html = article_html(base, NUL_STORY)
    html = html.replace("<body>", "<body>\x00", 1)
    html = html.replace("every 20 minutes", "every 20\x00minutes", 1)
    html = html.replace("<p>Season", "<p class=\"\x00\">Season", 1)
    html = html.replace("</article>", "\x00\x00\x00</article>", 1)
    return html.encode("utf-8")


def unclosed_tags_page(base: str) -> bytes:
    s = UNCLOSED_STORY
    paras = "\n".join(f"<p>{escape(p)}" for p in s.paragraphs)
    return f"""<html>
<head><meta charset="utf-8"><title>{escape(s.title)} – {SITE}</title>
<link rel="canonical" href="{base}{s.path}">
<body>
<div class="page"><div class="nav"><ul><li><a href="/">Home<li><a href="/list?page=1">Archive</ul>
<div class="story">
<h1>{escape(s.title)}
<div class="byline">By <b>{escape(s.author)} · <i>{_human(s.published)}
{paras}
<div class="more"><a href="{GOOD[2].path}">{escape(GOOD[2].title)}</a>
""".encode()


def rate_limited_body() -> bytes:
    return b"<!DOCTYPE html><html><head><title>Too many requests</title></head><body><h1>Slow down</h1></body></html>\n"


def homepage(base: str) -> bytes:
    def link(c: Case) -> str:
        return f'    <li class="{c.expect}"><a href="{escape(c.path)}">{escape(c.name)}</a> – {escape(c.why)}</li>'

    groups = {
        "Top stories": [c for c in CASES if c.expect == "article" and c.name.startswith("good:")],
        "Also in the news (served badly)": [c for c in CASES if c.expect == "article" and not c.name.startswith("good:")],
        "Broken things": [c for c in CASES if c.expect == "no-record"],
        "Endless things": [c for c in CASES if c.expect in ("trap", "duplicate")],
        "Feeds and sitemaps": [c for c in CASES if c.expect == "discovery"],
    }
    sections = []
    for heading, cases in groups.items():
        items = "\n".join(link(c) for c in cases)
        sections.append(f"  <section>\n  <h2>{escape(heading)}</h2>\n  <ul>\n{items}\n  </ul>\n  </section>")
    odd = "\n".join(f'    <li><a href="{escape(h, quote=True)}">odd link {i}</a></li>'
                    for i, h in enumerate(UNFETCHABLE_LINKS))
    teasers = "\n".join(f'  <p class="teaser"><a href="{s.path}">{escape(s.title)}</a> {escape(s.paragraphs[0][:120])}…</p>'
                        for s in GOOD)
    body = "\n".join(sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{SITE}</title>
<link rel="alternate" type="application/rss+xml" href="/feed.xml">
<link rel="alternate" type="application/rss+xml" href="/feed-odd.xml">
</head>
<body>
<h1>{SITE}</h1>
<p>A hostile test site: every link below is a case from /expected.json.</p>
{teasers}
{body}
  <section>
  <h2>Links no crawler should follow</h2>
  <ul>
{odd}
    <li><a href="">empty href</a></li>
    <li><a href="#comments">fragment only</a></li>
    <li><a>no href at all</a></li>
  </ul>
  </section>
</body>
</html>
""".encode()


def calendar_page(year: int, month: int) -> bytes:
    nxt = (year + month // 12, month % 12 + 1)
    prv = (year - (month == 1), 12 if month == 1 else month - 1)
    events = "\n".join(f"<li>{day} {month:02d}/{year}: community event number {day}</li>" for day in (3, 14, 25))
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Events {year}-{month:02d} – {SITE}</title></head>
<body><h1>What's on: {year}-{month:02d}</h1><ul>
{events}
</ul>
<p><a href="/calendar/{prv[0]:04d}/{prv[1]:02d}/">« previous month</a> · <a href="/calendar/{nxt[0]:04d}/{nxt[1]:02d}/">next month »</a></p>
<p><a href="{GOOD[0].path}">{escape(GOOD[0].title)}</a></p>
</body></html>
""".encode()


def list_page(page: int) -> bytes:
    items = "\n".join(f'<li><a href="{GOOD[(page + i) % len(GOOD)].path}">{escape(GOOD[(page + i) % len(GOOD)].title)}</a></li>'
                      for i in range(4))
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Archive page {page} – {SITE}</title></head>
<body><h1>Archive, page {page}</h1><ul>
{items}
</ul>
<p><a href="/list?page={page + 1}">Next page</a> · <a href="/list?page={page + 1}&amp;sort=newest">Next page, newest first</a></p>
</body></html>
""".encode()


def session_page() -> bytes:
    def sid() -> str:
        return secrets.token_hex(8)

    items = "\n".join(f'<li><a href="{s.path}?sid={sid()}">{escape(s.title)}</a></li>' for s in GOOD)
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Your session – {SITE}</title></head>
<body><h1>Welcome back</h1><ul>
{items}
</ul>
<p><a href="/session/?sid={sid()}">Refresh</a> · <a href="/list?page=1&amp;sid={sid()}">Archive</a></p>
</body></html>
""".encode()


def rss(base: str, items: list[str], title: str) -> str:
    body = "\n".join(items)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>{escape(title)}</title><link>{base}/</link><description>Test feed</description>
{body}
</channel></rss>
"""


def _rfc822(iso: str) -> str:
    return format_datetime(datetime.fromisoformat(iso))


def broken_feed(base: str) -> bytes:
    items = [f"<item><title>{escape(s.title)}</title><link>{base}{s.path}</link>"
             f"<pubDate>{_rfc822(s.published)}</pubDate></item>" for s in GOOD]
    whole = rss(base, items, SITE).encode()
    # Cut inside the third item, in the middle of a tag: the way a dropped upstream leaves it.
    cut = whole.index(b"<item>", whole.index(b"<item>", whole.index(b"<item>") + 1) + 1) + 20
    return whole[:cut]


def odd_feed(base: str) -> bytes:
    g = GOOD
    items = [
        f"<item><title>An item with no link</title><description>Nothing to follow.</description><pubDate>{_rfc822(g[0].published)}</pubDate></item>",
        f"<item><title>{escape(g[1].title)}</title><link>{base}{g[1].path}</link><pubDate>yesterday, around teatime</pubDate></item>",
        f"<item><title>{escape(g[2].title)}</title><link>{base}{g[2].path}</link><pubDate>Mon, 45 Foo 2026 25:61:00 +0000</pubDate></item>",
        f"<item><title>A link that is not a URL</title><link>javascript:alert('feed')</link><pubDate>{_rfc822(g[3].published)}</pubDate></item>",
        f"<item><link>{base}{g[3].path}</link></item>",
        f"<item><title>{escape(g[0].title)}</title><link>\n      {base}{g[0].path}   \n</link><guid isPermaLink=\"false\">gbg-1</guid><pubDate>{_rfc822(g[0].published)}</pubDate></item>",
        "<item><title>Relative link</title><link>/articles/tram-depot-fire.html</link></item>",
        "<item></item>",
    ]
    return rss(base, items, f"{SITE} (odd feed)").encode()


SM_NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def sitemap_index(base: str) -> bytes:
    locs = ["/sitemap-index.xml", "/sitemap.xml", "/news-sitemap.xml", "/sitemap-huge.xml", "/sitemap-missing.xml"]
    entries = "\n".join(f"<sitemap><loc>{base}{p}</loc></sitemap>" for p in locs)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex {SM_NS}>\n{entries}\n</sitemapindex>\n'.encode()


def odd_sitemap(base: str) -> bytes:
    g = GOOD
    entries = [
        f"<url><loc>{base}{g[0].path}</loc><lastmod>2026-11-23</lastmod></url>",
        "<url><lastmod>2026-11-24</lastmod></url>",
        f"<url><loc>{base}{g[1].path}</loc><lastmod>not-a-date</lastmod></url>",
        f"<url><loc>   {base}{g[2].path}   </loc><lastmod>2026-02-30T25:00:00Z</lastmod></url>",
        "<url><loc></loc></url>",
        f"<url><loc>{base}{UNCLOSED_STORY.path}</loc></url>",
    ]
    body = "\n".join(entries)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset {SM_NS}>\n{body}\n</urlset>\n'.encode()


def news_sitemap(base: str) -> bytes:
    def entry(loc: str | None, title: str, date: str) -> str:
        loc_xml = f"<loc>{loc}</loc>" if loc is not None else ""
        return (f"<url>{loc_xml}<news:news><news:publication><news:name>{SITE}</news:name>"
                f"<news:language>en</news:language></news:publication>"
                f"<news:publication_date>{date}</news:publication_date>"
                f"<news:title>{escape(title)}</news:title></news:news></url>")

    entries = [entry(base + s.path, s.title, s.published) for s in GOOD]
    entries.append(entry(base + RATE_LIMITED_STORY.path,
                         RATE_LIMITED_STORY.title, "last Tuesday"))
    entries.append(entry(None, "An entry without a location", "2026-11-26T10:00:00+00:00"))
    body = "\n".join(entries)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">\n{body}\n</urlset>\n').encode()


def huge_sitemap(base: str) -> bytes:
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset {SM_NS}>\n'
    body = "".join(f"<url><loc>{base}/huge/{i}.html</loc><lastmod>2026-11-20</lastmod></url>\n"
                   for i in range(HUGE_SITEMAP_URLS))
    return (head + body + "</urlset>\n").encode()


def gzip_bomb() -> bytes:
    """Gzip of zeros: ~500 KB that inflates to ``BOMB_INFLATED_BYTES``. About a second to make."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31 = gzip container
    zeros = bytes(2**20)
    parts = [comp.compress(zeros) for _ in range(BOMB_INFLATED_BYTES // len(zeros))]
    parts.append(comp.flush())
    return b"".join(parts)


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes((30, 60, 90)) * 16 for _ in range(16))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def tiny_pdf() -> bytes:
    """A one-page PDF with a correct xref table, so PDF tools accept it."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R "
        b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>",
    ]
    stream = b"BT /F1 12 Tf 20 50 Td (Annual report) Tj ET"
    objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# ----------------------------------------------------------------------------------- server
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GannetBay/0.1"
    timeout = 30
    server: _Server

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read stdout for READY and nothing else."""

    def do_HEAD(self) -> None:
        self.do_GET()  # the bodies here are the point; HEAD gets them too, which hurts no one

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        route, args = self.server.site.route(split.path, parse_qs(split.query))
        self.server.site.count(f"good:{args[0].slug}" if route == "article" else route)
        try:
            getattr(self, "_" + route.replace("-", "_"))(*args)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up: that is often what we want

    # helpers
    def _send(self, status: int, body: bytes, ctype: str | None = HTML,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    @property
    def base(self) -> str:
        return self.server.site.url

    # routes
    def _home(self) -> None:
        self._send(200, homepage(self.base))

    def _article(self, story: Story) -> None:
        self._send(200, article_html(self.base, story).encode())

    def _not_found(self) -> None:
        self._send(404, b"<!DOCTYPE html><html><body><h1>Not found</h1></body></html>\n")

    def _expected(self) -> None:
        self._send(200, json.dumps(expected(self.base), indent=2).encode(), "application/json")

    def _stats(self) -> None:
        self._send(200, json.dumps(self.server.site.hits_snapshot(), indent=2).encode(), "application/json")

    def _nul_bytes(self) -> None:
        self._send(200, nul_bytes_page(self.base))

    def _unclosed_tags(self) -> None:
        self._send(200, unclosed_tags_page(self.base))

    def _wrong_charset(self) -> None:
        self._send(200, article_html(self.base, CP1252_STORY).encode("cp1252"))

    def _meta_charset(self) -> None:
        meta = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
        self._send(200, article_html(self.base, META_CHARSET_STORY, meta).encode("cp1252"), "text/html")

    def _rate_limited(self) -> None:
        if self.server.site.hits_for("rate-limited") % 2 == 1:
            self._send(429, rate_limited_body(), headers={"Retry-After": "1"})
        else:
            self._send(200, article_html(self.base, RATE_LIMITED_STORY).encode())

    def _binary_as_html(self) -> None:
        self._send(200, random.Random(1234).randbytes(64 * 1024))

    def _empty(self) -> None:
        self._send(200, b"")

    def _huge_page(self) -> None:
        head = b"<!DOCTYPE html><html><head><title>Everything, forever</title></head><body>\n"
        tail = b"</body></html>\n"
        para = b"<p>This page keeps going long after anyone has stopped reading it. " * 8 + b"</p>\n"
        block = para * (CHUNK // len(para))
        n_blocks = (HUGE_PAGE_BYTES - len(head) - len(tail)) // len(block)
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", HTML)
        self.send_header("Content-Length", str(len(head) + n_blocks * len(block) + len(tail)))
        self.end_headers()
        self.wfile.write(head)
        for _ in range(n_blocks):
            self.wfile.write(block)
        self.wfile.write(tail)

    def _gzip_bomb(self) -> None:
        self._send(200, self.server.site.gzip_bomb(), headers={"Content-Encoding": "gzip"})

    def _stall(self) -> None:
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", HTML)
        self.send_header("Content-Length", str(STALL_DECLARED_BYTES))
        self.end_headers()
        self.wfile.flush()
        self.server.site.stopping.wait(self.server.site.stall_seconds)

    def _truncated(self) -> None:
        body = article_html(self.base, Story("truncated", "This story was cut off", "Nobody",
                                             "2026-11-20T00:00:00+00:00", GOOD[0].paragraphs)).encode()
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", HTML)
        self.send_header("Content-Length", str(TRUNCATED_DECLARED_BYTES))
        self.end_headers()
        self.wfile.write(body[:2000])

    def _server_error(self) -> None:
        self._send(500, b"<!DOCTYPE html><html><body><h1>Internal Server Error</h1></body></html>\n")

    def _connection_reset(self) -> None:
        # SO_LINGER with a zero timeout turns close() into an RST instead of a FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.rfile.close()
        self.connection.close()

    def _pdf(self) -> None:
        self._send(200, tiny_pdf(), "application/pdf")

    def _image(self) -> None:
        self._send(200, tiny_png(), "image/png")

    def _redirect(self, location: str, status: int = 302) -> None:
        self._send(status, b"", None, {"Location": location})

    def _redirect_loop(self, which: str) -> None:
        # One relative and one absolute Location: both forms occur in the wild.
        self._redirect("/loop/b" if which == "a" else f"{self.base}/loop/a")

    def _redirect_chain(self, n: int) -> None:
        self._redirect(f"/chain/{n + 1}", 301)

    def _calendar(self, year: int, month: int) -> None:
        self._send(200, calendar_page(year, month))

    def _pagination(self, page: int) -> None:
        self._send(200, list_page(page))

    def _session_ids(self) -> None:
        self._send(200, session_page())

    def _robots(self) -> None:
        body = f"User-agent: *\nAllow: /\n\nSitemap: {self.base}/sitemap-index.xml\n".encode()
        self._send(200, body, "text/plain; charset=utf-8")

    def _broken_feed(self) -> None:
        self._send(200, broken_feed(self.base), "application/rss+xml; charset=utf-8")

    def _odd_feed(self) -> None:
        self._send(200, odd_feed(self.base), "application/rss+xml; charset=utf-8")

    def _self_listing_sitemap_index(self) -> None:
        self._send(200, sitemap_index(self.base), XML)

    def _odd_sitemap(self) -> None:
        self._send(200, odd_sitemap(self.base), XML)

    def _odd_news_sitemap(self) -> None:
        self._send(200, news_sitemap(self.base), XML)

    def _huge_sitemap(self) -> None:
        self._send(200, self.server.site.huge_sitemap(), XML)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], site: HostileSite) -> None:
        self.site = site
        super().__init__(address, _Handler)


_STORIES_BY_PATH = {s.path: s for s in GOOD}
_TRICKY = {
    NUL_STORY.path: "nul-bytes",
    UNCLOSED_STORY.path: "unclosed-tags",
    CP1252_STORY.path: "wrong-charset",
    META_CHARSET_STORY.path: "meta-charset",
    RATE_LIMITED_STORY.path: "rate-limited",
}
_FIXED = {
    "/": "home",
    "/expected.json": "expected",
    "/_stats.json": "stats",
    "/junk/binary.html": "binary-as-html",
    "/junk/empty.html": "empty",
    "/junk/huge.html": "huge-page",
    "/junk/gzip-bomb.html": "gzip-bomb",
    "/junk/stall.html": "stall",
    "/junk/truncated.html": "truncated",
    "/junk/error-500.html": "server-error",
    "/junk/reset.html": "connection-reset",
    "/files/annual-report.pdf": "pdf",
    "/files/harbour.png": "image",
    "/session/": "session-ids",
    "/robots.txt": "robots",
    "/feed.xml": "broken-feed",
    "/feed-odd.xml": "odd-feed",
    "/sitemap-index.xml": "self-listing-sitemap-index",
    "/sitemap.xml": "odd-sitemap",
    "/news-sitemap.xml": "odd-news-sitemap",
    "/sitemap-huge.xml": "huge-sitemap",
}
_CALENDAR = re.compile(r"^/calendar/(\d{4})/(0[1-9]|1[0-2])/$")
_CHAIN = re.compile(r"^/chain/(\d{1,9})$")


class HostileSite:
    """The hostile site on a background thread. Prefer the subprocess (``servers.hostile_site()``)
    in tests: stalled and streaming responses then cost the test process nothing."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 stall_seconds: float = DEFAULT_STALL_SECONDS) -> None:
        self.stall_seconds = stall_seconds
        self.stopping = threading.Event()
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._bomb: bytes | None = None
        self._huge_sitemap: bytes | None = None
        self._thread: threading.Thread | None = None
        self._httpd = _Server((host, port), self)
        self.url = f"http://{host}:{self._httpd.server_address[1]}"

    def route(self, path: str, query: dict[str, list[str]]) -> tuple[str, tuple[Any, ...]]:
        """A request path -> (case name, arguments for its handler). Queries are ignored except
        where a case is about them (pagination), as a real CMS ignores ``?sid=``."""
        if path in _FIXED:
            return _FIXED[path], ()
        if path in _STORIES_BY_PATH:
            return "article", (_STORIES_BY_PATH[path],)
        if path in _TRICKY:
            return _TRICKY[path], ()
        if path in ("/loop/a", "/loop/b"):
            return "redirect-loop", (path[-1],)
        if m := _CHAIN.match(path):
            return "redirect-chain", (int(m.group(1)),)
        if m := _CALENDAR.match(path):
            return "calendar", (int(m.group(1)), int(m.group(2)))
        if path == "/list":
            try:
                page = int(query.get("page", ["1"])[0])
            except ValueError:
                return "not-found", ()
            return ("pagination", (page,)) if page >= 1 else ("not-found", ())
        return "not-found", ()

    def count(self, case: str) -> None:
        with self._lock:
            self.hits[case] += 1

    def hits_for(self, case: str) -> int:
        with self._lock:
            return self.hits[case]

    def hits_snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.hits)

    def gzip_bomb(self) -> bytes:
        with self._lock:
            if self._bomb is None:
                self._bomb = gzip_bomb()
            return self._bomb

    def huge_sitemap(self) -> bytes:
        with self._lock:
            if self._huge_sitemap is None:
                self._huge_sitemap = huge_sitemap(self.url)
            return self._huge_sitemap

    def start(self) -> HostileSite:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                            name=f"hostile-site {self.url}", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self.stopping.set()  # wakes every stalled response
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> HostileSite:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a hostile news site on 127.0.0.1 for crawler tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002, help="0 picks a free port (see the READY line)")
    parser.add_argument("--stall-seconds", type=float, default=DEFAULT_STALL_SECONDS,
                        help="how long /junk/stall.html holds its connection open")
    args = parser.parse_args(argv)
    if not (args.host.startswith("127.") or args.host in ("localhost", "::1")):
        print("error: the hostile site only listens on loopback", file=sys.stderr)
        return 2
    try:
        site = HostileSite(args.host, args.port, args.stall_seconds)
    except OSError as exc:
        print(f"error: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with site:
        print(f"READY {site.url}", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
