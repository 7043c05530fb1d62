"""The images that belong to an article, with caption and credit.

The lead image is declared (ld+json ``image``, ``og:image``); the others are the ``<img>``
inside the article's own container, which is found as the closest common ancestor of the
page elements that hold the extracted paragraphs, so sidebar thumbnails are never taken.
"""

from __future__ import annotations

import re
from typing import Any

from lxml.html import HtmlElement

from pipelines.extraction_links import absolute_url

_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
_CREDIT_CLASS = re.compile(
    r"(?:^|[\W_])(?:credit|credits|copyright|photographer|photo-?credit|image-?credit|source|"
    r"attribution|byline)(?:$|[\W_])",
    re.IGNORECASE,
)
# Credits written into captions: "(Photo: Jane Doe/AP)", "Credit: Reuters", "© AFP", "Foto: dpa".
_CREDIT_TEXT = re.compile(
    r"[\(\[]?\s*(?:(?:AP |AFP |Reuters )?(?:photo|image|picture|foto|bild|credit|photograph|"
    r"illustration|video)s?\s*(?:by|:|/)|©|\(c\)|copyright)\s*([^\)\]\n]{2,80})[\)\]]?\s*$",
    re.IGNORECASE,
)
_MIN_SIZE = 80  # px: smaller images are icons, avatars, spacers and tracking pixels
_LAZY_SRC = ("data-src", "data-lazy-src", "data-original", "data-url", "data-hi-res-src", "src")


def _clean(text: Any) -> str:
    return _SPACE.sub(" ", text).strip() if isinstance(text, str) else ""


def _key(text: str) -> str:
    """A paragraph's first 80 characters of words: read from its start only when that is
    enough (the last word found there may be cut, so it is left out of the check)."""
    if len(text) > 400:
        words = _WORD.findall(text[:400].lower())
        head = " ".join(words[:-1])
        if len(head) >= 80:
            return head[:80]
    return " ".join(_WORD.findall(text.lower()))[:80]


def article_root(tree: HtmlElement, paragraphs: list[str]) -> HtmlElement | None:
    """The innermost element holding every page paragraph that made it into the text."""
    wanted = {_key(p) for p in paragraphs if len(p) >= 40}
    if not wanted:
        return None
    found = [el for el in tree.iter("p") if _key(el.text_content()) in wanted]
    if not found:
        return None
    chain = list(found[0].iterancestors())
    index = {id(el): i for i, el in enumerate(chain)}
    depth = 0
    for el in found[1:]:
        for anc in el.iterancestors():
            if id(anc) in index:
                depth = max(depth, index[id(anc)])
                break
    return chain[depth] if chain else None


def _img_src(img: HtmlElement) -> str | None:
    for attr in _LAZY_SRC:
        value = img.get(attr)
        if value and not value.startswith("data:"):
            return value
    srcset = img.get("srcset") or img.get("data-srcset")
    if srcset:
        return srcset.split(",")[0].strip().split(" ")[0]
    return None


def _too_small(img: HtmlElement) -> bool:
    for attr in ("width", "height"):
        value = (img.get(attr) or "").strip().removesuffix("px")
        if value.isdigit() and int(value) < _MIN_SIZE:
            return True
    return False


_CREDIT_LABEL = re.compile(
    r"^\W*(?:photo|image|picture|foto|bild|credit|source)s?\s*(?:by|:)\s*", re.IGNORECASE
)


def split_credit(caption: str) -> tuple[str, str]:
    """('caption', 'credit') out of a caption that ends with a photo credit."""
    match = _CREDIT_TEXT.search(caption)
    if not match:
        return caption, ""
    return _clean(caption[: match.start()]).rstrip(" .-|"), _clean(match.group(1)).rstrip(" .)")


def _figure_text(img: HtmlElement) -> tuple[str, str]:
    figure = next((a for a in img.iterancestors() if a.tag == "figure"), None)
    if figure is None:
        return "", ""
    credit = ""
    for el in figure.iter():
        if el is img or not isinstance(el.tag, str):
            continue
        if _CREDIT_CLASS.search(f"{el.get('class', '')} {el.get('itemprop', '')}"):
            credit = _clean(el.text_content())
            break
    cap_el = figure.find(".//figcaption")
    caption = _clean(cap_el.text_content()) if cap_el is not None else ""
    if credit and caption.endswith(credit):
        caption = caption[: -len(credit)].rstrip(" .-|/")
    credit = _CREDIT_LABEL.sub("", credit)
    if not credit and caption:
        caption, credit = split_credit(caption)
    return caption, credit


def _declared(value: Any, base: str | None) -> list[dict[str, str | None]]:
    out = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            url, caption, credit = item, "", ""
        elif isinstance(item, dict):
            url = item.get("url") or item.get("contentUrl") or ""
            caption = _clean(item.get("caption") or item.get("description"))
            credit = (
                item.get("creditText") or item.get("copyrightHolder") or item.get("author") or ""
            )
            if isinstance(credit, dict):
                credit = credit.get("name", "")
            credit = _clean(credit)
        else:
            continue
        if url := absolute_url(base, url if isinstance(url, str) else None):
            out.append({"url": url, "caption": caption or None, "credit": credit or None})
    return out


# Site furniture, not article pictures: icons, logos, avatars, sprites, share buttons, pixels.
_NOT_PHOTO = re.compile(
    r"(?:/|[-_.])(?:icons?|logos?|avatars?|sprites?|buttons?|badges?|emoji|spacer|pixel|blank|"
    r"placeholder|loading|lazy|share|social|facebook|twitter|whatsapp|pinterest|authors?)(?:[-_./]|$)|\.svg(?:\?|$)|^data:",
    re.IGNORECASE,
)
_IMAGE_FILE = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)(?:\?|$)", re.IGNORECASE)
_SIZE_SUFFIX = re.compile(r"-\d{2,4}x\d{2,4}(?=\.\w+$)")


def _same_picture(url: str) -> str:
    """One key for the renditions of one picture ('x-1280x720.jpg', 'x.jpg?w=480')."""
    return _SIZE_SUFFIX.sub("", url.split("?", 1)[0].split("#", 1)[0])


def _teaser_or_button(img: HtmlElement, base_url: str | None) -> bool:
    """An image that links to another page is a teaser thumbnail or a button, not an illustration
    (a link to the image file itself, a lightbox, is fine)."""
    for node in img.iterancestors():
        if node.tag == "a":
            href = absolute_url(base_url, node.get("href"))
            return bool(href) and not _IMAGE_FILE.search(href) and href != base_url
        if node.tag in ("p", "figure", "div", "article", "section", "body"):
            return False
    return False


def image_scope(tree: HtmlElement, root: HtmlElement | None) -> HtmlElement | None:
    """Where the article's images are: the lead image usually sits above the text container,
    next to the headline. The enclosing <article> of the text, else the innermost element
    holding both the text and the <h1>, else the text container itself."""
    if root is None:
        return None
    for node in (root, *root.iterancestors()):
        if node.tag == "article":
            return node
    h1 = tree.find(".//h1")
    if h1 is not None:
        h1_chain = {id(a): a for a in h1.iterancestors()}
        for node in (root, *root.iterancestors()):
            if id(node) in h1_chain:
                return root if node.tag in ("body", "html") else node
    return root


def article_images(
    tree: HtmlElement,
    root: HtmlElement | None,
    base_url: str | None,
    ld_article: dict | None,
    meta: dict[str, list[str]],
) -> list[dict[str, str | None]]:
    images: dict[str, dict[str, str | None]] = {}

    def add(entry: dict[str, str | None]) -> None:
        key = _same_picture(entry["url"])  # type: ignore[arg-type]
        old = images.get(key)
        if old is None:
            images[key] = entry
        else:
            old["caption"] = old["caption"] or entry["caption"]
            old["credit"] = old["credit"] or entry["credit"]

    for entry in _declared(ld_article.get("image") if ld_article else None, base_url):
        add(entry)
    if not images:
        for entry in _declared(meta.get("og:image", [])[:1], base_url):
            add(entry)
    scope = image_scope(tree, root)
    if scope is not None:
        for img in scope.iter("img"):
            if _too_small(img) or _teaser_or_button(img, base_url):
                continue
            url = absolute_url(base_url, _img_src(img))
            if not url or _NOT_PHOTO.search(url):
                continue
            caption, credit = _figure_text(img)
            add(
                {
                    "url": url,
                    "caption": caption or _clean(img.get("alt")) or None,
                    "credit": credit or None,
                }
            )
    return list(images.values())
