"""Images that belong to the article, with caption and credit."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.extraction import extract_article
from pipelines.extraction_images import split_credit

PROSE = (
    "Volunteers filled sandbags along the seafront as forecasters warned of nine-metre waves. " * 6
)

PAGE = f"""<html><head><title>Storm</title>
<meta property="og:image" content="https://news.example/images/og-card.jpg"></head><body>
<header><img src="/images/logo.png" alt="News"></header>
<main><article>
  <h1>Coastal towns brace for the storm</h1>
  <figure class="story__image"><img src="/images/seafront-1280x720.jpg" alt="Sandbags" width="800" height="450">
    <figcaption>Volunteers fill sandbags in Saltmere. <span class="credit">Photo: Tomas Reyle / Courier</span></figcaption></figure>
  <div class="story__body">
    <p>{PROSE}</p>
    <figure><img data-src="/images/harbour.jpg" src="data:image/gif;base64,R0lGOD"><figcaption>The harbour on Monday (AP Photo/Jane Roe)</figcaption></figure>
    <p>{PROSE}</p>
    <p><img src="/images/icons/share-facebook.png"> <img src="/images/pixel.gif" width="1" height="1"></p>
  </div>
  <div class="more"><a href="/news/other-story.html"><img src="/images/thumbs/other.jpg"></a></div>
</article></main>
<aside><img src="/images/sidebar-ad.jpg"></aside>
</body></html>"""


def test_article_images_captions_and_credits():
    fields = extract_article(PAGE, "https://news.example/news/storm.html")
    images = {img["url"]: img for img in fields["images"]}
    assert list(images) == [
        "https://news.example/images/og-card.jpg",  # declared lead image first
        "https://news.example/images/seafront-1280x720.jpg",
        "https://news.example/images/harbour.jpg",  # lazy-loaded: data-src, not the placeholder
    ]
    seafront = images["https://news.example/images/seafront-1280x720.jpg"]
    assert seafront["caption"] == "Volunteers fill sandbags in Saltmere"
    assert seafront["credit"] == "Tomas Reyle / Courier"
    harbour = images["https://news.example/images/harbour.jpg"]
    assert harbour == {
        "url": harbour["url"],
        "caption": "The harbour on Monday",
        "credit": "Jane Roe",
    }


def test_declared_image_with_credit_from_ldjson():
    ld = (
        '<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Storm", "image": '
        '{"@type": "ImageObject", "url": "https://cdn.example/lead.jpg", "caption": "The storm", '
        '"creditText": "Reuters"}}</script>'
    )
    fields = extract_article(
        PAGE.replace("</head>", ld + "</head>"), "https://news.example/news/storm.html"
    )
    assert fields["images"][0] == {
        "url": "https://cdn.example/lead.jpg",
        "caption": "The storm",
        "credit": "Reuters",
    }
    assert "https://news.example/images/og-card.jpg" not in {i["url"] for i in fields["images"]}


def test_split_credit():
    assert split_credit("The harbour on Monday (AP Photo/Jane Roe)") == (
        "The harbour on Monday",
        "Jane Roe",
    )
    assert split_credit("Crowds in the square. Photo: Reuters") == (
        "Crowds in the square",
        "Reuters",
    )
    assert split_credit("A quiet street in the old town") == ("A quiet street in the old town", "")


def test_no_images_without_article_text():
    assert (
        extract_article("<html><body><img src='/a.jpg'></body></html>", "https://x.example/")
        is None
    )


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab c.,;  -—éİßxyz0123\n", min_size=300, max_size=900))
def test_paragraph_key_read_from_the_start_equals_the_whole_reading(text):
    from pipelines.extraction_images import _WORD, _key

    assert _key(text) == " ".join(_WORD.findall(text.lower()))[:80]
