"""Points reads about what happened: a member's ledger, achievements, ledger integrity, figures."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Case, IntegerField, OuterRef, Subquery, Sum, Value, When
from django.utils import timezone

from botproject.models import Guild
from botproject.paging import Page, bounds, paginate

from ..models import Achievement, LedgerEntry, MemberAchievement, MemberProfile
from .common import aware, table_sql


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


def history_page(*, guild_id: int, user_id: int, page: int = 1, per_page: int = 10) -> Page[HistoryRow]:
    """One page of the member's ledger, newest first (for /history), as plain SQL.

    The first page (what /history shows) is one statement: the member, their entry count and the entries. A later
    page (a button) counts first, so a page past the end (entries gone since) shows the last one.
    """
    first_sql, member_sql, rows_sql = _history_sql(connection.vendor)
    with connection.cursor() as cursor:
        if page <= 1:
            cursor.execute(first_sql, [guild_id, user_id, guild_id] * 3 + [per_page])
            found = cursor.fetchall()
            member_pk, _guild_pk, total = found[0][:3]
            if member_pk is None:
                return Page([], 1, 1, 0, per_page)
            number, pages, _offset = bounds(1, total, per_page)
            return Page(_history_rows(row[3:] for row in found if row[3] is not None), number, pages, total, per_page)
        cursor.execute(member_sql, [guild_id, user_id])
        member = cursor.fetchone()
        if member is None:
            return Page([], 1, 1, 0, per_page)
        member_pk, guild_pk, total = member
        number, pages, offset = bounds(page, total, per_page)
        cursor.execute(rows_sql, [member_pk, guild_pk, per_page, offset])
        return Page(_history_rows(cursor.fetchall()), number, pages, total, per_page)


def _history_rows(rows) -> list[HistoryRow]:
    labels = dict(LedgerEntry.Kind.choices)
    return [HistoryRow(pk, delta, after, kind, str(labels.get(kind, kind)), reason, actor, aware(created))
            for pk, delta, after, kind, reason, actor, created in rows]


@functools.cache
def _history_sql(vendor: str) -> tuple[str, str, str]:
    """(the member's key, the guild's, the member's entry count and their newest entries, one row each (a row
    without an entry when there is none); the member with their count; a page by the member's key).

    In the first, the member and the guild are looked up once (scalar subqueries), so the entries come off the
    (member, newest first) index and the count is counted once, however many entries the member has.
    """
    ledger, profiles, guilds = table_sql(LedgerEntry), table_sql(MemberProfile), table_sql(Guild)
    member = f"(SELECT p.id FROM {profiles} p JOIN {guilds} g ON g.id = p.guild_id WHERE g.discord_id = %s " \
             f"AND p.user_id = %s)"
    guild = f"(SELECT g.id FROM {guilds} g WHERE g.discord_id = %s)"
    columns = "id, delta, balance_after, kind, reason, actor_id, created_at"
    return (f"SELECT {member}, {guild}, (SELECT COUNT(*) FROM {ledger} c WHERE c.member_id = {member} "
            f"AND c.guild_id = {guild}), e.id, e.delta, e.balance_after, e.kind, e.reason, e.actor_id, e.created_at "
            f"FROM (SELECT 1 AS one) one LEFT JOIN (SELECT {columns} FROM {ledger} WHERE member_id = {member} "
            f"AND guild_id = {guild} ORDER BY created_at DESC, id DESC LIMIT %s) e ON 1 = 1 "
            f"ORDER BY e.created_at DESC, e.id DESC",
            f"SELECT p.id, p.guild_id, (SELECT COUNT(*) FROM {ledger} e WHERE e.member_id = p.id "
            f"AND e.guild_id = p.guild_id) FROM {profiles} p JOIN {guilds} g ON g.id = p.guild_id "
            f"WHERE g.discord_id = %s AND p.user_id = %s",
            f"SELECT {columns} FROM {ledger} WHERE member_id = %s AND guild_id = %s "
            f"ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s")


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
class AchievementsPage:
    """One page of /achievements (earned first, then by threshold) and how many the member earned in all."""

    page: Page[AchievementRow]
    earned: int


def achievements_page(*, guild_id: int, user_id: int, page: int = 1, per_page: int = 8) -> AchievementsPage:
    """One page of the guild's active achievements for a member: earned ones first (with when), then open ones."""
    awarded = MemberAchievement.objects.filter(achievement=OuterRef("pk"), member__guild__discord_id=guild_id,
                                               member__user_id=user_id).values("awarded_at")[:1]
    rows = (Achievement.objects.filter(guild__discord_id=guild_id, active=True)
            .annotate(earned_at=Subquery(awarded))
            .annotate(still_open=Case(When(earned_at__isnull=True, then=Value(1)), default=Value(0),
                                      output_field=IntegerField()))
            .order_by("still_open", "threshold", "name", "id"))
    result = paginate(rows, page, per_page)
    earned = rows.filter(earned_at__isnull=False).count()
    page_rows = [AchievementRow(a.name, a.description, a.condition, str(a.get_condition_display()), a.threshold,
                                a.bonus_points, a.earned_at) for a in result.rows]
    return AchievementsPage(Page(page_rows, result.number, result.pages, result.total, per_page), earned)


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
