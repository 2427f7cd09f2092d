"""The guild's points limits for the write path: a per-process copy every write re-checks, and amount validation.

A cached copy is never acted on unchecked: the write's own statement holds only while the configuration rows are
still what the copy says (`limits_hold_sql`); when they are not, nothing is written and the caller re-reads them.
"""

from __future__ import annotations

from django.db import connection

from botproject.models import Guild, GuildConfig
from botproject.services import config_row

from ..exceptions import AboveLimit, InvalidAmount
from .types import Limits

_cache: dict[int, Limits] = {}  # guild id → its last seen limits


def limits_for(guild_id: int, *, fresh: bool = False) -> Limits:
    """The guild's limits: the cached copy, or one plain SELECT (creating the guild's rows on first use)."""
    if not fresh and (cached := _cache.get(guild_id)) is not None:
        return cached
    guild_table, config_table = (connection.ops.quote_name(m._meta.db_table) for m in (Guild, GuildConfig))
    sql = (f"SELECT g.id, g.name, c.language, c.points_max_adjustment, c.points_max_balance, c.points_allow_negative "
           f"FROM {guild_table} g JOIN {config_table} c ON c.guild_id = g.id WHERE g.discord_id = %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [guild_id])
        row = cursor.fetchone()
    if row is None:
        limits = Limits.of(config_row(guild_id))
    else:
        pk, name, language, max_adjustment, max_balance, allow_negative = row
        limits = Limits(pk, guild_id, name, language, max_adjustment, max_balance, bool(allow_negative))
    _cache[guild_id] = limits
    return limits


def forget_limits(guild_id: int) -> None:
    """Drop the cached copy (the next award reads the configuration again)."""
    _cache.pop(guild_id, None)


def limits_hold_sql(limits: Limits) -> tuple[str, list]:
    """SQL (and its parameters) true while the guild's configuration is still what `limits` says."""
    quote = connection.ops.quote_name
    sql = (f"EXISTS (SELECT 1 FROM {quote(Guild._meta.db_table)} g JOIN {quote(GuildConfig._meta.db_table)} c "
           f"ON c.guild_id = g.id WHERE g.id = %s AND g.name = %s AND c.language = %s AND c.points_max_adjustment = %s "
           f"AND c.points_max_balance = %s AND c.points_allow_negative = %s)")
    return sql, [limits.guild_pk, limits.name, limits.language, limits.max_adjustment, limits.max_balance,
                 limits.allow_negative]


def check_amount(amount: int, max_adjustment: int | None = None, *, allow_zero: bool = False) -> None:
    """Refuse an amount that is not a whole number above 0 (or 0 with `allow_zero`), or above `max_adjustment`."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidAmount()
    if max_adjustment is not None and amount > max_adjustment:
        raise AboveLimit(limit=max_adjustment)
