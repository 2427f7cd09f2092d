"""The Emulator: an aiohttp server speaking Discord REST (/api/v10) and the gateway on 127.0.0.1."""
from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
import time

from aiohttp import web

from .actors import ActorMixin
from .core import CoreMixin
from .gateway import GatewayMixin
from .interactions import InteractionMixin
from .ratelimit import RateLimitMixin
from .rest import API_PREFIX, RestMixin
from .rest_guild import GuildRestMixin
from .rest_interactions import InteractionRestMixin
from .rest_messages import MessageRestMixin


class Emulator(CoreMixin, GatewayMixin, RateLimitMixin, RestMixin, GuildRestMixin, MessageRestMixin,
               InteractionRestMixin, InteractionMixin, ActorMixin):
    """Wire-level Discord emulator; create, `await start()`, point discord.py at api_url/gateway_url."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, heartbeat_interval: int = 41250):
        self.host, self.port = host, port
        self._init_core()
        self._init_gateway()
        self._init_ratelimits()
        self._init_rest()
        self._init_interaction_rest()
        self._init_interactions()
        self.heartbeat_interval = heartbeat_interval
        self.attachment_blobs: dict[int, bytes] = {}
        self._runner: web.AppRunner | None = None

    def _now(self) -> float:
        """Monotonic clock used for every timestamp (tests move it on with advance_clock)."""
        return time.monotonic() + self.clock_offset

    @property
    def base_url(self) -> str:
        """http://host:port"""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """Value for discord.http.Route.BASE."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """Value for DiscordWebSocket.DEFAULT_GATEWAY (any path works; this one is /gateway)."""
        return f"ws://{self.host}:{self.port}/gateway"

    async def start(self) -> Emulator:
        """Bind the server (ephemeral port by default) on the running loop."""
        self.loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._changed = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest_entry)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._attachment)
        app.router.add_get("/{tail:.*}", self._ws_handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self.resume_gateway_url = self.resume_gateway_url or f"ws://{self.host}:{self.port}/resume"
        self.gateway_bot_url = self.gateway_bot_url or self.gateway_url
        return self

    async def stop(self) -> None:
        """Close every gateway socket and stop the server."""
        for conn in list(self.gateway_connections):
            if conn.open:
                await self._ws_close(conn, 1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def redirect_discord_py(self) -> None:
        """Point discord.py (process-global class attributes) at this emulator."""
        import discord
        import yarl
        discord.http.Route.BASE = self.api_url
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)

    async def _attachment(self, request: web.Request) -> web.Response:
        """Serve attachment bytes (Attachment.read() works)."""
        blob = self.attachment_blobs.get(int(request.match_info["attachment_id"]))
        if blob is None:
            return web.Response(status=404)
        return web.Response(body=blob, headers={"Content-Type": "application/octet-stream"})

    def make_world(self, name: str = "Test Guild", locale: str = "en-US"):
        """Shortcut for build_guild(self, ...)."""
        from .world import build_guild
        return build_guild(self, name=name, locale=locale)


_LOOP_BOUND = ("add_guild", "add_bot", "remove_guild", "set_guild", "member_join", "add_member", "member_leave",
               "set_member_roles", "set_member", "add_role", "set_role", "delete_role", "store_channel", "add_channel",
               "add_category", "set_overwrite", "delete_channel", "user_message", "user_dm", "user_edit_message",
               "user_delete_message", "add_user", "invalidate_session", "request_reconnect", "inject",
               "set_rate_limit", "clear_rate_limits", "set_dms_closed", "dm_channel", "notify", "make_world")


def _on_loop(fn):
    """Run a mutating method on the emulator loop when called from another thread (and wait for it)."""
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        loop = getattr(self, "loop", None)
        if loop is None or not loop.is_running() or threading.get_ident() == getattr(self, "_loop_thread", None):
            return fn(self, *args, **kwargs)
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run():
            try:
                future.set_result(fn(self, *args, **kwargs))
            except BaseException as exc:  # re-raised in the calling thread
                future.set_exception(exc)
        loop.call_soon_threadsafe(run)
        return future.result(30)
    return wrapper


for _name in _LOOP_BOUND:
    setattr(Emulator, _name, _on_loop(getattr(Emulator, _name)))
