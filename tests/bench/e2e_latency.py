"""Interaction latency through the emulator: the project's bot next to a bare discord.py client (the floor).

Drives RATE interactions per second of `/status` for SECONDS and reports, for each bot, the time from the
emulator's websocket send to the interaction callback arriving at the emulator's REST endpoint.

    python tests/bench/e2e_latency.py [--rate 100] [--seconds 5] [--database-url URL]

Targets: the project's p50 ≤ 2 × the floor's p50, and its p99 ≤ 50 ms. Exits 1 when one is missed.
Without --database-url a throw-away SQLite file is used (migrated first).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def _floor_bot():
    """A bare discord.py bot answering /status with a similar embed, without Django."""
    import discord
    from discord.ext import commands

    started = time.monotonic()
    intents = discord.Intents.default()
    intents.members = True
    bot = commands.AutoShardedBot(command_prefix="!", intents=intents, guild_ready_timeout=0.0)

    @bot.tree.command(name="status", description="Show the bot's health")
    async def status(interaction: discord.Interaction) -> None:
        embed = discord.Embed(title="Bot status")
        embed.add_field(name="Uptime", value=f"{time.monotonic() - started:.0f} s")
        embed.add_field(name="Gateway latency", value=f"{bot.latency * 1000:.0f} ms")
        embed.add_field(name="Servers", value=str(len(bot.guilds)))
        await interaction.response.send_message(embed=embed, ephemeral=True)

    async def setup_hook() -> None:
        await bot.tree.sync()

    bot.setup_hook = setup_hook
    return bot


async def _drive(emu, guild_id: int, user_id: int, rate: float, seconds: float) -> list[float]:
    """Send `rate` /status per second for `seconds`; return each interaction's latency in ms."""
    records = []
    interval = 1.0 / rate
    start = time.monotonic()
    for i in range(int(rate * seconds)):
        delay = start + i * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the load generator, not waiting for a result
        records.append(await emu.slash(guild_id, user_id, "status", wait=False))
    await asyncio.gather(*(rec.wait(timeout=10) for rec in records))
    return [rec.latency * 1000 for rec in records]


async def _measure_floor(harness, world, rate, seconds) -> list[float]:
    from botproject.bot import endpoints

    emu = harness.emu
    endpoints.configure(api_base_url=emu.api_url, gateway_url=emu.gateway_url)
    bot = _floor_bot()
    await bot.login(emu.token)
    task = asyncio.create_task(bot.connect())
    await bot.wait_until_ready()
    await _drive(emu, world.guild_id, world.member, rate, min(seconds, 1.0))  # warm-up
    latencies = await _drive(emu, world.guild_id, world.member, rate, seconds)
    await bot.close()
    await asyncio.gather(task, return_exceptions=True)
    return latencies


async def _measure_project(harness, world, rate, seconds) -> list[float]:
    from botproject.bot.runner import BotRunner

    emu = harness.emu
    runner = BotRunner(token=emu.token, api_base_url=emu.api_url, gateway_url=emu.gateway_url, host="127.0.0.1",
                       port=0, sync_guilds=[], guild_ready_timeout=0.0)
    await runner.start()
    await _drive(emu, world.guild_id, world.member, rate, min(seconds, 1.0))  # warm-up
    latencies = await _drive(emu, world.guild_id, world.member, rate, seconds)
    await runner.shutdown(grace=2)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="interactions per second (default 100)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured duration (default 5)")
    parser.add_argument("--database-url", default=None, help="database to use (default: a temporary SQLite file)")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="bench-latency-")
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{workdir}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botproject.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from tests.emulator import EmulatorThread

    harness = EmulatorThread()
    try:
        world = harness.build_guild("Bench Guild")
        floor = harness.run(_measure_floor(harness, world, args.rate, args.seconds), timeout=120)
        ours = harness.run(_measure_project(harness, world, args.rate, args.seconds), timeout=120)
    finally:
        harness.stop()

    rows = []
    for name, values in (("bare discord.py (floor)", floor), ("community bot", ours)):
        rows.append((name, len(values), statistics.median(values), _percentile(values, 0.99), max(values)))
    print(f"/status at {args.rate:.0f}/s for {args.seconds:.0f} s, dispatch → callback (ms), "
          f"database {os.environ['DATABASE_URL'].split(':', 1)[0]}")
    print(f"{'bot':<26}{'n':>6}{'p50':>9}{'p99':>9}{'max':>9}")
    for name, n, p50, p99, worst in rows:
        print(f"{name:<26}{n:>6}{p50:>9.2f}{p99:>9.2f}{worst:>9.2f}")
    floor_p50, ours_p50, ours_p99 = rows[0][2], rows[1][2], rows[1][3]
    checks = [
        (f"p50 {ours_p50:.2f} ms ≤ 2 × floor p50 ({2 * floor_p50:.2f} ms)", ours_p50 <= 2 * floor_p50),
        (f"p99 {ours_p99:.2f} ms ≤ 50 ms", ours_p99 <= 50.0),
    ]
    for text, ok in checks:
        print(("PASS " if ok else "FAIL ") + text)
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
