"""What `loaddata` does with the points part of a legacy fixture (model signals on raw saves).

- LegacyImport (the header, first in the fixture): an existing one is kept as stored; the guild gets its
  configuration and points counter rows if it has none; the load's progress bar starts, and natural-key
  lookups are remembered until this loaddata ends (botproject.natural_keys).
- LegacyPointsBatch: an existing one is kept as stored; then its rows are applied, every time, in bulk:
  missing profiles are created, and every (member, service) whose ledger key is not there yet becomes a
  legacy_import ledger entry; existing profiles get the new points on top (merging into a guild with
  data); the guild's member counter moves with the new profiles. Applying twice adds nothing (keys).
  A member whose earlier import differs from this one (see convert.conflicts), or whose balance would pass
  the guild's largest balance, stops the load: LegacyLoadError, the whole loaddata is rolled back.

No DMs and no achievements are sent for imported points (achievements are checked at the member's next
points change, as for any member).
"""

from __future__ import annotations

from django.db.models import F
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone

from botproject import natural_keys
from botproject.legacy import LegacyLoadError, progress
from botproject.legacy.bulk import insert_rows
from botproject.legacy.fixture import keep_stored
from botproject.models import GuildConfig

from ..models import (
    GuildPointsStats,
    LedgerEntry,
    LegacyImport,
    LegacyPointsBatch,
    MemberProfile,
)
from ..services import points_recount_members
from .convert import FLAT, Entries, conflicts, legacy_key

MAX_PROBLEMS_SHOWN = 20


@receiver(pre_save, sender=LegacyImport, dispatch_uid="points.legacy.keep_import")
@receiver(pre_save, sender=LegacyPointsBatch, dispatch_uid="points.legacy.keep_batch")
def keep_stored_rows(sender, instance, raw: bool = False, **kwargs) -> None:
    """Loading a legacy fixture again leaves its header and batches as they were first loaded."""
    if raw:
        if sender is LegacyImport:  # the header: natural-key lookups are remembered from here on
            natural_keys.begin()
        keep_stored(instance)


@receiver(post_save, sender=LegacyImport, dispatch_uid="points.legacy.import_loaded")
def import_loaded(sender, instance: LegacyImport, raw: bool = False, **kwargs) -> None:
    if not raw:
        return
    guild = instance.guild
    GuildConfig.objects.get_or_create(guild=guild)
    if not GuildPointsStats.objects.filter(guild=guild).exists():
        points_recount_members(guild_id=guild.discord_id)
    if instance.loaded_at is None:
        LegacyImport.objects.filter(pk=instance.pk).update(loaded_at=timezone.now())
    figures = instance.figures or {}
    total = sum(figures.get(name, 0) for name in ("members", "tickets", "claims", "panels"))
    progress.load_started(total, f"legacy rows loaded into guild {guild.discord_id}")


@receiver(post_save, sender=LegacyPointsBatch, dispatch_uid="points.legacy.batch_loaded")
def batch_loaded(sender, instance: LegacyPointsBatch, raw: bool = False, **kwargs) -> None:
    if raw:
        users = apply_batch(instance)
        progress.load_advance(users)


def _wanted(rows, guild_id: int, label: str) -> dict[int, Entries]:
    """The batch's rows as {user: {key: (points, service)}}, checked (a fixture can be edited by hand)."""
    wanted: dict[int, Entries] = {}
    for row in rows:
        if (not isinstance(row, list) or len(row) != 3 or not all(isinstance(v, int) for v in (row[0], row[2]))
                or not isinstance(row[1], str) or row[2] < 0):
            raise LegacyLoadError(f"{label}: a row is not [user id, service, points]: {row!r}")
        user_id, service, points = row
        entries = wanted.setdefault(user_id, {})
        if points:
            entries[legacy_key(guild_id, user_id, service)] = (points, service)
    return wanted


def apply_batch(batch: LegacyPointsBatch) -> int:
    """Create what the batch's rows need that is not there yet; returns how many members it holds."""
    legacy = LegacyImport.objects.select_related("guild").get(pk=batch.legacy_import_id)
    guild = legacy.guild
    label = f"legacy points batch {batch.number}"
    config, _created = GuildConfig.objects.get_or_create(guild=guild)
    wanted = _wanted(batch.rows, guild.discord_id, label)
    profiles = {p.user_id: p for p in MemberProfile.objects.select_for_update().filter(
        guild=guild, user_id__in=list(wanted)).only("pk", "user_id", "balance")}
    users_by_pk = {p.pk: p.user_id for p in profiles.values()}
    have: dict[int, Entries] = {}
    for member_id, key, delta, reason in LedgerEntry.objects.filter(
            member_id__in=list(users_by_pk), kind=LedgerEntry.Kind.LEGACY_IMPORT).values_list(
            "member_id", "idempotency_key", "delta", "reason"):
        have.setdefault(users_by_pk[member_id], {})[key] = (delta, reason)

    problems: list[str] = []
    new_profiles, increments, entries = [], {}, []
    for user_id, want in wanted.items():
        stored = have.get(user_id, {})
        problems += [f"<@{user_id}>: {p}" for p in conflicts(stored, want)]
        fresh = [(key, points, service) for key, (points, service) in want.items() if key not in stored]
        added = sum(points for _key, points, _service in fresh)
        profile = profiles.get(user_id)
        balance = profile.balance if profile else 0
        if added and balance + added > config.points_max_balance:
            problems.append(f"<@{user_id}>: {balance} + {added} points would pass the guild's largest balance "
                            f"({config.points_max_balance})")
        if profile is None:
            new_profiles.append((user_id, added, added, len(fresh)))
        elif fresh:
            increments[profile.pk] = (added, len(fresh))
        for key, points, service in fresh:
            balance += points
            entries.append((user_id, points, balance, service or FLAT, key))
    if problems:
        shown = "\n  ".join(problems[:MAX_PROBLEMS_SHOWN])
        more = f"\n  … {len(problems) - MAX_PROBLEMS_SHOWN} more" if len(problems) > MAX_PROBLEMS_SHOWN else ""
        raise LegacyLoadError(f"{label} of guild {guild.discord_id} cannot be loaded; nothing was loaded:\n  "
                              f"{shown}{more}")

    now = timezone.now()
    profile_columns = ("user_id", "balance", "earned_total", "entries")
    common = {"guild_id": guild.pk, "negative_allowed": config.points_allow_negative, "created_at": now}
    insert_rows(MemberProfile, profile_columns, [p for p in new_profiles if p[3]], {**common, "last_activity_at": now})
    insert_rows(MemberProfile, profile_columns, [p for p in new_profiles if not p[3]], common)
    pks = {p.user_id: p.pk for p in profiles.values()}
    if new_profiles:
        pks.update(MemberProfile.objects.filter(guild=guild, user_id__in=[p[0] for p in new_profiles])
                   .values_list("user_id", "pk"))
    insert_rows(LedgerEntry, ("member_id", "delta", "balance_after", "reason", "idempotency_key"),
                [(pks[user_id], *rest) for user_id, *rest in entries],
                {"guild_id": guild.pk, "kind": LedgerEntry.Kind.LEGACY_IMPORT, "created_at": now})
    for pk, (added, count) in increments.items():
        MemberProfile.objects.filter(pk=pk).update(
            balance=F("balance") + added, earned_total=F("earned_total") + added, entries=F("entries") + count,
            last_activity_at=now, negative_allowed=config.points_allow_negative)
    if new_profiles and not GuildPointsStats.objects.filter(guild=guild).update(
            members=F("members") + len(new_profiles)):
        points_recount_members(guild_id=guild.discord_id)
    return len(wanted)
