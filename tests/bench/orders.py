"""Order import benchmark: a 10,000-row CSV through `points.services.order_import` on a throw-away database.

    python tests/bench/orders.py [--database-url URL] [--rows 10000] [--existing 0]

Generates the file (half the rows with codes given in the file, half to be generated), creates a guild with
`--existing` orders already in it, then times:

- parse: `parse_orders` (the admin's preview: every row checked, the guild's orders read once);
- import: `orders_import(source=bytes)` (what the admin's "Import" button runs: parse again under the guild's
  lock, then bulk inserts in chunks of 1,000, all in one transaction);
- re-import: the same file again (every row already imported, nothing written).

Checks the orders were created and a generated code is claimable. Exits 1 when the import takes ≥ 10 s (or a
check fails). Without --database-url a temporary SQLite file is used (removed afterwards); with a PostgreSQL
URL the bench creates its own database `bench_orders_<pid>` on that server (the URL's database, or `postgres` when
it does not exist, is only used to connect) and drops it at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench._database import prepare_database  # noqa: E402

GUILD = 900_000_000_000_000_010
LIMIT_SECONDS = 10.0


def make_csv(rows: int) -> bytes:
    from points.services import generate_code

    lines = ["Order ID,Customer Email,Total,Currency,Code"]
    for n in range(rows):
        code = generate_code() if n % 2 else ""
        lines.append(f"SHOP-{n:06d},customer{n}@example.com,{(n % 9000) / 100 + 1:.2f},USD,{code}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def seed_existing(count: int) -> None:
    """`count` orders already in the guild (from an earlier import), so the pre-load has something to read."""
    from points.services.order_import import orders_import

    if count:
        lines = ["order,email,amount"] + [f"OLD-{n},old{n}@example.com,5" for n in range(count)]
        for start in range(0, count, 50_000):
            chunk = [lines[0], *lines[1 + start:1 + start + 50_000]]
            orders_import(guild_id=GUILD, source=("\n".join(chunk) + "\n").encode(), filename="old.csv")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--existing", type=int, default=0, help="orders already in the guild")
    args = parser.parse_args()

    url, cleanup = prepare_database(args.database_url, "orders")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botproject.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection, connections

        from botproject.services import guild_ensure
        from points.models import Order
        from points.services import order_claim
        from points.services.order_import import orders_import, parse_orders

        call_command("migrate", verbosity=0)
        guild_ensure(guild_id=GUILD, name="Bench shop")
        seed_existing(args.existing)
        data = make_csv(args.rows)
        print(f"orders import bench on {connection.vendor} ({url.split('@')[-1]}): {args.rows:,} rows, "
              f"{len(data) / 1024:.0f} KB, {args.existing:,} orders already in the guild")

        started = time.perf_counter()
        preview = parse_orders(data, GUILD)
        parse_s = time.perf_counter() - started
        assert preview.ok and len(preview.rows) == args.rows, preview.errors[:5]

        ticks = []
        started = time.perf_counter()
        result = orders_import(guild_id=GUILD, source=data, filename="bench.csv",
                               progress=lambda done, total: ticks.append(done))
        import_s = time.perf_counter() - started

        started = time.perf_counter()
        again = orders_import(guild_id=GUILD, source=data, filename="bench.csv")
        reimport_s = time.perf_counter() - started

        created = Order.objects.filter(guild__discord_id=GUILD, batch=result.batch).count()
        generated = next(c for c in result.codes if c.generated)
        claimed = order_claim(guild_id=GUILD, user_id=1, code=generated.code)
        print(f"{'step':<44}{'seconds':>9}")
        print(f"{'parse_orders (preview)':<44}{parse_s:>9.2f}")
        print(f"{'orders_import (parse + insert, 1 txn)':<44}{import_s:>9.2f}")
        print(f"{'orders_import again (all skipped)':<44}{reimport_s:>9.2f}")
        print(f"rows/s (import): {args.rows / import_s:,.0f}; progress reports: {len(ticks)}")
        checks = [
            (f"import {import_s:.2f} s < {LIMIT_SECONDS:.0f} s", import_s < LIMIT_SECONDS),
            (f"{created:,} orders created", created == args.rows == result.created),
            (f"re-import created nothing ({again.created} created, {again.skipped:,} skipped)",
             again.created == 0 and again.skipped == args.rows and again.batch is None),
            (f"a generated code is claimable ({claimed.points} points)",
             claimed.order_number == generated.order_number),
        ]
        print()
        for text, ok in checks:
            print(("PASS " if ok else "FAIL ") + text)
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
