"""Points reads about standing: balances with rank, member counts and leaderboard pages."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction

from botproject.models import Guild

from ..models import GuildPointsStats, MemberAchievement, MemberCountShard, MemberProfile
from .common import aware, table_sql

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
    return (f"(COALESCE((SELECT s.members FROM {table_sql(GuildPointsStats)} s WHERE s.guild_id = {guild_pk}), 0) "
            f"+ CAST(COALESCE((SELECT SUM(c.members) FROM {table_sql(MemberCountShard)} c "
            f"WHERE c.guild_id = {guild_pk}), 0) AS BIGINT))")


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
    return f"SELECT g.id, {_members_sql('g.id')} FROM {table_sql(Guild)} g WHERE g.discord_id = %s"


def _count_above(guild_pk: int, balance: int, bound: int | None = None) -> int:
    """How many of the guild's members have more than `balance`, counting at most `bound` (an index range)."""
    table = table_sql(MemberProfile)
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
        cursor.execute(f"SELECT COUNT(*) FROM {table_sql(MemberProfile)} WHERE guild_id = %s AND balance <= %s",
                       [guild_pk, balance])
        return cursor.fetchone()[0]


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
        user_id, name, balance, rank, members, earned, spent, entries, aware(last_activity), achieved,
        bool(notifications),
    )


@functools.cache
def _standing_sql(vendor: str) -> str:
    profile = table_sql(MemberProfile)
    return (f"SELECT g.id, {_members_sql('g.id')}, "
            f"p.id, p.display_name, p.balance, p.earned_total, p.spent_total, p.entries, p.last_activity_at, "
            f"p.notifications_enabled, "
            f"(SELECT COUNT(*) FROM {table_sql(MemberAchievement)} a WHERE a.member_id = p.id), "
            f"(SELECT COUNT(*) FROM (SELECT 1 FROM {profile} q WHERE q.guild_id = g.id AND q.balance > p.balance "
            f"LIMIT %s) above) "
            f"FROM {table_sql(Guild)} g LEFT JOIN {profile} p ON p.guild_id = g.id AND p.user_id = %s "
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
            f"SELECT user_id, display_name, balance FROM {table_sql(MemberProfile)} WHERE guild_id = %s "
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
    return (f"SELECT g.id, {_members_sql('g.id')}, t.user_id, t.display_name, t.balance FROM {table_sql(Guild)} g "
            f"LEFT JOIN (SELECT user_id, display_name, balance FROM {table_sql(MemberProfile)} WHERE guild_id = "
            f"(SELECT id FROM {table_sql(Guild)} WHERE discord_id = %s) ORDER BY balance DESC, user_id ASC LIMIT %s) t "
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
