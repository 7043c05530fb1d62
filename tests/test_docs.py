"""Every setting, stats key and request.meta key the code uses is documented in docs/."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE_DIRS = ("crawler", "pipelines", "archive")

SETTING = re.compile(r"""["'](NEWSARCHIVE_[A-Z0-9_]+)["']|^(NEWSARCHIVE_[A-Z0-9_]+)\s*=""", re.M)
# A stats key literal, up to the first f-string placeholder: "newsarchive/skipped/{reason}" -> "newsarchive/skipped/"
STATS = re.compile(r"""f?["'](newsarchive/[a-z0-9_/]*)""")
META = re.compile(r"""meta(?:\.get|\.setdefault|\.pop)?\(?\[?\s*["'](newsarchive_[a-z0-9_]+)["']""")


def _sources():
    for d in CODE_DIRS:
        for path in sorted((ROOT / d).rglob("*.py")):
            yield path, path.read_text(encoding="utf-8")


def _docs() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").rglob("*.md")))


def _found(pattern: re.Pattern) -> dict[str, str]:
    out = {}
    for path, text in _sources():
        for m in pattern.finditer(text):
            name = next(g for g in m.groups() if g)
            out.setdefault(name, str(path.relative_to(ROOT)))
    return out


def test_settings_are_documented():
    docs = _docs()
    missing = {k: v for k, v in _found(SETTING).items() if f"`{k}`" not in docs}
    assert not missing, f"settings used in code but not documented in docs/: {missing}"


def test_stats_keys_are_documented():
    docs = _docs()
    missing = {k: v for k, v in _found(STATS).items() if k not in docs}
    assert not missing, f"stats keys used in code but not documented in docs/: {missing}"


def test_meta_keys_are_documented():
    docs = _docs()
    missing = {k: v for k, v in _found(META).items() if f"`{k}`" not in docs}
    assert not missing, f"request.meta keys used in code but not documented in docs/: {missing}"


def test_the_checks_see_the_code():
    """Guard against a regex that silently matches nothing."""
    assert "NEWSARCHIVE_OUT" in _found(SETTING)
    assert "newsarchive/records/written" in _found(STATS)
    assert "newsarchive_site" in _found(META)
