"""REST entry point: routing, auth, recording, rate limits, faults and JSON responses."""
from __future__ import annotations

import json
import re
import time
import traceback
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .ids import ApiError

API_PREFIX = "/api/v10"
ROUTES: list[tuple[str, str, re.Pattern, Callable]] = []
_NO_AUTH = ("/interactions/", "/webhooks/")


def route(method: str, template: str):
    """Register a mixin method as the handler for METHOD /template."""
    pattern = re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$")

    def deco(fn):
        ROUTES.append((method, template, pattern, fn))
        return fn
    return deco


@dataclass
class RequestRecord:
    """One REST request and its response, with monotonic timestamps."""
    method: str
    path: str
    route: str | None
    query: dict
    headers: dict
    t_received: float
    params: dict = field(default_factory=dict)
    json: Any = None
    parts: list = field(default_factory=list)
    status: int | None = None
    response: Any = None
    response_headers: dict = field(default_factory=dict)
    t_responded: float | None = None

    @property
    def key(self) -> str:
        """'METHOD /route/template' (or the raw path when unknown)."""
        return f"{self.method} {self.route or self.path}"

    @property
    def reason(self) -> str | None:
        """Decoded X-Audit-Log-Reason header."""
        raw = self.headers.get("X-Audit-Log-Reason")
        return urllib.parse.unquote(raw) if raw is not None else None

    @property
    def files(self) -> dict[str, bytes]:
        """Uploaded files by filename."""
        return {p["filename"]: p["data"] for p in self.parts if p.get("filename")}


def json_response(status: int, body: Any, headers: dict | None = None) -> web.Response:
    """A response whose Content-Type is exactly application/json (discord.py insists)."""
    hdrs = dict(headers or {})
    if body is None or status == 204:
        return web.Response(status=204, headers=hdrs)
    hdrs["Content-Type"] = "application/json"
    return web.Response(status=status, body=json.dumps(body).encode(), headers=hdrs)


class RestMixin:
    """Dispatch /api/v10 requests to @route handlers and record everything."""

    def _init_rest(self) -> None:
        """Create the request log."""
        self.requests: list[RequestRecord] = []
        self.unknown_routes: list[str] = []
        self.errors: list[str] = []

    @staticmethod
    def _match(method: str, path: str):
        """Find the most specific (fewest parameters) route matching."""
        best = None
        for m, template, pattern, fn in ROUTES:
            if m != method:
                continue
            found = pattern.match(path)
            if found and (best is None or len(found.groupdict()) < len(best[1])):
                best = (template, found.groupdict(), fn)
        return best

    async def _read_body(self, request: web.Request, rec: RequestRecord) -> None:
        """Parse a JSON or multipart body into rec.json / rec.parts."""
        ctype = request.headers.get("Content-Type", "")
        if ctype.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                data = await part.read(decode=False)
                rec.parts.append({"name": part.name, "filename": part.filename,
                                  "content_type": part.headers.get("Content-Type"), "data": bytes(data)})
                if part.name == "payload_json":
                    rec.json = json.loads(data)
        elif request.can_read_body:
            raw = await request.read()
            if raw:
                rec.json = json.loads(raw)

    async def _rest_entry(self, request: web.Request) -> web.Response:
        """Handle any /api/v10 request."""
        path = request.path[len(API_PREFIX):] or "/"
        rec = RequestRecord(request.method, path, None, dict(request.query), dict(request.headers), time.monotonic())
        self.requests.append(rec)
        self.stats["requests"] += 1
        headers: dict = {}
        try:
            await self._read_body(request, rec)
            found = self._match(request.method, path)
            if found:
                rec.route, rec.params = found[0], found[1]
            await self._wait_if_held(request.method, path, rec.route)
            fault = self._take_fault(request.method, path, rec.route)
            if fault is not None and not fault.after_processing:
                if fault.status == 0:  # the connection drops before Discord does anything
                    return self._lost_answer(request, rec, fault)
                status, body, headers = self._fault_response(fault)
            elif found is None:
                self.unknown_routes.append(f"{request.method} {path}")
                status, body = 404, {"code": 0, "message": "404: Not Found"}
            else:
                self._check_auth(path, request.headers.get("Authorization"))
                headers, limited = self._rate_limit(rec.route, request.method, rec.params)
                if limited is not None:
                    status, body = limited
                else:
                    result = await found[2](self, rec)
                    status, body = result if isinstance(result, tuple) else (200 if result is not None else 204, result)
                    if fault is not None:  # after_processing: done, but the answer is lost
                        return self._lost_answer(request, rec, fault)
        except ApiError as exc:
            status, body = exc.status, exc.body()
        except json.JSONDecodeError:
            status, body = 400, {"code": 50109, "message": "The request body contains invalid JSON."}
        except Exception as exc:  # an emulator bug: fail fast (a 5xx would make discord.py retry for ~25 s)
            self.errors.append(f"{request.method} {path}: {traceback.format_exc()}")
            status, body = 400, {"code": 0, "message": f"emulator error: {exc!r}"}
        rec.status, rec.response, rec.response_headers = status, body, headers
        rec.t_responded = time.monotonic()
        self.notify()
        return json_response(status, body, headers)

    def _lost_answer(self, request: web.Request, rec: RequestRecord, fault) -> web.Response:
        """An after_processing fault: the work is done; answer with the fault, or (status 0) drop the connection."""
        if fault.status == 0:
            self.stats["resets"] = self.stats.get("resets", 0) + 1
            rec.status, rec.response, rec.t_responded = 0, None, time.monotonic()
            self.notify()
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=204)  # never reaches the client
        status, body, headers = self._fault_response(fault)
        rec.status, rec.response, rec.response_headers = status, body, headers
        rec.t_responded = time.monotonic()
        self.notify()
        return json_response(status, body, headers)

    def _check_auth(self, path: str, auth: str | None) -> None:
        """Bot-token auth for every route except interaction callbacks and webhook-token routes."""
        if path.startswith(_NO_AUTH):
            return
        if auth != f"Bot {self.token}":
            raise ApiError(401, 0, "401: Unauthorized")

    def requests_to(self, method: str, path_regex: str = "") -> list[RequestRecord]:
        """Recorded requests matching method ('*' = any) and a path regex."""
        return [r for r in self.requests if method in ("*", r.method) and re.search(path_regex, r.path)
                and r.status is not None]

    async def wait_for_request(self, method: str, path_regex: str, timeout: float = 5.0, since: float | None = None,
                               count: int = 1) -> RequestRecord:
        """Wait until `count` completed requests match (optionally received after monotonic `since`); return the
        last."""
        def found():
            hits = [r for r in self.requests_to(method, path_regex) if since is None or r.t_received >= since]
            return hits[count - 1] if len(hits) >= count else None
        return await self.wait_for(found, timeout, describe=lambda: f"no {method} {path_regex}\n{self.debug_dump()}")
