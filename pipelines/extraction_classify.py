"""Is this page an article? The content-level decision, as a short reason token.

The crawl fetches whatever discovery points at; this module says which of those pages become
records. Every rule is a piece of general news-site knowledge and is listed, with its
thresholds, in docs/extraction.md ("Article or not"). Rules run in the order of ``classify``:
pages that are not content at all (challenge, error) first, then pages whose content is
withheld (paywall), then listings (tag pages, section fronts), then length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# Bot walls: Cloudflare, DataDome, PerimeterX, Akamai, Imperva, generic captchas.
_CHALLENGE_MARKUP = re.compile(
    r"cf-browser-verification|cf_chl_|/cdn-cgi/challenge-platform|challenges\.cloudflare\.com|"
    r"captcha-delivery\.com|geo\.captcha-delivery|px-captcha|_pxCaptcha|perimeterx|"
    r"/_Incapsula_Resource|incapsula incident|id=\"challenge-form\"|ddos-guard",
    re.IGNORECASE,
)
_CHALLENGE_TEXT = re.compile(
    r"^just a moment|attention required|checking (?:your|if the site connection is) (?:browser|secure)|"
    r"verify(?:ing)? (?:that )?you are (?:a )?human|are you a robot|please enable (?:javascript and )?cookies|"
    r"access denied|request blocked|unusual traffic|press (?:&|and) hold|security check|"
    r"ddos protection|bot (?:verification|check)",
    re.IGNORECASE,
)
_ERROR_TITLE = re.compile(
    r"\b(?:404|410|500|503)\b|page not found|not found|no longer (?:available|exists)|"
    r"(?:page|article|content) (?:cannot|can't|could not|couldn't) be found|doesn'?t exist|"
    r"page (?:is )?unavailable|error page|oops|something went wrong|"
    r"seite nicht gefunden|página no encontrada|page introuvable|pagina non trovata|"
    r"pagina niet gevonden|strona nie została znaleziona|sidan hittades inte",
    re.IGNORECASE,
)
_PAYWALL_TEXT = re.compile(
    r"subscribe (?:now )?to (?:continue|read|keep reading|unlock)|(?:for|to) subscribers only|"
    r"already (?:a subscriber|have an account)|this (?:article|content|story) is (?:for|reserved for) "
    r"(?:subscribers|members)|to continue reading|sign in to (?:continue|read)|"
    r"become a (?:subscriber|member) to read|unlock (?:this|the full) (?:article|story)",
    re.IGNORECASE,
)
# Path segments of listing pages: tags, topics, authors, archives, search.
_TAG_PATH = re.compile(
    r"/(?:tags?|topics?|themen|thema|keywords?|labels?|authors?|autor(?:en)?|auteurs?|people|"
    r"subjects?|search|archives?|schlagworte?|stichworte?)(?:/|$)",
    re.IGNORECASE,
)

_INDEX_FILE = re.compile(r"^(?:index|default|home)\.(?:html?|php|aspx?|jsp)$", re.IGNORECASE)

# Thresholds (documented in docs/extraction.md).
SHORT_WORDS_TYPED = 25  # an article by its markup: a brief can be this short
SHORT_WORDS_UNTYPED = 80  # no article markup: below this it is a stub, teaser or widget
TEASER_MIN = 12  # headline links (>= 4 words, same site) on a listing page ...
TEASER_MIN_SMALL = 6  # ... fewer on a shallow path / og:type website / one <article> per teaser
TEASER_ARTICLES = 4
TEASER_SHARE = 0.6  # ... when their words outnumber this share of the text's words
TEXT_LINK_DENSITY = 0.5  # share of the kept text that is link text
CHALLENGE_MAX_WORDS = 200  # challenge / error / paywall pages have little text of their own
CHALLENGE_MARKUP_MAX_WORDS = 60  # a challenge script with more text around it is a widget


@dataclass
class PageSignals:
    """What the classifier looks at; filled by pipelines.extraction."""

    url: str | None
    title: str
    head_html: str  # the first part of the markup (challenge scripts, paywall containers)
    og_type: str | None
    ld_types: list[str]
    typed_article: bool  # ld+json article type, or og:type article
    accessible_for_free: bool | None
    words: int  # words in the extracted text (0 when there is none)
    text_link_density: float  # link text / text, inside the extracted body
    teaser_links: int  # headline-looking links to the same site anywhere on the page
    teaser_words: int
    text: str
    article_elements: int = 0  # <article> elements: a listing has one per teaser


def classify(sig: PageSignals) -> str:
    """'ok' for an article, else the reason token it is not one."""
    short = sig.words < CHALLENGE_MAX_WORDS
    if short and _CHALLENGE_TEXT.search(sig.title):
        return "bot_challenge"
    if sig.words < CHALLENGE_MARKUP_MAX_WORDS and _CHALLENGE_MARKUP.search(sig.head_html):
        return "bot_challenge"
    if (
        short
        and not sig.typed_article
        and sig.words < SHORT_WORDS_UNTYPED
        and _CHALLENGE_TEXT.search(sig.text[:300])
    ):
        return "bot_challenge"
    if _ERROR_TITLE.search(sig.title) and (short or not sig.typed_article):
        return "error_page"
    # Paywall containers in the markup alone prove nothing (sites ship them on free pages and
    # on teaser icons): the page must say so in ld+json or end its text with a subscribe prompt.
    if short and (sig.accessible_for_free is False or _PAYWALL_TEXT.search(sig.text[-600:])):
        return "paywall"
    if sig.words == 0:
        return "no_text"
    listing = {"collectionpage", "itemlist", "searchresultspage", "profilepage"} & set(sig.ld_types)
    path = urlsplit(sig.url).path if sig.url else ""
    depth = len([part for part in path.split("/") if part and not _INDEX_FILE.match(part)])
    if not sig.typed_article:
        if _TAG_PATH.search(path) and (
            listing or sig.teaser_links >= TEASER_MIN_SMALL or sig.words < 300
        ):
            return "tag_page"
        if depth == 0 and sig.url:
            return "section_front"  # the site's home page
        if sig.article_elements >= TEASER_ARTICLES and sig.teaser_links >= TEASER_MIN_SMALL:
            return "section_front"
        if (
            (sig.og_type == "website" or _section_path(path))
            and sig.teaser_links >= TEASER_MIN_SMALL
            and sig.teaser_words > TEASER_SHARE * sig.words
        ):
            return "section_front"
        if listing and sig.words < 400:
            return "section_front"
        if sig.text_link_density > TEXT_LINK_DENSITY:
            return "section_front"
        if sig.teaser_links >= TEASER_MIN and sig.teaser_words > TEASER_SHARE * sig.words:
            return "section_front"
        if sig.og_type == "website" and path.count("/") <= 2 and sig.teaser_links >= TEASER_MIN:
            return "section_front"
    if sig.words < (SHORT_WORDS_TYPED if sig.typed_article else SHORT_WORDS_UNTYPED):
        return "too_short"
    return "ok"


def _section_path(path: str) -> bool:
    """'/world/', '/us-news/', '/business/index.html': one short segment, no digits. An article
    slug at the root ('/how-to-run-faster-tips/') has more words or an id."""
    parts = [part for part in path.split("/") if part and not _INDEX_FILE.match(part)]
    if len(parts) != 1:
        return False
    segment = parts[0].rsplit(".", 1)[0]
    return len(re.split(r"[-_]", segment)) <= 2 and not any(ch.isdigit() for ch in segment)


def same_site(url: str, host: str) -> bool:
    other = urlsplit(url).hostname or ""
    a, b = other.removeprefix("www."), host.removeprefix("www.")
    return a == b or a.endswith("." + b) or b.endswith("." + a)
