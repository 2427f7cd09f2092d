"""Start and stop the bot the way `manage.py runbot` does (the e2e tests use the same code)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import time
from collections.abc import Callable

from django.conf import settings
from django.utils import timezone

from botproject import heartbeat

from . import endpoints
from .backups import BackupSchedule
from .client import CommunityBot
from .db import close_db_connections, db_call
from .status import runtime
from .web import WebServer

log = logging.getLogger(__name__)
# discord.py names the tasks that run interaction handlers (tree.py, ui/view.py, ui/modal.py).
INTERACTION_TASK_PREFIXES = (
    "CommandTree-invoker",
    "discord-ui-view-dispatch-",
    "discord-ui-dynamic-item-",
    "discord-ui-modal-dispatch-",
)


class BotRunner:
    """Owns the bot, its HTTP server and an orderly shutdown."""

    def __init__(
        self,
        *,
        token: str,
        shard_count: int | None = None,
        shard_ids: list[int] | None = None,
        web: bool = False,
        host: str | None = None,
        port: int | None = None,
        api_base_url: str | None = None,
        gateway_url: str | None = None,
        extensions: list[str] | None = None,
        sync_guilds: list[int] | None = None,
        guild_ready_timeout: float | None = None,
        backup_clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        endpoints.configure(
            api_base_url=api_base_url or settings.DISCORD_API_BASE_URL,
            gateway_url=settings.DISCORD_GATEWAY_URL if gateway_url is None else gateway_url,
        )
        self.bot = CommunityBot(
            extensions=extensions,
            sync_guilds=sync_guilds,
            shard_count=shard_count,
            shard_ids=shard_ids,
            guild_ready_timeout=guild_ready_timeout,
        )
        self.web = WebServer(
            host=settings.WEB_HOST if host is None else host,
            port=settings.PORT if port is None else port,
            full_site=web,
        )
        self._bot_task: asyncio.Task | None = None
        self._stopping = False
        # This process in the heartbeat table (manage.py restore refuses while it is fresh).
        self.instance = heartbeat.instance_name(secrets.token_hex(3))
        every = settings.BACKUP_EVERY_HOURS
        self.backups = BackupSchedule(every, settings.BACKUP_DIR, settings.BACKUP_KEEP, backup_clock) \
            if every > 0 else None
        self._chores: list[asyncio.Task] = []

    async def start(self) -> None:
        """Serve HTTP, log in and connect; return once the bot is ready (or raise if it failed)."""
        started = time.monotonic()
        runtime.reset()
        self.web.start()
        self._bot_task = asyncio.create_task(self.bot.start(self.token), name="discord-bot")
        ready = asyncio.create_task(self.bot.wait_until_ready())
        done, _pending = await asyncio.wait({self._bot_task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if self._bot_task in done:
            ready.cancel()
            await self.web.stop()
            self._bot_task.result()  # raises what stopped the bot (bad token, unreachable gateway)
            raise RuntimeError("the bot stopped before it was ready")
        runtime.bot = self.bot
        self._chores.append(asyncio.create_task(self._heartbeat(), name="heartbeat"))
        if self.backups is not None:
            self._chores.append(asyncio.create_task(self.backups.run_forever(), name="scheduled-backups"))
        log.info("ready in %.2f s; HTTP on port %d", time.monotonic() - started, self.web.port)

    async def _heartbeat(self) -> None:
        """Keep this process's heartbeat fresh; a failed write is logged and tried again at the next beat."""
        beat, started = db_call(heartbeat.beat), timezone.now()
        while True:
            try:
                await beat(self.instance, started_at=started)
            except Exception as error:  # noqa: BLE001 - a missed beat never stops the bot
                log.warning("heartbeat not written: %s", error)
            await asyncio.sleep(heartbeat.BEAT_SECONDS)

    async def _stop_chores(self) -> None:
        """Stop the heartbeat and the scheduled backups (a backup running on its thread is let finish), then remove
        the heartbeat: a clean stop leaves no bot behind."""
        chores, self._chores = self._chores, []
        for task in chores:
            task.cancel()
        await asyncio.gather(*chores, return_exceptions=True)
        if chores:
            with contextlib.suppress(Exception):  # the database may be away: the heartbeat then goes stale
                await asyncio.wait_for(db_call(heartbeat.clear)(self.instance), timeout=5)

    async def run_until_signalled(self) -> None:
        """Run until SIGTERM/SIGINT (or the bot dies), then shut down in order."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        waiter = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({waiter, self._bot_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await self.shutdown()
        if self._bot_task.done() and not self._bot_task.cancelled() and self._bot_task.exception():
            raise self._bot_task.exception()

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop taking interactions, let running handlers finish, then close Discord, HTTP and the DB."""
        if self._stopping:
            return
        self._stopping = True
        self.bot.accepting_interactions = False
        grace = settings.SHUTDOWN_GRACE_SECONDS if grace is None else grace
        in_flight = [
            task for task in asyncio.all_tasks()
            if task is not asyncio.current_task() and task.get_name().startswith(INTERACTION_TASK_PREFIXES)
        ]
        if in_flight:
            log.info("waiting for %d interaction(s) to finish", len(in_flight))
            _done, pending = await asyncio.wait(in_flight, timeout=grace)
            if pending:
                log.warning("%d interaction(s) still running after %.0f s; closing anyway", len(pending), grace)
        await self._stop_chores()
        await self.bot.close()
        if self._bot_task is not None:
            await asyncio.gather(self._bot_task, return_exceptions=True)
        await self.web.stop()
        await close_db_connections()
        runtime.bot = None
        log.info("stopped")
