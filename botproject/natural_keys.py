"""Natural-key lookups for fixtures, remembered while one legacy fixture loads.

`loaddata` looks every fixture row up by its natural key, resolves every natural foreign key, and our
`natural_key()` methods need the guild's Discord id: about five queries a ticket, which made 5,000 legacy
tickets take half a minute on PostgreSQL. While a legacy fixture loads (its header calls `begin()`), the
managers answer from a memo instead: a guild by its Discord id, and a guild's tickets and claims by their keys
(read once per guild; rows the load adds are added by the apps' post_save handlers with `remember()`).

The memo belongs to the loaddata transaction block that was open when `begin()` ran: once that block has
ended (loaddata finished, or failed and rolled back), `memo()` is None and every lookup queries again. Nothing
else writes tickets or claims inside that block, so the memo cannot go stale.

This module sits below the models (botproject.models imports it for GuildManager): it imports no models
module back, and finds the Guild model through the app registry when it needs one.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from django.apps import apps
from django.db import connection

_local = threading.local()


def begin() -> None:
    """Start remembering lookups for the current transaction block (a legacy fixture's loaddata)."""
    blocks = connection.atomic_blocks
    _local.scope = (weakref.ref(blocks[-1]), {}) if blocks else None


def memo() -> dict[Any, Any] | None:
    """The memo of the legacy load in progress, or None."""
    scope = getattr(_local, "scope", None)
    if scope is None:
        return None
    block = scope[0]()
    if block is None or not any(b is block for b in connection.atomic_blocks):
        _local.scope = None
        return None
    return scope[1]


def remembered(kind: str, loader) -> dict | None:
    """The memo's table `kind` (filled by `loader()` on first use), or None outside a legacy load."""
    data = memo()
    if data is None:
        return None
    if kind not in data:
        data[kind] = loader()
    return data[kind]


def remember(kind: str, key: Any, value: Any) -> None:
    """Add a row the load just saved to the memo's table `kind`, if that table was read."""
    data = memo()
    if data is not None and kind in data:
        data[kind][key] = value


def guild_discord_id(guild_pk: int) -> int:
    """The Discord id of the guild with this primary key (for natural_key() methods)."""
    table = remembered("guild_ids", dict)
    if table is not None and guild_pk in table:
        return table[guild_pk]
    guilds = apps.get_model("botproject", "Guild")._default_manager
    discord_id = guilds.filter(pk=guild_pk).values_list("discord_id", flat=True).get()
    if table is not None:
        table[guild_pk] = discord_id
    return discord_id
