"""Achievements after a balance change: awarded once each, automatically, with their bonus and a DM.

A change's own statement tells whether one of the member's open achievements is now met (`statements.met_sql`);
only then are they granted here, in the change's transaction (`grant_achievements`) or, after PostgreSQL's
one-statement change, in a transaction of their own (`grant_after_commit`).
"""

from __future__ import annotations

import dataclasses
import time

from django.db import IntegrityError, connection, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from botproject import outbox

from ..models import Achievement, LedgerEntry, MemberAchievement, MemberProfile
from . import statements
from .balance import apply
from .limits import limits_for
from .types import Change, LedgerResult, Limits, achievement_text

Kind = LedgerEntry.Kind
MAX_ACHIEVEMENT_ROUNDS = 10
_ACHIEVEMENT_CACHE_SECONDS = 30.0
_guilds_with_achievements: dict[int, tuple[float, bool]] = {}


def guild_has_achievements(guild_pk: int) -> bool:
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


def grant_achievements(limits: Limits, result: LedgerResult) -> LedgerResult:
    """Award every achievement the member of `result` now qualifies for (bonuses may unlock more), once each, in
    the caller's transaction; `result` with their names and the balance after the bonuses.

    The member's row is taken first, as every change takes it before its other writes (the same order everywhere:
    no deadlock with a change awarding the same achievement in its own transaction). A bonus moves only the balance
    and the earnings (the claim and helper counts stay), so the rounds after one are decided in memory.
    """
    profile = MemberProfile.objects.select_for_update().get(guild_id=limits.guild_pk, user_id=result.user_id)
    earned: list[str] = []
    pending = list(Achievement.objects.filter(guild_id=limits.guild_pk, active=True).exclude(awards__member=profile))
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
        for achievement in newly:  # the notices first: a bonus locks the row until the commit
            earned.append(achievement.name)
            outbox.enqueue_dm(guild=limits.guild_pk, user_id=profile.user_id,
                              content=achievement_text(limits, name=achievement.name, bonus=achievement.bonus_points),
                              dedupe_key=f"dm:achievement:{achievement.pk}:{profile.pk}")
        for achievement in newly:
            bonus = None
            if achievement.bonus_points:
                # The cap wins over the bonus (then none is written); the achievement still counts.
                bonus = apply(limits, Change(profile.user_id, achievement.bonus_points, Kind.ACHIEVEMENT,
                                             key=f"achievement:{achievement.pk}:{profile.pk}",
                                             reason=achievement.name, notify=False),
                              verify=False, achievements=False, create=False)
                if bonus is not None:
                    figures["balance"] = bonus[0].balance
                    figures["earned"] += achievement.bonus_points
            MemberAchievement.objects.create(achievement=achievement, member=profile,
                                             bonus_entry_id=bonus[0].entry_id if bonus else None)
    return dataclasses.replace(result, balance=figures["balance"], achievements=tuple(earned))


def grant_after_commit(guild_id: int, result: LedgerResult) -> LedgerResult:
    """Award the achievements a saved change unlocked, in a transaction of their own (PostgreSQL).

    The change's own statement was its transaction; should this one not happen (the process stopped in between),
    the member's next change awards them, as every change looks at all their open achievements. Another change
    of the member's that got there first has awarded them: the unique (achievement, member) constraint refuses
    them twice, and the result then carries none.
    """
    try:
        with transaction.atomic():
            limits = limits_for(guild_id)  # cached: the guild's key; read afresh below if there is work
            # Changes of a member made at the same moment all see an achievement met: one awards it while the
            # others wait here, then find it awarded, instead of each doing the work to be refused at the end.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_grant_lock_key(limits.guild_pk, result.user_id)])
                # The one that held the lock may have awarded them: if nothing is met now, this change is done (one
                # statement instead of the whole grant, for each of the member's changes that queued here).
                met, met_params = statements.met_sql(limits, Change(result.user_id, 0, Kind.ADMIN_ADD, ""))
                cursor.execute(f"SELECT {met} FROM {connection.ops.quote_name(MemberProfile._meta.db_table)} "
                               f"WHERE guild_id = %s AND user_id = %s", [*met_params, limits.guild_pk, result.user_id])
                row = cursor.fetchone()
            if not (row and row[0]):
                return result
            return grant_achievements(limits_for(guild_id, fresh=True), result)
    except IntegrityError:
        balance = MemberProfile.objects.values_list("balance", flat=True).get(
            guild__discord_id=guild_id, user_id=result.user_id)
        return dataclasses.replace(result, balance=balance)


def _grant_lock_key(guild_pk: int, user_id: int) -> int:
    """A PostgreSQL advisory lock key for granting a member's achievements (a shared key only serialises more)."""
    return ((guild_pk * 1_000_003) ^ user_id ^ 0x5EED_AC4E) % (2**63)
