"""Discord UI of verification: the code embed and its Verify button (`verify:check:<attempt pk>`, survives restarts)."""

from __future__ import annotations

import re

import discord
from discord.utils import format_dt
from django.utils.translation import gettext as _

from botproject.bot.ui import SafeDynamicItem

from .selectors import AttemptView, profile_url


def attempt_embed(attempt: AttemptView) -> discord.Embed:
    """What to put where: the code, the account it is for, and until when."""
    title = (_("Verify your Roblox account") if attempt.purpose == "verify"
             else _("Link another Roblox account"))
    embed = discord.Embed(title=title, colour=discord.Colour.blurple())
    embed.description = _(
        "1. Open the profile of **%(name)s** on Roblox: %(url)s\n"
        "2. Put these words in its description (About) and save:\n```\n%(code)s\n```\n"
        "3. Press **Verify** below. You can remove the words afterwards."
    ) % {"name": attempt.roblox_name, "url": profile_url(attempt.roblox_id), "code": attempt.code}
    embed.add_field(name=_("Roblox account"), value=f"{attempt.roblox_display_name or attempt.roblox_name} "
                                                    f"(@{attempt.roblox_name}) · {attempt.roblox_id}")
    embed.add_field(name=_("Code expires"), value=format_dt(attempt.expires_at, "R"))
    return embed


class VerifyButton(SafeDynamicItem, discord.ui.DynamicItem[discord.ui.Button], template=r"verify:check:(?P<id>\d+)"):
    """Read the profile and link the account; only the member who asked may press it (checked on the row)."""

    def __init__(self, attempt_id: int) -> None:
        super().__init__(discord.ui.Button(label=_("Verify"), style=discord.ButtonStyle.success,
                                           custom_id=f"verify:check:{attempt_id}"))
        self.attempt_id = attempt_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]):
        return cls(int(match["id"]))

    async def run(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog("VerificationCog")  # type: ignore[union-attr]
        await cog.complete(interaction, self.attempt_id)


def check_view(attempt_id: int) -> discord.ui.View:
    """The attempt message's button row."""
    view = discord.ui.View(timeout=None)
    view.add_item(VerifyButton(attempt_id))
    return view
