"""Sort a news page's links into the record's three lists: article, navigation, media.

``article`` are the links inside the kept article text (trafilatura keeps them as ``<ref>`` in
its output body when ``links=True``); everything else a reader can follow is either media
(video, audio, gallery, multimedia blocks and URLs) or navigation (menus, latest-news,
related and most-read lists, inline "Also read" teasers). Share buttons, ``javascript:``,
``mailto:`` and in-page anchors are nobody's content and are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urljoin, urlsplit, urlunsplit

from lxml.html import HtmlElement

# Link lists stop here: no article page has more, and archive dumps with 100,000s of links
# would otherwise spend seconds in this module alone.
MAX_LINKS = 5000
# Class/id tokens (split on non-letters) that mark a block's role. Set lookups rather than
# regexes: a news page has a thousand links and this runs for each block above them.
_SPLIT = re.compile(r"[^a-z0-9]+")
_MEDIA_TOKENS = frozenset(
    [
        "video",
        "videos",
        "videogallery",
        "gallery",
        "galleries",
        "multimedia",
        "podcast",
        "podcasts",
        "audio",
        "slideshow",
        "slideshows",
        "photogallery",
        "photogalleries",
        "photoessay",
        "watch",
        "vod",
        "livetv",
        "webtv",
        "player",
        "playlist",
    ]
)
# Menu context wins over a media-looking URL: "Videos" in a section menu is navigation.
_MENU_TAGS = frozenset({"nav", "header", "footer"})
_MENU_TOKENS = frozenset(
    [
        "nav",
        "navbar",
        "navigation",
        "menu",
        "menus",
        "megamenu",
        "submenu",
        "breadcrumb",
        "breadcrumbs",
        "masthead",
        "header",
        "footer",
        "sitenav",
        "topnav",
    ]
)
_SHARE_TOKENS = frozenset(["share", "sharing", "sharebar", "social", "addthis", "sharethis"])
_MEDIA_PATH = re.compile(
    r"/(?:videos?|video-?gallery|gallery|galleries|multi-?media|podcasts?|audio|slideshows?|"
    r"photos?-?galler(?:y|ies)|watch|vod|live-?tv|webtv|tv)(?:/|$|\.)",
    re.IGNORECASE,
)
_SHARE_URL = re.compile(
    r"facebook\.com/(?:sharer|share\.php|dialog)|twitter\.com/(?:intent|share)|x\.com/intent|"
    r"linkedin\.com/(?:share|cws/share|shareArticle)|pinterest\.\w+/pin/create|reddit\.com/submit|"
    r"(?:api\.)?whatsapp\.com/send|wa\.me/|t\.me/share|telegram\.me/share|getpocket\.com/save|"
    r"news\.ycombinator\.com/submitlink|tumblr\.com/share|vk\.com/share|plus\.google\.com/share",
    re.IGNORECASE,
)
# _SHARE_URL can only match a URL holding one of these (lowercased): checked first, because
# the regex, tried at every position of every link of a page, was a tenth of extraction time.
_SHARE_HINTS = (
    "facebook.com/",
    "twitter.com/",
    "x.com/",
    "linkedin.com/",
    "pinterest.",
    "reddit.com/",
    "whatsapp.com/",
    "wa.me/",
    "t.me/",
    "telegram.me/",
    "getpocket.com/",
    "ycombinator.com/",
    "tumblr.com/",
    "vk.com/",
    "google.com/",
)


def is_share_url(url: str) -> bool:
    """A share-button target (facebook sharer, tweet intent, whatsapp send ...)."""
    lower = url.lower()
    return any(hint in lower for hint in _SHARE_HINTS) and _SHARE_URL.search(url) is not None


def _clean(text: str | None) -> str:
    """Whitespace runs as one space, trimmed (str.split's whitespace is the regex's \\s)."""
    return " ".join(text.split()) if text else ""


@lru_cache(maxsize=64)
def _origin(base: str) -> str:
    parts = urlsplit(base)
    return (
        f"{parts.scheme}://{parts.netloc}"
        if parts.scheme in ("http", "https") and parts.netloc
        else ""
    )


def absolute_url(base: str | None, href: str | None) -> str | None:
    """Absolute http(s) URL without fragment, or None for anchors, scripts, mail, data."""
    href = (href or "").strip()
    if not href or href.startswith(("#", "javascript:", "mailto:", "tel:", "data:", "sms:")):
        return None
    if href.startswith(("https://", "http://")) and " " not in href:
        # fast path (most links on a page): no join, no re-assembly
        url = href.split("#", 1)[0]
        start = url.find("//") + 2
        if start >= len(url) or url[start] in "/?":
            return None
        if url.find("/", start) < 0:
            url = url.replace("?", "/?", 1) if "?" in url else url + "/"
        return url
    if href[0] == "/" and href[1:2] != "/" and base and "/." not in href:
        origin = _origin(base)  # root-relative: the other common case
        if origin:
            return origin + href.split("#", 1)[0]
    try:
        url = urljoin(base, href) if base else href
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


# menu, media, share, the story's tag list (None: inside a sidebar or menu, where a tag list
# is the site's, never the story's)
Roles = tuple[bool, bool, bool, "bool | None"]
_NO_ROLE: Roles = (False, False, False, False)
# Class strings repeat across a page and across pages of one site: their roles are cached.
_ROLE_CACHE: dict[str, Roles] = {}
_TAG_TOKENS = frozenset({"tags", "taglist", "posttags", "articletags", "entrytags", "storytags"})
_NOT_TAG_TOKENS = frozenset({"cloud", "tagcloud", "widget", "popular", "trending"})


def _attr_roles(attrs: str) -> Roles:
    roles = _ROLE_CACHE.get(attrs)
    if roles is None:
        tokens = set(_SPLIT.split(attrs.lower()))
        roles = (
            not _MENU_TOKENS.isdisjoint(tokens),
            not _MEDIA_TOKENS.isdisjoint(tokens) or ("multi" in tokens and "media" in tokens),
            not _SHARE_TOKENS.isdisjoint(tokens),
            not _TAG_TOKENS.isdisjoint(tokens) and _NOT_TAG_TOKENS.isdisjoint(tokens),
        )
        if len(_ROLE_CACHE) > 20_000:
            _ROLE_CACHE.clear()
        _ROLE_CACHE[attrs] = roles
    return roles


def _roles(el: HtmlElement) -> Roles:
    """(menu, media, share, tags) as the element's own tag and class/id/role say."""
    get = el.get
    cls, ident, role = get("class"), get("id"), get("role")
    roles = _attr_roles(f"{cls} {ident} {role}") if (cls or ident or role) else _NO_ROLE
    tag = el.tag
    if tag in _MENU_TAGS:
        return True, roles[1], roles[2], roles[3]
    if tag == "video" or tag == "audio":
        return roles[0], True, roles[2], roles[3]
    if tag == "aside":
        return roles[0], roles[1], roles[2], None
    return roles


def _link_text(a: HtmlElement) -> str:
    text = _clean(a.text_content())
    if text:
        return text
    if title := _clean(a.get("title") or a.get("aria-label")):
        return title
    img = a.find(".//img")
    return _clean(img.get("alt")) if img is not None else ""


def _add(bucket: dict[str, dict[str, str]], url: str, text: str) -> None:
    entry = bucket.get(url)
    if entry is None:
        bucket[url] = {"url": url, "text": text}
    elif not entry["text"] and text:
        entry["text"] = text


def _combine(outer: Roles, own: Roles) -> Roles:
    menu = outer[0] or own[0]
    tags = None if (menu or outer[3] is None or own[3] is None) else (outer[3] or own[3])
    return (menu, outer[1] or own[1], outer[2] or own[2], tags)


def _inherited(el: HtmlElement, memo: dict[HtmlElement, Roles]) -> Roles:
    """Roles of ``el``'s ancestors and itself, memoized (links share most of their ancestors)."""
    chain = []
    node = el.getparent()
    while node is not None and node not in memo:
        chain.append(node)
        node = node.getparent()
    flags = memo[node] if node is not None else _NO_ROLE
    for anc in reversed(chain):
        flags = _combine(flags, _roles(anc))
        memo[anc] = flags
    return _combine(flags, _roles(el))


def page_links(
    tree: HtmlElement, base_url: str | None, tags: list[str] | None = None
) -> list[tuple[str, str, str]]:
    """(url, text, kind) for each followable link of the page, kind 'media' or 'navigation'.

    Read from the tree before any cleanup removes the blocks that hold them. Each block's role
    is read once and inherited by the links below it. The texts of the story's tag links
    (``rel=tag``, or links in a tags/post-tags block outside menus and sidebars) are appended
    to ``tags`` when it is given.
    """
    out: list[tuple[str, str, str]] = []
    resolved: dict[str, str | None] = {}
    body = tree.find("body")
    root = body if body is not None else tree
    # the <body>'s own class names the page template ("single-format-video"), not a block
    memo: dict[HtmlElement, Roles] = {root: _NO_ROLE}
    for a in root.iter("a"):
        if a.get("href") is not None:
            flags = _inherited(a, memo)
            added = _visit_link(a, flags, base_url, resolved, out)
            if (
                added
                and tags is not None
                and (flags[3] or (flags[3] is not None and "tag" in (a.get("rel") or "").split()))
            ):
                tags.append(out[-1][1])
            if len(out) >= MAX_LINKS:
                break
    out.extend(embedded_media(root, base_url))
    return out


# Players embedded from these hosts are media even outside a media block.
_PLAYER_HOST = re.compile(
    r"(?:^|\.)(?:youtube(?:-nocookie)?\.com|youtu\.be|vimeo\.com|dailymotion\.com|twitch\.tv|"
    r"jwplayer\.com|jwplatform\.com|brightcove\.(?:net|com)|players\.brightcove\.net|"
    r"soundcloud\.com|spotify\.com|megaphone\.fm|simplecast\.com|podbean\.com|libsyn\.com|"
    r"anchor\.fm|apple\.com|tiktok\.com|streamable\.com|wistia\.(?:com|net)|kaltura\.com|"
    r"vidible\.tv|ooyala\.com|rumble\.com|bitchute\.com)$",
    re.IGNORECASE,
)


def embedded_media(root: HtmlElement, base_url: str | None) -> list[tuple[str, str, str]]:
    """Players embedded in the page: <video>/<audio> sources and <iframe>s from player hosts.

    An embedded video is a media item of the page as much as a link to a video page is.
    """
    out: list[tuple[str, str, str]] = []
    for el in root.iter("iframe", "video", "audio", "source"):
        src = el.get("src") or el.get("data-src")
        url = absolute_url(base_url, src)
        if url is None:
            continue
        if el.tag == "iframe":
            host = urlsplit(url).hostname or ""
            if not _PLAYER_HOST.search(host) and not _MEDIA_PATH.search(url, url.find("/", 8)):
                continue
        elif el.tag == "source" and el.getparent() is not None and el.getparent().tag == "picture":
            continue  # responsive image sources, not media
        title = _clean(el.get("title") or el.get("aria-label"))
        out.append((url, title, "media"))
    return out


def _visit_link(
    a: HtmlElement,
    flags: Roles,
    base_url: str | None,
    resolved: dict[str, str | None],
    out: list[tuple[str, str, str]],
) -> bool:
    """Append the link to ``out`` (True) unless it is nobody's content (False)."""
    href = a.get("href")
    if href is None:
        return False
    if href in resolved:
        url = resolved[href]
    else:
        url = resolved[href] = absolute_url(base_url, href)
        if url is not None and is_share_url(url):
            url = resolved[href] = None
    if url is None:
        return False
    menu, media_block, share, _tags = flags
    if share and not media_block:
        return False
    media = not menu and (media_block or bool(_MEDIA_PATH.search(url, url.find("/", 8))))
    if not media and len(a) and next(a.iter("video", "audio"), None) is not None:
        media = True
    out.append((url, _link_text(a), "media" if media else "navigation"))
    return True


_BLOCKS = frozenset(
    {"p", "li", "blockquote", "td", "th", "dd", "dt", "h2", "h3", "h4", "h5", "h6", "pre"}
)
_WORD = re.compile(r"\w+")


def _words(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def body_links(root: HtmlElement | None, text: str, base_url: str | None) -> list[tuple[str, str]]:
    """(url, text) of the links inside the kept article text.

    A link counts when the block that holds it (its paragraph, list item, quote, cell) made it
    into the extracted text; ``root`` is the article container (see extraction_images.article_root).
    """
    if root is None or not text:
        return []
    haystack = _words(text)
    out = []
    verdicts: dict[HtmlElement, bool] = {}  # elements as keys keep their proxies alive
    for a in root.iter("a"):
        url = absolute_url(base_url, a.get("href"))
        if not url or is_share_url(url):
            continue
        block = next((b for b in a.iterancestors() if b.tag in _BLOCKS), a.getparent())
        if block is None:
            continue
        if block not in verdicts:
            needle = _words(block.text_content())[:200]
            verdicts[block] = bool(needle) and needle in haystack
        if verdicts[block]:
            out.append((url, _link_text(a)))
    return out


def split_links(
    page: Iterable[tuple[str, str, str]],
    article: Iterable[tuple[str, str]],
    exclude: Iterable[str | None] = (),
) -> dict[str, list[dict[str, str]]]:
    """The record's ``links``: each list deduplicated by URL, in page order, a URL in one list only."""
    skip = {u for u in exclude if u}
    buckets: dict[str, dict[str, dict[str, str]]] = {"article": {}, "navigation": {}, "media": {}}
    for url, text in article:
        if url not in skip:
            _add(buckets["article"], url, text)
    taken = set(buckets["article"])
    for url, text, kind in page:
        if url in skip or url in taken:
            continue
        other = "navigation" if kind == "media" else "media"
        if url in buckets[other]:
            # the same target seen as media once (a thumbnail in a video strip) stays media
            if kind == "media":
                entry = buckets["navigation"].pop(url)
                _add(buckets["media"], url, entry["text"] or text)
            else:
                _add(buckets["media"], url, text)
            continue
        _add(buckets[kind], url, text)
    return {kind: list(entries.values()) for kind, entries in buckets.items()}
