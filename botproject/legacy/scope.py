"""Ids in legacy files must be the guild's own: a channel the bot has seen in another guild is refused.

The bot records the channels of every guild it is in (DiscordName). A legacy file (or a fixture made from it)
that names, for guild A, a channel the bot knows as guild B's would bind A's ticket or panel to B's channel
(and, on close, have the bot delete it): `convert_legacy` rejects such records with a report line, and
`loaddata` refuses such a row. An id the bot has never seen (an old ticket's deleted channel) stays allowed.
"""

from __future__ import annotations

from collections.abc import Iterable

from botproject.models import DiscordName

CHUNK = 5000


def foreign_channels(guild_id: int, channel_ids: Iterable[int]) -> dict[int, int]:
    """Of `channel_ids`, those the bot recorded as another guild's channel (and never as this guild's): id →
    the other guild's Discord id."""
    ids = sorted({i for i in channel_ids if i is not None})
    found: dict[int, int] = {}
    own: set[int] = set()
    for start in range(0, len(ids), CHUNK):
        rows = DiscordName.objects.filter(kind=DiscordName.Kind.CHANNEL, discord_id__in=ids[start:start + CHUNK])
        for channel_id, owner in rows.values_list("discord_id", "guild__discord_id"):
            if owner == guild_id:
                own.add(channel_id)
            else:
                found.setdefault(channel_id, owner)
    return {channel_id: owner for channel_id, owner in found.items() if channel_id not in own}


def foreign_channel_of(guild_id: int, channel_id: int | None) -> int | None:
    """The other guild whose channel `channel_id` is (None when it is this guild's, or unknown)."""
    if channel_id is None:
        return None
    return foreign_channels(guild_id, [channel_id]).get(channel_id)


def reason(channel_id: int, owner: int, guild_id: int) -> str:
    """The report line / load error for a channel of another guild."""
    return (f"channel {channel_id} is a channel of guild {owner}, not of guild {guild_id}: the bot never binds or "
            f"deletes another guild's channel")


def foreign_channel_table(guild_id: int) -> dict[int, int]:
    """Every channel the bot recorded in another guild and never in this one: id → that guild (for a load)."""
    own = set(DiscordName.objects.filter(kind=DiscordName.Kind.CHANNEL, guild__discord_id=guild_id)
              .values_list("discord_id", flat=True))
    rows = (DiscordName.objects.filter(kind=DiscordName.Kind.CHANNEL).exclude(guild__discord_id=guild_id)
            .values_list("discord_id", "guild__discord_id"))
    return {channel_id: owner for channel_id, owner in rows if channel_id not in own}


def refuse_foreign_channel(guild_pk: int, channel_id: int | None, what: str) -> None:
    """For loaddata: raise LegacyLoadError when a fixture row would bind another guild's channel."""
    from botproject import natural_keys

    from .source import LegacyLoadError

    if channel_id is None:
        return
    guild_id = natural_keys.guild_discord_id(guild_pk)
    table = natural_keys.remembered(("foreign_channels", guild_id), lambda: foreign_channel_table(guild_id))
    owner = table.get(channel_id) if table is not None else foreign_channel_of(guild_id, channel_id)
    if owner is not None:
        raise LegacyLoadError(f"{what}: {reason(channel_id, owner, guild_id)}. Nothing was loaded.")
