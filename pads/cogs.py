"""Pads commands: /training, /tryout, /endsession, /pads; sessions end by themselves at their deadline."""

from __future__ import annotations

import logging
from datetime import timedelta

import discord
from discord import app_commands
from discord.ext import commands, tasks
from discord.utils import format_dt
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext_lazy

from botproject.bot import pages
from botproject.bot.checks import require, require_then
from botproject.bot.db import db_call
from botproject.bot.preflight import require_bot_permissions
from botproject.bot.replies import answer, defer
from botproject.bot.scope import guild_messageable
from botproject.exceptions import DatabaseUnavailable
from botproject.selectors import Access

from . import selectors, services, ui

log = logging.getLogger(__name__)
NAMES = (
    pgettext_lazy("discord command name", "training"),
    pgettext_lazy("discord command name", "tryout"),
    pgettext_lazy("discord command name", "endsession"),
    pgettext_lazy("discord command name", "pads"),
    pgettext_lazy("discord command name", "pad"),
    pgettext_lazy("discord command name", "starts"),
)
Pad = app_commands.Range[int, 1, 9]
Starts = app_commands.Range[str, 1, 200]
# A session not recorded as announced this long after its start, by no process that is announcing it, was cut off.
UNANNOUNCED_GRACE = timedelta(minutes=2)
STARTS_SHOWN = 100  # characters of "starts" on /pads (the announcement shows it all)


class PadsCog(commands.Cog):
    """Training and tryout sessions on pads 1–9."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.loaded_at = timezone.now()
        self._announcing: set[int] = set()  # sessions this process is announcing right now

    async def cog_load(self) -> None:
        self.expire.change_interval(seconds=settings.PADS_SWEEP_SECONDS)
        self.expire.start()

    async def cog_unload(self) -> None:
        self.expire.cancel()

    @tasks.loop(seconds=30)
    async def expire(self) -> None:
        """End sessions past their deadline (the deadline is stored, so this works after a restart)."""
        try:
            await self._settle_announcements()  # first: an ended session's announcement must be known to be edited
        except DatabaseUnavailable:  # an outage: the next round tries again
            log.warning("could not settle pad announcements: the database is not answering")
        except Exception:  # noqa: BLE001 - the next round tries again; the deadlines must not wait for it
            log.exception("could not settle pad announcements")
        try:
            await db_call(services.sessions_expire)()
        except DatabaseUnavailable:  # an outage: the next round (PADS_SWEEP_SECONDS) tries again
            log.warning("could not end expired pad sessions: the database is not answering")
        except Exception:  # noqa: BLE001 - the next round tries again
            log.exception("could not end expired pad sessions")

    async def _settle_announcements(self) -> None:
        """Sessions whose announcement a killed process never recorded: find it (or post it) and record it.

        Only sessions started before this process (or long ago) that this process is not announcing itself.
        The announcement carries the session's End button (`pad:end:<id>`), which identifies it in the channel.
        """
        cutoff = max(self.loaded_at, timezone.now() - UNANNOUNCED_GRACE)
        for session in await db_call(selectors.sessions_unannounced)(started_before=cutoff):
            if session.id in self._announcing or self.bot.get_guild(session.guild_id) is None:
                continue  # announced right now by this process, or a guild of another process's shards
            channel = await guild_messageable(self.bot, session.guild_id, session.channel_id)
            if channel is None:
                await db_call(services.session_announcement_lost)(session_id=session.id)
                continue
            try:
                message = await _find_announcement(channel, session, self.bot.user.id)
                if message is None and session.ended_at is None:  # the process died before Discord had it
                    config = await self.bot.guild_config(session.guild_id)
                    with translation.override(config.language):
                        message = await _announce(channel, session)
            except discord.Forbidden:
                message = None  # the bot may not read or post there (any more): nothing it can edit later
            except discord.HTTPException:
                log.warning("pad session %s: could not settle its announcement; next round", session.id, exc_info=True)
                continue
            if message is None:  # ended, never announced: nothing to edit
                await db_call(services.session_announcement_lost)(session_id=session.id)
                continue
            await db_call(services.session_record_announcement)(session_id=session.id, channel_id=channel.id,
                                                                message_id=message.id)

    @expire.before_loop
    async def _ready(self) -> None:
        await self.bot.wait_until_ready()

    async def _start(self, interaction: discord.Interaction, kind: str, pad: int, starts: str) -> None:
        # Acknowledge first: when many hosts race for pads the checks and the booking queue for the
        # database, and Discord drops an interaction not answered within 3 s.
        await defer(interaction, ephemeral=True)
        access = await require(interaction, Access.GRANTED, refuse_blocked=True, module="pads")
        channel = interaction.guild.get_channel(access.config.pads_channel_id or 0) or interaction.channel
        require_bot_permissions(interaction.guild, "view_channel", "send_messages", "embed_links", channel=channel)
        session = await db_call(services.session_start)(
            guild_id=interaction.guild_id, pad=pad, kind=kind, host_id=interaction.user.id, starts=starts,
            host_name=interaction.user.display_name, channel_id=channel.id,
        )
        self._announcing.add(session.id)
        try:
            message = await _announce(channel, session)
            await db_call(services.session_record_announcement)(session_id=session.id, channel_id=channel.id,
                                                                message_id=message.id)
        finally:
            self._announcing.discard(session.id)
        await answer(
            interaction,
            _("Announced in %(channel)s. End it with /endsession or the button.") % {"channel": channel.mention},
            ephemeral=True)

    @app_commands.command(name="training", description=gettext_noop("Announce a training on a free pad"))
    @app_commands.describe(pad=gettext_noop("Pad number, 1 to 9"), starts=gettext_noop("When it starts"))
    @app_commands.guild_only()
    async def training(self, interaction: discord.Interaction, pad: Pad, starts: Starts) -> None:
        await self._start(interaction, "training", pad, starts)

    @app_commands.command(name="tryout", description=gettext_noop("Announce a tryout on a free pad"))
    @app_commands.describe(pad=gettext_noop("Pad number, 1 to 9"), starts=gettext_noop("When it starts"))
    @app_commands.guild_only()
    async def tryout(self, interaction: discord.Interaction, pad: Pad, starts: Starts) -> None:
        await self._start(interaction, "tryout", pad, starts)

    @app_commands.command(name="endsession", description=gettext_noop("End the session on a pad"))
    @app_commands.describe(pad=gettext_noop("Pad number, 1 to 9"))
    @app_commands.guild_only()
    async def endsession(self, interaction: discord.Interaction, pad: Pad) -> None:
        access = await require(interaction, Access.MEMBER, module="pads")
        session = await db_call(services.session_end)(
            guild_id=interaction.guild_id, pad=pad, actor_id=interaction.user.id,
            is_staff=access.at_least(Access.STAFF))
        await interaction.response.send_message(_("Pad %(pad)s is free again.") % {"pad": session.pad},
                                                ephemeral=True)

    @app_commands.command(name="pads", description=gettext_noop("Show which pads are free"))
    @app_commands.guild_only()
    async def pads(self, interaction: discord.Interaction) -> None:
        _access, overview = await require_then(
            interaction, Access.MEMBER, lambda _access: selectors.pads_overview(guild_id=interaction.guild_id),
            module="pads")
        lines = []
        for pad, session in overview.items():
            if session is None:
                lines.append(_("**Pad %(pad)s** · free") % {"pad": pad})
            else:
                lines.append(_("**Pad %(pad)s** · %(kind)s by <@%(host)s> · starts %(starts)s · since %(since)s") % {
                    "pad": pad, "kind": ui.KIND_LABELS[session.kind](), "host": session.host_id,
                    "starts": pages.clean(session.starts, STARTS_SHOWN),
                    "since": format_dt(session.started_at, "R")})
        # Nine pads, each line with its share of the description: always fits, nothing to page.
        embed = discord.Embed(title=_("Pads"), colour=discord.Colour.blurple(),
                              description=pages.join_lines(lines, 4000, line_limit=4000 // max(len(lines), 1) - 1))
        await interaction.response.send_message(embed=pages.fit(embed), ephemeral=True,
                                                allowed_mentions=discord.AllowedMentions.none())


async def _announce(channel: discord.abc.Messageable, session: selectors.SessionView) -> discord.Message:
    """Post a session's announcement; its nonce makes a repeat (after a restart) return the first one."""
    return await channel.send(embed=ui.announcement_embed(session), view=ui.end_view(session.id),
                              nonce=f"pad{session.id}", allowed_mentions=discord.AllowedMentions.none())


async def _find_announcement(channel: discord.abc.Messageable, session: selectors.SessionView,
                             bot_id: int) -> discord.Message | None:
    """The bot's announcement of `session` among the first messages after the session started, if Discord has it."""
    end_id = f"pad:end:{session.id}"
    after = discord.Object(id=discord.utils.time_snowflake(session.started_at - timedelta(seconds=5)))
    async for message in channel.history(limit=50, after=after):
        if message.author.id == bot_id and any(
                getattr(item, "custom_id", None) == end_id for row in message.components
                for item in getattr(row, "children", ())):
            return message
    return None


async def setup(bot: commands.Bot) -> None:
    """Register the pads commands and the End button."""
    await bot.add_cog(PadsCog(bot))
    bot.add_dynamic_items(ui.PadEndButton)
