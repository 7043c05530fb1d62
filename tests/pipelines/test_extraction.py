"""extract_article / extract_page on the reference page, its variants, and the reasons."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import pytest
from lxml import html as lxml_html

from pipelines import extraction
from pipelines.extraction import cross_check_published, extract_article, extract_page
from pipelines.textfp import simhash, text_sha1

DATA = Path(__file__).parent / "data" / "extraction"
SEED_URL = "https://nationaltimes.example/2025/10/22/japan-says-it-plans-to-tell-trump-it-will-build-up-military-/"
HEADLINE = (
    "Japan says it plans to tell Trump it will build up military and upgrade security strategy"
)
_WORD = re.compile(r"\w+")


def words(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def page(name: str) -> bytes:
    return (DATA / name).read_bytes()


def body_paragraphs(raw: bytes) -> list[str]:
    tree = lxml_html.fromstring(raw)
    return [
        p.text_content()
        for p in tree.xpath('//div[@class="entry-content"]/p')
        if "also read" not in p.text_content().lower()
    ]


def sidebar_entries(raw: bytes) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(latest-news entries, multimedia entries) of the seed page as (absolute url, text)."""
    tree = lxml_html.fromstring(raw)
    tree.make_links_absolute(SEED_URL)
    latest = [
        (a.get("href"), a.text_content().strip())
        for a in tree.xpath('//section[@class="latest-news"]//a')
    ]
    media = [
        (a.get("href"), a.text_content().strip())
        for a in tree.xpath('//aside[@class="multimedia"]//h4/a')
    ]
    return latest, media


SEED_VARIANTS = ["seed-article.html", "sidebar-first.html", "also-read.html", "video-embeds.html"]


@pytest.fixture(scope="module", params=SEED_VARIANTS)
def seed_variant(request):
    raw = page(request.param)
    fields, reason = extract_page(raw, SEED_URL, content_type="text/html; charset=utf-8")
    return request.param, raw, fields, reason


def test_seed_variants_are_articles(seed_variant):
    _name, _raw, fields, reason = seed_variant
    assert reason == "ok"
    assert fields["title"] == HEADLINE


def test_every_article_paragraph_is_in_text(seed_variant):
    _name, raw, fields, _ = seed_variant
    text = words(fields["text"])
    paragraphs = body_paragraphs(raw)
    assert len(paragraphs) == 12
    for para in paragraphs:
        assert words(para) in text
    assert fields["text"].count("\n\n") == 11  # one block per paragraph, blank line between


def test_sidebar_entries_are_links_not_text(seed_variant):
    _name, raw, fields, _ = seed_variant
    latest, media = sidebar_entries(raw)
    assert len(latest) == 8 and len(media) == 5
    text = words(fields["text"])
    navigation = {(link["url"], link["text"]) for link in fields["links"]["navigation"]}
    media_links = {(link["url"], link["text"]) for link in fields["links"]["media"]}
    for url, label in latest:
        assert words(label) not in text
        assert (url, label) in navigation
    for url, label in media:
        assert words(label) not in text
        assert (url, label) in media_links
    assert "latest news" not in text and "multi media" not in text


def test_seed_metadata():
    fields = extract_article(page("seed-article.html"), SEED_URL)
    assert fields is not None
    assert fields["title"] == HEADLINE
    assert fields["authors"] == ["Web Desk"]
    assert fields["published"] == "2025-10-22T14:05:00+05:00"
    assert fields["language"] == "en"
    assert fields["site_name"] == "National Times"
    assert fields["canonical_url"] == SEED_URL
    assert fields["tags"] == ["Japan", "USA"]  # the story's "Tags:" links (no article:tag meta)
    assert fields["word_count"] == len(_WORD.findall(fields["text"]))
    assert fields["text_sha1"] == text_sha1(fields["text"])
    assert fields["simhash"] == simhash(fields["text"])
    assert fields["extractor"]["name"] == "newsarchive"
    assert "trafilatura" in fields["extractor"]["version"]
    # links are absolute, unique, and each URL in one list only
    all_urls = [
        link["url"] for kind in ("article", "navigation", "media") for link in fields["links"][kind]
    ]
    assert len(all_urls) == len(set(all_urls))
    assert all(u.startswith("https://") for u in all_urls)
    # share buttons are nobody's content
    assert not any("sharer" in u or "wa.me" in u for u in all_urls)
    json.dumps(fields)  # the record is JSON-serialisable


def test_also_read_paragraphs_leave_text_and_become_navigation():
    fields, reason = extract_page(page("also-read.html"), SEED_URL)
    assert reason == "ok"
    text = fields["text"].lower()
    assert "also read" not in text and "related:" not in text
    assert (
        "takaichi elected" not in text
        and "tariff deal means" not in text
        and "asean summit" not in text
    )
    navigation = {link["url"] for link in fields["links"]["navigation"]}
    assert (
        "https://nationaltimes.example/2025/10/21/takaichi-elected-japan-s-first-female-prime-minister/"
        in navigation
    )
    assert "https://nationaltimes.example/2025/10/20/us-japan-tariff-deal-explained/" in navigation
    assert "https://nationaltimes.example/2025/10/19/asean-summit-preview/" in navigation
    assert fields["cleanup_rules"]["inline_related"] == 2  # counted for the crawl's stats
    # the link inside a kept paragraph is an article link, with its anchor text
    assert fields["links"]["article"] == [
        {"url": "https://www.mod.go.jp/strategy/", "text": "national security strategy"}
    ]


def test_video_blocks_leave_text_and_become_media():
    fields, reason = extract_page(page("video-embeds.html"), SEED_URL)
    assert reason == "ok"
    text = fields["text"].lower()
    assert "speaks to reporters" not in text
    assert "watch" not in text
    media = {link["url"]: link["text"] for link in fields["links"]["media"]}
    assert (
        media["https://nationaltimes.example/videos/motegi-on-the-alliance/"]
        == "Watch the full interview"
    )
    assert media["https://www.youtube.com/embed/abc123XYZ"] == "Motegi press conference"
    assert "https://nationaltimes.example/media/2025/10/motegi-interview.mp4" in media


def test_live_blog_keeps_every_update():
    url = "https://echo-daily.example/news/live/storm-amy-live-updates"
    fields, reason = extract_page(page("liveblog.html"), url)
    assert reason == "ok"
    text = words(fields["text"])
    tree = lxml_html.fromstring(page("liveblog.html"))
    updates = tree.xpath('//div[@class="live-update"]/p') + tree.xpath(
        '//div[@class="live-blog__summary"]//li'
    )
    assert len(updates) == 8
    for para in updates:
        assert words(para.text_content()) in text
    assert "council tax" not in text  # the most-read list
    assert fields["title"] == "Storm Amy live: power cuts and rail disruption across the north"
    assert fields["authors"] == ["Priya Shah", "Tom Reid"]
    assert fields["published"] == "2025-10-03T06:00:00+01:00"
    assert fields["modified"] == "2025-10-03T11:45:00+01:00"
    assert fields["section"] == "UK News"
    assert fields["tags"] == ["weather", "Storm Amy", "travel"]
    assert fields["language"] == "en"
    assert {link["text"] for link in fields["links"]["navigation"]} >= {
        "Council tax rise approved for next year",
        "Home",
    }


# ---------------------------------------------------------------------------- reasons


def _html(title: str, body: str, head: str = "") -> bytes:
    return f"<!DOCTYPE html><html><head><title>{title}</title>{head}</head><body>{body}</body></html>".encode()


PROSE = " ".join(
    f"Sentence number {i} of a long report explains what the council decided and why residents care about it."
    for i in range(30)
)


@pytest.mark.parametrize(
    ("body", "kwargs", "reason"),
    [
        (b"", {}, "empty"),
        (b"   \n\t ", {}, "empty"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3 binary", {}, "binary"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", {}, "binary"),
        (bytes(range(256)) * 20, {}, "binary"),
        (b"<html><body><p>x</p></body></html>", {"content_type": "image/jpeg"}, "not_html"),
        (b"just some words, no markup at all", {}, "not_html"),
        (b"<html>" + b"x" * 2000 + b"</html>", {"max_bytes": 1000}, "too_large"),
    ],
)
def test_refusals(body, kwargs, reason):
    assert extract_page(body, "https://example.com/a", **kwargs) == (None, reason)


def test_no_text():
    assert extract_page(_html("Nothing", "<div></div>"), "https://example.com/a") == (
        None,
        "no_text",
    )


def test_bot_challenge():
    body = _html(
        "Just a moment...",
        "<p>Checking if the site connection is secure</p><p>Enable JavaScript and cookies to continue</p>",
        '<script src="/cdn-cgi/challenge-platform/h/b/orchestrate/jsch/v1"></script>',
    )
    assert extract_page(body, "https://example.com/news/a")[1] == "bot_challenge"


def test_error_page():
    body = _html(
        "Page not found | Example News",
        "<h1>Sorry, we couldn't find that page</h1><p>The story you were looking for may have been moved or deleted. "
        "Try our search or browse the latest headlines from our newsroom instead of this page.</p>",
    )
    assert extract_page(body, "https://example.com/news/gone")[1] == "error_page"


def test_paywall():
    ld = '<script type="application/ld+json">{"@type":"NewsArticle","headline":"Budget","isAccessibleForFree":false}</script>'
    body = _html(
        "Budget",
        "<article><h1>Budget</h1><p>The council approved a budget on Monday that raises taxes for the third year in a row, "
        "officials said.</p><p>Subscribe to continue reading this article.</p></article>",
        ld,
    )
    assert extract_page(body, "https://example.com/news/budget")[1] == "paywall"


def test_section_front():
    items = "".join(
        f'<li><a href="/news/2025/10/{i:02d}/story-number-{i}/">Story number {i} headline about the town council</a>'
        f"<p>Short teaser {i}.</p></li>"
        for i in range(30)
    )
    body = _html(
        "World news",
        f'<main><h1>World</h1><ul class="stories">{items}</ul></main>',
        '<meta property="og:type" content="website">',
    )
    assert extract_page(body, "https://example.com/world/")[1] == "section_front"


def test_tag_page():
    items = "".join(
        f'<div class="card"><h3><a href="/2025/10/{i:02d}/story-{i}/">Story {i} about the budget talks today</a></h3>'
        f"<p>Teaser for story {i} with a few more words.</p></div>"
        for i in range(15)
    )
    body = _html("Budget | Example", f"<main><h1>Budget</h1>{items}</main>")
    assert extract_page(body, "https://example.com/tag/budget/")[1] == "tag_page"


def test_too_short():
    body = _html(
        "Brief",
        "<article><h1>Brief</h1><p>The bridge is closed today for repairs, the council said in a short statement.</p></article>",
    )
    assert extract_page(body, "https://example.com/news/brief")[1] == "too_short"


def test_long_article_without_markup_is_ok():
    body = _html("Council decides", f"<article><h1>Council decides</h1><p>{PROSE}</p></article>")
    fields, reason = extract_page(body, "https://example.com/news/council")
    assert reason == "ok"
    assert fields["word_count"] > 400


def test_timeout_is_a_counted_skip():
    big = _html(
        "Big", "<article>" + "".join(f"<p>{PROSE} {i}</p>" for i in range(400)) + "</article>"
    )
    assert extract_page(big, "https://example.com/news/big", time_budget=0.001) == (None, "timeout")
    # the alarm is gone afterwards: a second call without a budget finishes
    assert extract_page(big, "https://example.com/news/big")[1] == "ok"


def test_extractor_error_is_contained_and_logged(monkeypatch, caplog):
    def boom(*args, **kwargs):
        raise RuntimeError("lxml exploded")

    monkeypatch.setattr(extraction, "bare_extraction", boom)
    assert extract_page(page("seed-article.html"), SEED_URL) == (None, "extractor_error")
    assert "lxml exploded" in caplog.text


def test_non_bytes_input():
    assert extract_page("not bytes", "https://example.com/") == (None, "not_html")  # type: ignore[arg-type]


def test_final_url_is_the_base_for_links():
    fields, _ = extract_page(
        page("seed-article.html"),
        "https://old.example/x",
        final_url="https://mirror.example/2025/japan/",
    )
    assert fields["links"]["navigation"][1]["url"] == "https://mirror.example/category/home/"


def test_extract_page_is_picklable_and_options_are_cached():
    assert pickle.loads(pickle.dumps(extract_page)) is extract_page
    assert extraction._options() is extraction._options()


def test_extract_article_accepts_str_and_bytes():
    raw = page("seed-article.html")
    assert (
        extract_article(raw.decode("utf-8"), SEED_URL)["text"]
        == extract_article(raw, SEED_URL)["text"]
    )
    assert extract_article("", SEED_URL) is None
    assert extract_article(b"\x00\x01\x02" * 100) is None


# ---------------------------------------------------------------------------- published vs feed


@pytest.mark.parametrize(
    ("page_date", "source", "feed", "expected"),
    [
        (
            "2025-10-22T14:05:00+05:00",
            "ldjson",
            "Wed, 22 Oct 2025 09:05:00 GMT",
            ("2025-10-22T14:05:00+05:00", "agree"),
        ),
        # 23 Oct 02:00 +05:00 is 22 Oct in UTC: the same day
        (
            "2025-10-23T02:00:00+05:00",
            "meta",
            "2025-10-22T21:00:00Z",
            ("2025-10-23T02:00:00+05:00", "agree"),
        ),
        (
            "2025-10-22T14:05:00+05:00",
            "meta",
            "2025-10-20",
            ("2025-10-22T14:05:00+05:00", "disagree_page"),
        ),
        (
            "2025-10-01",
            "htmldate",
            "2025-10-20T08:00:00+00:00",
            ("2025-10-20T08:00:00+00:00", "disagree_feed"),
        ),
        (None, "", "2025-10-20T08:00:00Z", ("2025-10-20T08:00:00+00:00", "feed_only")),
        ("2025-10-22", "meta", None, ("2025-10-22", "page_only")),
        (None, "", None, (None, "none")),
    ],
)
def test_cross_check_published(page_date, source, feed, expected):
    hints = {
        "discovered_via": {
            "kind": "feed",
            "source": "https://x/feed",
            "published": feed,
            "title": "t",
        }
    }
    assert cross_check_published(page_date, source, hints) == expected


def test_extract_page_records_the_check():
    hints = {
        "discovered_via": {
            "kind": "news_sitemap",
            "published": "2025-10-22T09:00:00Z",
            "title": "x",
        }
    }
    fields, _ = extract_page(page("seed-article.html"), SEED_URL, hints=hints)
    assert (fields["published"], fields["published_check"]) == (
        "2025-10-22T14:05:00+05:00",
        "agree",
    )
    fields, _ = extract_page(page("seed-article.html"), SEED_URL)
    assert fields["published_check"] == "page_only"


def test_title_falls_back_to_feed_title():
    body = _html("", f"<div><p>{PROSE}</p></div>")
    hints = {"discovered_via": {"kind": "feed", "title": "Council decides on budget"}}
    fields, reason = extract_page(body, "https://example.com/news/council", hints=hints)
    assert reason == "ok"
    assert fields["title"] == "Council decides on budget"


def _teaser_page(n: int, og_type: str = "") -> bytes:
    teasers = "".join(
        f'<article class="teaser"><h3><a href="/world/2026/11/{i:02d}/story-{i}.html">Story number {i} about the harbour and the summit</a></h3>'
        f'<p class="teaser-summary">Leaders from six countries meet in Port Alder, with water, rail and storm recovery on the agenda {i}.</p></article>'
        for i in range(n)
    )
    head = f'<meta property="og:type" content="{og_type}">' if og_type else ""
    return _html("Meridian Courier", f"<main>{teasers}</main>", head)


def test_home_page_is_a_section_front():
    assert extract_page(_teaser_page(8), "https://courier.example/")[1] == "section_front"
    assert extract_page(_teaser_page(8), "https://courier.example/index.html")[1] == "section_front"


def test_teaser_articles_make_a_section_front():
    assert (
        extract_page(_teaser_page(8), "https://courier.example/world/europe/")[1] == "section_front"
    )
    assert (
        extract_page(_teaser_page(7, "website"), "https://courier.example/a/b/c")[1]
        == "section_front"
    )


def test_article_slug_at_the_root_with_related_links_is_an_article():
    related = "".join(
        f'<li><a href="/other-story-about-running-{i}/">Other story about running faster number {i}</a></li>'
        for i in range(11)
    )
    body = _html("Run", f"<article><h1>Run</h1><p>{PROSE[:700]}</p></article><ul>{related}</ul>")
    assert extract_page(body, "https://blog.example/how-to-run-faster-and-longer/")[1] == "ok"


def test_paywall_markup_alone_is_not_a_paywall():
    body = _html(
        "Brief",
        '<div class="paywall-icon"></div><article><h1>Brief</h1><p>Police said a man was stabbed to death in Berlin on '
        "Tuesday evening and a suspect was arrested at the scene, according to a statement released overnight by "
        "the city's prosecutors, who gave no motive for the attack and said an investigation was under way.</p></article>",
        '<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Brief"}</script>',
    )
    assert extract_page(body, "https://news.example/berlin/brief")[1] == "ok"


def test_captcha_widget_on_a_page_is_not_a_challenge():
    body = _html(
        "Council decides",
        f'<article><h1>Council decides</h1><p>{PROSE[:900]}</p></article><form><div class="g-recaptcha"></div></form>',
    )
    assert extract_page(body, "https://news.example/council/decides")[1] == "ok"


@pytest.mark.parametrize(
    "html",
    [
        page("seed-article.html").decode("utf-8"),
        '<?xml version="1.0" encoding="utf-8"?><html><body><p>x</p></body></html>',
        "<p>a fragment</p>",
        "<html/><body><p>a\x01b\ufffe</p></body>",
        "plain text",
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN" "x.dtd">\n<html><body><p>y</p></body></html>',
    ],
    ids=["seed", "xml-declaration", "fragment", "control-chars", "text", "doctype"],
)
def test_parse_html_matches_trafilatura(html):
    from lxml import etree
    from trafilatura.utils import load_html

    ours, theirs = extraction.parse_html(html), load_html(html)
    assert (ours is None) == (theirs is None)
    if ours is not None:
        assert etree.tostring(ours) == etree.tostring(theirs)


def test_script_rendered_page_falls_back_to_ldjson_article_body():
    sentences = " ".join(
        f"Sentence {i} of a story the page renders with scripts, about the budget."
        for i in range(20)
    )
    ld = json.dumps(
        {
            "@type": "NewsArticle",
            "headline": "Budget",
            "articleBody": f"{sentences}\n\nA second paragraph.",
        }
    )
    body = _html(
        "Budget", '<div id="root"></div>', f'<script type="application/ld+json">{ld}</script>'
    )
    fields, reason = extract_page(body, "https://n.example/news/budget")
    assert reason == "ok"
    assert fields["text"] == f"{sentences}\n\nA second paragraph."
    assert fields["cleanup_rules"] == {"ldjson_body": 1}


def test_ldjson_body_does_not_replace_a_longer_page_text():
    fields = extract_article(
        page("liveblog.html").replace(
            b'"articleSection"',
            b'"articleBody": "Short summary of the live page that is far shorter than the page.", "articleSection"',
        )
    )
    assert "Trains between Newcastle" in fields["text"]


def test_tags_from_rel_tag_but_not_from_a_sidebar_cloud():
    body = _html(
        "Council",
        f'<article><h1>Council</h1><p>{PROSE}</p><p>Filed in <a rel="tag" href="/t/budget">budget</a>, '
        '<a rel="tag" href="/t/roads">roads</a></p></article>'
        '<aside><div class="tags"><a href="/t/sport">sport</a><a href="/t/weather">weather</a></div></aside>',
    )
    assert extract_article(body, "https://n.example/news/council")["tags"] == ["budget", "roads"]
    cloud_only = body.replace(b'rel="tag" ', b"")
    assert extract_article(cloud_only, "https://n.example/news/council")["tags"] == []
