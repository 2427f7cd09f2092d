"""Shared discord.ui building blocks that route their errors through the error edge."""

from __future__ import annotations

import functools

import discord
from django.utils.translation import gettext as _

from botproject import metrics

from . import errors
from .i18n import activate_for
from .status import runtime


async def _admit(interaction: discord.Interaction) -> bool:
    await activate_for(interaction)
    runtime.commands_processed += 1
    if interaction.client.accepting_interactions:  # type: ignore[attr-defined]
        return True
    await errors.send_ephemeral(interaction, _("The bot is restarting. Try again in a minute."))
    return False


class BaseModal(discord.ui.Modal):
    """A modal whose submit errors reach the member as translated messages (and, in /metrics, count as refused or
    error); a submit that returns counts as ok."""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        submit = cls.__dict__.get("on_submit")
        if submit is not None:
            @functools.wraps(submit)
            async def counted(self, interaction: discord.Interaction) -> None:
                await submit(self, interaction)
                metrics.interaction_finished(interaction)

            cls.on_submit = counted

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await _admit(interaction)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await errors.report(interaction, error)


class SafeDynamicItem:
    """Mixin for DynamicItems: implement `run`; errors go through the edge (discord.py only logs them), and in
    /metrics a click that returns counts as ok."""

    async def interaction_check(self, interaction: discord.Interaction) -> bool:  # noqa: D102
        return await _admit(interaction)

    async def callback(self, interaction: discord.Interaction) -> None:  # noqa: D102
        try:
            await self.run(interaction)
        except Exception as error:  # noqa: BLE001 - the edge decides how to show it (and counts it)
            await errors.report(interaction, error)
        else:
            metrics.interaction_finished(interaction)

    async def run(self, interaction: discord.Interaction) -> None:
        """Handle the interaction."""
        raise NotImplementedError
