"""Progress bars on stderr: the conversion's, and the load's (loaddata has none of its own).

The load bar is driven by the legacy fixture's rows as loaddata saves them (points.legacy and tickets.legacy
advance it). It shows when stderr is a terminal, or when LEGACY_PROGRESS=1 (benchmarks, logs); never in
the middle of unrelated fixtures.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

from django.core.management.base import OutputWrapper

WIDTH = 30


class Bar:
    """`[#####.........]  33% 1,000/3,000 label 1.2 s`, redrawn in place at most every 1 %."""

    def __init__(self, total: int, label: str, stream: TextIO | OutputWrapper | None = None):
        self.total, self.label, self.stream = max(total, 0), label, stream or sys.stderr
        self.done = 0
        self.started = time.perf_counter()
        self._shown = -1
        self._draw()

    def advance(self, count: int = 1) -> None:
        self.done = min(self.total, self.done + count)
        if self.total and (100 * self.done // self.total) != self._shown:
            self._draw()

    def finish(self) -> None:
        self.done = self.total
        self._draw(final=True)

    def _draw(self, final: bool = False) -> None:
        percent = 100 * self.done // self.total if self.total else 100
        if percent == self._shown and not final:
            return
        filled = WIDTH * percent // 100
        line = (f"\r[{'#' * filled}{'.' * (WIDTH - filled)}] {percent:3d}% {self.done:,}/{self.total:,} "
                f"{self.label} {time.perf_counter() - self.started:.1f} s")
        if final and percent == self._shown == 100:
            line = ""  # already drawn full: just end the line
        self._shown = percent
        end = "\n" if final else ""
        if isinstance(self.stream, OutputWrapper):  # a command's self.stderr adds its own line ending
            self.stream.write(line, ending=end)
        else:
            self.stream.write(line + end)
        self.stream.flush()


_load_bar: Bar | None = None


def load_started(total: int, label: str) -> None:
    """A legacy fixture's header was saved: show a bar for its `total` rows if wanted."""
    global _load_bar
    wanted = os.environ.get("LEGACY_PROGRESS", "") == "1" or sys.stderr.isatty()
    _load_bar = Bar(total, label) if wanted and total else None


def load_advance(count: int = 1) -> None:
    """Rows of the legacy fixture were saved."""
    global _load_bar
    if _load_bar is not None:
        _load_bar.advance(count)
        if _load_bar.done >= _load_bar.total:
            _load_bar.finish()
            _load_bar = None
