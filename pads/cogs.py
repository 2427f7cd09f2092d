"""Pads commands: /training, /tryout, /endsession, /pads; sessions end by themselves at their deadline."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands, tasks
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext_lazy

from botproject.bot.checks import require
from botproject.bot.db import db_call
from botproject.bot.preflight import require_bot_permissions
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


class PadsCog(commands.Cog):
    """Training and tryout sessions on pads 1–9."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.expire.change_interval(seconds=settings.PADS_SWEEP_SECONDS)
        self.expire.start()

    async def cog_unload(self) -> None:
        self.expire.cancel()

    @tasks.loop(seconds=30)
    async def expire(self) -> None:
        """End sessions past their deadline (the deadline is stored, so this works after a restart)."""
        try:
            await db_call(services.sessions_expire)()
        except Exception:  # noqa: BLE001 - the next round tries again
            log.exception("could not end expired pad sessions")

    @expire.before_loop
    async def _ready(self) -> None:
        await self.bot.wait_until_ready()

    async def _start(self, interaction: discord.Interaction, kind: str, pad: int, starts: str) -> None:
        # Acknowledge first: when many hosts race for pads the checks and the booking queue for the
        # database, and Discord drops an interaction not answered within 3 s.
        await interaction.response.defer(ephemeral=True)
        access = await require(interaction, Access.GRANTED, refuse_blocked=True, module="pads")
        channel = interaction.guild.get_channel(access.config.pads_channel_id or 0) or interaction.channel
        require_bot_permissions(interaction.guild, "view_channel", "send_messages", "embed_links", channel=channel)
        session = await db_call(services.session_start)(
            guild_id=interaction.guild_id, pad=pad, kind=kind, host_id=interaction.user.id, starts=starts,
            host_name=interaction.user.display_name,
        )
        message = await channel.send(embed=ui.announcement_embed(session), view=ui.end_view(session.id),
                                     allowed_mentions=discord.AllowedMentions.none())
        await db_call(services.session_record_announcement)(session_id=session.id, channel_id=channel.id,
                                                            message_id=message.id)
        await interaction.followup.send(
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
        await require(interaction, Access.MEMBER, module="pads")
        overview = await db_call(selectors.pads_overview)(guild_id=interaction.guild_id)
        lines = []
        for pad, session in overview.items():
            if session is None:
                lines.append(_("**Pad %(pad)s** · free") % {"pad": pad})
            else:
                lines.append(_("**Pad %(pad)s** · %(kind)s by <@%(host)s> · starts %(starts)s · since %(since)s") % {
                    "pad": pad, "kind": ui.KIND_LABELS[session.kind](), "host": session.host_id,
                    "starts": session.starts, "since": f"<t:{int(session.started_at.timestamp())}:R>"})
        embed = discord.Embed(title=_("Pads"), description="\n".join(lines), colour=discord.Colour.blurple())
        await interaction.response.send_message(embed=embed, ephemeral=True,
                                                allowed_mentions=discord.AllowedMentions.none())


async def setup(bot: commands.Bot) -> None:
    """Register the pads commands and the End button."""
    await bot.add_cog(PadsCog(bot))
    bot.add_dynamic_items(ui.PadEndButton)
