"""The error edge: domain refusals become translated ephemeral messages; surprises get an error id."""

from __future__ import annotations

import logging
import uuid

import aiohttp
import discord
from discord import app_commands
from django.utils import translation
from django.utils.translation import gettext as _

from botproject import metrics
from botproject.exceptions import BotMissingPermission, BotRoleTooLow, DatabaseUnavailable, DomainError

from . import replies
from .i18n import language_for
from .status import runtime

log = logging.getLogger(__name__)
ALREADY_ACKNOWLEDGED = replies.ALREADY_ACKNOWLEDGED


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Answer privately, whether or not the interaction was already acknowledged."""
    try:
        if interaction.response.is_done() and not await replies.still_thinking(interaction):
            await interaction.followup.send(text, ephemeral=True)
        else:  # the callback, or the edit of the thinking message (a lost reply then never shows it twice)
            await replies.answer(interaction, text, ephemeral=True)
    except discord.HTTPException:
        # The token may have expired (15 min) or Discord may be down: nothing more to tell the member.
        log.warning("could not deliver an error message for interaction %s", interaction.id, exc_info=True)


def _unwrap(error: BaseException) -> BaseException:
    while isinstance(error, (app_commands.CommandInvokeError, app_commands.TransformerError)) and error.__cause__:
        error = error.__cause__
    return getattr(error, "original", error) if isinstance(error, app_commands.CommandInvokeError) else error


def message_for(error: BaseException) -> tuple[str, bool]:
    """Return the member-facing text for an error (in the active language) and whether it was expected."""
    if isinstance(error, DomainError):
        return error.user_message(moment=lambda value: discord.utils.format_dt(value, "f")), True
    if isinstance(error, app_commands.CommandOnCooldown):
        return _("Slow down: try again in %(seconds).0f s.") % {"seconds": error.retry_after}, True
    if isinstance(error, app_commands.NoPrivateMessage):
        return _("This command only works in a server."), True
    if isinstance(error, discord.Forbidden):
        return _("Discord refused: I am missing a permission for that. Ask an admin to check my role."), True
    if (isinstance(error, discord.HTTPException) and error.status >= 500
            or isinstance(error, aiohttp.ClientConnectionError)):
        # Discord failing (a 503 discord.py does not retry, or 5xx after its retries, or no answer at all).
        status = error.status if isinstance(error, discord.HTTPException) else _("no answer")
        return _("Discord is having trouble right now (%(status)s), so I could not finish. Try again in a minute.") % {
            "status": status}, True
    error_id = uuid.uuid4().hex[:8]
    log.error("unexpected error %s", error_id, exc_info=error)
    runtime.errors += 1
    return _("Something went wrong on our side. If it keeps happening, give the staff this error id: %(id)s") % {
        "id": error_id
    }, False


def outcome_of(error: BaseException) -> str:
    """How an interaction that ended in `error` counts in the metrics: "refused" or "error".

    Refused: what the member was told no (a domain refusal, a failed check, a cooldown). Error: the rest,
    including the bot lacking a permission or Discord or the database not answering.
    """
    if isinstance(error, (BotMissingPermission, BotRoleTooLow, DatabaseUnavailable)):
        return "error"
    if isinstance(error, (DomainError, app_commands.CheckFailure)):
        return "refused"
    return "error"


async def report(interaction: discord.Interaction, error: BaseException) -> None:
    """Tell the member what went wrong, in their language; tell the log channel when the bot lacks a permission.

    Every failed interaction passes here, so this is where refusals and errors are counted (botproject.metrics).
    """
    error = _unwrap(error)
    if isinstance(error, discord.HTTPException) and error.code == ALREADY_ACKNOWLEDGED:
        # Discord took an earlier try of this answer whose reply was lost (a 5xx or a dropped connection after
        # processing, then discord.py retried): the member has the answer, and anything more would be a second one.
        log.info("interaction %s: the answer was delivered, only Discord's reply to it was lost", interaction.id)
        metrics.interaction_finished(interaction)
        return
    metrics.count_interaction(interaction, outcome_of(error))
    bot = interaction.client
    with translation.override(await _language(interaction)):
        text, _expected = message_for(error)
    await send_ephemeral(interaction, text)
    if interaction.guild_id and isinstance(error, (BotMissingPermission, BotRoleTooLow, discord.Forbidden)):
        # The most common support burden: make sure the admins hear about it, in the guild's language.
        config = await bot.guild_config(interaction.guild_id)  # type: ignore[attr-defined]
        with translation.override(config.language):
            problem, _expected = message_for(error)
            note = _("⚠️ %(user)s could not use %(what)s: %(problem)s") % {
                "user": interaction.user.mention, "what": _what(interaction), "problem": problem,
            }
        await bot.post_log(interaction.guild_id, note)  # type: ignore[attr-defined]


async def _language(interaction: discord.Interaction) -> str:
    """The member's language; when the guild's setting cannot be read (the database is away), their locale."""
    try:
        return await interaction.client.language_for(interaction)  # type: ignore[attr-defined]
    except DatabaseUnavailable:
        return language_for(interaction.locale)


def _what(interaction: discord.Interaction) -> str:
    command = interaction.command
    if command is not None:
        return f"/{command.qualified_name}"
    return _("a button or menu")


def install(tree: app_commands.CommandTree) -> None:
    """Route every slash command error of `tree` through the edge."""

    @tree.error
    async def on_app_command_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await report(interaction, error)
