"""Points writes: every balance change is one transaction with a conditional UPDATE and its ledger row.

Replaying an idempotency key returns the first result and changes nothing. Limits come from the
guild's configuration; the database's check constraint is the last line of defence.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone, translation
from django.utils.translation import gettext

from botproject import outbox
from botproject.models import Guild, GuildConfig
from botproject.services import config_row as ensure_guild

from ..exceptions import (
    AboveLimit, AlreadyReversed, BalanceCapReached, ConfirmationRequired, InsufficientPoints, InvalidAmount,
    UnknownEntry,
)
from ..models import (
    Achievement, GuildPointsStats, LedgerEntry, MemberAchievement, MemberCountShard, MemberProfile,
)
from .hotpath import (
    LedgerResult, Limits, apply_and_check, apply_to_newcomer, forget_limits, limits_for, notice_text,
)

Kind = LedgerEntry.Kind
MAX_ACHIEVEMENT_ROUNDS = 10


def _profile(guild: Guild, user_id: int, display_name: str | None) -> MemberProfile:
    profile, created = MemberProfile.objects.get_or_create(
        guild=guild, user_id=user_id, defaults={"display_name": (display_name or "")[:100]}
    )
    if created:
        # The exact member count ranks need, kept in the same transaction as the new profile.
        if not GuildPointsStats.objects.filter(guild=guild).update(members=F("members") + 1):
            points_recount_members(guild_id=guild.discord_id)
    if display_name and not created and profile.display_name != display_name[:100]:
        MemberProfile.objects.filter(pk=profile.pk).update(display_name=display_name[:100])
    return profile


def _replay(key: str) -> LedgerResult | None:
    entry = LedgerEntry.objects.select_related("member").filter(idempotency_key=key).first()
    if entry is None:
        return None
    return LedgerResult(entry.pk, entry.member.user_id, entry.delta, entry.balance_after, entry.kind, True)


def _check_amount(amount: int, max_adjustment: int, *, allow_zero: bool = False) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidAmount()
    if amount > max_adjustment:
        raise AboveLimit(limit=max_adjustment)


def _mention(profile: MemberProfile) -> str:
    return f"<@{profile.user_id}>"


def _write(config: GuildConfig, profile: MemberProfile, delta: int, *, kind: str, key: str, reason: str,
           actor_id: int | None, actor_user, expected_balance: int | None = None,
           reverses: LedgerEntry | None = None) -> LedgerEntry:
    """Apply `delta` with a conditional UPDATE and write its ledger row (inside the caller's transaction)."""
    guard = {}
    if delta < 0 and not config.points_allow_negative:
        guard["balance__gte"] = -delta
    if delta > 0:
        guard["balance__lte"] = config.points_max_balance - delta
    if expected_balance is not None:
        guard["balance"] = expected_balance
    balance = _conditional_update(profile.pk, delta, guard, config.points_allow_negative)
    if balance is None:
        current = MemberProfile.objects.values_list("balance", flat=True).get(pk=profile.pk)
        if delta > 0:
            raise BalanceCapReached(member=_mention(profile), limit=config.points_max_balance)
        raise InsufficientPoints(member=_mention(profile), balance=current, amount=-delta)
    return LedgerEntry.objects.create(
        guild=config.guild, member=profile, delta=delta, balance_after=balance, kind=kind, actor_id=actor_id,
        actor_user=actor_user, reason=reason[:500], idempotency_key=key, reverses=reverses,
    )


_GUARD_SQL = {"balance__gte": "balance >= %s", "balance__lte": "balance <= %s", "balance": "balance = %s"}


def _conditional_update(profile_pk: int, delta: int, guard: dict[str, int], negative_allowed: bool) -> int | None:
    """One statement: apply the delta where the guard holds and return the new balance (None: refused).

    The ORM's update() cannot return the new value; a separate SELECT would cost a round trip on
    every award, the hottest write in the bot.
    """
    table = connection.ops.quote_name(MemberProfile._meta.db_table)
    conditions = " AND ".join(["id = %s", *(_GUARD_SQL[name] for name in guard)])
    sql = (f"UPDATE {table} SET balance = balance + %s, earned_total = earned_total + %s, "
           f"spent_total = spent_total + %s, entries = entries + 1, last_activity_at = %s, negative_allowed = %s "
           f"WHERE {conditions} RETURNING balance")
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params = [delta, max(delta, 0), max(-delta, 0), now, negative_allowed, profile_pk, *guard.values()]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


_ACHIEVEMENT_CACHE_SECONDS = 30.0
_guilds_with_achievements: dict[int, tuple[float, bool]] = {}


def _has_achievements(guild_pk: int) -> bool:
    """Whether the guild has active achievements; cached briefly, as most guilds have none."""
    cached = _guilds_with_achievements.get(guild_pk)
    now = time.monotonic()
    if cached and now - cached[0] < _ACHIEVEMENT_CACHE_SECONDS:
        return cached[1]
    value = Achievement.objects.filter(guild_id=guild_pk, active=True).exists()
    _guilds_with_achievements[guild_pk] = (now, value)
    return value


@receiver([post_save, post_delete], sender=Achievement, dispatch_uid="points.forget_achievement_cache")
def forget_achievement_cache(sender=None, instance: Achievement | None = None, **kwargs) -> None:
    """Drop the cached answer when achievements change in this process (other processes: within 30 s)."""
    if instance is None:
        _guilds_with_achievements.clear()
    else:
        _guilds_with_achievements.pop(instance.guild_id, None)


def _achievements(config: GuildConfig, profile: MemberProfile, *, locked: bool = False) -> list[str]:
    """Award every achievement the member now qualifies for (bonuses may unlock more), once each.

    A bonus locks the member's row until the commit, and every other change to that member waits for it: so the
    reads and the notices come first, and the rounds after a bonus are decided in memory (a bonus moves only the
    balance and the earnings; the claim and helper counts stay as they are). With `locked` the caller has just
    read `profile` with its row locked: it is not read again, and its balance is kept up to date here.
    """
    earned: list[str] = []
    if not _has_achievements(config.guild_id):
        return earned
    pending = list(Achievement.objects.filter(guild=config.guild, active=True).exclude(awards__member=profile))
    if not pending:
        return earned
    if not locked:
        profile.refresh_from_db(fields=["balance", "earned_total"])
    figures = {"balance": profile.balance, "earned": profile.earned_total}

    def value(achievement: Achievement) -> int:
        condition = achievement.condition
        if condition == Achievement.Condition.BALANCE_REACHED:
            return figures["balance"]
        if condition == Achievement.Condition.POINTS_EARNED:
            return figures["earned"]
        kind = Kind.CLAIM if condition == Achievement.Condition.CLAIMS_MADE else Kind.HELPER
        if kind not in figures:
            figures[kind] = profile.ledger.filter(kind=kind, delta__gt=0).count()
        return figures[kind]

    for _round in range(MAX_ACHIEVEMENT_ROUNDS):
        newly = [achievement for achievement in pending if value(achievement) >= achievement.threshold]
        if not newly:
            break
        pending = [achievement for achievement in pending if achievement not in newly]
        for achievement in newly:
            earned.append(achievement.name)
            _notify_achievement(config, profile, achievement)
        for achievement in newly:
            bonus = None
            if achievement.bonus_points:
                try:
                    bonus = _write(config, profile, achievement.bonus_points, kind=Kind.ACHIEVEMENT,
                                   key=f"achievement:{achievement.pk}:{profile.pk}",
                                   reason=achievement.name, actor_id=None, actor_user=None)
                except BalanceCapReached:
                    bonus = None  # the achievement still counts; the cap wins over the bonus
                else:
                    figures["balance"] = bonus.balance_after
                    figures["earned"] += achievement.bonus_points
            MemberAchievement.objects.create(achievement=achievement, member=profile, bonus_entry=bonus)
    profile.balance, profile.earned_total = figures["balance"], figures["earned"]
    return earned


def _notify(config: GuildConfig, profile: MemberProfile, entry: LedgerEntry) -> None:
    if not profile.notifications_enabled:
        return
    text = notice_text(config.language, config.guild.name or str(config.guild.discord_id), delta=entry.delta,
                       reason=entry.reason, kind=entry.kind, balance=f"{entry.balance_after:,}")
    outbox.enqueue_dm(guild=config.guild, user_id=profile.user_id, content=text, dedupe_key=f"dm:ledger:{entry.pk}")


def _notify_achievement(config: GuildConfig, profile: MemberProfile, achievement: Achievement) -> None:
    with translation.override(config.language):
        text = gettext("🏆 Achievement unlocked in %(guild)s: %(name)s") % {
            "guild": config.guild.name or config.guild.discord_id, "name": achievement.name}
        if achievement.bonus_points:
            text += " " + gettext("(+%(bonus)s points)") % {"bonus": achievement.bonus_points}
    outbox.enqueue_dm(guild=config.guild, user_id=profile.user_id, content=text,
                      dedupe_key=f"dm:achievement:{achievement.pk}:{profile.pk}")


def _change(config: GuildConfig, *, user_id: int, delta: int, kind: str, key: str, reason: str,
            actor_id: int | None, actor_user, display_name: str | None, notify: bool,
            expected_balance: int | None = None, reverses: LedgerEntry | None = None) -> LedgerResult:
    profile = _profile(config.guild, user_id, display_name)
    try:
        with transaction.atomic():
            entry = _write(config, profile, delta, kind=kind, key=key, reason=reason, actor_id=actor_id,
                           actor_user=actor_user, expected_balance=expected_balance, reverses=reverses)
    except (IntegrityError, InsufficientPoints, BalanceCapReached):
        # The key may be taken: a replay (possibly racing the first call, or refused now only
        # because the first call already moved the balance). The savepoint undid our UPDATE;
        # answer with what the first call did.
        replay = _replay(key)
        if replay is None:
            raise
        return replay
    earned = _achievements(config, profile)
    if notify:
        _notify(config, profile, entry)
    balance = entry.balance_after
    if earned:  # bonuses moved the balance further
        balance = MemberProfile.objects.values_list("balance", flat=True).get(pk=profile.pk)
    return LedgerResult(entry.pk, user_id, delta, balance, kind, False, tuple(earned))


def _adjust(*, guild_id: int, user_id: int, amount: int, sign: int, reason: str, idempotency_key: str, kind: str,
            actor_id: int | None, actor_user, display_name: str | None, notify: bool) -> LedgerResult:
    limits = limits_for(guild_id)
    try:
        _check_amount(amount, limits.max_adjustment)
    except AboveLimit:
        limits = limits_for(guild_id, fresh=True)  # the cached limit may be out of date
        _check_amount(amount, limits.max_adjustment)
    fields = {"user_id": user_id, "delta": sign * amount, "kind": kind, "key": idempotency_key, "reason": reason,
              "actor_id": actor_id, "actor_user": actor_user, "display_name": display_name, "notify": notify}
    try:
        with_achievements = _has_achievements(limits.guild_pk)
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            # On PostgreSQL the known-member path is a single statement, and a statement outside a
            # transaction block is its own transaction: no BEGIN/COMMIT round trips on the hottest write.
            # In a guild with achievements the same statement tells whether the change met one.
            result, met = apply_and_check(limits, guild_id=guild_id, achievements=with_achievements, **fields)
            if result is None:
                # No profile yet (the likely reason): a member seen for the first time is one statement too.
                result, met = apply_to_newcomer(limits, guild_id=guild_id, achievements=with_achievements,
                                                count_shard=user_id % MemberCountShard.SHARDS, **fields)
            if result is not None:
                return _achievements_after_commit(guild_id, limits.guild_pk, result) if met else result
        with transaction.atomic():
            # On PostgreSQL the change's own statement also tells whether an open achievement is now met.
            result, met = apply_and_check(limits, guild_id=guild_id, achievements=with_achievements, **fields)
            if result is None and _new_profile(limits, guild_id, user_id, display_name):
                # A member seen for the first time: their profile, the same few statements as for everyone
                # else, and one more member in one of the guild's count shards, all in this transaction.
                result, met = apply_and_check(limits, guild_id=guild_id, achievements=with_achievements, **fields)
                _count_new_member(limits, user_id)
            if result is not None and with_achievements and met is not False:
                result = _achievements_after(guild_id, limits.guild_pk, result, met=bool(met))
            if result is None:
                # A refusal to explain, or a configuration changed since it was cached (re-read next time):
                # the general path, with the configuration as it is.
                forget_limits(guild_id)
                config = ensure_guild(guild_id)
                _check_amount(amount, config.points_max_adjustment)
                result = _change(config, **fields)
            return result
    except (IntegrityError, InsufficientPoints, BalanceCapReached):
        # The key may be taken: a replay, possibly racing the first call or refused now only because
        # the first call already moved the balance. Our writes were rolled back; answer with the first.
        replay = _replay(idempotency_key)
        if replay is None:
            raise
        return replay


def _new_profile(limits: Limits, guild_id: int, user_id: int, display_name: str | None) -> bool:
    """Create the member's profile if there is none; True when created (the caller then counts them).

    Only while the cached limits still name this guild's row (else nothing is written and the general path
    decides with the configuration as it is).
    """
    table = connection.ops.quote_name(MemberProfile._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (guild_id, user_id, display_name, balance, negative_allowed, earned_total, "
            f"spent_total, entries, last_activity_at, email, notifications_enabled, created_at) "
            f"SELECT %s, %s, %s, 0, %s, 0, 0, 0, NULL, '', %s, %s WHERE EXISTS (SELECT 1 FROM "
            f"{connection.ops.quote_name(Guild._meta.db_table)} g WHERE g.id = %s AND g.discord_id = %s) "
            f"ON CONFLICT (guild_id, user_id) DO NOTHING RETURNING id",
            [limits.guild_pk, user_id, (display_name or "")[:100], False, True, now, limits.guild_pk, guild_id])
        return cursor.fetchone() is not None


def _count_new_member(limits: Limits, user_id: int) -> None:
    """One more member in the guild's count (the exact count ranks need), in the new profile's transaction.

    The count goes to one of the guild's shards, picked by the member's id, so newcomers' awards at the same
    moment do not wait for each other's commits on one row (see MemberCountShard).
    """
    shards = connection.ops.quote_name(MemberCountShard._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {shards} (guild_id, shard, members) VALUES (%s, %s, 1) "
            f"ON CONFLICT (guild_id, shard) DO UPDATE SET members = {shards}.members + 1",
            [limits.guild_pk, user_id % MemberCountShard.SHARDS])


def _achievements_after(guild_id: int, guild_pk: int, result: LedgerResult, *, met: bool = False) -> LedgerResult:
    """After a change by the short path: award what the member now qualifies for (same rules as `_achievements`).

    One statement tells whether any of the member's open achievements is now met (unless the change's own
    statement told already: `met`); only then does the general `_achievements` run (with the ORM), in the
    caller's transaction.
    """
    if met:
        return _achievements_now(guild_id, guild_pk, result)
    quote = connection.ops.quote_name
    ledger = quote(LedgerEntry._meta.db_table)
    Condition = Achievement.Condition
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT p.id FROM {quote(MemberProfile._meta.db_table)} p JOIN {quote(Achievement._meta.db_table)} a "
            f"ON a.guild_id = p.guild_id AND a.active "
            f"WHERE p.guild_id = %s AND p.user_id = %s AND NOT EXISTS (SELECT 1 FROM "
            f"{quote(MemberAchievement._meta.db_table)} m WHERE m.achievement_id = a.id AND m.member_id = p.id) "
            f"AND CASE a.condition WHEN %s THEN p.balance WHEN %s THEN p.earned_total "
            f"WHEN %s THEN (SELECT COUNT(*) FROM {ledger} l WHERE l.member_id = p.id AND l.kind = %s AND l.delta > 0) "
            f"WHEN %s THEN (SELECT COUNT(*) FROM {ledger} l WHERE l.member_id = p.id AND l.kind = %s AND l.delta > 0) "
            f"END >= a.threshold LIMIT 1",
            [guild_pk, result.user_id, Condition.BALANCE_REACHED.value, Condition.POINTS_EARNED.value,
             Condition.CLAIMS_MADE.value, Kind.CLAIM.value, Condition.TICKETS_HELPED.value, Kind.HELPER.value])
        met = cursor.fetchone()
    return result if met is None else _achievements_now(guild_id, guild_pk, result)


def _achievements_after_commit(guild_id: int, guild_pk: int, result: LedgerResult) -> LedgerResult:
    """Award the achievements a saved change unlocked, in a transaction of their own.

    The change's own statement was its transaction (PostgreSQL's short path); should this one not happen
    (the process stopped in between), the member's next change awards them, as `_achievements` looks at every
    open achievement each time. Another change of the member's that got there first has awarded them: the
    unique (achievement, member) constraint refuses them twice, and the result then carries none.
    """
    try:
        with transaction.atomic():
            # Changes of a member made at the same moment all see an achievement met: one awards it while the
            # others wait here, then find it awarded, instead of each doing the work to be refused at the end.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_grant_lock_key(guild_pk, result.user_id)])
            return _achievements_now(guild_id, guild_pk, result)
    except IntegrityError:
        balance = MemberProfile.objects.values_list("balance", flat=True).get(guild_id=guild_pk,
                                                                             user_id=result.user_id)
        return dataclasses.replace(result, balance=balance)


def _grant_lock_key(guild_pk: int, user_id: int) -> int:
    """A PostgreSQL advisory lock key for granting a member's achievements (a shared key only serialises more)."""
    return ((guild_pk * 1_000_003) ^ user_id ^ 0x5EED_AC4E) % (2**63)


def _achievements_now(guild_id: int, guild_pk: int, result: LedgerResult) -> LedgerResult:
    """Run the general achievement check for the member and return the result with what they earned."""
    config = ensure_guild(guild_id)
    # The member's row first, as every change takes it before its other writes (the same order everywhere: no
    # deadlock with a change that is awarding the same achievement inside its own transaction).
    profile = MemberProfile.objects.select_for_update().get(guild_id=guild_pk, user_id=result.user_id)
    earned_names = _achievements(config, profile, locked=True)
    return dataclasses.replace(result, balance=profile.balance, achievements=tuple(earned_names))


def points_award(*, guild_id: int, user_id: int, amount: int, reason: str, idempotency_key: str,
                 kind: str = Kind.ADMIN_ADD, actor_id: int | None = None, actor_user=None,
                 display_name: str | None = None, notify: bool = True) -> LedgerResult:
    """Add points to a member (one transaction; replaying the key returns the first result)."""
    return _adjust(guild_id=guild_id, user_id=user_id, amount=amount, sign=1, reason=reason,
                   idempotency_key=idempotency_key, kind=kind, actor_id=actor_id, actor_user=actor_user,
                   display_name=display_name, notify=notify)


def points_deduct(*, guild_id: int, user_id: int, amount: int, reason: str, idempotency_key: str,
                  kind: str = Kind.ADMIN_REMOVE, actor_id: int | None = None, actor_user=None,
                  display_name: str | None = None, notify: bool = True) -> LedgerResult:
    """Remove points from a member; refused below zero unless the guild allows negative balances."""
    return _adjust(guild_id=guild_id, user_id=user_id, amount=amount, sign=-1, reason=reason,
                   idempotency_key=idempotency_key, kind=kind, actor_id=actor_id, actor_user=actor_user,
                   display_name=display_name, notify=notify)


@transaction.atomic
def points_set(*, guild_id: int, user_id: int, amount: int, reason: str, idempotency_key: str,
               actor_id: int | None = None, actor_user=None, display_name: str | None = None,
               notify: bool = True) -> LedgerResult:
    """Set a member's balance to `amount` (the ledger records the difference)."""
    config = ensure_guild(guild_id)
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise InvalidAmount()
    if amount > config.points_max_balance:
        raise BalanceCapReached(member=f"<@{user_id}>", limit=config.points_max_balance)
    replay = _replay(idempotency_key)
    if replay is not None:
        return replay
    profile = _profile(config.guild, user_id, display_name)
    current = MemberProfile.objects.select_for_update().values_list("balance", flat=True).get(pk=profile.pk)
    if abs(amount - current) > config.points_max_adjustment:
        raise AboveLimit(limit=config.points_max_adjustment)
    return _change(config, user_id=user_id, delta=amount - current, kind=Kind.ADMIN_SET,
                   key=idempotency_key, reason=reason, actor_id=actor_id, actor_user=actor_user,
                   display_name=display_name, notify=notify, expected_balance=current)


@transaction.atomic
def points_transfer(*, guild_id: int, from_user_id: int, to_user_id: int, amount: int, reason: str,
                    idempotency_key: str, actor_id: int | None = None) -> tuple[LedgerResult, LedgerResult]:
    """Move points between two members in one transaction (two ledger rows)."""
    if from_user_id == to_user_id:
        raise InvalidAmount()
    config = ensure_guild(guild_id)
    _check_amount(amount, config.points_max_adjustment)
    # Lock both rows in a fixed order so two opposite transfers cannot deadlock.
    ids = [_profile(config.guild, user_id, None).pk for user_id in (from_user_id, to_user_id)]
    list(MemberProfile.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    taken = _change(config, user_id=from_user_id, delta=-amount, kind=Kind.TRANSFER,
                    key=f"{idempotency_key}:from", reason=reason, actor_id=actor_id, actor_user=None,
                    display_name=None, notify=True)
    given = _change(config, user_id=to_user_id, delta=amount, kind=Kind.TRANSFER,
                    key=f"{idempotency_key}:to", reason=reason, actor_id=actor_id, actor_user=None,
                    display_name=None, notify=True)
    return taken, given


@transaction.atomic
def points_reverse(*, guild_id: int, entry_id: int, reason: str, actor_id: int | None = None,
                   actor_user=None) -> LedgerResult:
    """Undo a ledger entry with a compensating entry (the original stays)."""
    entry = LedgerEntry.objects.select_related("member").filter(pk=entry_id, guild__discord_id=guild_id).first()
    if entry is None:
        raise UnknownEntry(id=entry_id)
    if entry.delta == 0:
        raise InvalidAmount()
    key = f"reversal:{entry.pk}"
    if LedgerEntry.objects.filter(reverses=entry).exists() and _replay(key) is None:
        raise AlreadyReversed(id=entry_id)
    return _change(ensure_guild(guild_id), user_id=entry.member.user_id, delta=-entry.delta, kind=Kind.REVERSAL, key=key,
                   reason=reason or gettext("reversal of entry %(id)s") % {"id": entry.pk}, actor_id=actor_id,
                   actor_user=actor_user, display_name=None, notify=True, reverses=entry)


@transaction.atomic
def points_season_reset(*, guild_id: int, confirm: str, backup_dir: Path, actor_id: int | None = None,
                        actor_user=None) -> tuple[int, Path]:
    """Bring every balance in the guild to 0 (one ledger entry each), after writing a JSON backup."""
    config = ensure_guild(guild_id)
    if confirm.strip() != (config.guild.name or str(guild_id)):
        raise ConfirmationRequired()
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    profiles = list(MemberProfile.objects.select_for_update().filter(guild=config.guild).exclude(balance=0))
    backup_dir.mkdir(parents=True, exist_ok=True)
    backup = backup_dir / f"points-{guild_id}-{stamp}.json"
    backup.write_text(json.dumps({
        "guild_id": guild_id, "taken_at": stamp,
        "balances": {str(p.user_id): p.balance for p in profiles},
    }, indent=1), encoding="utf-8")
    for profile in profiles:
        _write(config, profile, -profile.balance, kind=Kind.SEASON_RESET,
               key=f"season:{guild_id}:{stamp}:{profile.pk}", reason=gettext("season reset"), actor_id=actor_id,
               actor_user=actor_user, expected_balance=profile.balance)
    return len(profiles), backup


@transaction.atomic
def notifications_set(*, guild_id: int, user_id: int, enabled: bool, display_name: str | None = None) -> bool:
    """Turn a member's DM notices on point changes on or off."""
    config = ensure_guild(guild_id)
    profile = _profile(config.guild, user_id, display_name)
    MemberProfile.objects.filter(pk=profile.pk).update(notifications_enabled=enabled)
    return enabled


@transaction.atomic
def points_recount_members(*, guild_id: int) -> int:
    """Set the guild's member counter from the profiles (after bulk loads; check_ledger runs it too)."""
    guild = ensure_guild(guild_id).guild
    count = MemberProfile.objects.filter(guild=guild).count()
    GuildPointsStats.objects.update_or_create(guild=guild, defaults={"members": count})
    MemberCountShard.objects.filter(guild=guild).delete()  # folded into the count above
    return count
