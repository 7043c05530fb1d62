"""A generated news site of N articles, served by the demo site's server; always available.

For tests that need more articles than the bundled demo site has (8) without the shared benchmark
(``newsite()``, which skips when ``../shared`` is absent): a homepage linking every article, a
robots.txt, and N article pages whose text differs enough that extraction keeps each one.
``GatedSite`` holds every request until the test opens its gate, so several crawler processes
can be started and given the same head start.
"""

from __future__ import annotations

import json
import random
import socketserver
import sys
import threading
from pathlib import Path
from typing import Any

from crawler.demo.server import DemoSite

DATE = "2026/11/29"
_WORDS = ["council", "harbour", "budget", "river", "school", "minister", "market", "station", "winter", "museum", "railway", "farmers", "hospital", "court", "bridge", "festival", "election", "library", "coast", "mayor", "village", "reservoir", "teachers", "airport", "orchestra", "stadium", "factory", "clinic", "ferry", "valley", "parliament", "tram", "union", "vineyard", "police", "archive", "forest", "shipyard", "lighthouse", "bakery", "observatory", "tunnel", "cathedral", "canal", "brewery"]
_VERBS = ["approved", "delayed", "opened", "rejected", "funded", "expanded", "closed", "reviewed", "announced", "postponed"]
_PEOPLE = ("Ada Brenner", "Tomas Kell", "Mira Osei", "Jon Varga", "Lise Moreau", "Pavel Dunn")


def article_path(i: int) -> str:
    return f"/news/{DATE}/story-{i:04d}.html"


def _sentence(rng: random.Random) -> str:
    a, b, c = rng.sample(_WORDS, 3)
    n = rng.randint(2, 980)
    return (f"The {a} {rng.choice(_VERBS)} plans for the {b} on Tuesday, after {n} residents "
            f"wrote to the {c} committee about the {rng.choice(_WORDS)} and its {rng.choice(_WORDS)}.")


def _article(i: int) -> str:
    rng = random.Random(i)
    title = f"Story {i}: {rng.choice(_WORDS).title()} {rng.choice(_VERBS)} after long debate"
    author = rng.choice(_PEOPLE)
    paragraphs = "\n".join(
        f"<p>{' '.join(_sentence(rng) for _ in range(4))}</p>" for _ in range(6))
    ld = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle", "headline": title,
                     "datePublished": "2026-11-29T08:00:00Z", "author": {"@type": "Person", "name": author}})
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | The Generated Gazette</title>
<link rel="canonical" href="{{{{BASE}}}}{article_path(i)}">
<meta property="og:type" content="article"><meta property="og:title" content="{title}">
<meta property="article:published_time" content="2026-11-29T08:00:00Z"><meta name="author" content="{author}">
<script type="application/ld+json">{ld}</script></head>
<body><header><a href="/">The Generated Gazette</a></header>
<main><article><h1>{title}</h1><p class="byline">By {author}</p>
{paragraphs}
</article></main><footer><a href="/">Home</a></footer></body></html>
"""


def write_site(root: Path, n: int) -> list[str]:
    """Write the site's files under ``root``; return the article paths."""
    paths = [article_path(i) for i in range(n)]
    for i, path in enumerate(paths):
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_article(i), encoding="utf-8")
    links = "\n".join(f'<li><a href="{p}">Story {i}</a></li>' for i, p in enumerate(paths))
    (root / "index.html").write_text(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>The Generated Gazette</title>"
        f"</head><body><h1>The Generated Gazette</h1><ul>{links}</ul></body></html>\n", encoding="utf-8")
    (root / "robots.txt").write_text("User-agent: *\nAllow: /\n", encoding="utf-8")
    (root / "_articles.json").write_text(json.dumps({"articles": [{"path": p} for p in paths]}), encoding="utf-8")
    return paths


class GatedSite(DemoSite):
    """The demo site's server over a generated site; requests wait until ``gate`` is set."""

    def __init__(self, root: Path, *, latency: float = 0.0, **kwargs: Any):
        super().__init__(root=root, latency=latency, **kwargs)
        self.gate = threading.Event()
        self._httpd.handle_error = self._handle_error  # type: ignore[method-assign]

    def _handle_error(self, request: Any, client_address: Any) -> None:
        """A crawler killed by a test drops its connections: not worth a traceback."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            socketserver.BaseServer.handle_error(self._httpd, request, client_address)

    def lookup(self, path: str):
        if not self.gate.wait(60):
            return None
        return super().lookup(path)
