"""Discord UI of the pads: the announcement embed and its End button (survives restarts)."""

from __future__ import annotations

import re

import discord
from discord.utils import format_dt
from django.utils.translation import gettext as _

from botproject.bot.checks import require
from botproject.bot.db import db_call
from botproject.bot.ui import SafeDynamicItem
from botproject.selectors import Access

from . import services
from .selectors import SessionView

KIND_LABELS = {"training": lambda: _("Training"), "tryout": lambda: _("Tryout")}


def announcement_embed(session: SessionView) -> discord.Embed:
    """The public announcement of a session."""
    embed = discord.Embed(
        title=_("%(kind)s on pad %(pad)s") % {"kind": KIND_LABELS[session.kind](), "pad": session.pad},
        colour=discord.Colour.blue() if session.kind == "training" else discord.Colour.purple(),
    )
    embed.add_field(name=_("Host"), value=f"<@{session.host_id}>")
    embed.add_field(name=_("Starts"), value=session.starts)
    embed.add_field(name=_("Ends at the latest"), value=format_dt(session.ends_at, "t"))
    return embed


class PadEndButton(SafeDynamicItem, discord.ui.DynamicItem[discord.ui.Button], template=r"pad:end:(?P<id>\d+)"):
    """End the session (its host or staff); the announcement is then marked ended."""

    def __init__(self, session_id: int) -> None:
        super().__init__(discord.ui.Button(label=_("End session"), style=discord.ButtonStyle.danger,
                                           custom_id=f"pad:end:{session_id}"))
        self.session_id = session_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]):
        return cls(int(match["id"]))

    async def run(self, interaction: discord.Interaction) -> None:
        access = await require(interaction, Access.MEMBER, module="pads")
        session = await db_call(services.session_end)(
            guild_id=interaction.guild_id, session_id=self.session_id, actor_id=interaction.user.id,
            is_staff=access.at_least(Access.STAFF),
        )
        await interaction.response.send_message(
            _("Pad %(pad)s is free again.") % {"pad": session.pad}, ephemeral=True)


def end_view(session_id: int) -> discord.ui.View:
    """The announcement's button row."""
    view = discord.ui.View(timeout=None)
    view.add_item(PadEndButton(session_id))
    return view
