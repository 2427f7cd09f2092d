"""Points benchmark: awards through the bot's async bridge under contention, and leaderboard reads at scale.

    python tests/bench/points.py [--database-url URL] [--members 1000000] [--awards 5000] [--callers 32]

(a) Awards of 1 point: `--awards` calls of `points.services.points_award` from `--callers` concurrent asyncio tasks
    through `botproject.bot.db.db_call` (the bot's bridge: DB_THREADS threads), in three scenarios: members with a
    profile in a guild without achievements (80 % of the awards on 10 hot members, 20 % on 1,000 cold ones); the
    same in a guild with achievements configured (each award checks them; some awards earn one); and awards to
    members seen for the first time (each creates a profile). Next to a floor that is not the service's SQL but
    what a hand-written bot would do, through the same bridge, in a guild of its own: one transaction with an
    upsert of the balance row (INSERT … ON CONFLICT DO UPDATE … RETURNING) and an insert into the ledger — no
    limits, notices, achievements or member counter. Latency is per call as the awaiting task sees it (queueing
    included). Targets in each scenario: ≥ 1,000 awards/s, p99 ≤ 50 ms, and ≥ 0.5 × the floor's rate.
    Invariants: balances equal their ledger sums, every award is in the ledger once, the member counter is right.
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
import gc
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


# --- (a) awards ---------------------------------------------------------------------------------------
SCENARIOS = {
    "known": "members with a profile, a guild without achievements (the short path)",
    "achievements": "members with a profile, a guild with 4 achievements (checked on every award)",
    "first-time": "every award to a member seen for the first time (the profile is created)",
}
# Service guilds (checked afterwards) and the floor's guilds (its minimal SQL keeps no counters or notices).
GUILDS = {"known": (GUILD_AWARDS, 900_000_000_000_000_011), "achievements": (900_000_000_000_000_003,
                                                                             900_000_000_000_000_013),
          "first-time": (900_000_000_000_000_004, 900_000_000_000_000_014)}
ACHIEVEMENTS = (  # name, condition, threshold, bonus: two met along the way, one never (claims), one far away
    ("Rising", "balance_reached", 20, 5), ("Earner", "points_earned", 100, 0), ("Collector", "claims_made", 3, 0),
    ("Legend", "balance_reached", 10**12, 0))


def seed_guild(guild_id: int, *, members: bool, achievements: bool) -> None:
    """The guild's rows; HOT + COLD members with a profile (bulk, then the counter); achievements."""
    from botproject.services import config_row
    from points.models import Achievement, MemberProfile
    from points.services import points_recount_members

    guild = config_row(guild_id).guild
    if members:
        MemberProfile.objects.bulk_create([MemberProfile(guild=guild, user_id=user, display_name=f"member {user}")
                                           for user in range(1, HOT + COLD + 1)], batch_size=1000)
        points_recount_members(guild_id=guild_id)
    if achievements:
        Achievement.objects.bulk_create([Achievement(guild=guild, name=name, condition=condition, threshold=threshold,
                                                     bonus_points=bonus) for name, condition, threshold, bonus
                                         in ACHIEVEMENTS])


_GUILD_PK: dict[int, int] = {}


def floor_award(guild_id: int, amount: int, user_id: int, key: str) -> int:
    """The floor: what a hand-written bot would do, not the service's SQL.

    One transaction: an upsert of the member's balance row (INSERT … ON CONFLICT DO UPDATE … RETURNING) and an
    insert into the ledger. No limits, no notices, no achievements, no member counter.
    """
    from django.db import connection, transaction
    from django.utils import timezone

    if guild_id not in _GUILD_PK:
        from botproject.models import Guild

        _GUILD_PK[guild_id] = Guild.objects.values_list("pk", flat=True).get(discord_id=guild_id)
    guild_pk = _GUILD_PK[guild_id]
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO points_memberprofile (guild_id, user_id, display_name, balance, negative_allowed, "
            "earned_total, spent_total, entries, last_activity_at, email, notifications_enabled, created_at) "
            "VALUES (%s, %s, '', %s, %s, %s, 0, 1, %s, '', %s, %s) ON CONFLICT (guild_id, user_id) DO UPDATE SET "
            "balance = points_memberprofile.balance + excluded.balance, "
            "earned_total = points_memberprofile.earned_total + excluded.earned_total, "
            "entries = points_memberprofile.entries + 1, last_activity_at = excluded.last_activity_at "
            "RETURNING id, balance", [guild_pk, user_id, amount, False, amount, now, True, now])
        member_pk, balance = cursor.fetchone()
        cursor.execute(
            "INSERT INTO points_ledgerentry (guild_id, member_id, delta, balance_after, kind, actor_id, actor_user_id, "
            "reason, idempotency_key, reverses_id, created_at) VALUES (%s, %s, %s, %s, 'admin_add', NULL, NULL, "
            "'bench', %s, NULL, %s)", [guild_pk, member_pk, amount, balance, key, now])
    return balance


def award_plan(n: int, scenario: str, offset: int = 0) -> list[int]:
    """Who gets each award: 80 % one of 10 hot members, 20 % one of 1,000 cold ones; or new members."""
    if scenario == "first-time":
        return [10**15 + offset + i for i in range(n)]
    rng = random.Random(42 + offset)
    hot, cold = list(range(1, HOT + 1)), list(range(HOT + 1, HOT + COLD + 1))
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

    # As runbot does once ready: what was built so far (the seeding, the earlier runs) leaves the collector's
    # generations, so a full collection in the middle of a run does not walk it (the floor's runs alike).
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return latencies, time.perf_counter() - started


async def bench_awards(n: int, callers: int) -> dict:
    """Each scenario: the floor in its own guild, then the service; (latencies, wall) of each."""
    from botproject.bot.db import close_db_connections, db_call
    from points.services import points_award

    for scenario, (service_guild, floor_guild) in GUILDS.items():
        for guild_id in (service_guild, floor_guild):
            await db_call(seed_guild)(guild_id, members=scenario != "first-time",
                                      achievements=scenario == "achievements" and guild_id == service_guild)
    award = db_call(points_award)
    floor = db_call(floor_award)
    results = {}
    # Warm-up (connections, caches) on the first service guild and the first floor guild.
    warm = award_plan(200, "known", offset=7)
    await drive(callers, warm, lambda i, u: award(guild_id=GUILD_AWARDS, user_id=u, amount=1, reason="warm",
                                                  idempotency_key=f"warm:{i}"))
    await drive(callers, warm, lambda i, u: floor(GUILDS["known"][1], 1, u, f"floor-warm:{i}"))
    for scenario, (service_guild, floor_guild) in GUILDS.items():
        plan = award_plan(n, scenario)

        async def service_call(i, user_id, guild_id=service_guild, scenario=scenario):
            await award(guild_id=guild_id, user_id=user_id, amount=1, reason="bench",
                        idempotency_key=f"svc:{scenario}:{i}")

        async def floor_call(i, user_id, guild_id=floor_guild, scenario=scenario):
            await floor(guild_id, 1, user_id, f"floor:{scenario}:{i}")

        # The floor first, so neither always runs on a warmer disk.
        results[scenario] = {"floor": await drive(callers, plan, floor_call),
                             "svc": await drive(callers, plan, service_call)}
    await close_db_connections()
    return results


def check_award_invariants(n: int) -> list[str]:
    """Per service guild: balances equal their ledger sums, every award is in the ledger once, the counter is right."""
    from points.models import LedgerEntry, MemberProfile
    from points.selectors import ledger_mismatches, member_count

    problems = []
    for scenario, (guild_id, _floor) in GUILDS.items():
        if ledger_mismatches(guild_id=guild_id):
            problems.append(f"{scenario}: balances differ from their ledger sums")
        awards = LedgerEntry.objects.filter(guild__discord_id=guild_id, reason="bench")
        if awards.count() != n or awards.values("idempotency_key").distinct().count() != n:
            problems.append(f"{scenario}: {awards.count()} awards in the ledger, expected {n}")
        profiles = MemberProfile.objects.filter(guild__discord_id=guild_id).count()
        counter = member_count(guild_id=guild_id)
        if counter != profiles:
            problems.append(f"{scenario}: member counter {counter}, profiles {profiles}")
    return problems


def count_award_queries() -> dict[str, int]:
    """Statements one award sends in each scenario (BEGIN/SAVEPOINT/COMMIT included)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from points.services import points_award

    counts = {}
    for scenario, (guild_id, _floor) in GUILDS.items():
        user = award_plan(1, scenario, offset=10**6)[0] if scenario == "first-time" else 1
        with CaptureQueriesContext(connection) as ctx:
            points_award(guild_id=guild_id, user_id=user, amount=1, reason="count", idempotency_key=f"count:{scenario}")
        counts[scenario] = len(ctx.captured_queries)
    return counts


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
                batch.append([created if c == "created_at" else v for c, v in zip(columns, row, strict=True)])
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
        print(f"\n(a) awards of 1 point: {args.awards} per run, {args.callers} concurrent callers through db_call; "
              f"80 % on 10 hot members, 20 % on 1,000 cold ones")
        print("    floor: a hand-written bot's SQL in a transaction (upsert of the balance row, insert into the "
              "ledger)")
        print(f"{'scenario':<14}{'path':<9}{'awards/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'statements':>12}")
        rows = {}
        for scenario, paths in result.items():
            for path in ("floor", "svc"):
                lat, wall = paths[path]
                rows[scenario, path] = (len(lat) / wall, statistics.median(lat), percentile(lat, 0.99), max(lat))
                rate, p50, p99, worst = rows[scenario, path]
                statements = str(queries[scenario]) if path == "svc" else ""
                print(f"{scenario:<14}{'service' if path == 'svc' else 'floor':<9}{rate:>10.0f}{p50:>9.2f}"
                      f"{p99:>9.2f}{worst:>9.2f}{statements:>12}")
        for scenario, text in SCENARIOS.items():
            print(f"  {scenario}: {text}")

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

        checks = []
        for scenario in SCENARIOS:
            svc_rate, _p50, svc_p99, _max = rows[scenario, "svc"]
            floor_rate = rows[scenario, "floor"][0]
            checks += [
                (f"{scenario}: awards/s {svc_rate:.0f} ≥ 1,000", svc_rate >= 1000),
                (f"{scenario}: award p99 {svc_p99:.1f} ms ≤ 50 ms", svc_p99 <= 50),
                (f"{scenario}: awards/s {svc_rate:.0f} ≥ 0.5 × the floor's ({0.5 * floor_rate:.0f})",
                 svc_rate >= 0.5 * floor_rate),
            ]
        checks.append((f"ledger invariants ({'; '.join(problems) or 'ok'})", not problems))
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
