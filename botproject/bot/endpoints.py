"""Point discord.py at Discord, a REST/gateway proxy, or the test emulator."""

from __future__ import annotations

import discord.http
import yarl
from discord.gateway import DiscordWebSocket

_pinned: yarl.URL | None = None
_original_from_client = DiscordWebSocket.from_client.__func__  # the function behind the classmethod


async def _pinned_from_client(cls, client, *, gateway=None, **kwargs):  # noqa: ANN001 - mirrors discord.py
    # discord.py dials the URL from GET /gateway/bot (sharded start) or READY's resume_gateway_url
    # (resumes); with a gateway proxy every connection must go to the proxy instead.
    return await _original_from_client(cls, client, gateway=_pinned or gateway, **kwargs)


DISCORD_API_BASE = "https://discord.com/api/v10"


def reset() -> None:
    """Point discord.py back at Discord itself (tests that start several bots in one process)."""
    configure(api_base_url=DISCORD_API_BASE, gateway_url=None)


def configure(*, api_base_url: str, gateway_url: str | None) -> None:
    """Set the REST base for every route (webhooks and interaction callbacks too) and pin the gateway."""
    global _pinned
    discord.http.Route.BASE = api_base_url.rstrip("/")
    if gateway_url:
        _pinned = yarl.URL(gateway_url)
        DiscordWebSocket.DEFAULT_GATEWAY = _pinned
        DiscordWebSocket.from_client = classmethod(_pinned_from_client)
    else:
        _pinned = None
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL("wss://gateway.discord.gg/")
        DiscordWebSocket.from_client = classmethod(_original_from_client)
