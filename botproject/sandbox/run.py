"""`runbot --sandbox`: the emulator, a fake Roblox, the bot and the site in one process, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from django.conf import settings

from . import demo
from .emulator import Emulator
from .fake_roblox import FakeRoblox

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


@dataclass
class Sandbox:
    """What the page at /sandbox/ acts on (one per process, while runbot --sandbox runs)."""

    emu: Emulator
    loop: asyncio.AbstractEventLoop
    roblox: FakeRoblox
    version: int = 0  # moves on every change of the emulator's state: the page polls it
    modals_done: set = field(default_factory=set)  # tokens of the forms submitted or closed on the page

    def __post_init__(self) -> None:
        notify = self.emu.notify

        def counted() -> None:
            self.version += 1
            notify()
        self.emu.notify = counted


current: Sandbox | None = None


async def start_emulator() -> Emulator:
    """The local Discord with the demo server in it."""
    emu = await Emulator(host=HOST).start()
    demo.build_world(emu)
    return emu


def start_roblox() -> FakeRoblox:
    """The fake Roblox users API with a couple of accounts."""
    roblox = FakeRoblox()
    for name in demo.ROBLOX_ACCOUNTS:
        roblox.add_user(name, description="Hi! I build things.")
    return roblox


async def post_panel_if_missing(emu: Emulator) -> None:
    """Post the ticket panel in #tickets through /sendticket, as the owner would, unless it is there."""
    if any(m.author_id == emu.bot_user.id and m.components for m in emu.messages(demo.IDS.tickets)):
        return
    owner = demo.person("owner")
    record = await emu.slash(demo.IDS.guild_id, owner.user_id, "sendticket", channel_id=demo.IDS.tickets,
                             timeout=10)
    if not any(m.author_id == emu.bot_user.id and m.components for m in emu.messages(demo.IDS.tickets)):
        log.warning("sandbox: the ticket panel was not posted: %s", record.every_text)


async def run(*, port: int, print_line) -> None:
    """Start everything, print where it is, run until SIGINT/SIGTERM, then stop everything."""
    global current
    from botproject.bot.runner import BotRunner

    emu = await start_emulator()
    roblox = start_roblox()
    settings.ROBLOX_USERS_API_URL = roblox.url
    settings.DISCORD_API_BASE_URL = emu.api_url
    settings.DISCORD_GATEWAY_URL = emu.gateway_url
    runner = None
    try:
        runner = BotRunner(token=emu.token, web=True, host=HOST, port=port, api_base_url=emu.api_url,
                           gateway_url=emu.gateway_url, sync_guilds=[demo.IDS.guild_id], guild_ready_timeout=0.0)
        await runner.start()
        current = Sandbox(emu, asyncio.get_running_loop(), roblox)
        await post_panel_if_missing(emu)
        base = f"http://{HOST}:{runner.web.port}"
        print_line(f"Sandbox page:  {base}/sandbox/")
        print_line(f"Django admin:  {base}/admin/  (user: sandbox)")
        print_line(f"Local Discord: {emu.api_url} (gateway {emu.gateway_url}); fake Roblox: {roblox.url}")
        print_line("Press Ctrl-C to stop.")
        await runner.run_until_signalled()
    finally:
        current = None
        if runner is not None:
            await runner.shutdown(grace=0)
        await emu.stop()
        roblox.close()
