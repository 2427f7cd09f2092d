"""Points reads: balances with rank, leaderboard pages, history, achievements, ledger integrity."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Case, IntegerField, OuterRef, Subquery, Sum, Value, When
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from botproject.models import Guild
from botproject.paging import Page, bounds, paginate

from .models import Achievement, GuildPointsStats, LedgerEntry, MemberAchievement, MemberCountShard, MemberProfile

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


def _guild_pk(guild_id: int) -> int | None:
    # Filtering on the guild's primary key lets the database walk the (guild, -balance) index;
    # a join on the Discord id made PostgreSQL scan every profile.
    return Guild.objects.filter(discord_id=guild_id).values_list("pk", flat=True).first()


def member_count(*, guild_id: int) -> int:
    """How many members of the guild have a points profile (the count ranks show: "#3 of 120")."""
    guild_pk = _guild_pk(guild_id)
    return 0 if guild_pk is None else _member_count(guild_pk)


def _member_count(guild_pk: int) -> int:
    """How many members have a profile (a counter kept with the profiles: counting is slow at 1M)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {_members_sql('%s')}", [guild_pk, guild_pk])
        return cursor.fetchone()[0]


def _members_sql(guild_pk: str) -> str:
    """SQL for a guild's member count: its GuildPointsStats.members plus its MemberCountShard rows.

    `guild_pk` is the SQL for the guild's primary key (a column, or `%s`: then it takes two parameters).
    """
    return (f"(COALESCE((SELECT s.members FROM {_table(GuildPointsStats)} s WHERE s.guild_id = {guild_pk}), 0) "
            f"+ CAST(COALESCE((SELECT SUM(c.members) FROM {_table(MemberCountShard)} c "
            f"WHERE c.guild_id = {guild_pk}), 0) AS BIGINT))")


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _guild_and_members(guild_id: int) -> tuple[int | None, int]:
    """(the guild's primary key or None, its member counter) in one statement.

    The reads every member runs (/balance, /leaderboard) are a few statements of hand-written SQL: through
    the ORM, building each query cost more than the database took to answer it.
    """
    with connection.cursor() as cursor:
        cursor.execute(_guild_and_members_sql(connection.vendor), [guild_id])
        row = cursor.fetchone()
    return (None, 0) if row is None else (row[0], row[1])


@functools.cache
def _guild_and_members_sql(vendor: str) -> str:
    return f"SELECT g.id, {_members_sql('g.id')} FROM {_table(Guild)} g WHERE g.discord_id = %s"


def _count_above(guild_pk: int, balance: int, bound: int | None = None) -> int:
    """How many of the guild's members have more than `balance`, counting at most `bound` (an index range)."""
    table = _table(MemberProfile)
    with connection.cursor() as cursor:
        if bound is None:
            cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE guild_id = %s AND balance > %s", [guild_pk, balance])
        else:
            cursor.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE guild_id = %s AND balance > %s "
                           f"LIMIT %s) above", [guild_pk, balance, bound])
        return cursor.fetchone()[0]


def _count_at_or_below(guild_pk: int, balance: int) -> int:
    """How many of the guild's members have `balance` or less."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {_table(MemberProfile)} WHERE guild_id = %s AND balance <= %s",
                       [guild_pk, balance])
        return cursor.fetchone()[0]


def _aware(value) -> datetime | None:
    """A DateTimeField value as read through a raw cursor (SQLite gives text) as an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value if value is None or timezone.is_aware(value) else timezone.make_aware(value, UTC)
    parsed = parse_datetime(value)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


# Above this many members PostgreSQL first estimates the guild's median balance from a small sample.
SAMPLED_SIDE_MIN_MEMBERS = 50_000
_SAMPLE_ROWS = 2_000
_NEAR_THE_TOP = 1_000  # members with fewer above them are counted directly


def _sampled_median(guild_pk: int, members: int) -> int | None:
    """The guild's median balance estimated from ~2,000 rows read from a fixed sample of the table's pages."""
    table = MemberProfile._meta.db_table
    percent = min(100.0, max(0.001, _SAMPLE_ROWS * 100.0 / members))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY balance), count(*) "
            f"FROM {connection.ops.quote_name(table)} TABLESAMPLE SYSTEM (%s) REPEATABLE (1) WHERE guild_id = %s",
            [percent, guild_pk])
        median, sampled = cursor.fetchone()
    return median if sampled >= 100 else None


def _big_count(queryset) -> int:
    """COUNT(*) of up to half a large guild, with at most one parallel worker on PostgreSQL.

    PostgreSQL's default (two workers and the leader) lets one member's /balance take three processes; on
    a small server that starves the bot's other queries and made the count itself jump from ~30 ms to
    200 ms now and then (2 cores). One worker keeps it at ~27 ms, steadily.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 1")
        return queryset.count()


def _rank(guild_pk: int, balance: int, members: int | None = None) -> int:
    """1 + how many members have more: an index range count, never a window function.

    Count the smaller side: above the median, the members above; below it, the members at or below
    (rank = 1 + N - that). Members near the top are counted directly. In a large guild on PostgreSQL a
    sampled median then picks the side and one exact count (parallel there) reads at most about half
    the guild's index entries; otherwise the count of those above is bounded to half the guild.
    """
    total = _member_count(guild_pk) if members is None else members
    half = max(1, total // 2)
    sampled = connection.vendor == "postgresql" and total >= SAMPLED_SIDE_MIN_MEMBERS
    bound = min(half, _NEAR_THE_TOP) if sampled else half
    above = _count_above(guild_pk, balance, bound)
    if above < bound:
        return above + 1
    profiles = MemberProfile.objects.filter(guild_id=guild_pk)
    median = _sampled_median(guild_pk, total) if sampled else None
    if median is not None and balance >= median:
        return _big_count(profiles.filter(balance__gt=balance)) + 1
    if sampled and median is None:  # no usable sample: the bounded count after all
        above = _count_above(guild_pk, balance, half)
        if above < half:
            return above + 1
    at_or_below = _big_count(profiles.filter(balance__lte=balance)) if sampled else (
        _count_at_or_below(guild_pk, balance))
    if at_or_below > total:  # the counter is behind (rows loaded in bulk): count the direct way
        return _count_above(guild_pk, balance) + 1
    return total - at_or_below + 1


def rank_of(*, guild_id: int, balance: int) -> int:
    """The rank a balance has in the guild (equal balances share a rank)."""
    guild_pk = _guild_pk(guild_id)
    return 1 if guild_pk is None else _rank(guild_pk, balance)


def standing(*, guild_id: int, user_id: int) -> MemberStanding:
    """The member's standing; a member with no profile yet has 0 points and no rank.

    One statement reads the profile, the member counter, the achievements and how many are above the
    member, counting at most _NEAR_THE_TOP of them; only a member further down than that is ranked by `_rank`.
    """
    with connection.cursor() as cursor:
        cursor.execute(_standing_sql(connection.vendor), [_NEAR_THE_TOP, user_id, guild_id])
        row = cursor.fetchone()
    return _standing_of(row, user_id)


def _standing_of(row: tuple | None, user_id: int) -> MemberStanding:
    """The standing from `_standing_sql`'s row (ranking a member far down with more statements)."""
    if row is None or row[2] is None:
        return MemberStanding(user_id, "", 0, None, row[1] if row else 0, 0, 0, 0, None, 0, True)
    guild_pk, members, _pk, name, balance, earned, spent, entries, last_activity, notifications, achieved, above = row
    rank = above + 1 if above < _NEAR_THE_TOP else _rank(guild_pk, balance, members)
    return MemberStanding(
        user_id, name, balance, rank, members, earned, spent, entries, _aware(last_activity), achieved,
        bool(notifications),
    )


@functools.cache
def _standing_sql(vendor: str) -> str:
    profile = _table(MemberProfile)
    return (f"SELECT g.id, {_members_sql('g.id')}, "
            f"p.id, p.display_name, p.balance, p.earned_total, p.spent_total, p.entries, p.last_activity_at, "
            f"p.notifications_enabled, (SELECT COUNT(*) FROM {_table(MemberAchievement)} a WHERE a.member_id = p.id), "
            f"(SELECT COUNT(*) FROM (SELECT 1 FROM {profile} q WHERE q.guild_id = g.id AND q.balance > p.balance "
            f"LIMIT %s) above) "
            f"FROM {_table(Guild)} g LEFT JOIN {profile} p ON p.guild_id = g.id AND p.user_id = %s "
            f"WHERE g.discord_id = %s")


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
    """Members by balance, PAGE_SIZE a page; equal balances share a rank.

    The first page (what /leaderboard shows) is one statement; a later one counts the members first.
    """
    if page <= 1:
        with connection.cursor() as cursor:
            cursor.execute(_first_page_sql(connection.vendor), [guild_id, PAGE_SIZE, guild_id])
            return _first_page(cursor.fetchall())
    guild_pk, members = _guild_and_members(guild_id)
    if guild_pk is None:
        return LeaderboardPage([], 1, 1, 0)
    pages = max(1, -(-members // PAGE_SIZE))
    page = min(max(1, page), pages)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT user_id, display_name, balance FROM {_table(MemberProfile)} WHERE guild_id = %s "
            f"ORDER BY balance DESC, user_id ASC LIMIT %s OFFSET %s", [guild_pk, PAGE_SIZE, (page - 1) * PAGE_SIZE])
        top = cursor.fetchall()
    return _page_of(top, page, pages, members, guild_pk)


def leaderboard_and_standing(*, guild_id: int, page: int, user_id: int) -> tuple[LeaderboardPage, MemberStanding]:
    """A leaderboard page and a member's standing (its footer). On PostgreSQL the first page and the standing go
    to the server in one message: one round trip."""
    if page > 1 or connection.vendor != "postgresql":
        return leaderboard(guild_id=guild_id, page=page), standing(guild_id=guild_id, user_id=user_id)
    with connection.cursor() as cursor:
        cursor.execute(f"{_first_page_sql(connection.vendor)}; {_standing_sql(connection.vendor)}",
                       [guild_id, PAGE_SIZE, guild_id, _NEAR_THE_TOP, user_id, guild_id])
        top = cursor.fetchall()
        cursor.nextset()
        row = cursor.fetchone()
    return _first_page(top), _standing_of(row, user_id)


@functools.cache
def _first_page_sql(vendor: str) -> str:
    """The guild's key and member counter with its top PAGE_SIZE members, one row each (one row without a member
    when it has none; no row when there is no such guild)."""
    return (f"SELECT g.id, {_members_sql('g.id')}, t.user_id, t.display_name, t.balance FROM {_table(Guild)} g "
            f"LEFT JOIN (SELECT user_id, display_name, balance FROM {_table(MemberProfile)} WHERE guild_id = "
            f"(SELECT id FROM {_table(Guild)} WHERE discord_id = %s) ORDER BY balance DESC, user_id ASC LIMIT %s) t "
            f"ON 1 = 1 WHERE g.discord_id = %s ORDER BY t.balance DESC, t.user_id ASC")


def _first_page(found: list[tuple]) -> LeaderboardPage:
    if not found:
        return LeaderboardPage([], 1, 1, 0)
    guild_pk, members = found[0][:2]
    top = [row[2:] for row in found if row[2] is not None]
    return _page_of(top, 1, max(1, -(-members // PAGE_SIZE)), members, guild_pk)


def _page_of(top: list[tuple], page: int, pages: int, members: int, guild_pk: int) -> LeaderboardPage:
    rows: list[LeaderboardRow] = []
    for position, (user_id, name, balance) in enumerate(top):
        if not rows:
            # The first row of the first page has nobody above it; other pages count once.
            rank = 1 if page == 1 else _rank(guild_pk, balance, members)
        elif rows[-1].balance == balance:
            rank = rows[-1].rank
        else:
            rank = (page - 1) * PAGE_SIZE + position + 1
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
    return [HistoryRow(pk, delta, after, kind, str(labels.get(kind, kind)), reason, actor, _aware(created))
            for pk, delta, after, kind, reason, actor, created in rows]


@functools.cache
def _history_sql(vendor: str) -> tuple[str, str, str]:
    """(the member's key, the guild's, the member's entry count and their newest entries, one row each (a row
    without an entry when there is none); the member with their count; a page by the member's key).

    In the first, the member and the guild are looked up once (scalar subqueries), so the entries come off the
    (member, newest first) index and the count is counted once, however many entries the member has.
    """
    ledger, profiles, guilds = _table(LedgerEntry), _table(MemberProfile), _table(Guild)
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


