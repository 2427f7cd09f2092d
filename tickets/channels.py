"""Ticket channel helpers (Discord side): create a ticket's private channel (overflow categories, limits, twins
a retried request made), give or take a member's access, and know which channels are ticket channels.

The flows that use them (open a ticket, close it, post its transcript) are in `tickets/flows.py`. Creations in
one guild go one at a time (a lock per guild), which keeps the overflow category count right and never bursts
into 429s.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import discord

from botproject.bot.preflight import require_bot_permissions
from botproject.selectors import ConfigSnapshot

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


async def set_member_access(channel: discord.TextChannel, member: discord.Member, present: bool) -> None:
    """Give or take a member's access to a ticket channel."""
    require_bot_permissions(channel.guild, "manage_channels", "manage_roles")
    await channel.set_permissions(member, overwrite=_member_overwrite() if present else None,
                                  reason="ticket members changed")
