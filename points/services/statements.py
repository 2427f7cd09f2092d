"""The SQL of a balance change, built in one place for every path and both databases.

`balance_update` is the guarded UPDATE every change goes through; `profile_insert` starts a member's profile with
the change already applied. Both return the same row (the profile's id, new balance, whether the member takes DM
notices, and whether an open achievement of theirs is now met), so the callers treat them alike.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import connection, models
from django.utils import timezone

from ..models import Achievement, LedgerEntry, MemberAchievement, MemberCountShard, MemberProfile
from .limits import limits_hold_sql
from .types import Change, Limits

Kind = LedgerEntry.Kind
_PLAIN = (int, str, bool)


def _quote(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def stamp_now():
    """The time of a change as the database driver takes it (converted once for all the change's statements)."""
    return connection.ops.adapt_datetimefield_value(timezone.now())


def balance_update(limits: Limits, change: Change, stamp, *, verify: bool, achievements: bool) -> tuple[str, list]:
    """UPDATE of the member's row by `change` at `stamp` (see `stamp_now`), where the guild's floor and cap allow
    it (and the balance is `change.expected_balance`, and with `verify` the cached `limits` still hold). RETURNING
    id, balance, notifications_enabled, met (see `met_sql`; FALSE unless `achievements`); no row: refused, or no
    profile."""
    delta = change.delta
    guards = ["guild_id = %s", "user_id = %s"]
    guard_params: list[Any] = [limits.guild_pk, change.user_id]
    if delta < 0 and not limits.allow_negative:
        guards.append("balance >= %s")
        guard_params.append(-delta)
    if delta > 0:
        guards.append("balance <= %s")
        guard_params.append(limits.max_balance - delta)
    if change.expected_balance is not None:
        guards.append("balance = %s")
        guard_params.append(change.expected_balance)
    if verify:
        hold_sql, hold_params = limits_hold_sql(limits)
        guards.append(hold_sql)
        guard_params += hold_params
    met, met_params = met_sql(limits, change) if achievements else ("FALSE", [])
    sql = (f"UPDATE {_quote(MemberProfile)} SET balance = balance + %s, earned_total = earned_total + %s, "
           f"spent_total = spent_total + %s, entries = entries + 1, last_activity_at = %s, negative_allowed = %s, "
           f"display_name = COALESCE(%s, display_name) WHERE {' AND '.join(guards)} "
           f"RETURNING id, balance, notifications_enabled, {met} AS met")
    params = [delta, max(delta, 0), max(-delta, 0), stamp, limits.allow_negative,
              (change.display_name or "")[:100] or None, *guard_params, *met_params]
    return sql, params


def profile_insert(limits: Limits, change: Change, stamp, *, verify: bool, achievements: bool) -> tuple[str, list]:
    """INSERT of a newcomer's profile with `change` applied, RETURNING what `balance_update` returns.

    Nothing is inserted when the member has a profile after all (or with `verify`, the cached limits no longer
    hold). The caller checks `limits.admits_newcomer(change.delta)` first.
    """
    delta = change.delta
    hold_sql, hold_params = limits_hold_sql(limits) if verify else ("1 = 1", [])
    met, met_params = met_sql(limits, change) if achievements else ("FALSE", [])
    sql = (f"INSERT INTO {_quote(MemberProfile)} (guild_id, user_id, display_name, balance, negative_allowed, "
           f"earned_total, spent_total, entries, last_activity_at, email, notifications_enabled, created_at) "
           f"SELECT %s, %s, %s, %s, %s, %s, %s, 1, %s, '', %s, %s WHERE {hold_sql} "
           f"ON CONFLICT (guild_id, user_id) DO NOTHING RETURNING id, balance, notifications_enabled, {met} AS met")
    params = [limits.guild_pk, change.user_id, (change.display_name or "")[:100], delta, limits.allow_negative,
              max(delta, 0), max(-delta, 0), stamp, True, stamp, *hold_params, *met_params]
    return sql, params


def met_sql(limits: Limits, change: Change) -> tuple[str, list]:
    """EXISTS: an open achievement of the member's that their new balance, earnings or counts meet.

    Evaluated in the RETURNING clause of the member's own statement, where the row is the new one but the
    change's ledger row is not written yet: so this change is added to the claim and helper counts.
    """
    profile = _quote(MemberProfile)
    condition = Achievement.Condition
    counted = {kind: int(change.kind == kind and change.delta > 0) for kind in (Kind.CLAIM, Kind.HELPER)}
    count = (f"(SELECT COUNT(*) FROM {_quote(LedgerEntry)} l WHERE l.member_id = {profile}.id AND l.kind = %s "
             f"AND l.delta > 0) + %s")
    sql = (f"EXISTS (SELECT 1 FROM {_quote(Achievement)} a WHERE a.guild_id = %s AND a.active "
           f"AND NOT EXISTS (SELECT 1 FROM {_quote(MemberAchievement)} m "
           f"WHERE m.achievement_id = a.id AND m.member_id = {profile}.id) "
           f"AND CASE a.condition WHEN %s THEN {profile}.balance WHEN %s THEN {profile}.earned_total "
           f"WHEN %s THEN {count} WHEN %s THEN {count} END >= a.threshold)")
    return sql, [limits.guild_pk, condition.BALANCE_REACHED.value, condition.POINTS_EARNED.value,
                 condition.CLAIMS_MADE.value, Kind.CLAIM.value, counted[Kind.CLAIM],
                 condition.TICKETS_HELPED.value, Kind.HELPER.value, counted[Kind.HELPER]]


def ledger_values(limits: Limits, change: Change, stamp) -> dict[str, Any]:
    """The change's ledger row but its member and balance (by column attname)."""
    return {"guild_id": limits.guild_pk, "delta": change.delta, "kind": change.kind, "actor_id": change.actor_id,
            "actor_user_id": change.actor_user_id, "reason": change.recorded_reason, "idempotency_key": change.key,
            "reverses_id": change.reverses_id, "created_at": stamp}


def count_member(guild_pk: int, user_id: int, *, source: str = "") -> tuple[str, list]:
    """One more member in the guild's count, in the shard picked by their id (see MemberCountShard).

    `source` names a CTE that holds the new profile (PostgreSQL's one statement): counted only if it has a row.
    """
    shards = _quote(MemberCountShard)
    sql = (f"INSERT INTO {shards} (guild_id, shard, members) SELECT %s, %s, 1 {f'FROM {source} ' if source else ''}"
           f"WHERE 1 = 1 ON CONFLICT (guild_id, shard) DO UPDATE SET members = {shards}.members + 1")
    return sql, [guild_pk, user_id % MemberCountShard.SHARDS]


def insert_select(model: type[models.Model], *, source: str, exprs: dict[str, tuple[str, list]],
                  values: dict[str, Any], where: str = "") -> tuple[str, list]:
    """INSERT INTO the model's table (every column, from its fields) SELECT … FROM `source` [WHERE `where`].

    Each column is the SQL in `exprs` (with its parameters), a parameter from `values`, or the field's default
    (`now` for auto_now). The statement's text is built once per shape (it is on the award's hot path).
    """
    sql, slots = _insert_plan(model, connection.vendor, tuple((name, expr) for name, (expr, _p) in exprs.items()),
                              frozenset(values), source, where)
    params: list[Any] = []
    now = None
    for name, field, default in slots:
        if field is None:
            params += exprs[name][1]
            continue
        if name in values:
            value = values[name]
        elif default is _NOW:
            value = now = now or timezone.now()
        else:
            value = field.get_default() if default is _CALL else default
        params.append(value if value is None or type(value) in _PLAIN else field.get_db_prep_save(value, connection))
    return sql, params


_NOW, _CALL = object(), object()


@cache
def _insert_plan(model: type[models.Model], vendor: str, exprs: tuple[tuple[str, str], ...], values: frozenset,
                 source: str, where: str) -> tuple[str, tuple]:
    """The INSERT … SELECT's text and, per column, what fills it: (attname, None, None) an expression, else
    (attname, field, its default: a value, _NOW or _CALL for a default computed on each call)."""
    expr_sql = dict(exprs)
    unknown = (set(expr_sql) | values) - {field.attname for field in model._meta.concrete_fields}
    if unknown:
        raise TypeError(f"{model.__name__} has no column(s) {sorted(unknown)}")
    columns, selects, slots = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.attname in expr_sql:
            selects.append(expr_sql[field.attname])
            slots.append((field.attname, None, None))
            continue
        selects.append("%s")
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            default = _NOW
        elif field.has_default() and callable(field.default):
            default = _CALL
        else:
            default = field.get_default()
        slots.append((field.attname, field, default))
    sql = (f"INSERT INTO {_quote(model)} ({', '.join(columns)}) SELECT {', '.join(selects)} FROM {source}"
           f"{f' WHERE {where}' if where else ''}")
    return sql, tuple(slots)
