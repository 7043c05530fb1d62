"""A one-line progress display on stderr, shown only on a terminal (DESIGN.md: long jobs show
progress on a terminal and stay quiet in a pipe).

Hand-written rather than tqdm: it is one line of counters redrawn twice a second, and the
project does not otherwise depend on a progress library.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None,
                 interval: float = 0.5) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.interval = interval
        self._stage = ""
        self._start = self._last = time.monotonic()
        self._shown = False

    def stage(self, name: str) -> None:
        self.done()
        self._stage = name
        self._start = self._last = time.monotonic()

    def update(self, done: int, errors: int = 0, extra: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        rate = done / max(now - self._start, 1e-9)
        text = f"\r{self._stage}: {done:,} records ({rate:,.0f}/s)"
        if errors:
            text += f", {errors:,} errors"
        if extra:
            text += f", {extra}"
        self.stream.write(text + "\x1b[K")
        self.stream.flush()
        self._shown = True

    def done(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\n")
            self.stream.flush()
        self._shown = False
