"""Answer an interaction so that a retried request can never show the answer twice.

discord.py retries a followup (POST /webhooks/{app}/{token}) whose reply was lost (a 5xx after Discord
posted it, or a dropped connection), and a webhook message has no nonce: the member would see the answer twice.
The first answer after a "thinking" defer is therefore an edit of the deferred message (PATCH @original), which
Discord may receive any number of times. Discord itself shows the first followup after such a defer in place of
the thinking message, with the defer's visibility, so the member sees the same either way.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import discord

ALREADY_ACKNOWLEDGED = 40060  # Discord: "Interaction has already been acknowledged."
ANSWERED = "botproject.answered"  # interaction.extras: the deferred message already carries an answer


async def defer(interaction: discord.Interaction, *, ephemeral: bool = False, thinking: bool = False) -> None:
    """Acknowledge now and answer later, also when Discord's reply to the acknowledgement is lost.

    A defer Discord carried out but whose reply was lost (a 5xx after it, retried by discord.py, or a dropped
    connection, asked again here) comes back as 40060 "already acknowledged": the interaction IS deferred, so
    the work goes on (discord.py would otherwise raise, and the member would watch "thinking..." forever).
    """
    try:
        try:
            await interaction.response.defer(ephemeral=ephemeral, thinking=thinking)
        except aiohttp.ClientConnectionError:
            await interaction.response.defer(ephemeral=ephemeral, thinking=thinking)
    except discord.HTTPException as error:
        if error.code != ALREADY_ACKNOWLEDGED:
            raise
        component = interaction.type in (discord.InteractionType.component, discord.InteractionType.modal_submit)
        kind = (discord.InteractionResponseType.deferred_message_update if component and not thinking
                else discord.InteractionResponseType.deferred_channel_message)
        interaction.response._response_type = kind  # what discord.py records after a defer it saw succeed


def _deferred_unanswered(interaction: discord.Interaction) -> bool:
    return (interaction.response.type is discord.InteractionResponseType.deferred_channel_message
            and not interaction.extras.get(ANSWERED))


async def answer(interaction: discord.Interaction, content: str | None = None, *, ephemeral: bool = False,
                 file: discord.File | None = None, **kwargs: Any) -> None:
    """Answer: the callback when nothing was sent yet, the deferred message's edit, else a followup.

    `kwargs`: embed, view, allowed_mentions (what every one of the three accepts).
    """
    if not interaction.response.is_done():
        if file is not None:
            kwargs["file"] = file
        try:
            await interaction.response.send_message(content, ephemeral=ephemeral, **kwargs)
        except aiohttp.ClientConnectionError:  # no reply: sent or not? Ask again; Discord refuses a second answer
            if file is not None:
                file.reset()
            try:
                await interaction.response.send_message(content, ephemeral=ephemeral, **kwargs)
            except discord.HTTPException as error:
                if error.code != ALREADY_ACKNOWLEDGED:
                    raise
    elif _deferred_unanswered(interaction):
        if file is not None:
            kwargs["attachments"] = [file]
        try:
            await interaction.edit_original_response(content=content, **kwargs)
        except aiohttp.ClientConnectionError:  # no reply: an edit may be repeated safely
            if file is not None:
                file.reset()
            await interaction.edit_original_response(content=content, **kwargs)
    else:
        if file is not None:
            kwargs["file"] = file
        await interaction.followup.send(content if content is not None else discord.utils.MISSING,
                                        ephemeral=ephemeral, **kwargs)
    interaction.extras[ANSWERED] = True


async def still_thinking(interaction: discord.Interaction) -> bool:
    """Whether the deferred message still shows "thinking" (asks Discord: for rare paths such as errors)."""
    if not _deferred_unanswered(interaction):
        return False
    try:
        original = await interaction.original_response()
    except discord.HTTPException:
        return False
    return original.flags.loading
