"""Interaction latency through the emulator under the mix members produce, next to a bare discord.py floor.

    python tests/bench/e2e_latency.py [--rate 100] [--seconds 60] [--members 60] [--database-url URL]

The mix, drawn at random (fixed seed) over MEMBERS members of one guild: 35 % `/balance`, 15 % `/leaderboard`,
20 % `/points add` (by a member with Manage Server, to a random member), 10 % `/history`, 10 % `/status`,
10 % `/pads`. RATE interactions per second for SECONDS, sent at a fixed pace (not waiting for answers),
to the floor — a bare discord.py bot answering the same commands with embeds of the same shape from
in-memory dicts, no Django — and to the project's bot, in the same process and on the same event loop as
the emulator, each after a warm-up. The floor runs the plan's first half before the project's run and its
second half after it (the project runs the whole plan), so both see the machine alike. Both start from the
same balances, ledger and pad sessions.

Latency is the emulator's: from the websocket send of INTERACTION_CREATE to the interaction callback
arriving at the emulator's REST endpoint. The emulator's 3 s interaction deadline is on, so an answer later
than 3 s is refused and counts as unanswered.

Targets (the project's bot): every interaction answered, with the expected kind of answer, and every
`/points add` in the ledger exactly once; p50 ≤ 3 × the floor's p50; p99 ≤ 25 ms. Prints p50/p99/max per
command for both bots and exits 1 when a target is missed. Without --database-url a throw-away SQLite file
is used; a PostgreSQL URL gets its own database `bench_latency_<pid>` on that server (dropped at the end).

`--processes` runs the floor and then `manage.py runbot` as processes of their own (the floor once, before).
`--timings` adds, for the project's run, each database call's time queued and running, garbage collections
and event-loop stalls; `--profile PREFIX` writes a cProfile of each of its threads.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import gc
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import discord
from discord import app_commands
from discord.ext import commands

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench._database import prepare_database  # noqa: E402

MIX = (("balance", 35), ("leaderboard", 15), ("points add", 20), ("history", 10), ("status", 10), ("pads", 10))
PADS = {2: ("training", "5 PM"), 5: ("tryout", "now"), 8: ("training", "in 10 minutes")}
# What a correct answer looks like, per command (the first embed's title, or the content for /points add).
EXPECTED = {"balance": "Points: ", "leaderboard": "Leaderboard", "points add": "Added ", "history": "Points history",
            "status": "Bot status", "pads": "Pads"}


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


@dataclass
class Scene:
    """The guild the mix runs in: who acts, who exists, and the starting state both bots share."""

    guild_id: int
    admin: int
    members: list[int]
    names: dict[int, str]
    balances: dict[int, int]
    pads: dict[int, tuple[str, str, int]] = field(default_factory=dict)  # pad → (kind, starts, host)


def make_plan(scene: Scene, n: int, seed: int, label: str = "bench") -> list[tuple[str, int, dict]]:
    """n interactions: (command, acting user, options), drawn from MIX; /points add gives reason "<label> <i>"."""
    rng = random.Random(seed)
    names, weights = zip(*MIX, strict=True)
    plan = []
    for i in range(n):
        command = rng.choices(names, weights)[0]
        user = rng.choice(scene.members)
        options: dict = {}
        if command == "points add":
            user = scene.admin
            options = {"member": rng.choice(scene.members), "amount": rng.randint(1, 50), "reason": f"{label} {i}"}
        elif command == "leaderboard" and rng.random() < 0.2:
            options = {"page": rng.randint(2, 3)}
        plan.append((command, user, options))
    return plan


# --- the floor: a bare discord.py bot over in-memory dicts ----------------------------------------------
def floor_bot(scene: Scene):
    """A bare discord.py bot answering the mix's commands with embeds of the same shape, without Django."""
    started = time.monotonic()
    balances = dict(scene.balances)
    earned = dict(scene.balances)
    ledger: dict[int, list[tuple[int, int, str, int | None, float]]] = {
        u: [(b, b, "seed", None, time.time())] for u, b in balances.items()}
    intents = discord.Intents.default()
    intents.members = True
    bot = commands.AutoShardedBot(command_prefix="!", intents=intents, guild_ready_timeout=0.0)
    quiet = discord.AllowedMentions.none()

    def rank(balance: int) -> int:
        return 1 + sum(1 for value in balances.values() if value > balance)

    @bot.tree.command(name="balance", description="Show a member's points")
    @app_commands.guild_only()
    async def balance(interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        member = member or interaction.user
        value = balances.get(member.id, 0)
        entries = ledger.get(member.id, [])
        embed = discord.Embed(title=f"Points: {member.display_name}", colour=discord.Colour.gold())
        embed.add_field(name="Balance", value=f"{value:,}")
        embed.add_field(name="Rank", value=f"#{rank(value)} of {len(balances)}")
        embed.add_field(name="Earned", value=f"{earned.get(member.id, 0):,}")
        embed.add_field(name="Spent or removed", value="0")
        embed.add_field(name="Ledger entries", value=str(len(entries)))
        embed.add_field(name="Last activity", value=f"<t:{int(entries[-1][4])}:R>" if entries else "–")
        embed.add_field(name="Achievements", value="0")
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=quiet)

    @bot.tree.command(name="leaderboard", description="Show the leaderboard")
    @app_commands.guild_only()
    async def leaderboard(interaction: discord.Interaction, page: int = 1) -> None:
        ordered = sorted(balances.items(), key=lambda item: (-item[1], item[0]))
        pages = max(1, -(-len(ordered) // 10))
        page = min(max(1, page), pages)
        lines = [f"**#{rank(value)}** <@{user}> · {value:,} points"
                 for user, value in ordered[(page - 1) * 10: page * 10]]
        embed = discord.Embed(title=f"Leaderboard · page {page} of {pages}", description="\n".join(lines),
                              colour=discord.Colour.gold())
        own = balances.get(interaction.user.id, 0)
        embed.set_footer(text=f"{interaction.user.display_name}: #{rank(own)} of {len(balances)} · {own:,} points")
        view = discord.ui.View(timeout=None)
        view.add_item(discord.ui.Button(label="◀", custom_id=f"points:lb:{page - 1}", disabled=page <= 1))
        view.add_item(discord.ui.Button(label="▶", custom_id=f"points:lb:{page + 1}", disabled=page >= pages))
        await interaction.response.send_message(embed=embed, view=view, allowed_mentions=quiet)

    group = app_commands.Group(name="points", description="Change a member's points", guild_only=True,
                               default_permissions=discord.Permissions(manage_guild=True))

    @group.command(name="add", description="Give a member points")
    async def add(interaction: discord.Interaction, member: discord.Member, amount: app_commands.Range[int, 1],
                  reason: str) -> None:
        if not interaction.permissions.manage_guild:
            await interaction.response.send_message("Only admins can do that.", ephemeral=True)
            return
        balances[member.id] = balances.get(member.id, 0) + amount
        earned[member.id] = earned.get(member.id, 0) + amount
        ledger.setdefault(member.id, []).append((amount, balances[member.id], reason, interaction.user.id,
                                                 time.time()))
        await interaction.response.send_message(
            f"Added {amount:,} points to {member.mention}. New balance: {balances[member.id]:,}.", ephemeral=True,
            allowed_mentions=quiet)

    bot.tree.add_command(group)

    @bot.tree.command(name="history", description="Show the latest points changes")
    @app_commands.guild_only()
    async def history(interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        member = member or interaction.user
        lines = []
        for delta, after, reason, actor, moment in reversed(ledger.get(member.id, [])[-10:]):
            line = f"<t:{int(moment)}:f> · **{delta:+,}** → {after:,} · Added by an admin · {reason}"
            if actor:
                line += f" · by <@{actor}>"
            lines.append(line)
        embed = discord.Embed(title=f"Points history: {member.display_name}", colour=discord.Colour.gold(),
                              description="\n".join(lines)[:4000] or "No ledger entries yet.")
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=quiet)

    @bot.tree.command(name="status", description="Show the bot's health")
    async def status(interaction: discord.Interaction) -> None:
        embed = discord.Embed(title="Bot status", colour=discord.Colour.blurple())
        embed.add_field(name="Uptime", value=f"{time.monotonic() - started:.0f} s")
        embed.add_field(name="Gateway latency", value=f"{bot.latency * 1000:.0f} ms")
        embed.add_field(name="Servers", value=str(len(bot.guilds)))
        embed.add_field(name="Shards", value=str(bot.shard_count or 1))
        embed.add_field(name="Commands processed", value="0")
        embed.add_field(name="Error rate", value="0.00 %")
        embed.add_field(name="Database size", value="–")
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @bot.tree.command(name="pads", description="Show the pads")
    @app_commands.guild_only()
    async def pads(interaction: discord.Interaction) -> None:
        lines = []
        for pad in range(1, 10):
            if pad in scene.pads:
                kind, starts, host = scene.pads[pad]
                lines.append(f"**Pad {pad}** · {kind} by <@{host}> · starts {starts} · since <t:{int(started)}:R>")
            else:
                lines.append(f"**Pad {pad}** · free")
        embed = discord.Embed(title="Pads", description="\n".join(lines), colour=discord.Colour.blurple())
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=quiet)

    async def setup_hook() -> None:
        await bot.tree.sync()

    bot.setup_hook = setup_hook
    return bot


# --- driving ---------------------------------------------------------------------------------------------
def settle_heap() -> None:
    """What `runbot` does once the bot is up: collect, then freeze what is alive out of the collector's passes.

    Done before each measured run (floor and project alike), so neither pays for the other's leftovers in a
    full collection. When a bot shares this process with the emulator, which keeps every interaction, the
    run also freezes the heap once a second, so that a full collection does not walk the emulator's
    growing state (in `runbot` the process holds the bot alone).
    """
    gc.collect()
    gc.freeze()


async def drive(emu, scene: Scene, plan: list, rate: float, freeze_every: int = 0) -> tuple[list, float]:
    """Send the plan at `rate` per second without waiting for answers; then wait for every answer.

    Returns [(command, record)] and the seconds the sending took. With `freeze_every`, the heap is frozen
    after every that many interactions (see settle_heap).
    """
    records = []
    interval = 1.0 / rate
    start = time.monotonic()
    for i, (command, user, options) in enumerate(plan):
        delay = start + i * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the load generator, not waiting for a result
        if freeze_every and i and i % freeze_every == 0:
            gc.freeze()
        records.append((command, await emu.slash(scene.guild_id, user, command, wait=False, **options)))
    sent = time.monotonic() - start
    # Answered or refused by the 3 s deadline: nothing can change after that.
    await emu.wait_for(lambda: all(r.callback is not None for _c, r in records), timeout=30)
    return records, sent


def _answer_text(record) -> str:
    message = record.original_message
    if message is None:
        return ""
    if message.embeds:
        return message.embeds[0].get("title") or ""
    return message.content or ""


def summarise(records: list) -> dict:
    """Per command: latencies (ms) of answered interactions, unanswered and wrong-answer counts."""
    out: dict[str, dict] = {}
    for command, record in records:
        row = out.setdefault(command, {"ms": [], "unanswered": 0, "wrong": 0})
        if record.callback is None or record.latency is None:
            row["unanswered"] += 1
            continue
        row["ms"].append(record.latency * 1000)
        if not _answer_text(record).startswith(EXPECTED[command]):
            row["wrong"] += 1
    return out


async def measure_floor(emu, scene: Scene, plan: list, warmup: list, rate: float) -> tuple[list, float]:
    """Run the floor bot through the warm-up and the plan; (records, seconds the sending took)."""
    from botproject.bot import endpoints

    endpoints.configure(api_base_url=emu.api_url, gateway_url=emu.gateway_url)
    bot = floor_bot(scene)
    await bot.login(emu.token)
    task = asyncio.create_task(bot.connect())
    await bot.wait_until_ready()
    try:
        await drive(emu, scene, warmup, rate)
        settle_heap()
        records, sent = await drive(emu, scene, plan, rate, freeze_every=int(rate))
    finally:
        await bot.close()
        await asyncio.gather(task, return_exceptions=True)
        endpoints.reset()
    return records, sent


class Profiles:
    """cProfile of every thread during the measured run (--profile): the event loop and each bridge thread."""

    def __init__(self, prefix: str | None) -> None:
        self.prefix = prefix
        self.profiles: dict[str, cProfile.Profile] = {}

    def _start_here(self, *_args) -> None:
        profile = self.profiles[threading.current_thread().name] = cProfile.Profile()
        profile.enable()  # replaces this hook for the thread

    async def start(self) -> None:
        """Profile the calling thread (the loop), the bridge's threads, and every thread started from now on."""
        if not self.prefix:
            return
        from django.conf import settings

        from botproject.bot.db import db_call

        threading.setprofile(self._start_here)
        self._start_here()
        barrier = threading.Barrier(settings.DB_THREADS, timeout=5)

        def enable_here() -> None:
            barrier.wait()  # one call per bridge thread: each waits until all are taken
            self._start_here()

        await asyncio.gather(*(db_call(enable_here)() for _ in range(settings.DB_THREADS)))

    def stop(self) -> None:
        """Stop and write <prefix>-<thread>.prof files (read them with pstats)."""
        if not self.prefix:
            return
        threading.setprofile(None)
        Path(self.prefix).parent.mkdir(parents=True, exist_ok=True)
        for name, profile in self.profiles.items():
            profile.disable()
            profile.dump_stats(f"{self.prefix}-{name.replace('/', '_')}.prof")
        print(f"profiles written: {self.prefix}-*.prof ({', '.join(self.profiles)})")


class BridgeTimings:
    """Per function run through the bot's bridge (db_call): calls, time queued for a thread, time running (--timings).

    Installed as the bridge's observer (botproject.bot.db.observe), so every db_call made from here on is timed.
    """

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[float, float]]] = {}
        self.collections: dict[int, list[float]] = {}
        self._gc_started = 0.0

    def _gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.collections.setdefault(info["generation"], []).append(time.perf_counter() - self._gc_started)

    async def _heartbeat(self) -> None:
        while True:
            self._beat = time.perf_counter()
            await asyncio.sleep(0.002)

    def _watch(self, loop_thread: int) -> None:
        """Sample the event loop's stack whenever it has not run its heartbeat for 20 ms (a stall)."""
        import sys
        import traceback

        reported = 0.0
        while not self._stop_watch.wait(0.005):
            stalled = time.perf_counter() - self._beat
            if stalled > 0.02 and self._beat != reported:
                frame = sys._current_frames().get(loop_thread)
                where = "".join(traceback.format_stack(frame, limit=8)) if frame else "?"
                self.stalls.append((stalled, where))
                reported = self._beat

    def install(self) -> None:
        """Start timing."""
        from botproject.bot import db

        gc.callbacks.append(self._gc)
        self.stalls: list[tuple[float, str]] = []
        self._beat = time.perf_counter()
        self._stop_watch = threading.Event()
        self._beat_task = asyncio.get_running_loop().create_task(self._heartbeat())
        threading.Thread(target=self._watch, args=(threading.get_ident(),), daemon=True).start()

        rows = self.rows

        def observed(name: str, queued: float, ran: float) -> None:
            rows.setdefault(name, []).append((queued, ran))

        db.observe(observed)

    def report(self) -> None:
        """Print the table, busiest function first."""
        from botproject.bot import db

        db.observe(None)
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)
        self._stop_watch.set()
        self._beat_task.cancel()
        print(f"event loop stalls over 20 ms: {len(self.stalls)}")
        for stalled, where in sorted(self.stalls, reverse=True)[:5]:
            print(f"--- stalled at least {stalled * 1000:.0f} ms in:\n{where}")
        for generation, pauses in sorted(self.collections.items()):
            print(f"garbage collections of generation {generation}: {len(pauses)}, "
                  f"longest {max(pauses) * 1000:.1f} ms, total {sum(pauses) * 1000:.0f} ms")
        print(f"\nbridge calls during the measured run (ms)\n{'function':<40}{'calls':>7}{'queued p50':>11}"
              f"{'queued p99':>11}{'run p50':>9}{'run p99':>9}{'run total':>10}")
        for name, values in sorted(self.rows.items(), key=lambda item: -sum(v[1] for v in item[1])):
            queued, ran = [v[0] * 1000 for v in values], [v[1] * 1000 for v in values]
            print(f"{name[-40:]:<40}{len(values):>7}{statistics.median(queued):>11.2f}{percentile(queued, 0.99):>11.2f}"
                  f"{statistics.median(ran):>9.2f}{percentile(ran, 0.99):>9.2f}{sum(ran):>10.0f}")


async def measure_project(emu, scene: Scene, plan: list, warmup: list, rate: float,
                          profiles: Profiles | None = None,
                          timings: BridgeTimings | None = None) -> tuple[list, float]:
    """Run the project's bot (BotRunner, as runbot does) through the warm-up and the plan."""
    from botproject.bot import endpoints
    from botproject.bot.runner import BotRunner

    runner = BotRunner(token=emu.token, api_base_url=emu.api_url, gateway_url=emu.gateway_url, host="127.0.0.1",
                       port=0, sync_guilds=[], guild_ready_timeout=0.0)
    await runner.start()
    try:
        await drive(emu, scene, warmup, rate)
        settle_heap()
        if profiles:
            await profiles.start()
        if timings:
            timings.install()
        records, sent = await drive(emu, scene, plan, rate, freeze_every=int(rate))
        if profiles:
            profiles.stop()
    finally:
        await runner.shutdown(grace=2)
        endpoints.reset()
    return records, sent


# --- each bot in its own process, as deployed -------------------------------------------------------------
def floor_child(scene_file: str) -> None:
    """Entry point of the floor's process: connect to the emulator named in the environment, answer until SIGTERM."""
    from botproject.bot import endpoints

    data = json.loads(Path(scene_file).read_text())
    scene = Scene(data["guild_id"], data["admin"], data["members"], {int(k): v for k, v in data["names"].items()},
                  {int(k): v for k, v in data["balances"].items()},
                  {int(k): tuple(v) for k, v in data["pads"].items()})
    endpoints.configure(api_base_url=os.environ["DISCORD_API_BASE_URL"], gateway_url=os.environ["DISCORD_GATEWAY_URL"])
    bot = floor_bot(scene)

    async def run() -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(bot.close()))
        await bot.login(os.environ["DISCORD_TOKEN"])
        connecting = asyncio.create_task(bot.connect())
        await bot.wait_until_ready()
        gc.collect()
        gc.freeze()  # as runbot does
        await connecting

    asyncio.run(run())


def start_child(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Start a bot process; its output goes to a log file (shown when it fails)."""
    log = log_path.open("w")
    return subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", **env}, stdout=log,
                            stderr=subprocess.STDOUT, text=True)


def stop_child(process: subprocess.Popen, log_path: Path) -> None:
    """SIGTERM, then wait (SIGKILL after 20 s); print the log's tail when the process failed."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.returncode not in (0, -signal.SIGTERM):
        tail = "".join(log_path.read_text().splitlines(True)[-30:])
        print(f"{log_path.name} exited with {process.returncode}:\n{tail}")


async def drive_child(emu, scene: Scene, process: subprocess.Popen, marker: str, plan: list, warmup: list,
                      rate: float) -> tuple[list, float]:
    """Wait until the child's commands are synced (`marker` is one only it has) and it answers; warm up; measure."""
    deadline = time.monotonic() + 60
    while emu.command(marker, scene.guild_id) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the bot process never synced its commands (exit code {process.poll()})")
        await asyncio.sleep(0.1)  # polling another process's start-up
    from botproject.sandbox.emulator.ids import EmulatorError

    while True:  # commands are synced before the gateway session is up: probe until /status is answered
        try:
            await emu.slash(scene.guild_id, scene.admin, "status", wait=True, timeout=10)
            break
        except EmulatorError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)  # polling another process's start-up
    await drive(emu, scene, warmup, rate)
    return await drive(emu, scene, plan, rate)


def measure_in_processes(harness, scene: Scene, plan: list, warmup: list, rate: float, url: str,
                         duration: float) -> tuple[tuple, tuple]:
    """The floor, then `manage.py runbot`, each in its own process against the emulator."""
    emu = harness.emu
    workdir = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    scene_file = workdir / "scene.json"
    scene_file.write_text(json.dumps(dataclasses.asdict(scene)))
    discord_env = {"DISCORD_TOKEN": emu.token, "DISCORD_API_BASE_URL": emu.api_url,
                   "DISCORD_GATEWAY_URL": emu.gateway_url, "LOG_LEVEL": "WARNING"}
    floor_log = workdir / "floor.log"
    floor_process = start_child([sys.executable, __file__, "--floor-child", str(scene_file)], discord_env, floor_log)
    try:
        floor = harness.run(drive_child(emu, scene, floor_process, "balance", plan, warmup, rate), timeout=duration)
    finally:
        stop_child(floor_process, floor_log)
    bot_log = workdir / "runbot.log"
    bot_env = {**discord_env, "DATABASE_URL": url, "PORT": "0", "WEB_HOST": "127.0.0.1", "DISCORD_SYNC_GUILDS": "",
               "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-secret-key-not-for-production-0123456789"}
    bot_process = start_child([sys.executable, "manage.py", "runbot"], bot_env, bot_log)
    try:
        ours = harness.run(drive_child(emu, scene, bot_process, "setup", plan, warmup, rate), timeout=duration)
    finally:
        stop_child(bot_process, bot_log)
    shutil.rmtree(workdir, ignore_errors=True)
    return floor, ours


# --- setup -----------------------------------------------------------------------------------------------
def build_scene(harness, members: int) -> Scene:
    """The guild (staff role configured), MEMBERS members with balances and ledger rows, three pad sessions."""
    from botproject import services as core
    from pads import services as pads
    from points.services import points_award

    world = harness.build_guild("Bench Guild")
    users = [harness.member_join(world.guild_id, username=f"member{i:02d}", roles=[world.verified_role]).user_id
             for i in range(members)]
    names = {u: f"member{i:02d}" for i, u in enumerate(users)}
    core.config_set_role(guild_id=world.guild_id, kind="staff", role_id=world.staff_role)
    rng = random.Random(7)
    balances = {}
    for user in users:
        amount = rng.randint(1, 5000)
        balances[user] = points_award(guild_id=world.guild_id, user_id=user, amount=amount, reason="seed",
                                      idempotency_key=f"seed:{user}", display_name=names[user], notify=False).balance
    scene = Scene(world.guild_id, world.admin, users, names, balances)
    for pad, (kind, starts) in PADS.items():
        host = users[pad]
        pads.session_start(guild_id=world.guild_id, pad=pad, kind=kind, host_id=host, starts=starts,
                           host_name=names[host])
        scene.pads[pad] = (kind, starts, host)
    return scene


def report(label: str, stats: dict, sent: float, n: int) -> None:
    """Print one bot's table: per command n, p50, p99, max (ms), unanswered and wrong answers."""
    every = [ms for row in stats.values() for ms in row["ms"]]
    print(f"\n{label}: {n} interactions sent in {sent:.1f} s ({n / sent:.0f}/s)")
    print(f"{'command':<14}{'n':>6}{'p50':>9}{'p99':>9}{'max':>9}{'unanswered':>12}{'wrong':>7}")
    for command, _weight in MIX:
        row = stats.get(command)
        if not row or not row["ms"]:
            continue
        values = row["ms"]
        print(f"{'/' + command:<14}{len(values):>6}{statistics.median(values):>9.2f}{percentile(values, 0.99):>9.2f}"
              f"{max(values):>9.2f}{row['unanswered']:>12}{row['wrong']:>7}")
    if every:
        print(f"{'all':<14}{len(every):>6}{statistics.median(every):>9.2f}{percentile(every, 0.99):>9.2f}"
              f"{max(every):>9.2f}{sum(r['unanswered'] for r in stats.values()):>12}"
              f"{sum(r['wrong'] for r in stats.values()):>7}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="interactions per second (default 100)")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured duration (default 60)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds before each measured run")
    parser.add_argument("--members", type=int, default=60, help="members in the guild (default 60)")
    parser.add_argument("--seed", type=int, default=14, help="seed of the mix")
    parser.add_argument("--database-url", default=None, help="database to use (default: a temporary SQLite file)")
    parser.add_argument("--processes", action="store_true",
                        help="run each bot in its own process (the floor, then `manage.py runbot`) instead of on the "
                             "emulator's event loop")
    parser.add_argument("--profile", metavar="PREFIX", help="cProfile each thread of the project's measured run")
    parser.add_argument("--timings", action="store_true", help="time each database call of the measured run")
    parser.add_argument("--floor-child", metavar="SCENE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_child:
        floor_child(args.floor_child)
        return 0

    url, cleanup = prepare_database(args.database_url, "latency")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botproject.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection, connections

        call_command("migrate", verbosity=0)
        vendor = connection.vendor
        from botproject.sandbox.emulator import EmulatorThread

        harness = EmulatorThread(timeout=30)
        try:
            assert harness.emu.callback_deadline == 3.0, "the emulator's 3 s deadline must stay on"
            scene = build_scene(harness, args.members)
            connections.close_all()  # the bot's bridge threads open their own
            n = int(args.rate * args.seconds)
            plan = make_plan(scene, n, args.seed)
            warmup = make_plan(scene, int(args.rate * args.warmup), args.seed + 1, label="warm-up")
            duration = args.seconds + args.warmup + 60
            timings = BridgeTimings() if args.timings else None
            if not args.processes or args.profile or timings:
                # The floor takes the plan's first half before the project's run and its second half after,
                # so a machine that gets busier or quieter during the run moves both alike.
                half = len(plan) // 2
                before = harness.run(measure_floor(harness.emu, scene, plan[:half], warmup, args.rate),
                                     timeout=duration)
                ours = harness.run(measure_project(harness.emu, scene, plan, warmup, args.rate,
                                                   Profiles(args.profile), timings), timeout=duration)
                after = harness.run(measure_floor(harness.emu, scene, plan[half:], warmup, args.rate),
                                    timeout=duration)
                floor = (before[0] + after[0], before[1] + after[1])
            else:
                floor, ours = measure_in_processes(harness, scene, plan, warmup, args.rate, url, duration)
            rate_limited = harness.get(lambda: dict(harness.emu.stats))
        finally:
            harness.stop()

        print(f"mix at {args.rate:.0f}/s for {args.seconds:.0f} s over {args.members} members, database {vendor}; "
              f"latency = emulator websocket send → interaction callback (ms); 3 s deadline on")
        floor_stats, our_stats = summarise(floor[0]), summarise(ours[0])
        report("bare discord.py (floor)", floor_stats, floor[1], len(floor[0]))
        report("community bot", our_stats, ours[1], len(ours[0]))
        if timings:
            timings.report()
            first = min(r.dispatched_at for _c, r in ours[0] if r.dispatched_at)
            slow: dict[int, int] = {}
            for _command, record in ours[0]:
                if record.latency is not None and record.latency > 0.025:
                    slow[int(record.dispatched_at - first)] = slow.get(int(record.dispatched_at - first), 0) + 1
            print("answers over 25 ms by second of the run: "
                  + ", ".join(f"{second} s: {count}" for second, count in sorted(slow.items())))
        print(f"emulator: {rate_limited.get('requests', 0)} REST requests, 429s {rate_limited.get('429', 0)} "
              f"(global {rate_limited.get('429_global', 0)})")

        floor_ms = [ms for row in floor_stats.values() for ms in row["ms"]]
        our_ms = [ms for row in our_stats.values() for ms in row["ms"]]
        adds = sum(1 for command, _u, _o in plan if command == "points add")
        from points.models import LedgerEntry

        written = LedgerEntry.objects.filter(guild__discord_id=scene.guild_id, reason__startswith="bench ").count()
        unanswered = sum(r["unanswered"] for r in our_stats.values())
        wrong = sum(r["wrong"] for r in our_stats.values())
        floor_p50, our_p50 = statistics.median(floor_ms), statistics.median(our_ms)
        our_p99 = percentile(our_ms, 0.99)
        checks = [
            (f"all {len(plan)} answered, as expected ({unanswered} unanswered, {wrong} wrong)",
             unanswered == 0 and wrong == 0),
            (f"every /points add in the ledger once ({written} of {adds})", written == adds),
            (f"p50 {our_p50:.2f} ms ≤ 3 × floor p50 ({3 * floor_p50:.2f} ms)", our_p50 <= 3 * floor_p50),
            (f"p99 {our_p99:.2f} ms ≤ 25 ms", our_p99 <= 25.0),
        ]
        floor_unanswered = sum(r["unanswered"] + r["wrong"] for r in floor_stats.values())
        if floor_unanswered:
            print(f"note: the floor left {floor_unanswered} unanswered or answered wrongly")
        print()
        for text, ok in checks:
            print(("PASS " if ok else "FAIL ") + text)
        return 0 if all(ok for _text, ok in checks) else 1
    finally:
        try:
            from django.db import connections

            for conn in connections.all():
                if hasattr(conn, "close_pool"):
                    conn.close_pool()
                conn.close()
        except Exception:  # noqa: BLE001 - cleanup continues
            pass
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
