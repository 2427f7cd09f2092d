"""Shared fixtures: one Discord emulator and one bot (started the way runbot starts it) per test module."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from botproject import services as core
from botproject.bot import db, endpoints
from botproject.bot.runner import BotRunner
from botproject.sandbox.emulator import EmulatorThread, World

ROOT = Path(__file__).resolve().parent.parent
# Every top-level slash command the bot registers now; an app adds its own when it lands.
IMPLEMENTED_COMMANDS = {
    "status", "setup", "config", "addrole", "allowusers", "permissions", "block", "unblock", "blocklist", "helper",
    "training", "tryout", "endsession", "pads",
    "ticket", "sendticket",
    "balance", "leaderboard", "history", "points", "achievements", "notifications", "claim", "email",
    "verify", "reverify", "unverify", "whois",
}


@dataclass
class RunningBot:
    """The bot under test, its emulator and the standard test guild."""

    emulator: EmulatorThread
    runner: BotRunner
    world: World

    @property
    def bot(self):
        """The discord.py client."""
        return self.runner.bot

    def slash(self, who: str, command: str, **kwargs):
        """Run a slash command in the test guild as one of the world's members (owner, admin, member...)."""
        return self.emulator.slash(self.world.guild_id, getattr(self.world, who), command, **kwargs)

    def click(self, who: str, message, custom_id: str, **kwargs):
        """Click a button as one of the world's members."""
        return self.emulator.click(self.world.guild_id, getattr(self.world, who), message, custom_id, **kwargs)

    def select(self, who: str, message, custom_id: str, values: list, **kwargs):
        """Pick values in a select as one of the world's members."""
        return self.emulator.select(self.world.guild_id, getattr(self.world, who), message, custom_id, values, **kwargs)

    def record_guild(self) -> None:
        """Record the test guild as the bot does when it becomes available (name, owner, roles and channels
        seen): the flush between tests removes what it recorded at start."""
        self.emulator.run(self.bot.get_cog("CoreCog").on_guild_available(self.bot.get_guild(self.world.guild_id)))


def start_runner(emulator: EmulatorThread, **overrides) -> BotRunner:
    """Start a BotRunner against the emulator on the emulator's loop, as runbot would."""
    emu = emulator.emu
    options = {
        "token": emu.token,
        "api_base_url": emu.api_url,
        "gateway_url": emu.gateway_url,
        "host": "127.0.0.1",
        "port": 0,
        "sync_guilds": [],
        "guild_ready_timeout": 0.0,
    }
    options.update(overrides)

    async def start() -> BotRunner:
        runner = BotRunner(**options)
        await runner.start()
        return runner

    return emulator.run(start(), timeout=20)


def stop_runner(emulator: EmulatorThread, runner: BotRunner) -> None:
    """Shut the bot down on the emulator's loop, and un-pin discord.py from this emulator."""
    db.release_database_work()
    try:
        emulator.run(runner.shutdown(grace=2), timeout=20)
    except TimeoutError:
        raise AssertionError(
            "the bot did not shut down within 20 s; tasks still running:\n" + _task_dump(emulator)) from None
    finally:
        endpoints.reset()


def _task_dump(emulator: EmulatorThread) -> str:
    """Every task on the emulator's loop with where it waits (for a shutdown that hangs)."""
    import io

    async def dump() -> str:
        out = io.StringIO()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.print_stack(limit=6, file=out)
        return out.getvalue()

    return emulator.run(dump(), timeout=5)


@pytest.fixture(scope="module")
def emulator():
    """A Discord emulator on 127.0.0.1, on its own event-loop thread."""
    harness = EmulatorThread()
    yield harness
    harness.stop()



@pytest.fixture(scope="session", autouse=True)
def _tables_emptied_by_delete_on_postgresql():
    """Between transactional tests Django empties every table; on PostgreSQL with one TRUNCATE of all 51 tables,
    which costs ~140 ms (new files for every table and index) where DELETE of their few rows costs ~5 ms. The
    suite runs hundreds of such tests, so they empty the tables with DELETE (in the flush's own transaction; the
    foreign keys are deferred, so the order does not matter). What is left afterwards is the same: no rows, and
    the sequences as they were (the flush does not reset them either)."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if reset_sequences or not tables:
            return truncate(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        return ["SET CONSTRAINTS ALL DEFERRED;", *(
            f"{style.SQL_KEYWORD('DELETE FROM')} {style.SQL_FIELD(self.quote_name(table))};" for table in tables)]

    DatabaseOperations.sql_flush = sql_flush
    yield
    DatabaseOperations.sql_flush = truncate

@pytest.fixture(scope="module")
def running_bot(emulator, django_db_setup, django_db_blocker):
    """The project's bot, connected to the emulator, with the standard guild; shared by a module's tests."""
    with django_db_blocker.unblock():
        world = emulator.build_guild("Test Guild")
        running = RunningBot(emulator, start_runner(emulator), world)
        yield running
        db.release_database_work()
        stop_runner(emulator, running.runner)  # a test may have restarted it: stop the current one


@pytest.fixture
def own_emulator():
    """A fresh emulator with the standard guild, for tests that start (and stop) their own bots."""
    harness = EmulatorThread()
    harness.world = harness.build_guild("Own Guild")
    try:
        yield harness
    finally:
        endpoints.reset()
        harness.stop()


@pytest.fixture
def discord_bot(running_bot, transactional_db):
    """Per test: committed data visible to the bot's threads, and no configuration cached from earlier tests."""
    db.release_database_work()
    running_bot.bot._configs.clear()
    yield running_bot
    # The bot keeps working in the background (outbox, listeners); hold its database work while the
    # tables are emptied after the test, or PostgreSQL may deadlock the TRUNCATE against its writes.
    db.hold_database_work()
    running_bot.bot._configs.clear()


@pytest.fixture
def pts(discord_bot):
    """The standard guild recorded, with its staff role configured (the points tests start there)."""
    discord_bot.record_guild()
    core.config_set_role(guild_id=discord_bot.world.guild_id, kind="staff", role_id=discord_bot.world.staff_role)
    return discord_bot


@pytest.fixture
def tickets_bot(discord_bot, settings):
    """The standard guild with staff/helper roles, a log channel, a blocked member and one ticket category
    (`tickets_bot.category_id`); the tickets tests and the modules that open tickets start here."""
    from datetime import timedelta

    from tickets import services as tickets
    from tickets.models import TicketCategory

    settings.OUTBOX_SWEEP_SECONDS = 0.2
    world, emu = discord_bot.world, discord_bot.emulator
    gid = world.guild_id
    for who, roles in {"admin": [world.admin_role, world.verified_role], "staff": [world.staff_role],
                       "helper": [world.helper_role], "member": [world.verified_role], "granted": []}.items():
        emu.set_member_roles(gid, getattr(world, who), roles)
    core.config_set_role(guild_id=gid, kind="staff", role_id=world.staff_role)
    core.config_set_role(guild_id=gid, kind="helper", role_id=world.helper_role)
    core.config_set_channel(guild_id=gid, kind="log", channel_id=world.logs, channel_type="text")
    core.block_add(guild_id=gid, user_id=world.blocked, reason="test")
    core.config_update(guild_id=gid, changes={"tickets_delete_delay_seconds": 1})
    discord_bot.category_id = tickets.category_create(
        guild_id=gid, name="Demon Slayer", emoji="🗡️", response_time="Minutes to hours", helper_points=7,
        helper_slots=2)
    # The channel goes after the server's delay without waiting for a rating (the default; the tests of the
    # rating wait in tests/test_tickets_auto_e2e.py turn it on).
    TicketCategory.objects.filter(pk=discord_bot.category_id).update(rating_wait=timedelta(0))
    for channel in emu.channels(gid):
        if channel.name.startswith("ticket-") or channel.name.startswith("Tickets"):
            emu.delete_channel(channel.id)
    return discord_bot


def staff_user(username: str, guilds, permissions, *, password: str = "pw") -> User:
    """A staff user of the admin site scoped to `guilds`, holding `permissions` through a group of its own."""
    group = Group.objects.create(name=f"staff {username}")
    group.permissions.set(permissions)
    user = User.objects.create_user(username, password=password, is_staff=True)
    user.groups.add(group)
    for guild in guilds:
        guild.staff_users.add(user)
    return user


def eventually(check, timeout: float = 5.0):
    """Re-run `check` (a DB query in the test thread) until it is truthy; for effects of bot listeners.

    Emulator state has emulator.wait_for; the database has no change notification, so poll briefly.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, f"condition not met within {timeout} s"
            return result
        time.sleep(0.01)  # a poll interval, not a wait for something to happen


def database_url() -> str:
    """A DATABASE_URL that points a child process at the test database."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or "postgres"
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


def manage(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    """Start `python manage.py ...` as a child process with the test database."""
    # A secret key as production has one (runbot refuses to start without it when DEBUG is off).
    full_env = {"SECRET_KEY": "tests-only-secret-key-not-for-production-0123456789abcdef", **os.environ,
                "DATABASE_URL": database_url(), "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, text=True, **kwargs)
