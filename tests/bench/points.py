"""Points benchmark: awards through the bot's async bridge under contention, and leaderboard reads at scale.

    python tests/bench/points.py [--database-url URL] [--members 1000000] [--awards 5000] [--callers 32]

(a) `--awards` calls of `points.services.points_award` from `--callers` concurrent asyncio tasks through
    `botproject.bot.db.db_call` (the bot's bridge: DB_THREADS threads), spread over 10 hot members (80 %) and
    1,000 cold ones; next to the same statements as literal SQL through the same bridge (SQLite: BEGIN, UPDATE …
    RETURNING, INSERT ledger, INSERT outbox DM notice, COMMIT; PostgreSQL: the three writes as one statement
    with data-modifying CTEs, its own transaction; the guild's limits read once, as the service caches them). Latency is per call as the awaiting task sees it (queueing included).
    Targets: ≥ 1,000 awards/s, p99 ≤ 50 ms, and ≥ 0.5 × the raw-SQL rate. Invariants: balances equal their
    ledger sums and every award is in the ledger.
(b) `--members` members in one guild (bulk-loaded: COPY on PostgreSQL, executemany on SQLite), then
    `points.selectors.leaderboard(page=1)` and `rank_of` for the lowest balance and the balances at the quartiles
    and the median (a rank counts one side of the member's balance; which one is slowest depends on the
    method, so the worst of them is the worst case). Targets on PostgreSQL:
    top-10 p99 ≤ 5 ms, worst rank p99 ≤ 50 ms (SQLite figures are printed for information).

Without --database-url a temporary SQLite file is used. A SQLite URL must name a file that does not exist yet
(it is removed afterwards). For a PostgreSQL URL the bench creates its own database `bench_points_<pid>` on
that server (the URL's database is only used to connect) and drops it at the end. Exits 1 when a target is
missed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench._database import prepare_database  # noqa: E402

HOT, COLD = 10, 1000
GUILD_AWARDS, GUILD_BOARD = 900_000_000_000_000_001, 900_000_000_000_000_002


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


# --- database lifecycle ---------------------------------------------------------------------------
# --- (a) awards ---------------------------------------------------------------------------------------
def seed_award_members() -> tuple[list[int], list[int]]:
    from botproject.services import config_row
    from points.models import MemberProfile

    config = config_row(GUILD_AWARDS)
    users = list(range(1, HOT + COLD + 1))
    MemberProfile.objects.bulk_create([MemberProfile(guild=config.guild, user_id=u, display_name=f"member {u}")
                                       for u in users], batch_size=1000)
    return users[:HOT], users[HOT:]


_GUILD_ROW: list = []  # the guild's limits, read once by read_guild_row() before the run


def read_guild_row(guild_id: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT g.id, g.name, c.language, c.points_max_adjustment, c.points_max_balance, c.points_allow_negative "
            "FROM botproject_guild g JOIN botproject_guildconfig c ON c.guild_id = g.id WHERE g.discord_id = %s",
            [guild_id])
        _GUILD_ROW[:] = cursor.fetchone()
_EXISTS = ("EXISTS (SELECT 1 FROM botproject_guild g JOIN botproject_guildconfig c ON c.guild_id = g.id "
           "WHERE g.id = %s AND g.name = %s AND c.language = %s AND c.points_max_adjustment = %s "
           "AND c.points_max_balance = %s AND c.points_allow_negative = %s)")
_UPDATE = ("UPDATE points_memberprofile SET balance = balance + %s, earned_total = earned_total + %s, "
           "spent_total = spent_total + 0, entries = entries + 1, last_activity_at = %s, negative_allowed = %s, "
           "display_name = COALESCE(NULL, display_name) WHERE guild_id = %s AND user_id = %s AND balance <= %s "
           f"AND {_EXISTS} RETURNING id, balance, notifications_enabled")
_LEDGER_COLUMNS = ("guild_id, delta, kind, actor_id, actor_user_id, reason, idempotency_key, reverses_id, created_at, "
                   "member_id, balance_after")
_OUTBOX_COLUMNS = ("guild_id, kind, target_id, message_id, content, embed, email_to, subject, html, dedupe_key, "
                   "status, attempts, last_error, discord_message_id, created_at, available_at, sent_at")


def raw_award(guild_id: int, amount: int, user_id: int, key: str) -> int:
    """The floor: the statements points_award sends for a known member, hand-written as literal SQL.

    The guild's limits are read once (the service caches them too and re-checks them in the UPDATE). Then one
    transaction: on SQLite UPDATE … RETURNING, INSERT ledger, INSERT outbox notice; on PostgreSQL the same
    three writes as one statement with data-modifying CTEs, which outside a transaction block is its own
    transaction.
    """
    from django.db import connection, transaction
    from django.utils import timezone

    now = timezone.now()
    guild_pk, _name, _language, _max_adjustment, max_balance, _negative = _GUILD_ROW
    update = [amount, amount, connection.ops.adapt_datetimefield_value(now), False, guild_pk, user_id,
              max_balance - amount, *_GUILD_ROW]
    ledger = [guild_pk, amount, "admin_add", None, None, "bench", key, None, now]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # one statement, its own transaction (autocommit), as the service
            cursor.execute(
                f"WITH p AS ({_UPDATE}), e AS (INSERT INTO points_ledgerentry ({_LEDGER_COLUMNS}) "
                f"SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, p.id, p.balance FROM p RETURNING id), "
                f"o AS (INSERT INTO botproject_outboxmessage ({_OUTBOX_COLUMNS}) SELECT %s, 'dm', %s, NULL, "
                f"left(%s || to_char(p.balance, 'FM9,999,999,999,999,999,999,990') || %s, 2000), NULL, '', '', '', "
                f"'dm:ledger:' || e.id, 'pending', 0, '', NULL, %s, %s, NULL FROM p, e WHERE p.notifications_enabled "
                f"RETURNING id) SELECT e.id, p.balance, (SELECT count(*) FROM o) FROM p, e",
                [*update, *ledger, guild_pk, user_id, f"+{amount} points (bench). Your balance: ", ".", now, now])
            _entry_id, balance, _notices = cursor.fetchone()
            return balance
    with transaction.atomic(), connection.cursor() as cursor:
        now = connection.ops.adapt_datetimefield_value(now)
        ledger[-1] = now
        cursor.execute(_UPDATE, update)
        profile_pk, balance, _notify = cursor.fetchone()
        cursor.execute(f"INSERT INTO points_ledgerentry ({_LEDGER_COLUMNS}) VALUES ({', '.join(['%s'] * 11)}) "
                       f"RETURNING id", [*ledger, profile_pk, balance])
        (entry_id,) = cursor.fetchone()
        cursor.execute(
            f"INSERT INTO botproject_outboxmessage ({_OUTBOX_COLUMNS}) VALUES (%s, 'dm', %s, NULL, %s, NULL, '', '', "
            f"'', %s, 'pending', 0, '', NULL, %s, %s, NULL) RETURNING id",
            [guild_pk, user_id, f"+{amount} points (bench). Your balance: {balance:,}.", f"dm:ledger:{entry_id}",
             now, now])
    return balance


def award_plan(n: int, hot: list[int], cold: list[int]) -> list[int]:
    rng = random.Random(42)
    return [rng.choice(hot) if rng.random() < 0.8 else rng.choice(cold) for _ in range(n)]


async def drive(callers: int, plan: list, call) -> tuple[list[float], float]:
    """`callers` tasks take the plan's items in turn and await call(i, item); per-call ms and wall seconds."""
    latencies: list[float] = []
    position = 0

    async def caller():
        nonlocal position
        while position < len(plan):
            i = position
            position += 1
            started = time.perf_counter()
            await call(i, plan[i])
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return latencies, time.perf_counter() - started


async def bench_awards(n: int, callers: int) -> dict:
    from botproject.bot.db import close_db_connections, db_call
    from points.services import points_award

    hot, cold = await db_call(seed_award_members)()
    await db_call(read_guild_row)(GUILD_AWARDS)
    plan = award_plan(n, hot, cold)
    award = db_call(points_award)
    raw = db_call(raw_award)

    async def service_call(i, user_id):
        await award(guild_id=GUILD_AWARDS, user_id=user_id, amount=1, reason="bench", idempotency_key=f"svc:{i}")

    async def raw_call(i, user_id):
        await raw(GUILD_AWARDS, 1, user_id, f"raw:{i}")

    # Warm-up (connections, caches), then the measured runs; raw first so neither always runs on a warmer disk.
    await drive(callers, plan[:200], lambda i, u: award(guild_id=GUILD_AWARDS, user_id=u, amount=1, reason="warm",
                                                          idempotency_key=f"warm:{i}"))
    raw_lat, raw_wall = await drive(callers, plan, raw_call)
    svc_lat, svc_wall = await drive(callers, plan, service_call)
    await close_db_connections()
    return {"svc": (svc_lat, svc_wall), "raw": (raw_lat, raw_wall)}


def check_award_invariants(n: int) -> list[str]:
    from points.models import LedgerEntry, MemberProfile
    from points.selectors import ledger_mismatches

    problems = []
    if ledger_mismatches(guild_id=GUILD_AWARDS):
        problems.append("balances differ from their ledger sums")
    total = sum(MemberProfile.objects.filter(guild__discord_id=GUILD_AWARDS).values_list("balance", flat=True))
    if total != 2 * n + 200:
        problems.append(f"lost updates: balances add up to {total}, expected {2 * n + 200}")
    if LedgerEntry.objects.filter(guild__discord_id=GUILD_AWARDS).count() != 2 * n + 200:
        problems.append("ledger rows missing")
    return problems


def count_award_queries() -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from points.services import points_award

    with CaptureQueriesContext(connection) as ctx:
        points_award(guild_id=GUILD_AWARDS, user_id=1, amount=1, reason="count", idempotency_key="count")
    return len(ctx.captured_queries)


# --- (b) leaderboard --------------------------------------------------------------------------------------
def load_members(n: int) -> float:
    from django.db import connection, transaction
    from django.utils import timezone

    from botproject.services import config_row
    from points.models import MemberProfile

    guild = config_row(GUILD_BOARD).guild
    rng = random.Random(1)
    now = timezone.now()
    fields = [f for f in MemberProfile._meta.concrete_fields if not f.primary_key]
    columns = [f.column for f in fields]
    started = time.perf_counter()

    def rows():
        for user_id in range(1, n + 1):
            balance = rng.randint(0, 10_000_000)
            values = {"guild_id": guild.pk, "user_id": 10**17 + user_id, "display_name": f"m{user_id}",
                      "balance": balance, "negative_allowed": False, "earned_total": balance, "spent_total": 0,
                      "entries": 1, "last_activity_at": None, "email": "", "notifications_enabled": True,
                      "created_at": now}
            yield [values[c] for c in columns]

    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY points_memberprofile ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row(row)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE points_memberprofile")
    else:
        sql = (f"INSERT INTO points_memberprofile ({', '.join(columns)}) "
               f"VALUES ({', '.join(['%s'] * len(columns))})")
        created = connection.ops.adapt_datetimefield_value(now)
        batch = []
        with transaction.atomic(), connection.cursor() as cursor:
            for row in rows():
                batch.append([created if c == "created_at" else v for c, v in zip(columns, row)])
                if len(batch) == 50_000:
                    cursor.executemany(sql, batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    # A bulk load bypasses the services: set the guild's member counter the way an operator would.
    from points.services import points_recount_members

    points_recount_members(guild_id=GUILD_BOARD)
    return time.perf_counter() - started


def time_calls(func, reps: int, warm: int = 0) -> list[float]:
    for _ in range(warm):
        func()
    out = []
    for _ in range(reps):
        started = time.perf_counter()
        func()
        out.append((time.perf_counter() - started) * 1000)
    return out


def bench_board(reps: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from points import selectors
    from points.models import MemberProfile

    profiles = MemberProfile.objects.filter(guild__discord_id=GUILD_BOARD)
    by_pk = MemberProfile.objects.filter(guild_id=profiles.values_list("guild_id", flat=True).first())
    members = by_pk.count()
    ordered = profiles.order_by("balance").values_list("balance", flat=True)
    probes = {label: ordered[min(members - 1, int(members * q))]
              for label, q in (("lowest", 0), ("25th percentile", 0.25), ("median", 0.5), ("75th percentile", 0.75))}
    time_calls(lambda: selectors.leaderboard(guild_id=GUILD_BOARD, page=1), 3)  # warm the cache
    with CaptureQueriesContext(connection) as ctx:
        selectors.leaderboard(guild_id=GUILD_BOARD, page=1)
    return {
        "leaderboard": time_calls(lambda: selectors.leaderboard(guild_id=GUILD_BOARD, page=1), reps),
        "leaderboard_queries": len(ctx.captured_queries),
        # The parts of leaderboard(), to show where its time goes.
        "top10_query": time_calls(lambda: list(by_pk.order_by("-balance", "user_id")
                                               .values_list("user_id", "display_name", "balance")[:10]), reps),
        "member_count": time_calls(lambda: by_pk.count(), max(5, reps // 5)),
        # Each probe warmed like the leaderboard (its first count reads the index from disk), then timed.
        "ranks": {f"rank_of({label} balance {value})":
                  time_calls(lambda value=value: selectors.rank_of(guild_id=GUILD_BOARD, balance=value), reps,
                             warm=2)
                  for label, value in probes.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--members", type=int, default=1_000_000, help="members in the leaderboard guild")
    parser.add_argument("--awards", type=int, default=5000, help="awards per measured run")
    parser.add_argument("--callers", type=int, default=32, help="concurrent asyncio callers")
    parser.add_argument("--reps", type=int, default=50, help="repetitions of each read")
    args = parser.parse_args()

    url, cleanup = prepare_database(args.database_url, "points")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botproject.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection, connections

        call_command("migrate", verbosity=0)
        vendor = connection.vendor
        print(f"points bench on {vendor} ({url.split('@')[-1]}), bridge threads {settings.DB_THREADS}, "
              f"{args.callers} callers, {args.awards} awards, {args.members:,} members")

        result = asyncio.run(bench_awards(args.awards, args.callers))
        problems = check_award_invariants(args.awards)
        queries = count_award_queries()
        rows = {}
        for name, (lat, wall) in result.items():
            rows[name] = (len(lat) / wall, statistics.median(lat), percentile(lat, 0.99), max(lat))
        print("\n(a) awards, 80 % on 10 hot members, 20 % on 1,000 cold ones")
        print(f"{'path':<34}{'awards/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        labels = {"svc": "points_award via db_call", "raw": "same statements as raw SQL via db_call"}
        for name in ("svc", "raw"):
            rate, p50, p99, worst = rows[name]
            print(f"{labels[name]:<34}{rate:>10.0f}{p50:>9.2f}{p99:>9.2f}{worst:>9.2f}")
        print(f"statements per points_award (incl. BEGIN/SAVEPOINT/COMMIT): {queries}; "
              f"raw path: {1 if vendor == 'postgresql' else 5}")

        load_seconds = load_members(args.members)
        board = bench_board(args.reps)
        print(f"\n(b) {args.members:,} members in one guild (loaded in {load_seconds:.1f} s), {args.reps} reps")
        print(f"{'read':<48}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        lines = [(f"leaderboard(page=1) [{board['leaderboard_queries']} queries]", board["leaderboard"]),
                 ("  of which: the top-10 query", board["top10_query"]),
                 ("COUNT(*) of the guild (why a counter is kept)", board["member_count"]),
                 *board["ranks"].items()]
        for label, values in lines:
            print(f"{label:<48}{statistics.median(values):>9.2f}{percentile(values, 0.99):>9.2f}"
                  f"{max(values):>9.2f}")
        worst_label, worst_values = max(board["ranks"].items(), key=lambda item: percentile(item[1], 0.99))

        svc_rate, _p50, svc_p99, _max = rows["svc"]
        checks = [
            (f"awards/s {svc_rate:.0f} ≥ 1,000", svc_rate >= 1000),
            (f"award p99 {svc_p99:.1f} ms ≤ 50 ms", svc_p99 <= 50),
            (f"awards/s {svc_rate:.0f} ≥ 0.5 × raw SQL ({0.5 * rows['raw'][0]:.0f})", svc_rate >= 0.5 * rows["raw"][0]),
            (f"ledger invariants ({'; '.join(problems) or 'ok'})", not problems),
        ]
        board_checks = [
            (f"leaderboard top-10 p99 {percentile(board['leaderboard'], 0.99):.2f} ms ≤ 5 ms",
             percentile(board["leaderboard"], 0.99) <= 5),
            (f"worst-case rank p99 {percentile(worst_values, 0.99):.2f} ms ≤ 50 ms [{worst_label}]",
             percentile(worst_values, 0.99) <= 50),
        ]
        if vendor == "postgresql":
            checks += board_checks
        print()
        for text, ok in checks:
            print(("PASS " if ok else "FAIL ") + text)
        if vendor != "postgresql":
            for text, ok in board_checks:
                print(("info " if ok else "info (over) ") + text + " [SQLite: informational]")
        connections.close_all()
        return 0 if all(ok for _text, ok in checks) else 1
    finally:
        try:
            from django.db import connections

            for conn in connections.all():
                if hasattr(conn, "close_pool"):
                    conn.close_pool()
        except Exception:  # noqa: BLE001 - cleanup continues
            pass
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
