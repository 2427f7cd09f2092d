"""The award/deduction hot path for a member who already has a profile, in as few statements as possible.

Awards are the bot's most frequent write (claims, helper points, staff commands). Through the ORM one
cost ~1.7 ms of Python for ~0.25 ms of database work. Here the guild's limits come from a per-process
copy that the write itself re-checks against the rows (a stale copy writes nothing and is re-read), and:

- PostgreSQL: one statement (data-modifying CTEs: UPDATE … RETURNING → INSERT ledger → INSERT outbox).
  Called outside a transaction block it is its own transaction — all three rows or none — so an award
  is one round trip and the hot member's row lock is held for that statement and its commit only;
- SQLite: the same three writes as separate statements inside the caller's transaction (in-process
  calls, no round trips).

Anything unusual — a new member, a refusal that needs explaining, achievements to check — returns None and
the general path in `ledger.py` decides, with the ORM.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from botproject import outbox
from botproject.models import Guild, GuildConfig, OutboxMessage
from botproject.services import config_row as ensure_guild
from botproject.sql import insert_row

from ..models import Achievement, LedgerEntry, MemberAchievement, MemberCountShard, MemberProfile

_BALANCE = "\x00balance\x00"  # stands for the new balance in a notice PostgreSQL completes
_PG_NUMBER = "FM9,999,999,999,999,999,999,990"  # to_char's picture of Python's f"{n:,}"
# The outbox row the PostgreSQL statement writes, column by column (a test keeps this in step with the model).
OUTBOX_COLUMNS = ("guild_id", "kind", "target_id", "message_id", "content", "embed", "email_to", "subject", "html",
                  "dedupe_key", "status", "attempts", "last_error", "discord_message_id", "created_at",
                  "available_at", "sent_at")


@dataclass(frozen=True)
class LedgerResult:
    """What a balance change did."""

    entry_id: int
    user_id: int
    delta: int
    balance: int
    kind: str
    replayed: bool
    achievements: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    """What an award or deduction needs from the guild's configuration (a cached copy, verified on use)."""

    guild_pk: int
    name: str
    language: str
    max_adjustment: int
    max_balance: int
    allow_negative: bool

    def guild_name(self, guild_id: int) -> str:
        return self.name or str(guild_id)


# Guild id → its last seen limits. Every write re-checks them against the rows in the same statement
# (see _profile_update), so a copy that an admin edit made stale is never acted on, only re-read.
_cache: dict[int, Limits] = {}


def notice_text(language: str, guild_name: str, *, delta: int, reason: str, kind: str, balance: str) -> str:
    """The member's DM about a balance change, in the guild's language."""
    with translation.override(language):
        return gettext("%(delta)s points in %(guild)s (%(reason)s). Your balance: %(balance)s.") % {
            "delta": f"{delta:+,}", "guild": guild_name, "reason": reason or LedgerEntry.Kind(kind).label,
            "balance": balance,
        }


def limits_for(guild_id: int, *, fresh: bool = False) -> Limits:
    """The guild's points limits: the cached copy, or one plain SELECT (creating the guild's rows on first use)."""
    if not fresh and (cached := _cache.get(guild_id)) is not None:
        return cached
    guild_table, config_table = (connection.ops.quote_name(m._meta.db_table) for m in (Guild, GuildConfig))
    sql = (f"SELECT g.id, g.name, c.language, c.points_max_adjustment, c.points_max_balance, c.points_allow_negative "
           f"FROM {guild_table} g JOIN {config_table} c ON c.guild_id = g.id WHERE g.discord_id = %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [guild_id])
        row = cursor.fetchone()
    if row is None:
        config = ensure_guild(guild_id)
        row = (config.guild_id, config.guild.name, config.language, config.points_max_adjustment,
               config.points_max_balance, config.points_allow_negative)
    pk, name, language, max_adjustment, max_balance, allow_negative = row
    limits = _cache[guild_id] = Limits(pk, name, language, max_adjustment, max_balance, bool(allow_negative))
    return limits


def forget_limits(guild_id: int) -> None:
    """Drop the cached copy (the next award reads the configuration again)."""
    _cache.pop(guild_id, None)


def _limits_hold(limits: Limits) -> tuple[str, list]:
    """SQL (and its parameters) true while the guild's configuration is still what `limits` cached."""
    quote = connection.ops.quote_name
    sql = (f"EXISTS (SELECT 1 FROM {quote(Guild._meta.db_table)} g JOIN {quote(GuildConfig._meta.db_table)} c "
           f"ON c.guild_id = g.id WHERE g.id = %s AND g.name = %s AND c.language = %s AND c.points_max_adjustment = %s "
           f"AND c.points_max_balance = %s AND c.points_allow_negative = %s)")
    return sql, [limits.guild_pk, limits.name, limits.language, limits.max_adjustment, limits.max_balance,
                 limits.allow_negative]


def _profile_insert(limits: Limits, user_id: int, delta: int, display_name: str | None, now) -> tuple[str, list]:
    """INSERT of a newcomer's profile with the change already applied, RETURNING what `_profile_update` returns.

    Nothing is inserted when the member has a profile after all, or the cached limits no longer hold.
    """
    quote = connection.ops.quote_name
    limits_sql, limits_params = _limits_hold(limits)
    sql = (f"INSERT INTO {quote(MemberProfile._meta.db_table)} (guild_id, user_id, display_name, balance, "
           f"negative_allowed, earned_total, spent_total, entries, last_activity_at, email, notifications_enabled, "
           f"created_at) SELECT %s, %s, %s, %s, %s, %s, %s, 1, %s, '', %s, %s WHERE {limits_sql} "
           f"ON CONFLICT (guild_id, user_id) DO NOTHING RETURNING id, balance, notifications_enabled, earned_total")
    stamp = connection.ops.adapt_datetimefield_value(now)
    params = [limits.guild_pk, user_id, (display_name or "")[:100], delta, limits.allow_negative, max(delta, 0),
              max(-delta, 0), stamp, True, stamp, *limits_params]
    return sql, params


def _profile_update(limits: Limits, user_id: int, delta: int, display_name: str | None, now) -> tuple[str, list]:
    """UPDATE … RETURNING id, balance, notifications_enabled, guarded by the guild's floor and cap."""
    guards = ["guild_id = %s", "user_id = %s"]
    guard_params: list[int] = [limits.guild_pk, user_id]
    if delta < 0 and not limits.allow_negative:
        guards.append("balance >= %s")
        guard_params.append(-delta)
    if delta > 0:
        guards.append("balance <= %s")
        guard_params.append(limits.max_balance - delta)
    # The cached limits still hold: otherwise nothing is written and the caller re-reads them.
    quote = connection.ops.quote_name
    limits_sql, limits_params = _limits_hold(limits)
    guards.append(limits_sql)
    guard_params += limits_params
    sql = (f"UPDATE {quote(MemberProfile._meta.db_table)} SET balance = balance + %s, "
           f"earned_total = earned_total + %s, spent_total = spent_total + %s, entries = entries + 1, "
           f"last_activity_at = %s, negative_allowed = %s, display_name = COALESCE(%s, display_name) "
           f"WHERE {' AND '.join(guards)} RETURNING id, balance, notifications_enabled, earned_total")
    params = [delta, max(delta, 0), max(-delta, 0), connection.ops.adapt_datetimefield_value(now),
              limits.allow_negative, (display_name or "")[:100] or None, *guard_params]
    return sql, params


def apply_to_known_member(limits: Limits, *, guild_id: int, user_id: int, delta: int, kind: str, key: str, reason: str,
                          actor_id: int | None, actor_user, display_name: str | None,
                          notify: bool) -> LedgerResult | None:
    """Apply the change, write its ledger row and DM notice; None when the general path must decide."""
    return apply_and_check(limits, guild_id=guild_id, user_id=user_id, delta=delta, kind=kind, key=key,
                           reason=reason, actor_id=actor_id, actor_user=actor_user, display_name=display_name,
                           notify=notify)[0]


def apply_and_check(limits: Limits, *, guild_id: int, user_id: int, delta: int, kind: str, key: str, reason: str,
                    actor_id: int | None, actor_user, display_name: str | None, notify: bool,
                    achievements: bool = False) -> tuple[LedgerResult | None, bool | None]:
    """`apply_to_known_member`, and with `achievements` on PostgreSQL whether one of the member's open
    achievements is now met, told by the same statement (None: not told; the caller checks)."""
    now = timezone.now()
    entry, notice = _entry_and_notice(limits, guild_id=guild_id, delta=delta, kind=kind, key=key, reason=reason,
                                      actor_id=actor_id, actor_user=actor_user, notify=notify, now=now)
    update_sql, update_params = _profile_update(limits, user_id, delta, display_name, now)
    if connection.vendor == "postgresql":
        return _in_one_statement(limits, user_id, entry, notice, update_sql, update_params, now, achievements)

    with connection.cursor() as cursor:
        cursor.execute(update_sql, update_params)
        row = cursor.fetchone()
    if row is None:
        return None, None
    profile_pk, balance, notifications, _earned = row
    entry_id = insert_row(LedgerEntry, member_id=profile_pk, balance_after=balance, **entry)
    if notice is not None and notifications:
        outbox.enqueue_dm(guild=limits.guild_pk, user_id=user_id, content=notice.replace(_BALANCE, f"{balance:,}"),
                          dedupe_key=f"dm:ledger:{entry_id}")
    return LedgerResult(entry_id, user_id, delta, balance, kind, False), None


def apply_to_newcomer(limits: Limits, *, guild_id: int, user_id: int, delta: int, kind: str, key: str, reason: str,
                      actor_id: int | None, actor_user, display_name: str | None, notify: bool, achievements: bool,
                      count_shard: int) -> tuple[LedgerResult | None, bool | None]:
    """PostgreSQL, outside a transaction block: a member's first change in one statement (their profile with the
    change applied, the ledger row, the notice and one more member in the guild's count shard `count_shard`).

    (None, None) when it cannot apply: the member has a profile after all, a deduction below zero or above the
    cap that needs explaining, or a configuration changed since it was cached; the general path then decides.
    """
    if (delta < 0 and not limits.allow_negative) or delta > limits.max_balance:
        return None, None
    now = timezone.now()
    entry, notice = _entry_and_notice(limits, guild_id=guild_id, delta=delta, kind=kind, key=key, reason=reason,
                                      actor_id=actor_id, actor_user=actor_user, notify=notify, now=now)
    insert_sql, insert_params = _profile_insert(limits, user_id, delta, display_name, now)
    shards = connection.ops.quote_name(MemberCountShard._meta.db_table)
    count_sql = (f", c AS (INSERT INTO {shards} (guild_id, shard, members) SELECT %s, %s, 1 FROM p "
                 f"ON CONFLICT (guild_id, shard) DO UPDATE SET members = {shards}.members + 1)")
    return _in_one_statement(limits, user_id, entry, notice, insert_sql, insert_params, now, achievements,
                             extra=(count_sql, [limits.guild_pk, count_shard]))


def _entry_and_notice(limits: Limits, *, guild_id: int, delta: int, kind: str, key: str, reason: str,
                      actor_id: int | None, actor_user, notify: bool, now) -> tuple[dict, str | None]:
    """The ledger row's columns (but the member and balance) and the DM notice with the balance left open."""
    reason = reason[:500]
    entry = {"guild_id": limits.guild_pk, "delta": delta, "kind": kind, "actor_id": actor_id,
             "actor_user_id": actor_user.pk if actor_user is not None else None, "reason": reason,
             "idempotency_key": key, "reverses_id": None, "created_at": now}
    notice = None
    if notify:
        notice = notice_text(limits.language, limits.guild_name(guild_id), delta=delta, reason=reason, kind=kind,
                             balance=_BALANCE)
    return entry, notice


def _in_one_statement(limits: Limits, user_id: int, entry: dict, notice: str | None, update_sql: str,
                      update_params: list, now, achievements: bool,
                      extra: tuple[str, list] = ("", [])) -> tuple[LedgerResult | None, bool | None]:
    quote = connection.ops.quote_name
    ledger_columns = ["member_id", "balance_after", *entry]
    ledger_sql = (f"INSERT INTO {quote(LedgerEntry._meta.db_table)} ({', '.join(map(quote, ledger_columns))}) "
                  f"SELECT p.id, p.balance, {', '.join(['%s'] * len(entry))} FROM p RETURNING id")
    params = [*update_params, *entry.values()]
    outbox_sql = ""
    if notice is not None:
        before, after = notice.split(_BALANCE, 1)
        # Every column of the outbox row (its defaults written out), the content completed with the balance.
        outbox_sql = (
            f", o AS (INSERT INTO {quote(OutboxMessage._meta.db_table)} ({', '.join(map(quote, OUTBOX_COLUMNS))}) "
            f"SELECT %s, %s, %s, NULL, left(%s || to_char(p.balance, '{_PG_NUMBER}') || %s, 2000), NULL, '', '', '', "
            f"'dm:ledger:' || e.id, %s, 0, '', NULL, %s, %s, NULL FROM p, e WHERE p.notifications_enabled "
            f"RETURNING id)")
        params += [limits.guild_pk, OutboxMessage.Kind.DM.value, user_id, before, after,
                   OutboxMessage.Status.PENDING.value, now, now]
    extra_sql, extra_params = extra
    params += extra_params
    met_sql = "NULL"
    if achievements:
        met_sql, met_params = _met_sql(limits, entry)
        params += met_params
    sql = (f"WITH p AS ({update_sql}), e AS ({ledger_sql}){outbox_sql}{extra_sql} "
           f"SELECT e.id, p.balance, {'(SELECT count(*) FROM o)' if outbox_sql else '0'}, {met_sql} FROM p, e")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None, None
    entry_id, balance, notices, met = row
    if notices:
        transaction.on_commit(outbox.wake)
    return LedgerResult(entry_id, user_id, entry["delta"], balance, entry["kind"], False), met


def _met_sql(limits: Limits, entry: dict) -> tuple[str, list]:
    """EXISTS: an open achievement of the member's that the new balance, earnings or counts meet.

    The statement cannot see its own ledger row, so this change is added to the claim and helper counts.
    """
    quote = connection.ops.quote_name
    ledger = quote(LedgerEntry._meta.db_table)
    condition = Achievement.Condition
    counted = {kind: int(entry["kind"] == kind and entry["delta"] > 0)
               for kind in (LedgerEntry.Kind.CLAIM, LedgerEntry.Kind.HELPER)}
    count = f"(SELECT COUNT(*) FROM {ledger} l WHERE l.member_id = p.id AND l.kind = %s AND l.delta > 0) + %s"
    sql = (f"EXISTS (SELECT 1 FROM {quote(Achievement._meta.db_table)} a WHERE a.guild_id = %s AND a.active "
           f"AND NOT EXISTS (SELECT 1 FROM {quote(MemberAchievement._meta.db_table)} m "
           f"WHERE m.achievement_id = a.id AND m.member_id = p.id) "
           f"AND CASE a.condition WHEN %s THEN p.balance WHEN %s THEN p.earned_total "
           f"WHEN %s THEN {count} WHEN %s THEN {count} END >= a.threshold)")
    return sql, [limits.guild_pk, condition.BALANCE_REACHED.value, condition.POINTS_EARNED.value,
                 condition.CLAIMS_MADE.value, LedgerEntry.Kind.CLAIM.value, counted[LedgerEntry.Kind.CLAIM],
                 condition.TICKETS_HELPED.value, LedgerEntry.Kind.HELPER.value, counted[LedgerEntry.Kind.HELPER]]
