"""The Discord client: extensions from settings, translated command sync, locale and config lookups."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands
from django.conf import settings
from django.utils.translation import gettext as _

from botproject import metrics, selectors, services

from . import errors
from .db import db_call
from .i18n import GettextTranslator, activate_for, is_supported, language_for
from .scope import guild_messageable
from .status import runtime

log = logging.getLogger(__name__)
CONFIG_TTL_SECONDS = 30.0
IDENTIFY_WINDOW_SECONDS = 5.0


class CommunityTree(app_commands.CommandTree):
    """Command tree that refuses new work while the bot shuts down."""

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        # Runs in the task that then runs the command, so the language stays active for all of it.
        await activate_for(interaction)
        runtime.commands_processed += 1
        bot: CommunityBot = self.client  # type: ignore[assignment]
        if bot.accepting_interactions:
            return True
        metrics.count_interaction(interaction, "refused")
        await errors.send_ephemeral(interaction, _("The bot is restarting. Try again in a minute."))
        return False


def _answer_trace() -> aiohttp.TraceConfig:
    """Watch the bot's HTTP session for Discord accepting an interaction callback (the latency histogram)."""
    trace = aiohttp.TraceConfig()

    async def on_request_end(_session: aiohttp.ClientSession, _context: Any,
                             params: aiohttp.TraceRequestEndParams) -> None:
        if params.method == "POST" and params.response.status < 300:
            metrics.interaction_answered(params.url.path)

    trace.on_request_end.append(on_request_end)
    return trace


class CommunityBot(commands.AutoShardedBot):
    """The bot: loads `settings.DISCORD_EXTENSIONS`, syncs commands, answers in the member's language."""

    def __init__(
        self,
        *,
        extensions: list[str] | None = None,
        sync_guilds: list[int] | None = None,
        shard_count: int | None = None,
        shard_ids: list[int] | None = None,
        guild_ready_timeout: float | None = None,
    ) -> None:
        intents = discord.Intents.default()
        intents.members = True
        intents.message_content = True
        super().__init__(
            command_prefix=self._prefix,
            intents=intents,
            shard_count=shard_count,
            shard_ids=shard_ids,
            tree_cls=CommunityTree,
            help_command=None,
            guild_ready_timeout=settings.DISCORD_GUILD_READY_TIMEOUT
            if guild_ready_timeout is None
            else guild_ready_timeout,
            # Nobody is pinged unless a send names exactly whom (member-written text never pings).
            allowed_mentions=discord.AllowedMentions.none(),
            http_trace=_answer_trace(),
        )
        self.extension_names = list(settings.DISCORD_EXTENSIONS if extensions is None else extensions)
        self.sync_guilds = list(settings.DISCORD_SYNC_GUILDS if sync_guilds is None else sync_guilds)
        self.accepting_interactions = True
        self.synced_scopes: list[int] = []
        self._configs: dict[int, tuple[float, selectors.ConfigSnapshot]] = {}
        self._max_concurrency: int | None = None
        self._identified_at: dict[int, float] = {}
        errors.install(self.tree)

    async def setup_hook(self) -> None:
        await self.tree.set_translator(GettextTranslator())
        for name in self.extension_names:
            await self.load_extension(name)
        await self.sync_commands()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Space IDENTIFYs as Discord requires: one per 5 s in each `shard_id % max_concurrency` bucket.

        discord.py's default sleeps 5 s before every identify but the first, which makes large bots
        (max_concurrency > 1) start far slower than allowed and a lone re-identify wait for nothing.
        """
        if self._max_concurrency is None:
            _count, _url, limits = await self.http.get_bot_gateway()
            self._max_concurrency = max(1, int(limits.get("max_concurrency", 1)))
        bucket = (shard_id or 0) % self._max_concurrency
        last = self._identified_at.get(bucket)
        if last is not None:
            wait = last + IDENTIFY_WINDOW_SECONDS - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # Discord's identify rate limit, not a guess
        self._identified_at[bucket] = time.monotonic()

    async def command_digest(self) -> str:
        """Hash of the translated command payloads, to tell whether Discord needs a new sync."""
        translator = self.tree.translator
        payload = []
        for command in self.tree.get_commands():
            if translator is not None:
                payload.append(await command.get_translated_payload(self.tree, translator))
            else:
                payload.append(command.to_dict(self.tree))
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    async def sync_commands(self) -> None:
        """Sync to the development guilds every start, else globally only when the command set changed."""
        self.synced_scopes = []
        if self.sync_guilds:
            for guild_id in self.sync_guilds:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
                self.synced_scopes.append(guild_id)
            return
        digest = await self.command_digest()
        if digest == await db_call(selectors.command_sync_digest)(scope=0):
            log.info("global commands unchanged; not syncing")
            return
        synced = await self.tree.sync()
        await db_call(services.command_sync_record)(scope=0, digest=digest)
        self.synced_scopes.append(0)
        log.info("synced %d global commands", len(synced))

    async def guild_config(self, guild_id: int) -> selectors.ConfigSnapshot:
        """Return the guild's configuration, cached for a few seconds (admin edits show up within the TTL)."""
        cached = self._configs.get(guild_id)
        now = time.monotonic()
        if cached and now - cached[0] < CONFIG_TTL_SECONDS:
            return cached[1]
        config = await db_call(selectors.config_get)(guild_id=guild_id)
        self._configs[guild_id] = (now, config)
        return config

    async def close(self) -> None:
        """Unload the extensions first, so their background tasks (outbox worker, loops) stop with the bot."""
        for name in list(self.extensions):
            try:
                await self.unload_extension(name)
            except commands.ExtensionError:
                log.warning("could not unload %s", name, exc_info=True)
        await super().close()

    async def post_log(self, guild_id: int, text: str) -> None:
        """Post a note in the guild's log channel now (best effort; must-deliver notes use the outbox)."""
        config = await self.guild_config(guild_id)
        channel = await guild_messageable(self, guild_id, config.log_channel_id)
        if channel is None:
            return
        try:
            await channel.send(text[:2000], allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException:
            log.warning("could not post to the log channel of guild %s", guild_id, exc_info=True)

    def remember_config(self, config: selectors.ConfigSnapshot) -> None:
        """Replace the cached configuration after this process changed it."""
        self._configs[config.guild_id] = (time.monotonic(), config)

    async def language_for(self, interaction: discord.Interaction) -> str:
        """The member's own language when it is en or vi, else the guild's language."""
        if is_supported(interaction.locale) or interaction.guild_id is None:
            return language_for(interaction.locale)
        return language_for(interaction.locale, (await self.guild_config(interaction.guild_id)).language)

    async def _prefix(self, bot: commands.Bot, message: discord.Message) -> list[str]:
        if message.guild is None:
            return commands.when_mentioned_or(settings.DISCORD_PREFIX)(bot, message)
        config = await self.guild_config(message.guild.id)
        return commands.when_mentioned_or(config.prefix or settings.DISCORD_PREFIX)(bot, message)

    async def on_command_error(self, ctx: commands.Context, error: commands.CommandError) -> None:
        """Prefix commands: unknown ones are ignored (the prefix is common in chat); cogs answer their own."""
        if isinstance(error, commands.CommandNotFound):
            return
        if ctx.cog is not None and ctx.cog.has_error_handler():
            return
        log.error("prefix command %s failed", ctx.command, exc_info=error)

    async def on_app_command_completion(self, interaction: discord.Interaction, _command: Any) -> None:
        """A slash command (or context menu) returned: ok, unless the error edge counted it already."""
        metrics.interaction_finished(interaction)

    async def on_ready(self) -> None:
        runtime.bot = self
        log.info("ready: %d guilds, shards %s", len(self.guilds), sorted(self.shards))
