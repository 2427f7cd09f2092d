"""Async client of the Roblox users API (settings.ROBLOX_USERS_API_URL): username → id, id → profile.

Not a service: it does network I/O on the event loop (aiohttp, never blocking). The cog awaits it and
hands the results to the synchronous services. Semantics, after Bloxlink's fetch layer:

- usernames are checked against Roblox's rule before any request (3–20 ASCII letters, digits, at most one
  underscore, not first or last);
- 400 and 404 mean "no such user";
- 429, 5xx, a timeout (10 s) or a broken connection become `RobloxBusy(seconds=N)` ("try again in N s"),
  N from Retry-After when Roblox sends it; after a 429 the client asks nothing of that endpoint (username
  lookup, or profiles) until then, but for at most BUSY_SHARED_MAX_SECONDS: a member whose requests made
  Roblox answer 429 does not block the other endpoint, nor everyone else for long;
- profiles are cached briefly by id (the Verify check reads the profile fresh, and refreshes the cache).
"""

from __future__ import annotations

import email.utils
import logging
import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from django.conf import settings

from .exceptions import InvalidUsername, RobloxBusy, RobloxUserNotFound

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
PROFILE_CACHE_SECONDS = 60.0
DEFAULT_RETRY_SECONDS = 10
MAX_RETRY_SECONDS = 600
# Longest time a 429 on one endpoint makes the client refuse that endpoint to everyone without asking.
BUSY_SHARED_MAX_SECONDS = 30
USERNAME_MIN, USERNAME_MAX = 3, 20
# Letters and digits, with at most one underscore between them (ASCII only: no \w, which accepts Unicode).
_USERNAME = re.compile(r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)?")


def clean_username(raw: str) -> str:
    """Return the username to look up (trimmed, one leading @ dropped) or raise InvalidUsername."""
    name = (raw or "").strip()
    if name.startswith("@"):
        name = name[1:]
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX or not _USERNAME.fullmatch(name):
        raise InvalidUsername()
    return name


@dataclass(frozen=True)
class RobloxUser:
    """A Roblox account as the username lookup returns it."""

    id: int
    name: str
    display_name: str


@dataclass(frozen=True)
class RobloxProfile:
    """A Roblox account's public profile."""

    id: int
    name: str
    display_name: str
    description: str
    is_banned: bool


def _retry_after(value: str | None) -> int | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), clamped to 1..600; None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(1, min(MAX_RETRY_SECONDS, math.ceil(seconds)))


def _endpoint(path: str) -> str:
    """The endpoint a request path belongs to: '/v1/users/123' and '/v1/users/456' are one endpoint."""
    return re.sub(r"/\d+(?=/|$)", "/{id}", path)


class RobloxClient:
    """One per bot (the verification cog owns it); use `async with` elsewhere so the session is closed."""

    def __init__(self, *, timeout: float = TIMEOUT_SECONDS, cache_seconds: float = PROFILE_CACHE_SECONDS) -> None:
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self._session: aiohttp.ClientSession | None = None
        # Keyed by the API base URL as well: a different base URL is a different source of truth.
        self._profiles: dict[tuple[str, int], tuple[float, RobloxProfile]] = {}
        # Keyed by (base URL, endpoint): a 429 on the username lookup does not stop profile reads.
        self._busy_until: dict[tuple[str, str], float] = {}

    async def __aenter__(self) -> RobloxClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session (the cog does this on unload)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    @staticmethod
    def base_url() -> str:
        """The API base, read at call time so configuration (and tests) can point it elsewhere."""
        return settings.ROBLOX_USERS_API_URL.rstrip("/")

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"Accept": "application/json", "User-Agent": "community-bot verification"},
                raise_for_status=False,
            )
        return self._session

    async def _request(self, method: str, path: str, *, json: Any = None) -> Any:
        """The JSON body of a 2xx answer; None for 400/404; RobloxBusy for everything else."""
        base = self.base_url()
        endpoint = (base, _endpoint(path))
        now = time.monotonic()
        until = self._busy_until.get(endpoint, 0.0)
        if until > now:
            raise RobloxBusy(seconds=math.ceil(until - now))
        try:
            async with self._get_session().request(
                method, f"{base}{path}", json=json, timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                if response.status in (400, 404):
                    return None  # Roblox answers 400 for some unknown ids: both mean "no such user"
                retry = _retry_after(response.headers.get("Retry-After"))
                if response.status == 429 or response.status >= 500:
                    if retry is not None or response.status == 429:
                        wait = min(retry or DEFAULT_RETRY_SECONDS, BUSY_SHARED_MAX_SECONDS)
                        self._busy_until[endpoint] = time.monotonic() + wait
                    log.warning("Roblox %s %s answered %s", method, path, response.status)
                    raise RobloxBusy(seconds=retry or DEFAULT_RETRY_SECONDS)
                if not 200 <= response.status < 300:
                    log.warning("Roblox %s %s answered %s", method, path, response.status)
                    raise RobloxBusy(seconds=DEFAULT_RETRY_SECONDS)
                return await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as error:
            # Timeout, refused connection, a body that is not JSON: Roblox is not answering properly.
            log.warning("Roblox %s %s failed: %r", method, path, error)
            raise RobloxBusy(seconds=DEFAULT_RETRY_SECONDS) from error

    async def user_by_username(self, username: str) -> RobloxUser:
        """Resolve a username (banned accounts included) or raise InvalidUsername / RobloxUserNotFound."""
        name = clean_username(username)
        body = await self._request("POST", "/v1/usernames/users",
                                   json={"usernames": [name], "excludeBannedUsers": False})
        rows = body.get("data") if isinstance(body, dict) else None
        match = next((row for row in rows or [] if isinstance(row, dict) and row.get("id")), None)
        if match is None:
            raise RobloxUserNotFound(name=name)
        return RobloxUser(int(match["id"]), str(match.get("name") or name),
                          str(match.get("displayName") or match.get("name") or name))

    async def profile(self, user_id: int, *, fresh: bool = False) -> RobloxProfile:
        """The account's profile, from the short cache unless `fresh`; RobloxUserNotFound when it is gone."""
        if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
            raise RobloxUserNotFound(name=str(user_id))
        key = (self.base_url(), user_id)
        cached = self._profiles.get(key)
        if cached is not None and not fresh and cached[0] > time.monotonic():
            return cached[1]
        body = await self._request("GET", f"/v1/users/{user_id}")
        if not isinstance(body, dict) or not body.get("id"):
            raise RobloxUserNotFound(name=str(user_id))
        profile = RobloxProfile(
            id=int(body["id"]),
            name=str(body.get("name") or ""),
            display_name=str(body.get("displayName") or body.get("name") or ""),
            description=str(body.get("description") or ""),
            is_banned=bool(body.get("isBanned")),
        )
        self._remember(key, profile)
        return profile

    def _remember(self, key: tuple[str, int], profile: RobloxProfile) -> None:
        now = time.monotonic()
        if len(self._profiles) >= 1000:
            self._profiles = {k: v for k, v in self._profiles.items() if v[0] > now}
        self._profiles[key] = (now + self.cache_seconds, profile)
