"""Discord side of a ticket's channel: create it privately (overflow categories, limits), announce closes.

Channel creation may wait a long time on Discord's rate limit, so the click is deferred first and the
member is answered with a followup. Creations in one guild go one at a time (a lock per guild), which
keeps the overflow category count right and never bursts into 429s.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time

import aiohttp
import discord
from django.utils import translation
from django.utils.translation import gettext as _

from botproject.bot.checks import require
from botproject.bot.db import db_call
from botproject.bot.preflight import require_bot_permissions
from botproject.bot.replies import answer, defer
from botproject.bot.scope import guild_messageable
from botproject.selectors import Access, ConfigSnapshot, MemberAccess

from . import services
from .exceptions import ChannelFailed, ChannelLimit
from .selectors import TicketView

log = logging.getLogger(__name__)
CATEGORY_LIMIT = 50  # Discord: channels per category
GUILD_LIMIT = 500  # Discord: channels per guild
DEFAULT_CATEGORY = "Tickets"
MAX_CHANNEL_LIMIT_CODE = 30013
TWIN_WAIT_SECONDS = 2.0  # how long a create that got no answer waits for the gateway to announce its channel

# Ticket channel id → (ticket id, the ticket's guild), for the transcript listeners (loaded at start, kept up to
# date here). Only events of that guild are archived: a legacy ticket bound to another guild's channel id must
# never copy that guild's messages into its transcript.
TICKET_CHANNELS: dict[int, tuple[int, int]] = {}


def ticket_of_channel(channel_id: int, guild_id: int | None) -> int | None:
    """The ticket whose channel this is, when the event comes from the ticket's own guild."""
    found = TICKET_CHANNELS.get(channel_id)
    if found is None:
        return None
    ticket_id, ticket_guild = found
    if guild_id != ticket_guild:
        log.warning("ticket %s: channel %s is not in the ticket's guild; its messages are not archived",
                    ticket_id, channel_id)
        return None
    return ticket_id
_locks: dict[int, asyncio.Lock] = {}
# One lock per ticket channel: a message's create, edits and delete are archived in arrival order (with
# several database threads an edit could overtake the message it edits), and a close waits for the
# messages that arrived before it, so the stored transcript has them.
ARCHIVE_LOCKS: dict[int, asyncio.Lock] = {}


def archive_lock(channel_id: int | None) -> asyncio.Lock:
    """The archive lock of a ticket channel."""
    return ARCHIVE_LOCKS.setdefault(channel_id or 0, asyncio.Lock())
_recent: dict[int, dict[int, float]] = {}  # category id → {channel id just created: when}


def is_ticket_staff(access: MemberAccess, member: discord.abc.User, ticket: TicketView) -> bool:
    """Admins; the category's staff role when it has one; otherwise the server's staff."""
    if access.at_least(Access.ADMIN):
        return True
    override = ticket.category.staff_role_id if ticket.category else None
    if override:
        return any(role.id == override for role in getattr(member, "roles", []))
    return access.at_least(Access.STAFF)


def _member_overwrite() -> discord.PermissionOverwrite:
    return discord.PermissionOverwrite(view_channel=True, send_messages=True, read_message_history=True,
                                       attach_files=True, embed_links=True)


def _overwrites(guild: discord.Guild, ticket: TicketView, config: ConfigSnapshot, opener: discord.abc.Snowflake):
    staff = discord.PermissionOverwrite(view_channel=True, send_messages=True, read_message_history=True,
                                        attach_files=True, embed_links=True, manage_messages=True)
    overwrites = {
        guild.default_role: discord.PermissionOverwrite(view_channel=False),
        guild.me: discord.PermissionOverwrite(view_channel=True, send_messages=True, read_message_history=True,
                                              embed_links=True, attach_files=True, manage_messages=True),
        opener: _member_overwrite(),
    }
    role_ids = {ticket.staff_role_id, *config.admin_role_ids}
    role_ids |= {r.id for r in guild.roles if r.permissions.manage_guild or r.permissions.administrator}
    for role_id in role_ids - {None, guild.default_role.id}:
        role = guild.get_role(role_id)
        if role is not None and not role.managed:
            overwrites[role] = staff
    return overwrites


def _children(category: discord.CategoryChannel) -> int:
    now = time.monotonic()
    recent = _recent.setdefault(category.id, {})
    for channel_id, at in list(recent.items()):
        if now - at > 30 or any(c.id == channel_id for c in category.channels):
            recent.pop(channel_id, None)
    return len(category.channels) + len(recent)


async def _parent(client: discord.Client, guild: discord.Guild, config: ConfigSnapshot) -> discord.CategoryChannel:
    """The tickets category (created if missing), or an overflow category when it is full."""
    base = guild.get_channel(config.tickets_category_id or 0)
    if not isinstance(base, discord.CategoryChannel):
        base = discord.utils.get(guild.categories, name=DEFAULT_CATEGORY)
    hidden = {guild.default_role: discord.PermissionOverwrite(view_channel=False),
              guild.me: discord.PermissionOverwrite(view_channel=True, send_messages=True, read_message_history=True)}
    if base is None:
        base = await guild.create_category(DEFAULT_CATEGORY, overwrites=hidden, reason="tickets category")
        await _remove_twins(client, guild, base.name, keep=base.id, category=True)
    if _children(base) < CATEGORY_LIMIT:
        return base
    number = 2
    while True:
        name = f"{base.name} {number}"
        overflow = discord.utils.get(guild.categories, name=name)
        if overflow is None:
            overflow = await guild.create_category(name, overwrites=hidden, reason="tickets overflow category")
            await _remove_twins(client, guild, name, keep=overflow.id, category=True)
            return overflow
        if _children(overflow) < CATEGORY_LIMIT:
            return overflow
        number += 1


async def create_channel(guild: discord.Guild, ticket: TicketView, config: ConfigSnapshot,
                         opener: discord.abc.Snowflake, client: discord.Client) -> discord.TextChannel:
    """Create #ticket-<code> visible to the opener, staff, admins and the bot only."""
    require_bot_permissions(guild, "manage_channels", "view_channel", "send_messages", "embed_links")
    async with _locks.setdefault(guild.id, asyncio.Lock()):
        if len(guild.channels) >= GUILD_LIMIT:
            raise ChannelLimit()
        try:
            parent = await _parent(client, guild, config)
            channel = await guild.create_text_channel(
                ticket.channel_name, category=parent, overwrites=_overwrites(guild, ticket, config, opener),
                topic=f"#{ticket.number} · {ticket.category_name} · <@{ticket.opener_id}>",
                reason=f"ticket #{ticket.number} of {ticket.opener_id}")
        except discord.HTTPException as error:
            if error.code == MAX_CHANNEL_LIMIT_CODE:
                raise ChannelLimit() from error
            await _remove_twins(client, guild, ticket.channel_name, keep=None)
            raise ChannelFailed(error=f"{error.status} {error.code}") from error
        except (aiohttp.ClientError, TimeoutError) as error:  # the connection dropped: made or not?
            await _remove_twins(client, guild, ticket.channel_name, keep=None, wait=True)
            raise ChannelFailed(error=type(error).__name__) from error
        _recent.setdefault(parent.id, {})[channel.id] = time.monotonic()
        await _remove_twins(client, guild, ticket.channel_name, keep=channel.id)
        return channel


async def _remove_twins(client: discord.Client, guild: discord.Guild, name: str, *, keep: int | None,
                        category: bool = False, wait: bool = False) -> None:
    """Delete namesakes of a channel the bot just made: a create whose reply was lost after Discord made it.

    discord.py retries a create answered 500/502/504 (after a second or more, by when the gateway has announced
    the first channel), so the retry makes a second one; a dropped connection leaves one the bot never heard of.
    The bot creates a ticket channel (named after its random code) or a tickets category only when none of that
    name exists, so a namesake is such a twin. `wait`: give the gateway a moment to announce a channel that may
    or may not have been made.
    """
    def twin(channel: discord.abc.GuildChannel) -> bool:
        return (channel.guild.id == guild.id and channel.name == name and channel.id != keep
                and isinstance(channel, discord.CategoryChannel if category else discord.TextChannel))

    twins = [c for c in (guild.categories if category else guild.text_channels) if twin(c)]
    if not twins and wait:
        try:
            twins = [await client.wait_for("guild_channel_create", check=twin, timeout=TWIN_WAIT_SECONDS)]
        except TimeoutError:
            return
    for channel in twins:
        if category and channel.channels:
            continue  # in use: not a twin made a moment ago
        try:
            await channel.delete(reason="a second channel made by a retried request")
        except discord.NotFound:
            pass
        except discord.HTTPException:
            log.warning("could not delete the extra channel %s (%s)", channel.id, name, exc_info=True)


async def open_ticket(interaction: discord.Interaction, *, category_id: int, panel_id: int | None = None) -> None:
    """A panel click: defer at once, reserve the ticket, create the channel, welcome, answer privately."""
    from . import ui

    await defer(interaction, ephemeral=True, thinking=True)
    access = await require(interaction, Access.MEMBER, refuse_blocked=True, module="tickets")
    ticket = await db_call(services.ticket_open)(guild_id=interaction.guild_id, category_id=category_id,
                                                 opener_id=interaction.user.id, panel_id=panel_id)
    try:
        channel = await create_channel(interaction.guild, ticket, access.config, interaction.user,
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
    TICKET_CHANNELS[channel.id] = (ticket.id, interaction.guild_id)
    with translation.override(ticket.language):
        embed, view = ui.welcome_embed(ticket), ui.ticket_view(ticket.id)
    # The nonce makes discord.py's retry of a send whose reply was lost return the first message, not post twice.
    message = await channel.send(interaction.user.mention, embed=embed, view=view, nonce=f"tw{ticket.id}",
                                 allowed_mentions=discord.AllowedMentions(users=[interaction.user]))
    await db_call(services.ticket_welcome_sent)(ticket_id=ticket.id, message_id=message.id)
    await answer(interaction, _("Your ticket is ready: %(channel)s") % {"channel": channel.mention}, ephemeral=True)


async def announce_close(interaction: discord.Interaction, result: services.CloseResult) -> None:
    """The public notice in the ticket channel, then the log note with the transcript file (best effort)."""
    ticket = result.ticket
    with translation.override(ticket.language):
        if result.path == "works":
            embed = discord.Embed(title=_("✅ Problem solved"), colour=discord.Colour.green(),
                                  description=_("%(user)s confirmed the solution.") % {"user": f"<@{result.closed_by_id}>"})
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


async def set_member_access(channel: discord.TextChannel, member: discord.Member, present: bool) -> None:
    """Give or take a member's access to a ticket channel."""
    require_bot_permissions(channel.guild, "manage_channels", "manage_roles")
    await channel.set_permissions(member, overwrite=_member_overwrite() if present else None,
                                  reason="ticket members changed")
