"""Resolve stored channel ids through the row's own guild: nothing the bot does reaches across guilds.

A channel id typed in the admin, carried by a fixture or a legacy file, or stored on an outbox row is only
acted on when Discord says the channel belongs to the guild the row belongs to. `bot.get_channel(id)` /
`bot.fetch_channel(id)` of a raw id would find the channel in any guild the bot is in, so never use them.
"""

from __future__ import annotations

import logging

import discord

log = logging.getLogger(__name__)


class ForeignChannel(Exception):
    """The channel exists but not in the row's guild (or the bot is not in that guild): never act on it."""

    def __init__(self, guild_id: int | None, channel_id: int) -> None:
        self.guild_id, self.channel_id = guild_id, channel_id
        super().__init__(f"channel {channel_id} is not a channel of guild {guild_id}")


async def guild_channel(bot: discord.Client, guild_id: int | None, channel_id: int | None):
    """The channel (or thread) `channel_id` of guild `guild_id`; None when Discord says it is gone.

    Raises ForeignChannel when the bot is not in that guild, or when the channel is another guild's (or a DM).
    Cached channels answer without a request; an uncached id is fetched and its guild checked.
    """
    if channel_id is None:
        return None
    guild = bot.get_guild(guild_id) if guild_id else None
    if guild is None:
        raise ForeignChannel(guild_id, channel_id)
    channel = guild.get_channel_or_thread(channel_id)
    if channel is not None:
        return channel
    if bot.get_channel(channel_id) is not None:  # cached, but in another guild (or a DM)
        raise ForeignChannel(guild_id, channel_id)
    try:
        channel = await bot.fetch_channel(channel_id)
    except discord.NotFound:
        return None
    except discord.Forbidden as error:  # the bot cannot see it: not a channel of a guild it serves
        raise ForeignChannel(guild_id, channel_id) from error
    if getattr(getattr(channel, "guild", None), "id", None) != guild.id:
        log.warning("channel %s belongs to another guild than %s: ignored", channel_id, guild_id)
        raise ForeignChannel(guild_id, channel_id)
    return channel


async def guild_messageable(bot: discord.Client, guild_id: int | None, channel_id: int | None):
    """The guild's channel to post in, or None (gone, another guild's, not a text channel); never raises."""
    try:
        channel = await guild_channel(bot, guild_id, channel_id)
    except ForeignChannel:
        log.warning("channel %s is not in guild %s: nothing is posted there", channel_id, guild_id)
        return None
    return channel if isinstance(channel, discord.abc.Messageable) else None
