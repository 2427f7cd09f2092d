"""Configurable per-route rate-limit buckets and fault injection (429/5xx)."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import math
import re
import time
from dataclasses import dataclass, field

from . import limits

_SCOPE_PARAM = {"guild": "guild_id", "channel": "channel_id", "webhook": "webhook_token"}
# Discord: "Interaction endpoints are not bound to the bot's Global Rate Limit" (callbacks and the
# interaction webhook's edits and followups).
_GLOBAL_EXEMPT = ("/interactions/", "/webhooks/")


@dataclass
class Limit:
    """A configured limit for one route key."""
    route: str
    limit: int
    per: float
    scope: str = "route"
    windows: dict = field(default_factory=dict)

    @property
    def bucket_hash(self) -> str:
        """A stable opaque X-RateLimit-Bucket value."""
        return hashlib.sha1(self.route.encode()).hexdigest()[:16]


@dataclass
class Fault:
    """An injected failure: the next `times` matching requests get `status`."""
    method: str
    pattern: str
    status: int = 429
    retry_after: float = 0.05
    global_: bool = False
    times: int = 1
    body: dict | None = None
    hits: int = 0
    # Discord did the work, then the answer was lost: a 5xx status, or 0 = the connection dropped (no answer at all).
    after_processing: bool = False

    def matches(self, method: str, path: str, template: str | None) -> bool:
        """Match by method ('*' = any) and by route template or path regex."""
        if self.method not in ("*", method):
            return False
        if "{" in self.pattern:
            return self.pattern == template
        return re.search(self.pattern, path) is not None


@dataclass
class Hold:
    """Requests that wait (unanswered, like a slow Discord) until the test releases them."""
    method: str
    pattern: str
    times: int = 1
    hits: int = 0
    waiting: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)

    matches = Fault.matches

    def release(self) -> None:
        """Let the held requests (and any later matching ones) through. Call on the emulator loop."""
        self.released.set()


class RateLimitMixin:
    """Rate-limit buckets with Discord headers, and injected faults."""

    def _init_ratelimits(self) -> None:
        """Create empty limit and fault tables."""
        self.limits: dict[str, Limit] = {}
        self.faults: list[Fault] = []
        self.holds: list[Hold] = []
        self.stats = {"429": 0, "429_global": 0, "5xx": 0, "requests": 0}
        # Discord's global limit: 50 requests per second per bot token (None turns it off).
        self.global_rate_limit: int | None = 50
        self.global_rate_window: float = 1.0
        self._global_hits: collections.deque = collections.deque()

    def set_rate_limit(self, route: str, limit: int, per: float, scope: str = "route") -> Limit:
        """Limit a route key like 'POST /guilds/{guild_id}/channels' to `limit` per `per` s.

        scope: route, guild, channel or webhook (one window per value of that parameter).
        """
        self.limits[route] = Limit(route, limit, per, scope)
        return self.limits[route]

    def clear_rate_limits(self) -> None:
        """Remove every configured limit."""
        self.limits.clear()

    def inject(self, method: str, path_pattern: str, status: int = 429, retry_after: float = 0.05,
               global_: bool = False, times: int = 1, body: dict | None = None,
               after_processing: bool = False) -> Fault:
        """Fail the next `times` requests matching method + path regex (or exact route template).

        `after_processing`: the request is carried out first and only its answer is replaced (a lost response).
        Status 0 drops the connection without any answer (before or after carrying the request out).
        """
        fault = Fault(method.upper(), path_pattern, status, retry_after, global_, times, body,
                      after_processing=after_processing)
        self.faults.append(fault)
        return fault

    def hold(self, method: str, path_pattern: str, times: int = 1) -> Hold:
        """Hold the next `times` matching requests until `hold.release()` (deterministic 'slow Discord')."""
        held = Hold(method.upper(), path_pattern, times)
        self.holds.append(held)
        return held

    async def _wait_if_held(self, method: str, path: str, template: str | None) -> None:
        """Park a request that matches an unreleased hold until it is released."""
        for held in self.holds:
            if held.hits < held.times and held.matches(method, path, template) and not held.released.is_set():
                held.hits += 1
                held.waiting += 1
                self.notify()
                try:
                    await held.released.wait()
                finally:
                    held.waiting -= 1
                return

    def _take_fault(self, method: str, path: str, template: str | None) -> Fault | None:
        """Consume one matching fault, if any."""
        for fault in self.faults:
            if fault.hits < fault.times and fault.matches(method, path, template):
                fault.hits += 1
                return fault
        return None

    def _fault_response(self, fault: Fault) -> tuple[int, dict | None, dict]:
        """(status, body, headers) for an injected fault."""
        if fault.status == 429:
            self.stats["429"] += 1
            self.stats["429_global"] += int(fault.global_)
            headers = {"Via": "1.1 google", "Retry-After": str(math.ceil(fault.retry_after)),
                       "X-RateLimit-Scope": "global" if fault.global_ else "user"}
            if fault.global_:
                headers["X-RateLimit-Global"] = "true"
            body = {"message": "You are being rate limited.", "retry_after": fault.retry_after, "global": fault.global_}
            return 429, fault.body or body, headers
        self.stats["5xx"] += int(fault.status >= 500)
        return fault.status, fault.body or {"code": 0, "message": f"{fault.status}: injected"}, {}

    def _rate_limit(self, template: str | None, method: str, params: dict) -> tuple[dict, tuple | None]:
        """Count the request against its bucket: (headers, None) or (headers, 429 response)."""
        if template is None:
            return {}, None
        limited = self._global_limit(template)
        if limited is not None:
            return limited
        lim = self.limits.get(f"{method} {template}")
        if lim is None:
            return {}, None
        key = params.get(_SCOPE_PARAM.get(lim.scope, ""), "") if lim.scope != "route" else ""
        now = time.monotonic()
        window = lim.windows.get(key)
        if window is None or now >= window[0]:
            window = lim.windows[key] = [now + lim.per, 0]
        reset_after = max(window[0] - now, 0.0)
        headers = {"X-RateLimit-Limit": str(lim.limit), "X-RateLimit-Bucket": lim.bucket_hash,
                   "X-RateLimit-Reset-After": f"{math.ceil(reset_after * 1000) / 1000:.3f}",
                   "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}", "X-RateLimit-Scope": "user"}
        if window[1] >= lim.limit:
            self.stats["429"] += 1
            headers.update({"X-RateLimit-Remaining": "0", "Via": "1.1 google",
                            "Retry-After": str(math.ceil(reset_after))})
            body = {"message": "You are being rate limited.", "retry_after": math.ceil(reset_after * 1000) / 1000,
                    "global": False}
            return headers, (429, body)
        window[1] += 1
        headers["X-RateLimit-Remaining"] = str(lim.limit - window[1])
        return headers, None

    def _global_limit(self, template: str) -> tuple[dict, tuple] | None:
        """Count a bot-token request against the global limit (sliding window); a 429 `global: true` when over."""
        if self.global_rate_limit is None or template.startswith(_GLOBAL_EXEMPT):
            return None
        now, hits = time.monotonic(), self._global_hits
        while hits and hits[0] <= now - self.global_rate_window:
            hits.popleft()
        if len(hits) < self.global_rate_limit:
            hits.append(now)
            return None
        retry_after = max(hits[0] + self.global_rate_window - now, 0.001)
        limits.record("429 global", template)
        self.stats["429"] += 1
        self.stats["429_global"] += 1
        headers = {"Via": "1.1 google", "Retry-After": str(math.ceil(retry_after)), "X-RateLimit-Global": "true",
                   "X-RateLimit-Scope": "global"}
        body = {"message": "You are being rate limited.", "retry_after": math.ceil(retry_after * 1000) / 1000,
                "global": True}
        return headers, (429, body)
