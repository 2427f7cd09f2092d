"""The tickets' Discord-side flows: open a ticket (channel, welcome), close it (public notice, log note with the
transcript), and the one "ticket staff" check the buttons and commands share.

Where things are: `ui.py` holds the panel, the welcome and the buttons, whose callbacks call these flows;
`cogs.py` the commands, the transcript listeners and the sweep; `channels.py` the channel helpers (create a
ticket channel, member access, which channels are tickets); `services/` and `selectors.py` the database side.
Imports go one way: cogs → ui → flows → channels → services/selectors.

Channel creation may wait a long time on Discord's rate limit, so the click is deferred first and the
member is answered with a followup.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Callable

import discord
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from botproject.bot import pages
from botproject.bot.checks import require
from botproject.bot.db import db_call
from botproject.bot.replies import answer, defer
from botproject.bot.scope import guild_messageable
from botproject.selectors import Access, MemberAccess, config_get

from . import channels, gating, selectors, services
from .exceptions import ChannelFailed
from .selectors import TicketView

log = logging.getLogger(__name__)
ANSWER_SHOWN = 1000  # characters of each answer in the channel (5 answers and their labels fit in 6,000)

WelcomeBuilder = Callable[[TicketView], tuple[discord.Embed, discord.ui.View]]


def is_ticket_staff(access: MemberAccess, member: discord.abc.User, ticket: TicketView) -> bool:
    """Whether the member is staff of this ticket (`selectors.is_ticket_staff`, the one rule) by their roles now."""
    return selectors.is_ticket_staff(access=access, role_ids=[role.id for role in getattr(member, "roles", [])],
                                     category_staff_role_id=ticket.category.staff_role_id if ticket.category else None)


def role_ids(member: discord.abc.User) -> list[int]:
    """The member's role ids (none for a user outside a guild)."""
    return [role.id for role in getattr(member, "roles", [])]


async def intake_form(interaction: discord.Interaction, *, category_id: int,
                      panel_id: int | None = None) -> list[selectors.QuestionView]:
    """Before the intake form: the member's access and the category's gating (a refusal raises), then its
    questions (none: open at once)."""
    await require(interaction, Access.MEMBER, refuse_blocked=True, module="tickets")
    return await db_call(selectors.open_form)(guild_id=interaction.guild_id, category_id=category_id,
                                              opener_id=interaction.user.id, role_ids=role_ids(interaction.user),
                                              panel_id=panel_id)


def answers_embed(ticket: TicketView) -> discord.Embed:
    """The intake answers, the ticket's first message (in the guild's language: activate it before calling).

    Answers are the member's text: shown as data (markdown and mentions escaped), each cut so that all five fit
    Discord's 6,000 characters per message; the full answers are in the admin and the transcript.
    """
    embed = discord.Embed(title=_("📝 Answers"), colour=discord.Colour.blurple(),
                          description=_("What <@%(user)s> answered when opening this ticket.") % {
                              "user": ticket.opener_id})
    for label, value in ticket.answers:
        embed.add_field(name=pages.truncate(label, 256),
                        value=pages.truncate(pages.clean(value, ANSWER_SHOWN), 1024) or "–", inline=False)
    return embed


async def open_ticket(interaction: discord.Interaction, *, category_id: int, welcome: WelcomeBuilder,
                      panel_id: int | None = None, answers: list[tuple[int, str]] | None = None) -> None:
    """A panel click (or the intake form's submit): defer at once, reserve the ticket (gating is checked again),
    create the channel, post the answers and the welcome, answer privately.

    `welcome` builds the welcome embed and its buttons (`ui.welcome_message`; passed in, so this module never
    imports the UI that calls it). `answers`: (question position, text) from the intake form.
    """
    await defer(interaction, ephemeral=True, thinking=True)
    access = await require(interaction, Access.MEMBER, refuse_blocked=True, module="tickets")
    ticket = await db_call(services.ticket_open)(guild_id=interaction.guild_id, category_id=category_id,
                                                 opener_id=interaction.user.id, panel_id=panel_id,
                                                 role_ids=role_ids(interaction.user), answers=answers)
    answered = ticket.answers
    try:
        channel = await channels.create_channel(interaction.guild, ticket, access.config, interaction.user,
                                                interaction.client)
    except BaseException as error:
        await db_call(services.ticket_fail)(ticket_id=ticket.id, error=repr(error))
        raise
    try:
        ticket = await db_call(services.ticket_channel_created)(guild_id=interaction.guild_id, ticket_id=ticket.id,
                                                                channel_id=channel.id)
    except BaseException:
        # Never an orphan channel: the row could not take it, so it goes.
        await channel.delete(reason="ticket could not be recorded")
        await db_call(services.ticket_fail)(ticket_id=ticket.id, error="could not record the channel")
        raise
    channels.TICKET_CHANNELS[channel.id] = (ticket.id, interaction.guild_id)
    ticket = dataclasses.replace(ticket, answers=answered)
    with translation.override(ticket.language):
        embed, view = welcome(ticket)
        first = answers_embed(ticket) if ticket.answers else None
    # The nonces make discord.py's retry of a send whose reply was lost return the first message, not post twice.
    if first is not None:
        await channel.send(embed=first, nonce=f"ta{ticket.id}", allowed_mentions=discord.AllowedMentions.none())
    message = await channel.send(interaction.user.mention, embed=embed, view=view, nonce=f"tw{ticket.id}",
                                 allowed_mentions=discord.AllowedMentions(users=[interaction.user]))
    await db_call(services.ticket_welcome_sent)(ticket_id=ticket.id, message_id=message.id)
    text = _("Your ticket is ready: %(channel)s") % {"channel": channel.mention}
    if ticket.opened_outside_hours and ticket.category and ticket.category.hours_start:
        text += "\n" + outside_hours_text(ticket.category)
    await answer(interaction, text, ephemeral=True)


def outside_hours_text(category: selectors.CategoryView) -> str:
    """The warning of a ticket opened outside its category's support hours (in the active language)."""
    return _("⏰ This is outside the support hours (%(hours)s): an answer may take until they begin, in %(wait)s.") % {
        "hours": gating.hours_text(category.hours_start, category.hours_end, category.time_zone),
        "wait": gating.wait_text(gating.next_opening(category.hours_start, category.time_zone, timezone.now()))}


async def close_ticket(interaction: discord.Interaction, access: MemberAccess, ticket: TicketView, *,
                       reason: str = "", opener_may: bool = False) -> None:
    """Close by staff (the Close button, /ticket close) or by the opener (/ticket close: `opener_may`), then announce.

    The archive lock makes the close wait for the messages that arrived before it, so the transcript has them.
    """
    async with channels.archive_lock(ticket.channel_id):
        result = await db_call(services.ticket_close)(
            guild_id=interaction.guild_id, ticket_id=ticket.id, actor_id=interaction.user.id,
            is_staff=is_ticket_staff(access, interaction.user, ticket), reason=reason, opener_may=opener_may)
    await announce_close(interaction, result)


async def close_works(interaction: discord.Interaction, ticket: TicketView) -> None:
    """It works!: the opener closes their ticket as resolved (helpers are paid), then announce."""
    async with channels.archive_lock(ticket.channel_id):
        result = await db_call(services.ticket_works)(guild_id=interaction.guild_id, ticket_id=ticket.id,
                                                      actor_id=interaction.user.id)
    await announce_close(interaction, result)


async def announce_close(interaction: discord.Interaction, result: services.CloseResult) -> None:
    """The public notice in the ticket channel, then the log note with the transcript file (best effort)."""
    ticket = result.ticket
    with translation.override(ticket.language):
        if result.path == "works":
            embed = discord.Embed(title=_("✅ Problem solved"), colour=discord.Colour.green(), description=_(
                "%(user)s confirmed the solution.") % {"user": f"<@{result.closed_by_id}>"})
        else:
            embed = discord.Embed(title=_("🔒 Ticket closed"), colour=discord.Colour.red(),
                                  description=_("Closed by: %(user)s") % {"user": f"<@{result.closed_by_id}>"})
            if result.reason:
                embed.add_field(name=_("Reason"), value=result.reason[:1024])
        if result.awarded:
            embed.add_field(name=_("Helper points"), value=", ".join(
                f"<@{user}> +{points}" for user, points in result.awarded), inline=False)
        embed.set_footer(text=_("This channel will be deleted in %(seconds)s seconds.") % {
            "seconds": result.delay_seconds})
    await answer(interaction, embed=embed, allowed_mentions=discord.AllowedMentions.none())
    await post_transcript(interaction.client, result)


async def post_transcript(bot: discord.Client, result: services.CloseResult) -> None:
    """Post the close note with the HTML transcript in the log channel right after the close committed.

    The note is also an outbox row due a minute later: if this fails (or the bot stops first), the
    outbox still sends the note (without the file); the transcript stays in the admin either way.
    """
    if not result.log_channel_id or result.log_outbox_id is None:
        return
    channel = await guild_messageable(bot, result.ticket.guild_id, result.log_channel_id)
    if channel is None:
        return
    name = f"ticket-{result.ticket.number}-{result.ticket.code}.html"
    try:
        # Stored right after the close committed (this returns it; it renders it if that failed).
        html = await db_call(services.transcript_store)(ticket_id=result.ticket.id)
    except Exception:  # noqa: BLE001 - the outbox sends the note; the sweep stores the transcript
        log.exception("could not store the transcript of ticket %s", result.ticket.id)
        return
    try:
        message = await channel.send(result.log_text, file=discord.File(io.BytesIO(html.encode()), filename=name),
                                     nonce=f"ob{result.log_outbox_id}",
                                     allowed_mentions=discord.AllowedMentions.none())
    except discord.HTTPException:
        log.warning("could not post the transcript of ticket %s; the outbox sends the note", result.ticket.id,
                    exc_info=True)
        return
    await db_call(services.ticket_log_posted)(outbox_id=result.log_outbox_id, discord_message_id=message.id)




async def reopen_ticket(interaction: discord.Interaction, *, guild_id: int, is_staff: bool, ticket_id: int | None,
                        number: int | None, welcome: Callable) -> None:
    """Reopen a closed ticket: reserve it (one of simultaneous reopens wins), make a new private channel with the
    same number and members, post the reopened welcome with the buttons, answer privately."""
    await defer(interaction, ephemeral=True, thinking=True)
    ticket, earlier = await db_call(services.ticket_reopen)(guild_id=guild_id, actor_id=interaction.user.id,
                                                            is_staff=is_staff, ticket_id=ticket_id, number=number)
    guild = interaction.client.get_guild(guild_id)
    try:
        if guild is None:
            raise ChannelFailed(error="guild not available")
        config = await db_call(config_get)(guild_id=guild_id)
        channel = await channels.create_channel(guild, ticket, config, discord.Object(ticket.opener_id),
                                                interaction.client)
    except BaseException as error:
        await db_call(services.ticket_reopen_failed)(ticket_id=ticket.id, error=repr(error))
        raise
    try:
        ticket = await db_call(services.ticket_channel_created)(guild_id=guild_id, ticket_id=ticket.id,
                                                                channel_id=channel.id)
    except BaseException:
        await channel.delete(reason="reopened ticket could not be recorded")
        await db_call(services.ticket_reopen_failed)(ticket_id=ticket.id, error="could not record the channel")
        raise
    channels.TICKET_CHANNELS[channel.id] = (ticket.id, guild_id)
    for member_id in ticket.member_ids:
        if member_id != ticket.opener_id:
            member = guild.get_member(member_id)
            if member is not None:
                await channels.set_member_access(channel, member, True)
    with translation.override(ticket.language):
        embed, view = welcome(ticket, earlier, interaction.user.id)
    message = await channel.send(f"<@{ticket.opener_id}>", embed=embed, view=view,
                                 nonce=f"tr{ticket.id}n{ticket.number}",
                                 allowed_mentions=discord.AllowedMentions(users=[discord.Object(ticket.opener_id)]))
    await db_call(services.ticket_welcome_sent)(ticket_id=ticket.id, message_id=message.id)
    await answer(interaction, _("Ticket #%(number)s is open again: %(channel)s") % {
        "number": ticket.number, "channel": channel.mention}, ephemeral=True)


async def announce_auto_close(bot: discord.Client, result: services.CloseResult) -> None:
    """A close the bot made (auto-close, expired close request): the public notice in the ticket (best effort: the
    channel is deleted through the outbox anyway), then the log note with the transcript."""
    ticket = result.ticket
    channel = await guild_messageable(bot, ticket.guild_id, ticket.channel_id)
    if channel is not None:
        with translation.override(ticket.language):
            embed = discord.Embed(title=_("🔒 Ticket closed"), colour=discord.Colour.red(),
                                  description=_("Auto-closed: %(reason)s.") % {"reason": result.reason or "–"})
            embed.set_footer(text=_("This channel will be deleted in %(seconds)s seconds.") % {
                "seconds": result.delay_seconds})
        try:
            await channel.send(embed=embed, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException:
            log.warning("ticket %s: could not post the auto-close notice", ticket.id, exc_info=True)
    await post_transcript(bot, result)
