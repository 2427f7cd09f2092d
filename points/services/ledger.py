"""Points writes: every balance change is one transaction with a guarded UPDATE and its ledger row.

Replaying an idempotency key returns the first result and changes nothing. Limits come from the guild's
configuration; the database's check constraint is the last line of defence. How a change is written: `balance.py`
(the statements: `statements.py`); the achievements it unlocks: `achievements.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from ..exceptions import (
    AboveLimit,
    AlreadyReversed,
    BalanceCapReached,
    ConfirmationRequired,
    InvalidAmount,
    UnknownEntry,
)
from ..models import GuildPointsStats, LedgerEntry, MemberCountShard, MemberProfile
from . import statements
from .achievements import grant_achievements, grant_after_commit, guild_has_achievements
from .balance import Applied, apply, apply_in_one_statement, apply_or_refuse, guess, once, replayed
from .limits import check_amount, forget_limits, limits_for
from .types import Change, LedgerResult, Limits

Kind = LedgerEntry.Kind


def profile_for(guild_pk: int, user_id: int, display_name: str | None) -> MemberProfile:
    """The member's profile, created (and the member counted) if they have none; a new display name is kept."""
    profile, created = MemberProfile.objects.get_or_create(
        guild_id=guild_pk, user_id=user_id, defaults={"display_name": (display_name or "")[:100]})
    if created:
        with connection.cursor() as cursor:
            cursor.execute(*statements.count_member(guild_pk, user_id))
    elif display_name and profile.display_name != display_name[:100]:
        MemberProfile.objects.filter(pk=profile.pk).update(display_name=display_name[:100])
    return profile


def change_balance(limits: Limits, change: Change) -> LedgerResult:
    """A balance change in the caller's transaction (in a savepoint of its own), with the achievements it unlocked.

    `limits` are read in the caller's transaction. Replaying the key returns the first result; a refusal is raised.
    """
    def write() -> LedgerResult:
        with transaction.atomic():
            result, met = apply_or_refuse(limits, change, achievements=guild_has_achievements(limits.guild_pk))
            return grant_achievements(limits, result) if met else result

    return once(change.key, write)


def _adjust(*, guild_id: int, user_id: int, amount: int, sign: int, reason: str, idempotency_key: str, kind: str,
            actor_id: int | None, actor_user, display_name: str | None, notify: bool) -> LedgerResult:
    limits = limits_for(guild_id)
    try:
        check_amount(amount, limits.max_adjustment)
    except AboveLimit:
        limits = limits_for(guild_id, fresh=True)  # the cached limit may be out of date
        check_amount(amount, limits.max_adjustment)
    change = Change(user_id, sign * amount, kind, idempotency_key, reason, actor_id,
                    actor_user.pk if actor_user is not None else None, display_name, notify)
    return once(idempotency_key, lambda: _award(guild_id, limits, change))


def _award(guild_id: int, limits: Limits, change: Change) -> LedgerResult:
    """`change` with the cached `limits` (verified by its statements), in one transaction."""
    achievements = guild_has_achievements(limits.guild_pk)
    postgres, tried = connection.vendor == "postgresql", False
    if postgres and not connection.in_atomic_block:
        # A single statement is its own transaction: no BEGIN/COMMIT round trips on the hottest write. The
        # achievements it met follow in a transaction of their own.
        applied = _in_one_statement(limits, change, achievements)
        if applied is not None:
            result, met = applied
            return grant_after_commit(guild_id, result) if met else result
        tried = True
    with transaction.atomic():
        if tried:
            applied = None
        elif postgres:
            applied = _in_one_statement(limits, change, achievements)
        else:
            applied = apply(limits, change, verify=True, achievements=achievements)
        if applied is None:
            # A refusal to explain, or a configuration changed since it was cached: again with the configuration
            # as it is (read in this transaction).
            forget_limits(guild_id)
            limits = limits_for(guild_id, fresh=True)
            check_amount(abs(change.delta), limits.max_adjustment)
            return change_balance(limits, change)
        result, met = applied
        return grant_achievements(limits, result) if met else result


def _in_one_statement(limits: Limits, change: Change, achievements: bool) -> Applied | None:
    """PostgreSQL: the change as one statement: the guarded UPDATE, or a newcomer's first change."""
    newcomer_first = guess.newcomer_first(limits, change.user_id)  # as in `apply`
    for newcomer in (newcomer_first, not newcomer_first):
        applied = apply_in_one_statement(limits, change, achievements=achievements, newcomer=newcomer)
        if applied is not None:
            guess.note(limits, change.user_id, created=newcomer)
            return applied
    return None


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
    limits = limits_for(guild_id, fresh=True)
    check_amount(amount, allow_zero=True)
    if amount > limits.max_balance:
        raise BalanceCapReached(member=f"<@{user_id}>", limit=limits.max_balance)
    replay = replayed(idempotency_key)
    if replay is not None:
        return replay
    profile = profile_for(limits.guild_pk, user_id, display_name)
    current = MemberProfile.objects.select_for_update().values_list("balance", flat=True).get(pk=profile.pk)
    check_amount(abs(amount - current), limits.max_adjustment, allow_zero=True)
    return change_balance(limits, Change(
        user_id, amount - current, Kind.ADMIN_SET, idempotency_key, reason, actor_id,
        actor_user.pk if actor_user is not None else None, display_name, notify, expected_balance=current))


@transaction.atomic
def points_transfer(*, guild_id: int, from_user_id: int, to_user_id: int, amount: int, reason: str,
                    idempotency_key: str, actor_id: int | None = None) -> tuple[LedgerResult, LedgerResult]:
    """Move points between two members in one transaction (two ledger rows)."""
    if from_user_id == to_user_id:
        raise InvalidAmount()
    limits = limits_for(guild_id, fresh=True)
    check_amount(amount, limits.max_adjustment)
    # Lock both rows in a fixed order so two opposite transfers cannot deadlock.
    ids = [profile_for(limits.guild_pk, user_id, None).pk for user_id in (from_user_id, to_user_id)]
    list(MemberProfile.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    taken = change_balance(limits, Change(from_user_id, -amount, Kind.TRANSFER, f"{idempotency_key}:from", reason,
                                          actor_id))
    given = change_balance(limits, Change(to_user_id, amount, Kind.TRANSFER, f"{idempotency_key}:to", reason,
                                          actor_id))
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
    if LedgerEntry.objects.filter(reverses=entry).exists() and replayed(key) is None:
        raise AlreadyReversed(id=entry_id)
    return change_balance(limits_for(guild_id, fresh=True), Change(
        entry.member.user_id, -entry.delta, Kind.REVERSAL, key,
        reason or gettext("reversal of entry %(id)s") % {"id": entry.pk}, actor_id,
        actor_user.pk if actor_user is not None else None, reverses_id=entry.pk))


@transaction.atomic
def points_bonus_settle(*, guild_id: int, user_id: int, amount: int, due: bool, key: str, reason: str,
                        withdraw_reason: str, kind: str = Kind.ADMIN_ADD) -> int:
    """Make a bonus that can be taken back stand (`due`) or not, once: awarded under `key` (again under `key:2`,
    `key:3`... after a withdrawal) when due and not standing; the standing award reversed when no longer due.

    For bonuses that follow a changeable decision (a ticket's rating). Returns the change: +amount, -amount or 0.
    """
    # No lock needed: a second award under the same key is a replay, a second reversal is refused (one per entry).
    awards = list(LedgerEntry.objects.filter(
        Q(idempotency_key=key) | Q(idempotency_key__startswith=f"{key}:"), guild__discord_id=guild_id,
        delta__gt=0).order_by("pk").values_list("pk", "delta", "reversed_by"))
    standing = awards[-1] if awards and awards[-1][2] is None else None
    if due and standing is None and amount > 0:
        award_key = key if not awards else f"{key}:{len(awards) + 1}"
        points_award(guild_id=guild_id, user_id=user_id, amount=amount, reason=reason, idempotency_key=award_key,
                     kind=kind)
        return amount
    if not due and standing is not None:
        points_reverse(guild_id=guild_id, entry_id=standing[0], reason=withdraw_reason)
        return -standing[1]
    return 0


@transaction.atomic
def points_season_reset(*, guild_id: int, confirm: str, backup_dir: Path, actor_id: int | None = None,
                        actor_user=None) -> tuple[int, Path]:
    """Bring every balance in the guild to 0 (one ledger entry each), after writing a JSON backup."""
    limits = limits_for(guild_id, fresh=True)
    if confirm.strip() != limits.guild_name:
        raise ConfirmationRequired()
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    profiles = list(MemberProfile.objects.select_for_update().filter(guild_id=limits.guild_pk).exclude(balance=0))
    backup_dir.mkdir(parents=True, exist_ok=True)
    backup = backup_dir / f"points-{guild_id}-{stamp}.json"
    backup.write_text(json.dumps({
        "guild_id": guild_id, "taken_at": stamp,
        "balances": {str(p.user_id): p.balance for p in profiles},
    }, indent=1), encoding="utf-8")
    for profile in profiles:
        apply_or_refuse(limits, Change(
            profile.user_id, -profile.balance, Kind.SEASON_RESET, f"season:{guild_id}:{stamp}:{profile.pk}",
            gettext("season reset"), actor_id, actor_user.pk if actor_user is not None else None, notify=False,
            expected_balance=profile.balance), achievements=False)
    return len(profiles), backup


@transaction.atomic
def notifications_set(*, guild_id: int, user_id: int, enabled: bool, display_name: str | None = None) -> bool:
    """Turn a member's DM notices on point changes on or off."""
    profile = profile_for(limits_for(guild_id, fresh=True).guild_pk, user_id, display_name)
    MemberProfile.objects.filter(pk=profile.pk).update(notifications_enabled=enabled)
    return enabled


@transaction.atomic
def points_recount_members(*, guild_id: int) -> int:
    """Set the guild's member counter from the profiles (after bulk loads; check_ledger runs it too)."""
    guild_pk = limits_for(guild_id, fresh=True).guild_pk
    count = MemberProfile.objects.filter(guild_id=guild_pk).count()
    GuildPointsStats.objects.update_or_create(guild_id=guild_pk, defaults={"members": count})
    MemberCountShard.objects.filter(guild_id=guild_pk).delete()  # folded into the count above
    return count

