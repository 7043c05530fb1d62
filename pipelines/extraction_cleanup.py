"""News-page cleanup around trafilatura: prune the page tree before, clean the blocks after.

trafilatura is a general-purpose extractor; on news pages it keeps what news templates add
around and inside the story: teaser lists ("Latest news", "You may also like", "DON'T MISS"),
inline "Also read:" links, newsletter boxes, deks repeated from the description, credit and
contact lines, date lines. Each rule below is one piece of general news-page
knowledge (no site names, no benchmark specifics), has its own unit test in
tests/pipelines/test_extraction_cleanup.py and is listed with its measured effect in
docs/extraction.md ("Cleanup rules"). Both entry points return how often each rule fired.
"""

from __future__ import annotations

import re
from collections import Counter

from lxml.etree import XPath
from lxml.html import HtmlElement

_WORD = re.compile(r"\w+")
_SPLIT = re.compile(r"[^a-z0-9]+")


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _tokens(el: HtmlElement) -> set[str]:
    return set(_SPLIT.split(f"{el.get('class') or ''} {el.get('id') or ''}".lower()))


def _remove(el: HtmlElement) -> None:
    """Drop an element but keep its tail text (it belongs to the parent's flow)."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    if tail and tail.strip():
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


def _link_chars(el: HtmlElement) -> int:
    return sum(len(a.text_content().strip()) for a in el.iter("a") if _real_href(a.get("href")))


def _real_href(href: str | None) -> bool:
    return bool(href) and not href.startswith(("#", "javascript:", "mailto:"))  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- tree rules
#
# The tree rules run in two passes over the page (pipelines/extraction.py calls prune_tree): one
# over elements with a class/id (what the template says a block is), one over paragraphs, list
# items and headings (what the block's text and links say). Each rule is a predicate below.

# WordPress & co. put the post's taxonomy on the body/article element ("tag-trending",
# "category-latest"): those classes say nothing about the element's role.
_TAXONOMY_PREFIXES = (
    "tag-",
    "category-",
    "post-",
    "type-",
    "status-",
    "format-",
    "author-",
    "postid-",
)

# Class/id tokens of blocks that are never the story. A match is removed only when the block is
# small or link-heavy (_MAX_BLOCK_WORDS), so a body container that carries such a token survives.
_BLOCK_TOKENS = {
    "newsletter": {"newsletter", "newsletters", "subscribe", "subscription", "signup", "optin"},
    "related": {
        "related",
        "relatedposts",
        "recirc",
        "recirculation",
        "readmore",
        "alsoread",
        "mostread",
        "mostpopular",
        "popular",
        "trending",
        "recommended",
        "recommendations",
        "latest",
        "outbrain",
        "taboola",
        "morestories",
        "moreon",
        "youmaylike",
    },
    "tools": {"reprints", "reprint", "toolbar", "printarticle", "tags", "taglist", "keywords"},
    "media": {
        "video",
        "videos",
        "videoplayer",
        "player",
        "gallery",
        "slideshow",
        "podcast",
        "audio",
        "multimedia",
        "playlist",
    },
    "dek": {
        "dek",
        "deck",
        "standfirst",
        "subline",
        "subtitle",
        "subheadline",
        "subhead",
        "strapline",
        "kicker",
        "excerpt",
        "summary",
        "intro",
        "lede",
        "sapo",
        "chapo",
        "teaser",
        "description",
    },
}
_PAIR_TOKENS = {
    ("sign", "up"): "newsletter",
    ("also", "read"): "related",
    ("read", "more"): "related",
    ("most", "read"): "related",
    ("most", "popular"): "related",
    ("more", "stories"): "related",
    ("more", "from"): "related",
    ("you", "may"): "related",
    ("multi", "media"): "media",
    ("sub", "title"): "dek",
    ("sub", "headline"): "dek",
}
_TOKEN_KIND = {tok: kind for kind, toks in _BLOCK_TOKENS.items() for tok in toks}
_MAX_BLOCK_WORDS = {"newsletter": 120, "related": 400, "tools": 80, "media": 60}
_CLASS_TAGS = frozenset(
    {
        "div",
        "section",
        "aside",
        "ul",
        "ol",
        "p",
        "span",
        "form",
        "figure",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
    }
)
_WITH_ATTRS = XPath(".//*[@class or @id]")
_ALL_TOKENS = frozenset(_TOKEN_KIND) | {t for pair in _PAIR_TOKENS for t in pair}


def role_tokens(el: HtmlElement) -> dict[str, None]:
    """Lowercase class/id tokens, without taxonomy classes, in the order the page gives them:
    the first token that names a kind decides it, the same way on every run (a set's order
    changes with the hash seed, and with it which rule removed a block)."""
    tokens: dict[str, None] = {}
    for part in f"{el.get('class') or ''} {el.get('id') or ''}".lower().split():
        if not part.startswith(_TAXONOMY_PREFIXES):
            tokens.update(dict.fromkeys(_SPLIT.split(part)))
    return tokens


def block_kind(el: HtmlElement) -> str | None:
    """'newsletter', 'related', 'tools', 'media' or 'dek' when the class/id says so."""
    cls, ident = el.get("class"), el.get("id")
    key = (cls, ident)
    try:
        return _KIND_CACHE[key]
    except KeyError:
        pass
    kind = _kind_of(role_tokens(el))
    if len(_KIND_CACHE) > 20_000:
        _KIND_CACHE.clear()
    _KIND_CACHE[key] = kind
    return kind


# Class/id pairs repeat across a page and across the pages of a site, and every element that
# has one is asked: their kinds are cached (a quarter of the tree rules' time without it).
_KIND_CACHE: dict[tuple[str | None, str | None], str | None] = {}


def _kind_of(tokens: dict[str, None]) -> str | None:
    if _ALL_TOKENS.isdisjoint(tokens):
        return None
    for tok in tokens:
        kind = _TOKEN_KIND.get(tok)
        if kind:
            return kind
    for (a, b), kind in _PAIR_TOKENS.items():
        if a in tokens and b in tokens:
            return kind
    return None


def is_boilerplate_block(el: HtmlElement, kind: str) -> bool:
    """Rule boilerplate_blocks (newsletter / related / tools) and media_blocks (video, gallery,
    podcast players with their captions): the block goes when it has few words of its own; a
    related block also when a third or more of its text is link text."""
    if el.tag == "blockquote" or el.find(".//blockquote") is not None:
        return False  # embedded posts (tweets, Instagram) are quoted content
    text = el.text_content()
    words = _words(text)
    if words > _MAX_BLOCK_WORDS[kind]:
        return False
    if kind == "related" and words > 40:
        return _link_chars(el) >= len(text.strip()) / 3
    return True


def is_dek(el: HtmlElement, description_key: str, dek_class: bool) -> bool:
    """Rule dek: the standfirst under the headline, repeating the page description.

    Its text equals the declared description and it is a heading, has a dek/standfirst/
    subtitle/summary class, or sits in <header>. A body paragraph equal to the description is
    the lede (sites copy it into the description) and stays.
    """
    if not description_key or _norm(el.text_content()) != description_key:
        return False
    return (
        dek_class
        or el.tag in ("h2", "h3", "h4")
        or any(a.tag == "header" for a in el.iterancestors())
    )


# Class names that only ever mean "the standfirst": unlike summary/intro/teaser, which some
# templates give to the lede paragraph itself.
_STRONG_DEK = frozenset({"dek", "deck", "standfirst", "subline", "subheadline", "strapline"})


def is_named_dek(el: HtmlElement) -> bool:
    """Rule dek, second form: an element whose class says dek/deck/standfirst/subline/
    subheadline/strapline, of at most 60 words, before any paragraph of prose (after prose the
    same class names a subheading), whatever the description says."""
    return (
        not _STRONG_DEK.isdisjoint(role_tokens(el))
        and _words(el.text_content()) <= 60
        and not _after_body_text(el)
    )


_BODY_TEXT_BEFORE = XPath("boolean(preceding::p[string-length(normalize-space(.)) > 120])")


def _after_body_text(el: HtmlElement) -> bool:
    """A standfirst comes before the story; after prose, the same class is a subheading."""
    return bool(_BODY_TEXT_BEFORE(el))


_RELATED_LABELS = (
    r"also read|read also|read more|more to read|see more|see also|"
    r"related(?: story| stories| article| articles| post| posts| coverage| reading| content)?|"
    r"recommended(?: reading| for you)?|more(?: stories| news| on this)?(?=\s*:)|don'?t miss|must read|"
    r"editor'?s picks?|you may also like|you might also like|watch|listen|top stories|trending|"
    r"more news|further reading|"
    r"lesen sie auch|mehr zum thema|auch interessant|lire aussi|à lire aussi|voir aussi|leggi anche|"
    r"leia também|veja também|lee también|ver también|lees ook|czytaj także|läs också|læs också"
)
_RELATED_PREFIX = re.compile(rf"^\W*(?:{_RELATED_LABELS})\b\s*[:\-–—|»>]*", re.IGNORECASE)


# A heading that only announces a teaser list: "You may also like", "Popular on X", "Most read".
_RELATED_HEADING = re.compile(
    rf"^\W*(?:{_RELATED_LABELS}|popular on|most (?:read|viewed|popular|shared)|explore further|"
    r"(?:more|other|latest|related|top|recommended|popular|trending)\b.{0,30}\b"
    r"(?:stories|news|articles|posts|reads|videos|headlines|coverage))\b.{0,40}$",
    re.IGNORECASE,
)


def is_inline_related(el: HtmlElement, text: str) -> bool:
    """Rule inline_related: 'Also read: <link>', 'READ MORE: <link>', 'Related: <link>' inside
    the body. The block opens with such a label and the rest is short (<= 15 words) or mostly
    (>= 50 %) link text."""
    if len(text) > 400:
        return False
    match = _RELATED_PREFIX.match(text)
    if not match:
        return False
    rest = text[match.end() :].strip()
    if not rest:
        return el.tag in ("h2", "h3", "h4", "h5", "h6")
    return _words(rest) <= 15 or _link_chars(el) >= len(rest) * 0.5


def is_link_only(el: HtmlElement, text: str) -> bool:
    """Rule link_only_blocks: a paragraph, list item or heading that is nothing but links to
    other pages: link text >= 85 % of it, at most 30 words (60 for a row of several links).
    Prose never is one link from start to end; teaser lists and "more stories" rows are.
    Labels outside the links ("[VIDEO]", "(Photos)", "|") do not count as prose."""
    words = _words(text)
    if words > 60:
        return False
    links = [a for a in el.iter("a") if _real_href(a.get("href"))]
    if not links or (words > 30 and len(links) < 2):
        return False
    # compared without spaces and separators on both sides
    link = sum(len(_LABELS.sub("", a.text_content())) for a in links)
    return link >= 0.85 * len(_LABELS.sub("", text))


def inside_link(el: HtmlElement) -> bool:
    """A block wrapped in a link (a teaser card: <a href><p>summary</p></a>)."""
    node = el.getparent()
    for _ in range(3):
        if node is None:
            return False
        if node.tag == "a":
            return _real_href(node.get("href"))
        node = node.getparent()
    return False


_LABELS = re.compile(r"\s*[\[(][^\])]{1,15}[\])]|[\s|•·»>\-–—]+")
_HEADING_TAGS = ("h2", "h3", "h4", "h5", "h6", "p", "div", "span", "strong", "b")
_CONTAINERS = frozenset({"body", "article", "main", "section"})


def _link_dense(el: HtmlElement) -> bool:
    """Half of it is link text; for a list, every item holds a link (a teaser each)."""
    text = el.text_content().strip()
    if not text:
        return el.tag in ("p", "br", "hr")  # spacers between the teasers
    if el.find(".//a") is None:
        return False
    if el.tag in ("ul", "ol"):
        items = [li for li in el.iterchildren("li")]
        if items and all(any(_real_href(a.get("href")) for a in li.iter("a")) for li in items):
            return True
    return _link_chars(el) >= 0.5 * len(text)


def prune_related_lists(tree: HtmlElement) -> int:
    """Rule related_lists: a heading that announces other stories ("More Great Stories",
    "DON'T MISS", "You may also like", "Most read") and the link-dense blocks right after it.

    The heading is any short block (at most 8 words) whose whole text is such a label; the
    siblings that follow go while at least half of their text is link text. The heading goes
    with them (or alone when it is a real heading element)."""
    removed = 0
    for el in list(tree.iter(*_HEADING_TAGS)):
        own = (el.text or "").strip()
        if not own or len(own) > 60 or not _RELATED_HEADING.match(own) or el.getparent() is None:
            continue
        full = " ".join(el.text_content().split())
        if _words(full) > 8 or not _RELATED_HEADING.match(full):
            continue
        head = el
        parent = head.getparent()
        while (
            parent is not None
            and parent.tag not in _CONTAINERS
            and " ".join(parent.text_content().split()) == full
        ):
            head, parent = parent, parent.getparent()
        sib = head.getnext()
        followers = []
        while sib is not None and isinstance(sib.tag, str) and _link_dense(sib):
            followers.append(sib)
            sib = sib.getnext()
        if not any(f.text_content().strip() for f in followers) and head.tag not in (
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
        ):
            continue
        for f in followers:
            _remove(f)
        _remove(head)
        removed += 1
    return removed


_EMBEDDED_POST = re.compile(
    r"twitter-tweet|twitter-video|instagram-media|tiktok-embed|reddit-card|bluesky-embed|"
    r"threads-post|text-post-media|mastodon-embed|fb-xfbml|fb-post",
    re.IGNORECASE,
)
_WRAPPER_TAGS = frozenset({"div", "figure", "section", "span", "aside", "p"})


def free_embedded_posts(tree: HtmlElement) -> int:
    """Rule embedded_posts: quoted social posts (tweets, Instagram, TikTok, Bluesky ...) are part
    of the story; their wrappers carry classes ("embed", "social", "widget") that make
    trafilatura drop them. Each post's <blockquote> replaces its wrapper and loses its class."""
    freed = 0
    for bq in list(tree.iter("blockquote")):
        if not _EMBEDDED_POST.search(bq.get("class") or ""):
            continue
        text = " ".join(bq.text_content().split())
        if not text:
            continue
        wrapper = bq
        parent = bq.getparent()
        while (
            parent is not None
            and parent.tag in _WRAPPER_TAGS
            and " ".join(parent.text_content().split()) == text
        ):
            wrapper, parent = parent, parent.getparent()
        for attr in ("class", "id", "style"):
            bq.attrib.pop(attr, None)
        if wrapper is not bq and parent is not None:
            bq.tail = wrapper.tail
            parent.replace(wrapper, bq)
        freed += 1
    return freed


_TEXT_TAGS = ("p", "li", "h2", "h3", "h4", "h5", "h6")


def prune_tree(tree: HtmlElement, description: str | None = None) -> Counter[str]:
    """Run every tree rule (in place); returns how often each fired."""
    fired: Counter[str] = Counter()
    fired["merge_split_bodies"] = merge_split_bodies(tree)
    fired["embedded_posts"] = free_embedded_posts(tree)
    key = _norm(description) if description and _words(description) >= 5 else ""
    for el in _WITH_ATTRS(tree):
        if el.tag not in _CLASS_TAGS:
            continue
        kind = block_kind(el)
        if kind is None or el.getparent() is None:
            continue
        if kind == "dek":
            if is_dek(el, key, True) or is_named_dek(el):
                _remove(el)
                fired["dek"] += 1
        elif is_boilerplate_block(el, kind):
            _remove(el)
            fired["media_blocks" if kind == "media" else "boilerplate_blocks"] += 1
    fired["related_lists"] = prune_related_lists(tree)
    for el in list(tree.iter(*_TEXT_TAGS)):
        if el.getparent() is None:
            continue
        linked = next(el.iterdescendants("a"), None) is not None
        if not linked:
            # cheap tests on the leading text before reading the whole block (most blocks are
            # prose with neither links nor labels)
            lead = el.text or (el[0].text if len(el) and isinstance(el[0].tag, str) else "") or ""
            lead = lead.lstrip()
            if not (
                _RELATED_PREFIX.match(lead)
                or (key and len(head := _norm(lead)[:40]) >= 10 and key.startswith(head))
                or (el.tag == "p" and inside_link(el))
            ):
                continue
        text = el.text_content().strip()
        if not text:
            continue
        if _RELATED_PREFIX.match(text) and is_inline_related(el, text):
            _remove(el)
            fired["inline_related"] += 1
        elif (linked and len(text) < 600 and is_link_only(el, text)) or (
            el.tag == "p" and len(text) < 400 and inside_link(el)
        ):
            _remove(el)
            fired["link_only_blocks"] += 1
        elif (
            key
            and el.tag in ("h2", "h3", "h4", "p")
            and abs(len(text) - len(description or "")) < 40
            and is_dek(el, key, False)
        ):
            _remove(el)
            fired["dek"] += 1
    for lst in list(tree.iter("ul", "ol")):  # lists emptied by the rules above
        if lst.getparent() is not None and not lst.text_content().strip():
            _remove(lst)
    return +fired


_BODY_TOKENS = frozenset({"body", "content", "text", "article", "story", "entry", "post", "copy"})
_NOT_BODY_TOKENS = frozenset(
    {"comment", "comments", "reply", "replies", "related", "teaser", "card"}
)


def _nearest_article(el: HtmlElement) -> HtmlElement | None:
    return next(el.iterancestors("article"), None)


def merge_split_bodies(tree: HtmlElement) -> int:
    """Rule merge_split_bodies: article bodies split by ad rows into containers of one class.

    Templates cut long stories into ``<div class="article__body">`` pieces with ads and
    sidebars between them; trafilatura keeps the first piece only. When two or more
    non-nested containers share a body-like class (body/content/text/article/story ...) and
    each holds at least two paragraphs of 80+ characters, the later pieces' children are moved
    into the first one, in document order. Pieces in another <article> element or holding an
    <h1> are left alone: that is the next story of an infinite-scroll page.
    """
    groups: dict[str, list[HtmlElement]] = {}
    for p in tree.iter("p"):
        parent = p.getparent()
        if parent is None:
            continue
        cls = parent.get("class")
        if not cls or len(p.text_content()) < 80:
            continue
        members = groups.setdefault(cls, [])
        if parent not in members:
            members.append(parent)
    merged = 0
    for cls, members in groups.items():
        if len(members) < 2:
            continue
        tokens = set(_SPLIT.split(cls.lower()))
        if tokens.isdisjoint(_BODY_TOKENS) or not tokens.isdisjoint(_NOT_BODY_TOKENS):
            continue
        rich = [
            m
            for m in members
            if sum(1 for p in m.iterchildren("p") if len(p.text_content()) >= 80) >= 2
        ]
        if len(rich) < 2:
            continue
        first = rich[0]
        story = _nearest_article(first)
        for other in rich[1:]:
            if any(a is first for a in other.iterancestors()) or any(
                a is other for a in first.iterancestors()
            ):
                continue
            # an infinite-scroll page appends the next story with the same classes: a piece in
            # another <article>, or with its own <h1>, is another story
            if _nearest_article(other) is not story or other.find(".//h1") is not None:
                continue
            for child in list(other):
                first.append(child)
            _remove(other)
            merged += 1
    return merged


# ---------------------------------------------------------------------------- paragraph rules

_SOCIAL = r"(?:twitter|x|facebook|instagram|linkedin|tiktok|threads|bluesky|youtube|mastodon|telegram|whatsapp|google news|flipboard)"
_CTA = re.compile(
    r"^\W*(?:click here|tap here|subscribe|sign up|signup|join (?:us|our)|download (?:the|our)|"
    r"get (?:the|our) .{0,40}(?:app|newsletter)|get .{0,40} delivered|"
    rf"follow (?:us|@?\w+(?: \w+){{0,5}}) on {_SOCIAL}|"
    r"like (?:us|this story)|share (?:this|it)|tell us what you think|thanks for signing up|"
    r"thank you for signing up|keep an eye on your inbox|there was an error|an error has occurred|"
    r"please try again|this article has been sent|if you (?:enjoyed|liked) this|we have a proposition|"
    r"get access to|have a (?:news )?tip|got a (?:news )?tip|listen to (?:the|our|this)|you can view our|"
    r"sign in to|log in to|already a subscriber|support (?:our|independent) journalism|"
    r"(?:start|begin) your day with|there'?s plenty more where|get the latest .{0,40} inbox|"
    r"want more .{0,40}\?|for more (?:news|stories|updates)|more (?:\w+ ){0,2}coverage:|"
    r"abonnieren sie|folgen sie uns|suivez-nous|abonnez-vous|siga-nos|síguenos|seguici)\b",
    re.IGNORECASE,
)
# "Follow our coverage at https://...", "More AP NBA: https://...": a pointer elsewhere
_CTA_URL = re.compile(
    r"^\W*(?:follow|more|read|see|visit|watch|listen|download|find)\b.{0,150}https?://",
    re.IGNORECASE,
)
_CTA_ANYWHERE = re.compile(
    r"sign up for (?:our|the|free)|subscribe to (?:our|the)|delivered (?:to|right to|straight to) your inbox|"
    r"newsletter.{0,80}(?:sign|subscri|inbox|e-?mail)|(?:sign|subscri).{0,80}newsletter|"
    rf"follow (?:us|him|her|them|@\w+) on {_SOCIAL}|on (?:facebook|twitter|instagram),? (?:and|or) (?:twitter|instagram|youtube)|"
    r"get (?:the|our) .{0,30} app|download the .{0,30} app",
    re.IGNORECASE,
)
# Credit lines that say so at their start ("Reporting by", "Source:", "Write to ... at"), and
# "<names> contributed to this report" anywhere in a short block.
_CREDIT_LEAD = (
    r"\(?(?:reporting|additional reporting|writing|editing|edited|compiled|research|"
    r"with (?:additional )?reporting) by\b|"
    r"(?:sources?|via|credit|quelle|fuente|fonte)\s*:|"
    r"with (?:\w+ )?wires?\b|"
    r"write to .{2,60} at \S+@|email .{2,60} at \S+@|contact (?:the )?(?:writer|reporter|author)s?\b|"
    r"reach (?:the )?(?:writer|reporter|author)s?\b"
)
_CREDIT_HEAD = re.compile(rf"^\W*(?:{_CREDIT_LEAD})", re.IGNORECASE)
_CREDIT_CONTRIBUTED = re.compile(
    r"^\W*(?:.{3,200}\bcontributed (?:to )?(?:this|the) (?:report|story|article)|"
    r".{3,120}\bcontributed reporting\b)",
    re.IGNORECASE,
)
_URL_ONLY = re.compile(
    r"^\W*(?:https?://|www\.)\S+\W*$|^\S+@\S+\.\w+$|^@\w+$|^(?:twitter|facebook|instagram)\.com/\S+$",
    re.IGNORECASE,
)
_TAGS = re.compile(
    r"^\W*(?:tags?|tagged(?: with)?|filed under|topics?|keywords?|categor(?:y|ies)|schlagw(?:ö|o)rter|themen)\b\s*[:|]?",
    re.IGNORECASE,
)
_COMMENTS = re.compile(
    r"^\W*(?:\d+\s+)?(?:comments?|kommentare?|commentaires?|comentários?|comentarios?|reactions?|responses?)\W*(?:\(\d+\))?\W*$",
    re.IGNORECASE,
)
_MONTHS = (
    "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|july|"
    "august|september|october|november|december|januar|februar|märz|mai|juni|juli|oktober|dezember|"
    "janvier|février|mars|avril|juin|juillet|août|septembre|octobre|novembre|décembre|enero|febrero|"
    "marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre|janeiro|fevereiro|"
    "março|maio|junho|julho|setembro|outubro|dezembro|gennaio|febbraio|aprile|maggio|giugno|luglio|"
    "settembre|ottobre|dicembre"
)
_DATE_TOKEN = re.compile(
    rf"\b(?:\d{{1,4}}(?:[:/.\-]\d{{1,4}}){{1,2}}|\d{{1,2}}(?:st|nd|rd|th)?|(?:{_MONTHS})\.?|"
    r"(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day)?\.?|am|pm|a\.m|p\.m|[ap]\.?m\.?|"
    r"gmt|utc|[ecmp][sd]t|bst|cet|cest|ist|updated|update|published|posted|last|modified|on|at|by|"
    r"segunda|terça|quarta|quinta|sexta|feira|sábado|domingo|às|de|del|le|am|um|uhr|"
    r"montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|lundi|mardi|mercredi|jeudi|vendredi|"
    r"samedi|dimanche|lunes|martes|miércoles|jueves|viernes|\d{4})\b",
    re.IGNORECASE,
)
_READING_TIME = re.compile(
    r"^\W*(?:\d+\s*(?:min(?:ute)?s?|mins?)\.?\s*(?:read|de lecture|lesezeit|di lettura)|"
    r"(?:reading time|read time|tempo de leitura|tiempo de lectura|lesezeit|temps de lecture)\s*:?\s*\d+)",
    re.IGNORECASE,
)


# _CTA_ANYWHERE is searched in every short block; a block without any of the words it needs
# cannot match, and checking for those first takes a fraction of the time (casefold, like the
# regex's IGNORECASE).
_CTA_WORDS = (
    "sign up for",
    "subscribe to",
    "delivered",
    "newsletter",
    "follow",
    "on facebook",
    "on twitter",
    "on instagram",
    "get the ",
    "get our ",
    "download the ",
)
def _may_be_cta(text: str) -> bool:
    folded = text.casefold()
    return any(word in folded for word in _CTA_WORDS)


def is_credit(text: str) -> bool:
    """Rule credit_line's test; the costly "... contributed" pattern only runs on blocks that
    have the word."""
    return _CREDIT_HEAD.match(text) is not None or (
        "contributed" in text.casefold() and _CREDIT_CONTRIBUTED.match(text) is not None
    )


def is_dateline(text: str) -> bool:
    """A short block that is only a date/time/byline stamp ('Updated: Nov. 19, 2019 10:32 a.m.')."""
    words = _WORD.findall(text)
    if not words or len(words) > 16 or not any(ch.isdigit() for ch in text):
        return False
    rest = _DATE_TOKEN.sub(" ", text)
    left = _words(rest)
    # "5:45 AM PST 11/19/2019 by Jane Doe": a date stamp with a byline
    return left <= 1 or (left <= 4 and re.search(r"\bby\b", text, re.IGNORECASE) is not None)


def paragraph_rule(text: str, tag: str, position: int, total: int, words: int) -> str | None:
    """The name of the paragraph rule that removes this block, or None to keep it."""
    if words <= 40 and _CTA.match(text):
        return "call_to_action"
    if words <= 40 and _may_be_cta(text) and _CTA_ANYWHERE.search(text):
        return "call_to_action"
    if words <= 30 and _CTA_URL.match(text):
        return "call_to_action"
    if words <= 60 and is_credit(text):
        return "credit_line"
    if len(text) <= 300 and " " not in text.strip() and _URL_ONLY.match(text):
        return "url_only"
    if (
        words <= 40
        and _TAGS.match(text)
        and (tag == "head" or words <= 2 or ":" in text[:20] or "|" in text)
    ):
        return "tag_line"
    if words <= 4 and _COMMENTS.match(text):
        return "comments_label"
    if (
        words <= 16
        and (position <= 2 or position >= total - 2)
        and (is_dateline(text) or _READING_TIME.match(text))
    ):
        return "dateline"
    if words <= 8 and _RELATED_HEADING.match(text):
        return "related_heading"
    return None


def _block_text(el: HtmlElement) -> str:
    return " ".join("".join(el.itertext()).split())


_AD_LABEL = re.compile(
    r"^\W*(?:advertisements?|advertising|sponsored(?: content)?|ad|anzeige|werbung|publicité|publicidad|"
    r"pubblicità|reklama|annonse|(?:skip|close) (?:advertisement|ad)|"
    r"(?:story|article|content) continues (?:below|after)(?: (?:this )?(?:ad(?:vertisement)?|the ad))?|"
    r"advertisement\W+(?:scroll|continue)[\w\s]*)\W*$",
    re.IGNORECASE,
)
_BIO_VERB = re.compile(
    r"^\W*(?:is|was|has|covers|writes|reports|joined|edits|leads|works)\b", re.IGNORECASE
)


def is_author_bio(text: str, authors: list[str]) -> bool:
    """Rule author_bio: '<Author Name> is a reporter covering ...' (the byline's own name, then a
    verb of being/working), at most 80 words; or a block starting 'About the author'."""
    if _words(text) > 80:
        return False
    if re.match(r"^\W*about the authors?\b", text, re.IGNORECASE):
        return True
    for name in authors:
        if len(name) >= 5 and text.startswith(name) and _BIO_VERB.match(text[len(name) :]):
            return True
    return False


def clean_body(body: HtmlElement, authors: list[str] | None = None) -> Counter[str]:
    """Remove boilerplate blocks from trafilatura's output body (in place)."""
    fired: Counter[str] = Counter()
    blocks = [el for el in body if isinstance(el.tag, str)]
    total = len(blocks)
    for i, el in enumerate(blocks):
        text = _block_text(el)
        if not text:
            continue
        words = _words(text)
        rule = paragraph_rule(text, el.tag, i, total, words)
        if rule is None and words <= 8 and _AD_LABEL.match(text):
            rule = "ad_label"
        if rule is None and authors and i >= total - 3 and is_author_bio(text, authors):
            rule = "author_bio"
        if rule:
            body.remove(el)
            fired[rule] += 1
    return +fired


SHORT_RUN = 6  # consecutive paragraphs ...
SHORT_WORDS = 3  # ... of at most this many words
SHORT_CHARS = 25  # ... and characters each (CJK text has few \w+ "words")


def drop_short_runs(paragraphs: list[str]) -> tuple[list[str], int]:
    """Rule short_runs: six or more paragraphs in a row of at most three words each.

    That is a menu, a tag cloud or an archive list that reached the text (trafilatura's
    whole-page fallback produces them); prose and headings do not come in such runs, and list
    items are rendered with a "- " marker, which keeps them out of it."""
    out: list[str] = []
    run: list[str] = []
    removed = 0
    for para in [*paragraphs, None]:
        if (
            para is not None
            and not para.startswith("- ")
            and len(para) <= SHORT_CHARS
            and _words(para) <= SHORT_WORDS
        ):
            run.append(para)
            continue
        if len(run) >= SHORT_RUN:
            removed += len(run)
        else:
            out.extend(run)
        run = []
        if para is not None:
            out.append(para)
    return out, removed
