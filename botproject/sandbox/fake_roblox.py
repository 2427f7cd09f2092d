"""A fake Roblox users API over real HTTP on 127.0.0.1, for the verification tests (no mocked client).

It answers the two routes the bot uses, like users.roblox.com does:

- ``POST /v1/usernames/users`` ``{"usernames": [...], "excludeBannedUsers": bool}`` → ``{"data": [...]}``
  (unknown names are simply absent; names match case-insensitively);
- ``GET /v1/users/{id}`` → the profile (``description``, ``name``, ``displayName``, ``isBanned``...), 404 when
  the id is unknown, 400 when it is not a number.

Tests add users, change descriptions, and switch the whole API into a failure mode: ``"429"`` (with
``Retry-After`` when ``retry_after`` is set), ``"500"``, ``"400"``, or ``"hang"`` (no answer until the server
closes).
Every request is recorded in ``requests`` (method, path, JSON body).
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeUser:
    """One Roblox account."""

    id: int
    name: str
    display_name: str
    description: str = ""
    banned: bool = False

    def profile(self) -> dict[str, Any]:
        """The body of GET /v1/users/{id}."""
        return {"description": self.description, "created": "2015-04-01T12:00:00.000Z", "isBanned": self.banned,
                "externalAppDisplayName": None, "hasVerifiedBadge": False, "id": self.id, "name": self.name,
                "displayName": self.display_name}


class FakeRoblox:
    """The server and its state (thread-safe); use as a context manager or call close()."""

    def __init__(self) -> None:
        self.users: dict[int, FakeUser] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.mode: str | None = None
        self.retry_after: str | None = None
        self.fail_only: str | None = None  # a path prefix: fail only those requests
        self._ids = itertools.count(1_000_001)
        # A path prefix of its own: the operating system may hand a later server the same port, and the client
        # keeps its "Roblox asked us to wait" state and profile cache per base URL.
        self.prefix = f"/fake-{secrets.token_hex(4)}"
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        # A short poll interval: close() (shutdown) waits for the serving loop to notice.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-roblox", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Base URL to put in ROBLOX_USERS_API_URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.prefix}"

    def add_user(self, name: str, *, description: str = "", banned: bool = False, display_name: str | None = None,
                 user_id: int | None = None) -> FakeUser:
        """Create an account and return it."""
        with self._lock:
            user = FakeUser(user_id or next(self._ids), name, display_name or name, description, banned)
            self.users[user.id] = user
            return user

    def set_description(self, user_id: int, description: str) -> None:
        """The account's owner edits the About text."""
        with self._lock:
            self.users[user_id].description = description

    def fail(self, mode: str | None, retry_after: str | None = None, *, only: str | None = None) -> None:
        """Answer every request (or those whose path starts with `only`) with 429, 500 or 400 (or hang) from
        now on; None answers normally again."""
        with self._lock:
            self.mode, self.retry_after, self.fail_only = mode, retry_after, only

    def requests_to(self, path_start: str) -> list[tuple[str, str, Any]]:
        """Recorded requests whose path starts with `path_start`."""
        with self._lock:
            return [r for r in self.requests if r[1].startswith(path_start)]

    def close(self) -> None:
        """Stop serving (hanging requests are released first)."""
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> FakeRoblox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- request handling (server threads) -------------------------------------------------------------
    def _answer(self, method: str, path: str, raw: bytes) -> tuple[int, dict[str, str], Any]:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = "<not json>"
        with self._lock:
            self.requests.append((method, path, body))
            mode, retry_after = self.mode, self.retry_after
            if self.fail_only is not None and not path.startswith(self.fail_only):
                mode = None
        if mode == "hang":
            self._release.wait(30)
            return 503, {}, {"errors": [{"code": 0, "message": "released"}]}
        if mode == "429":
            headers = {"Retry-After": retry_after} if retry_after else {}
            return 429, headers, {"errors": [{"code": 0, "message": "Too many requests"}]}
        if mode == "500":
            return 500, {}, {"errors": [{"code": 0, "message": "InternalServerError"}]}
        if mode == "400":  # what Roblox sometimes answers for an id or name it does not know
            return 400, {}, {"errors": [{"code": 0, "message": "BadRequest"}]}
        if method == "POST" and path == "/v1/usernames/users":
            if not isinstance(body, dict) or not isinstance(body.get("usernames"), list):
                return 400, {}, {"errors": [{"code": 0, "message": "BadRequest"}]}
            wanted = [str(n) for n in body["usernames"]]
            exclude_banned = bool(body.get("excludeBannedUsers"))
            with self._lock:
                by_name = {u.name.lower(): u for u in self.users.values()}
            data = []
            for name in wanted:
                user = by_name.get(name.lower())
                if user is not None and not (exclude_banned and user.banned):
                    data.append({"requestedUsername": name, "hasVerifiedBadge": False, "id": user.id,
                                 "name": user.name, "displayName": user.display_name})
            return 200, {}, {"data": data}
        match = re.fullmatch(r"/v1/users/([^/]+)", path)
        if method == "GET" and match:
            if not match[1].isdigit():
                return 400, {}, {"errors": [{"code": 0, "message": "BadRequest"}]}
            with self._lock:
                user = self.users.get(int(match[1]))
                profile = user.profile() if user else None
            if profile is None:
                return 404, {}, {"errors": [{"code": 3, "message": "The user id is invalid.",
                                             "userFacingMessage": "Something went wrong"}]}
            return 200, {}, profile
        return 404, {}, {"errors": [{"code": 0, "message": "NotFound"}]}


def _handler(fake: FakeRoblox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?")[0]
            if path.startswith(fake.prefix + "/"):
                status, headers, body = fake._answer(method, path[len(fake.prefix):], raw)
            else:
                status, headers, body = 404, {}, {"errors": [{"code": 0, "message": "NotFound"}]}
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
            return

    return Handler
