"""In-process sliding-window limits for actions that cost something outside the database (e.g. an API call).

One process serves a guild (shards split guilds, never a guild), so a per-process window is exact per guild and
bounds a member across the guilds this process serves. Limits that must hold across processes live in the
database instead (see the services).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Hashable


class SlidingWindow:
    """At most `limit` hits per `seconds` per key; `hit` says how long to wait when the window is full."""

    def __init__(self, *, limit: int, seconds: float, max_keys: int = 10_000) -> None:
        self.limit, self.seconds, self.max_keys = limit, seconds, max_keys
        self._hits: dict[Hashable, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: Hashable) -> int | None:
        """Count one hit for `key` and return None; or, when the window is full, count nothing and return
        the whole seconds until the oldest hit leaves the window (at least 1)."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= self.max_keys:
                    self._prune(now)
                hits = self._hits[key] = deque()
            while hits and hits[0] <= now - self.seconds:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(1, math.ceil(hits[0] + self.seconds - now))
            hits.append(now)
            return None

    def reset(self) -> None:
        """Forget every hit (tests, a fresh start)."""
        with self._lock:
            self._hits.clear()

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.seconds]:
            del self._hits[key]
