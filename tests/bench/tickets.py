"""Tickets benchmark: a burst of panel clicks against a rate-limited channel creation.

    python tests/bench/tickets.py [--database-url URL] [--members-a 50] [--clicks 4] [--members-b 10]

210 open clicks within 1 s (50 members × 4 clicks in guild A, 10 members × 1 in guild B) through the Discord
emulator, which limits POST /guilds/{id}/channels to 5 per 5 s per guild (and, like Discord, every bot
request outside interactions and webhooks to 50 per second). Each click's latency runs from the moment it is
sent (the burst's clock) to its first answer arriving at the emulator. Targets: every click answered
(deferred) within 3 s of being sent, exactly one ticket per member (60), every ticket's channel eventually
exists, no global 429. The 429s the emulator answered during the burst are printed, per route and global.
Without --database-url a temporary SQLite file is used; a PostgreSQL URL gets its own database
`bench_tickets_<pid>` (created and dropped). Prints the figures; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench._database import prepare_database  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--members-a", type=int, default=50)
    parser.add_argument("--clicks", type=int, default=4)
    parser.add_argument("--members-b", type=int, default=10)
    args = parser.parse_args()
    url, cleanup = prepare_database(args.database_url, "tickets")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botproject.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    try:
        return run(args)
    finally:
        from django.db import connections

        for conn in connections.all():
            if hasattr(conn, "close_pool"):
                conn.close_pool()
            conn.close()
        cleanup()


def run(args) -> int:
    from botproject import services as core
    from botproject.sandbox.emulator import EmulatorThread
    from tests.conftest import start_runner, stop_runner
    from tickets import services
    from tickets.models import Ticket

    harness = EmulatorThread(timeout=30)
    emu = harness.emu
    world_a, world_b = harness.build_guild("Guild A"), harness.build_guild("Guild B")
    members = {world_a.guild_id: [harness.member_join(world_a.guild_id, username=f"a{i}").user_id
                                  for i in range(args.members_a)],
               world_b.guild_id: [harness.member_join(world_b.guild_id, username=f"b{i}").user_id
                                  for i in range(args.members_b)]}
    categories = {}
    for world in (world_a, world_b):
        core.config_set_role(guild_id=world.guild_id, kind="staff", role_id=world.staff_role)
        categories[world.guild_id] = services.category_create(guild_id=world.guild_id, name="General Support")
    harness.set_rate_limit("POST /guilds/{guild_id}/channels", limit=5, per=5.0, scope="guild")
    runner = start_runner(harness)
    try:
        panels = {}
        for world in (world_a, world_b):
            harness.slash(world.guild_id, world.admin, "ticket panel")
            panels[world.guild_id] = [m for m in harness.messages(world.general) if m.components][-1]
        plan = [(world_a.guild_id, user) for user in members[world_a.guild_id] for _ in range(args.clicks)]
        plan += [(world_b.guild_id, user) for user in members[world_b.guild_id]]

        stats_before = dict(emu.stats)

        async def burst():
            # Each click is timed from the moment it is sent (the burst's own clock), not from when the
            # emulator got round to writing it to the bot's websocket.
            started = time.monotonic()
            sent_at, records = [], []
            for gid, user in plan:
                sent_at.append(emu._now())
                records.append(await emu.click(gid, user, panels[gid], f"ticket:open:{categories[gid]}", wait=False))
            sent = time.monotonic() - started
            await emu.wait_for(lambda: all(r.callback is not None for r in records), timeout=30)
            return records, sent_at, sent

        records, sent_at, sent_in = harness.run(burst(), timeout=60)
        expected = args.members_a + args.members_b
        started = time.monotonic()
        harness.run(emu.wait_for(lambda: all(r.settled for r in records), 300), timeout=310)
        settled_in = time.monotonic() - started
        unanswered = sum(1 for r in records if r.callback_at is None)
        latencies = [r.callback_at - at for r, at in zip(records, sent_at, strict=True) if r.callback_at is not None]
        tickets = list(Ticket.objects.exclude(status="failed"))
        names = {c.name for gid in members for c in harness.channels(gid)}
        missing = [t for t in tickets if f"ticket-{t.code}" not in names]
        stats = {key: value - stats_before.get(key, 0) for key, value in emu.stats.items()}
    finally:
        stop_runner(harness, runner)
        harness.stop()
    ready = sum(1 for r in records if (r.content or "").startswith("Your ticket is ready"))
    refused = sum(1 for r in records if (r.content or "").startswith("You already have an open ticket"))
    route_429 = stats.get("429", 0) - stats.get("429_global", 0)
    print(f"clicks sent: {len(records)} in {sent_in:.2f} s")
    print(f"first answer (defer), from the click: max {max(latencies):.3f} s, "
          f"median {statistics.median(latencies):.3f} s, unanswered {unanswered}")
    print(f"all followups within {settled_in:.1f} s after the burst: ready {ready}, refused at limit {refused}")
    print(f"tickets: {len(tickets)} (expected {expected}); channels missing: {len(missing)}")
    print(f"emulator during the burst: {stats.get('requests', 0)} REST requests; 429s: {route_429} on routes, "
          f"{stats.get('429_global', 0)} global")
    failures = []
    if sent_in > 1.0:
        failures.append("clicks not sent within 1 s")
    if unanswered or max(latencies) > 3.0:
        failures.append("a click was not answered within 3 s of being sent")
    if len(tickets) != expected or ready != expected:
        failures.append("wrong number of tickets")
    if missing:
        failures.append("channels missing")
    if stats.get("429_global", 0):
        failures.append("global 429s")
    for failure in failures:
        print("MISSED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
