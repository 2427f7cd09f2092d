"""Legacy migration benchmark: 100,000 old members (and their tickets) through convert_legacy + loaddata.

    python tests/bench/legacy.py [--database-url URL] [--members 100000] [--tickets 10000] [--limit 60]

Generates the old bots' files in a temporary folder: points.json (a fifth of the members with a plain number,
the rest with 1-3 services and a `total`), ticket_numbers.json ({guild: 500, another guild: 7}) and
tickets.json (3 panels; 2 % of the tickets open or needing help, the rest archived; half claimed). Then times,
on a throw-away database:

- convert: `manage.py convert_legacy` (validation, backups, report, fixture; its progress bar on stderr);
- load: `manage.py loaddata` of that fixture (a progress bar on stderr driven by the fixture's rows as they
  are saved, LEGACY_PROGRESS=1; loaddata has none of its own);
- reload: loaddata of the same fixture again (for information: it must change nothing).

Checks members, the sum of balances, check_ledger, the guild's member counter, tickets per status, claims,
panels and the ticket counter, after the load and after the reload. Exits 1 when convert + load take --limit
seconds or more, or a check fails. Without --database-url a temporary SQLite file is used; with a PostgreSQL URL
the bench creates its own database `bench_legacy_<pid>` on that server and drops it at the end.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench._database import prepare_database  # noqa: E402

GUILD, OTHER_GUILD = 900_000_000_000_000_020, 900_000_000_000_000_021
SERVICES = ["Demon Slayer", "Raid Carry", "Boss Rush", "Activation", "General Support"]
COUNTER = 500


def generate(folder: Path, members: int, tickets: int, seed: int = 20) -> dict:
    """Write the three files; returns what they hold (the expected figures)."""
    rng = random.Random(seed)
    points, total_points, entries = {}, 0, 0
    users = [300_000_000_000_000_000 + n for n in range(members)]
    for n, user in enumerate(users):
        if n % 5 == 0:
            value = rng.randrange(0, 5000)
            points[str(user)] = value
            total_points += value
            entries += value > 0
        else:
            services = {s: rng.randrange(1, 500) for s in rng.sample(SERVICES, rng.randrange(1, 4))}
            points[str(user)] = {**services, "total": sum(services.values())}
            total_points += sum(services.values())
            entries += len(services)
    (folder / "points.json").write_text(json.dumps(points), encoding="utf-8")
    (folder / "ticket_numbers.json").write_text(json.dumps({str(GUILD): COUNTER, str(OTHER_GUILD): 7}))

    start = datetime(2025, 1, 1)
    open_part, archive, statuses = {}, [], {"open": 0, "need_help": 0, "closed": 0}
    for n in range(tickets):
        created = start + timedelta(minutes=17 * n)
        record = {"ticket_id": f"t{n:06d}", "user_id": rng.choice(users), "channel_id": 1_300_000_000_000_000_000 + n,
                  "guild_id": GUILD, "category": rng.choice(SERVICES), "created_at": created.isoformat(),
                  "members": []}
        record["members"] = [record["user_id"]]
        if n % 2:
            helper = rng.choice(users)
            record.update(claimed_by=helper, claimed_at=(created + timedelta(minutes=3)).isoformat())
            record["members"].append(helper)
        if n % 50 == 0:
            record.update(closed=False, status="need_help" if n % 100 == 0 else "open")
            open_part[record["ticket_id"]] = record
        else:
            record.update(closed=True, status="closed", closed_at=(created + timedelta(minutes=40)).isoformat(),
                          closed_by=record["user_id"] if n % 3 else record.get("claimed_by", record["user_id"]))
            archive.append(record)
        statuses[record["status"]] += 1
    panels = [{"message_id": 1_200_000_000_000_000_000 + n, "channel_id": 1_210_000_000_000_000_000 + n,
               "guild_id": GUILD, "category": SERVICES[n], "created_at": start.isoformat()} for n in range(3)]
    (folder / "tickets.json").write_text(json.dumps({"panels": panels, "tickets": open_part,
                                                     "closed_tickets": archive}), encoding="utf-8")
    return {"members": members, "points": total_points, "entries": entries, "statuses": statuses,
            "claims": tickets // 2, "panels": len(panels), "counter": COUNTER + tickets}


def check(expected: dict) -> list[str]:
    """What differs from the files after a load (empty: all good)."""
    from django.core.management import CommandError, call_command
    from django.db.models import Count, Sum

    from points.models import GuildPointsStats, LedgerEntry, MemberProfile
    from tickets.models import Ticket, TicketClaim, TicketCounter, TicketPanel

    profiles = MemberProfile.objects.filter(guild__discord_id=GUILD)
    statuses = dict(Ticket.objects.filter(guild__discord_id=GUILD).values_list("status").annotate(n=Count("id")))
    found = {
        "members": profiles.count(),
        "points": profiles.aggregate(total=Sum("balance"))["total"],
        "entries": LedgerEntry.objects.filter(guild__discord_id=GUILD, kind="legacy_import").count(),
        "member counter": GuildPointsStats.objects.get(guild__discord_id=GUILD).members,
        "statuses": {s: statuses.get(s, 0) for s in expected["statuses"]},
        "claims": TicketClaim.objects.filter(ticket__guild__discord_id=GUILD).count(),
        "panels": TicketPanel.objects.filter(guild__discord_id=GUILD).count(),
        "counter": TicketCounter.objects.get(guild__discord_id=GUILD).last_number,
    }
    wanted = {**expected, "member counter": expected["members"]}
    problems = [f"{name}: {found[name]} (expected {wanted[name]})" for name in found if found[name] != wanted[name]]
    try:
        call_command("check_ledger", "--guild", str(GUILD), stdout=io.StringIO())
    except CommandError as error:
        problems.append(f"check_ledger: {error}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--limit", type=float, default=60.0, help="seconds for convert + load")
    args = parser.parse_args()

    url, cleanup = prepare_database(args.database_url, "legacy")
    os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="botproject.settings", LEGACY_PROGRESS="1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    folder = Path(tempfile.mkdtemp(prefix="bench-legacy-"))
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection, connections

        call_command("migrate", verbosity=0)
        expected = generate(folder, args.members, args.tickets)
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 1048576:.1f} MB" for p in sorted(folder.iterdir()))
        print(f"{connection.vendor}: {args.members:,} members ({expected['entries']:,} (member, service) "
              f"balances, {expected['points']:,} points), {args.tickets:,} tickets; files: {sizes}", flush=True)
        fixture = folder / "legacy.json"

        started = time.perf_counter()
        out = io.StringIO()
        call_command("convert_legacy", "--guild", str(GUILD), "--points", str(folder / "points.json"),
                     "--ticket-numbers", str(folder / "ticket_numbers.json"), "--tickets", str(folder / "tickets.json"),
                     "--out", str(fixture), stdout=out, stderr=sys.stderr)
        converted = time.perf_counter() - started
        print(next(line for line in out.getvalue().splitlines() if line.startswith("Fixture:")), flush=True)

        started = time.perf_counter()
        call_command("loaddata", str(fixture), verbosity=0)
        loaded = time.perf_counter() - started
        problems = [f"after the load: {p}" for p in check(expected)]

        started = time.perf_counter()
        call_command("loaddata", str(fixture), verbosity=0)
        reloaded = time.perf_counter() - started
        problems += [f"after the reload: {p}" for p in check(expected)]
        connections.close_all()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        cleanup()

    total = converted + loaded
    print(f"convert {converted:.1f} s + load {loaded:.1f} s = {total:.1f} s for {args.members:,} members "
          f"({args.members / total:,.0f} members/s); reload {reloaded:.1f} s (no change)")
    ok = total < args.limit and not problems
    for problem in problems:
        print(f"FAIL {problem}")
    print(f"{'PASS' if ok else 'FAIL'} convert + load {total:.1f} s < {args.limit:g} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
