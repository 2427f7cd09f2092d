"""Progress bars on stderr: the legacy conversion's and load's, the order import's, backup's and restore's.

On a terminal the bar is redrawn in place; anywhere else (a log, a pipe, a test's buffer) it is plain lines, one
every 10 % and the last one, so a log shows progress without a line per step. The load bar is driven by the
legacy fixture's rows as loaddata saves them (points.legacy and tickets.legacy advance it). It shows when stderr
is a terminal, or when LEGACY_PROGRESS=1 (benchmarks, logs); never in the middle of unrelated fixtures.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

from django.core.management.base import OutputWrapper

WIDTH = 30
LINE_STEP = 10  # percent between two plain lines (not a terminal)


def _is_terminal(stream: TextIO | OutputWrapper) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Bar:
    """`[#####.........]  33% 1,000/3,000 label 1.2 s`, redrawn in place at most every 1 % on a terminal;
    elsewhere a plain line every LINE_STEP % and at the end. `number` formats the counts."""

    def __init__(self, total: int, label: str, stream: TextIO | OutputWrapper | None = None, *,
                 number: Callable[[int], str] = "{:,}".format):
        self.total, self.label, self.stream = max(total, 0), label, stream or sys.stderr
        self.number = number
        self.terminal = _is_terminal(self.stream)
        self.done = 0
        self.started = time.perf_counter()
        self._shown = -1
        self._draw()

    def advance(self, count: int = 1) -> None:
        self.update(self.done + count)

    def update(self, done: int, total: int | None = None) -> None:
        """Set how much is done (and, when it became known better, the total)."""
        if total is not None:
            self.total = max(total, 0)
        self.done = max(0, min(self.total, done))
        if self.total and (100 * self.done // self.total) != self._shown:
            self._draw()

    def finish(self) -> None:
        self.done = self.total
        self._draw(final=True)

    def _draw(self, final: bool = False) -> None:
        percent = 100 * self.done // self.total if self.total else 100
        if percent == self._shown and not final:
            return
        if not self.terminal and not final and self._shown >= 0 and \
                percent // LINE_STEP == self._shown // LINE_STEP:
            return  # plain lines: one per step
        filled = WIDTH * percent // 100
        line = (f"[{'#' * filled}{'.' * (WIDTH - filled)}] {percent:3d}% {self.number(self.done)}/"
                f"{self.number(self.total)} {self.label} {time.perf_counter() - self.started:.1f} s")
        already_full = final and percent == self._shown == 100
        self._shown = percent
        if self.terminal:
            text, end = ("" if already_full else "\r" + line), ("\n" if final else "")
        elif already_full:
            return  # the full line is out already
        else:
            text, end = line, "\n"
        if isinstance(self.stream, OutputWrapper):  # a command's self.stderr adds its own line ending
            self.stream.write(text, ending=end)
        else:
            self.stream.write(text + end)
        self.stream.flush()


class Reporter:
    """A `progress(done, total)` callback for the services (import, backup, restore) drawing a Bar on `stream`,
    started on the first report (when the total is known). `finish()` ends the line."""

    def __init__(self, label: str, stream: TextIO | OutputWrapper, *,
                 number: Callable[[int], str] = "{:,}".format):
        self.label, self.stream, self.number = label, stream, number
        self.bar: Bar | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = Bar(total, self.label, self.stream, number=self.number)
        self.bar.update(done, total)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.finish()
            self.bar = None


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
