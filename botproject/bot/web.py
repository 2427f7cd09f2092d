"""HTTP on $PORT inside the bot's event loop: health, status (and /metrics when on) always, the site with --web."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Iterator

import uvicorn
from django.conf import settings

from botproject.security import has_body

HEALTH_PATHS = ("/", "/health", "/status")
METRICS_PATH = "/metrics"  # with METRICS_ENABLED: served like the health paths (Django checks its token)


def always_served(path: str) -> bool:
    """Whether `path` is answered without --web: the health paths, and /metrics when metrics are on."""
    path = path.rstrip("/") or "/"
    return path in HEALTH_PATHS or (path == METRICS_PATH and settings.METRICS_ENABLED)


def build_app(*, full_site: bool):
    """Return the ASGI app to serve: Django's, or Django's restricted to the health paths."""
    from django.core.asgi import get_asgi_application

    django_app = get_asgi_application()

    async def answer(send, status: int, detail: str, extra: list | None = None) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                *(extra or [])]})
        await send({"type": "http.response.body", "body": body})

    async def guarded(scope, receive, send):  # noqa: ANN001 - ASGI signature
        if scope["type"] != "http":
            return await django_app(scope, receive, send)
        if always_served(scope["path"]):
            # Refused before Django reads (and spools) a body: these paths take GET/HEAD and nothing else.
            if scope["method"] not in ("GET", "HEAD"):
                return await answer(send, 405, "method not allowed", [(b"allow", b"GET, HEAD")])
            headers = {name.decode("latin-1").title(): value.decode("latin-1") for name, value in scope["headers"]}
            if has_body(headers):
                return await answer(send, 413, "request bodies are not accepted here")
            return await django_app(scope, receive, send)
        if full_site:
            return await django_app(scope, receive, send)
        return await answer(send, 404, "not found; run with --web to serve the site")

    return guarded


class InLoopServer(uvicorn.Server):
    """uvicorn without its own signal handling: runbot owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WebServer:
    """A uvicorn server bound before it starts, so the port is known and errors surface at once."""

    def __init__(self, *, host: str, port: int, full_site: bool) -> None:
        self.socket = socket.create_server((host, port), family=socket.AF_INET, reuse_port=False)
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(
            build_app(full_site=full_site), lifespan="off", log_config=None, access_log=False, loop="none"
        )
        self.server = InLoopServer(config)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Start serving in the running loop."""
        self._task = asyncio.create_task(self.server.serve(sockets=[self.socket]), name="web-server")

    async def stop(self) -> None:
        """Finish open requests and stop."""
        if self._task is None:
            return
        self.server.should_exit = True
        await self._task
        self._task = None
