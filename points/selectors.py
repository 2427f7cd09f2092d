"""Points reads: balances with rank, leaderboard pages, history, achievements, ledger integrity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Sum
from django.utils import timezone

from .models import Achievement, LedgerEntry, MemberProfile

PAGE_SIZE = 10


@dataclass(frozen=True)
class MemberStanding:
    """A member's balance, rank and stats in one guild."""

    user_id: int
    display_name: str
    balance: int
    rank: int | None
    members: int
    earned_total: int
    spent_total: int
    entries: int
    last_activity_at: datetime | None
    achievements: int
    notifications_enabled: bool


def rank_of(*, guild_id: int, balance: int) -> int:
    """1 + how many members of the guild have more (an index range count, not a window function)."""
    return MemberProfile.objects.filter(guild__discord_id=guild_id, balance__gt=balance).count() + 1


def standing(*, guild_id: int, user_id: int) -> MemberStanding:
    """The member's standing; a member with no profile yet has 0 points and no rank."""
    profile = (MemberProfile.objects.filter(guild__discord_id=guild_id, user_id=user_id)
               .annotate(n_achievements=Count("achievements")).first())
    members = MemberProfile.objects.filter(guild__discord_id=guild_id).count()
    if profile is None:
        return MemberStanding(user_id, "", 0, None, members, 0, 0, 0, None, 0, True)
    return MemberStanding(
        user_id, profile.display_name, profile.balance, rank_of(guild_id=guild_id, balance=profile.balance), members,
        profile.earned_total, profile.spent_total, profile.entries, profile.last_activity_at,
        profile.n_achievements, profile.notifications_enabled,
    )


@dataclass(frozen=True)
class LeaderboardRow:
    """One line of the leaderboard."""

    rank: int
    user_id: int
    display_name: str
    balance: int


@dataclass(frozen=True)
class LeaderboardPage:
    """A page of the leaderboard."""

    rows: list[LeaderboardRow]
    page: int
    pages: int
    members: int


def leaderboard(*, guild_id: int, page: int = 1) -> LeaderboardPage:
    """Members by balance, PAGE_SIZE a page; equal balances share a rank."""
    profiles = MemberProfile.objects.filter(guild__discord_id=guild_id)
    members = profiles.count()
    pages = max(1, -(-members // PAGE_SIZE))
    page = min(max(1, page), pages)
    top = list(profiles.order_by("-balance", "user_id").values_list("user_id", "display_name", "balance")
               [(page - 1) * PAGE_SIZE: page * PAGE_SIZE])
    rows = []
    for user_id, name, balance in top:
        # Ranks within a page only need one count per distinct balance.
        rank = rows[-1].rank if rows and rows[-1].balance == balance else rank_of(guild_id=guild_id, balance=balance)
        rows.append(LeaderboardRow(rank, user_id, name, balance))
    return LeaderboardPage(rows, page, pages, members)


@dataclass(frozen=True)
class HistoryRow:
    """One ledger entry as a member sees it."""

    id: int
    delta: int
    balance_after: int
    kind: str
    kind_label: str
    reason: str
    actor_id: int | None
    created_at: datetime


def history(*, guild_id: int, user_id: int, limit: int = 10) -> list[HistoryRow]:
    """The member's latest ledger entries."""
    entries = (LedgerEntry.objects.filter(guild__discord_id=guild_id, member__user_id=user_id)
               .order_by("-created_at", "-id")[:limit])
    return [HistoryRow(e.pk, e.delta, e.balance_after, e.kind, str(e.get_kind_display()), e.reason, e.actor_id,
                       e.created_at) for e in entries]


@dataclass(frozen=True)
class AchievementRow:
    """An achievement and whether (when) the member earned it."""

    name: str
    description: str
    condition: str
    condition_label: str
    threshold: int
    bonus_points: int
    earned_at: datetime | None


def achievements(*, guild_id: int, user_id: int) -> list[AchievementRow]:
    """The guild's active achievements, earned ones first."""
    earned = dict(
        MemberProfile.objects.filter(guild__discord_id=guild_id, user_id=user_id)
        .values_list("achievements__achievement_id", "achievements__awarded_at")
    )
    rows = [
        AchievementRow(a.name, a.description, a.condition, str(a.get_condition_display()), a.threshold,
                       a.bonus_points, earned.get(a.pk))
        for a in Achievement.objects.filter(guild__discord_id=guild_id, active=True)
    ]
    return sorted(rows, key=lambda r: (r.earned_at is None, r.threshold))


@dataclass(frozen=True)
class Mismatch:
    """A member whose balance is not the sum of their ledger."""

    guild_id: int
    user_id: int
    balance: int
    ledger_sum: int


def ledger_mismatches(*, guild_id: int | None = None) -> list[Mismatch]:
    """Every member whose balance differs from the sum of their ledger deltas."""
    profiles = MemberProfile.objects.all()
    if guild_id is not None:
        profiles = profiles.filter(guild__discord_id=guild_id)
    rows = profiles.annotate(total=Sum("ledger__delta")).values_list("guild__discord_id", "user_id", "balance", "total")
    return [Mismatch(g, u, b, t or 0) for g, u, b, t in rows.iterator(chunk_size=5000) if b != (t or 0)]


def points_issued(*, guild_id: int, days: int = 7) -> int:
    """Points added (positive entries, not reversals or resets) in the last `days` days."""
    since = timezone.now() - timedelta(days=days)
    return LedgerEntry.objects.filter(
        guild__discord_id=guild_id, created_at__gte=since, delta__gt=0
    ).exclude(kind__in=[LedgerEntry.Kind.REVERSAL, LedgerEntry.Kind.SEASON_RESET]).aggregate(
        total=Sum("delta"))["total"] or 0


def helper_points(guild_id: int, user_id: int) -> int:
    """Points a member earned as a helper (for /helper stats)."""
    return LedgerEntry.objects.filter(
        guild__discord_id=guild_id, member__user_id=user_id, kind=LedgerEntry.Kind.HELPER
    ).aggregate(total=Sum("delta"))["total"] or 0


def notifications_enabled(*, guild_id: int, user_id: int) -> bool:
    """Whether the member gets DM notices (default on)."""
    value = MemberProfile.objects.filter(guild__discord_id=guild_id, user_id=user_id).values_list(
        "notifications_enabled", flat=True).first()
    return True if value is None else value


