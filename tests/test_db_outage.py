"""Database outages end to end (issue 14.4), through the emulator and the real bot.

PostgreSQL: every backend of the test database is terminated from a separate connection (what a restart or a
failover does), or the database refuses connections for a while (the server is away), or a change is cut off
while it is being committed (a deferred constraint trigger parks the COMMIT on an advisory lock the test holds,
then the test terminates that backend). SQLite: another process holds the write lock (`BEGIN IMMEDIATE`) longer
than the bot waits, or only briefly, or the bot's connection is read-only. In every case each interaction is
answered inside Discord's 3 s (the emulator's deadline stays on): with its result, or with a clear translated
"try again"; a write is done exactly once or not at all and the member is told which; the outbox and the
periodic loops carry on after the outage without a restart.

Each test is parametrized with the scenarios of the database it runs against (both databases run every test).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from psycopg import sql

from botproject import services as core
from botproject.bot.db import db_call
from botproject.models import OutboxMessage
from pads import services as pads
from pads.models import PadSession
from points import services as points
from points.models import LedgerEntry
from tests.conftest import database_url, eventually

VENDOR = "sqlite" if settings.DB_IS_SQLITE else "postgresql"
AWAY = "The database is not answering right now. Nothing was changed; try again in a moment."
AWAY_VI = "Cơ sở dữ liệu hiện không phản hồi. Chưa có gì bị thay đổi; hãy thử lại sau giây lát."
UNKNOWN = ("The database stopped answering while saving this, so I cannot tell yet whether it was saved. "
           "Check in a moment (for example with /history) before you try again.")
HOLD_KEY = 1414  # the advisory lock a parked COMMIT waits for


def scenarios(**by_vendor: list[str]) -> list[str]:
    """The scenarios of the database this run uses (each database has its own; none is skipped)."""
    return by_vendor[VENDOR]


# ---- faults -------------------------------------------------------------------------------------------------


class Faults:
    """Database faults injected from outside the bot: another connection, never the bot's code."""

    def __init__(self) -> None:
        self._admin: psycopg.Connection | None = None

    # PostgreSQL ------------------------------------------------------------------------------------------------
    @property
    def admin(self) -> psycopg.Connection:
        """A separate superuser connection to the test database (autocommit)."""
        if self._admin is None:
            self._admin = psycopg.connect(database_url(), autocommit=True)
        return self._admin

    def terminate_all(self) -> int:
        """Terminate every other backend of the test database, as a restart does; return how many."""
        connection.close()  # the test thread's own connection goes back to the pool first (and dies there)
        return self.admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]

    def _allow_connections(self, allow: bool) -> None:
        # PostgreSQL refuses this from a connection to the database itself: say it from the maintenance database.
        name = connection.settings_dict["NAME"]
        with psycopg.connect(database_url().rsplit("/", 1)[0] + "/postgres", autocommit=True) as maintenance:
            maintenance.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                sql.Identifier(name), sql.Literal(allow)))

    @contextlib.contextmanager
    def refusing(self) -> Iterator[None]:
        """The server is away: no connection can be made, and the ones open are gone."""
        assert self.admin  # connected before the door closes
        self._allow_connections(False)
        try:
            self.terminate_all()
            yield
        finally:
            self._allow_connections(True)

    @contextlib.contextmanager
    def parked_commits(self) -> Iterator[None]:
        """Every COMMIT that inserted a ledger entry waits on an advisory lock the test holds."""
        self.admin.execute(
            "CREATE OR REPLACE FUNCTION outage_park() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_advisory_xact_lock_shared({HOLD_KEY}); RETURN NULL; END $$")
        self.admin.execute(
            "CREATE CONSTRAINT TRIGGER outage_park AFTER INSERT ON points_ledgerentry "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION outage_park()")
        self.admin.execute("SELECT pg_advisory_lock(%s)", [HOLD_KEY])
        try:
            yield
        finally:
            self.release_commits()
            self.admin.execute("DROP TRIGGER IF EXISTS outage_park ON points_ledgerentry")
            self.admin.execute("DROP FUNCTION IF EXISTS outage_park()")

    def release_commits(self) -> None:
        """Let parked (and later) commits through."""
        self.admin.execute("SELECT pg_advisory_unlock_all()")

    def parked_backend(self) -> int:
        """The backend whose COMMIT is parked (waits until there is one)."""
        def parked():
            row = self.admin.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND NOT granted",
                [HOLD_KEY]).fetchone()
            return row and row[0]
        return eventually(parked)

    def terminate(self, pid: int) -> None:
        """Cut one backend off, mid-COMMIT."""
        assert self.admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]

    # SQLite ----------------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def write_locked(self, for_seconds: float | None = None) -> Iterator[None]:
        """Another process holds the write lock (`BEGIN IMMEDIATE`), for good or for `for_seconds`."""
        other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        release = threading.Timer(for_seconds, other.rollback) if for_seconds is not None else None
        if release is not None:
            release.start()  # the other process finishes its work: the fault ends by itself
        try:
            yield
        finally:
            if release is not None:
                release.join()
            other.rollback()
            other.close()

    @contextlib.contextmanager
    def read_only(self) -> Iterator[None]:
        """The bot's database connection becomes read-only (what SQLite answers for a read-only file).

        The tests run as root, to whom a read-only file mode means nothing, so the bot's own connection is
        switched to SQLite's query-only mode (a setting of the connection, not of our code).
        """
        asyncio.run(db_call(_query_only)(True))
        try:
            yield
        finally:
            asyncio.run(db_call(_query_only)(False))

    def close(self) -> None:
        """Close the admin connection."""
        if self._admin is not None:
            self._admin.close()


def _query_only(on: bool) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA query_only = {int(on)}")


@pytest.fixture
def faults():
    """The fault injector; closes its own connection afterwards."""
    injector = Faults()
    yield injector
    injector.close()


@pytest.fixture
def pts(discord_bot):
    """The standard guild recorded, with its staff role configured."""
    world = discord_bot.world
    discord_bot.emulator.run(discord_bot.bot.get_cog("CoreCog").on_guild_available(
        discord_bot.bot.get_guild(world.guild_id)))
    core.config_set_role(guild_id=world.guild_id, kind="staff", role_id=world.staff_role)
    return discord_bot


# ---- helpers ------------------------------------------------------------------------------------------------


def entries(user_id: int) -> list[tuple[int, str]]:
    """The member's ledger: (delta, reason) in order."""
    return list(LedgerEntry.objects.filter(member__user_id=user_id).order_by("id").values_list("delta", "reason"))


def add(bot, amount: int, reason: str, **control):
    """/points add as the admin, for the standard member."""
    return bot.slash("admin", "points add", member=bot.world.member, amount=amount, reason=reason, **control)


def answered_in_time(rec) -> None:
    """The emulator's 3 s deadline held (it rejects a later callback; the latency says by how much it was met)."""
    assert rec.callback is not None and rec.latency < 3.0, rec


def until_answered_with_result(bot, who: str = "member") -> object:
    """After an outage: /balance until it shows the balance (each try is answered, with the result or 'try again')."""
    deadline = time.monotonic() + 20
    while True:
        rec = bot.slash(who, "balance")
        answered_in_time(rec)
        if rec.embeds:
            return rec
        assert rec.content == AWAY and time.monotonic() < deadline, rec
        # Each 'not answering' took the bridge's connect wait (about a second): no extra pause needed here.


def balance_shown(rec) -> str:
    """The Balance field of a /balance answer."""
    return next(f["value"] for f in rec.embeds[0]["fields"] if f["name"] == "Balance")


def seed(bot, amount: int = 10) -> None:
    """A first ledger entry for the member, written by the test (not the bot)."""
    points.points_award(guild_id=bot.world.guild_id, user_id=bot.world.member, amount=amount, reason="seed",
                        idempotency_key=f"seed:{amount}", notify=False)


# ---- reads --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", scenarios(postgresql=["terminated", "refusing"], sqlite=["locked", "read_only"]))
def test_reads_during_an_outage_get_their_result_or_a_clear_try_again(pts, faults, scenario):
    seed(pts)
    if scenario == "terminated":
        # Every connection dropped between interactions: the pool checks each one before use and replaces it.
        lost = connection.pool.get_stats().get("connections_lost", 0)
        assert faults.terminate_all() >= 1
        rec = pts.slash("member", "balance")
        answered_in_time(rec)
        assert balance_shown(rec) == "10"
        assert connection.pool.get_stats()["connections_lost"] > lost
        return
    if scenario == "refusing":
        with faults.refusing():
            rec = pts.slash("member", "balance")
            answered_in_time(rec)
            assert (rec.ephemeral, rec.content) == (True, AWAY)
            vi = pts.slash("member", "balance", locale="vi")
            answered_in_time(vi)
            assert vi.content == AWAY_VI
        assert balance_shown(until_answered_with_result(pts)) == "10"
        return
    # SQLite: readers are not blocked by another process's write lock (WAL), nor by a read-only file.
    with faults.write_locked() if scenario == "locked" else faults.read_only():
        rec = pts.slash("member", "balance")
        answered_in_time(rec)
        assert balance_shown(rec) == "10"


# ---- writes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", scenarios(
    postgresql=["terminated", "refusing", "cut_at_commit", "cut_in_one_statement", "cut_and_still_away"],
    sqlite=["locked", "locked_briefly", "read_only"],
))
def test_a_write_hit_by_an_outage_is_done_exactly_once_or_not_at_all_and_the_member_is_told_which(
        pts, faults, scenario):
    world = pts.world
    if scenario == "terminated":
        seed(pts)
        assert faults.terminate_all() >= 1
        rec = add(pts, 5, "after the restart")
        answered_in_time(rec)
        assert rec.content.startswith("Added 5 points to") and rec.content.endswith("New balance: 15.")
        assert entries(world.member) == [(10, "seed"), (5, "after the restart")]
        # The member's DM notice goes out through the outbox once the connections are back.
        pts.emulator.wait_for(lambda: any("+5 points" in m.content for m in pts.emulator.emu.dms(world.member)))
        return

    if scenario in ("refusing", "locked", "read_only"):
        fault = {"refusing": faults.refusing, "locked": faults.write_locked, "read_only": faults.read_only}[scenario]
        with fault():
            rec = add(pts, 5, "during the outage")
            answered_in_time(rec)
            assert (rec.ephemeral, rec.content) == (True, AWAY)
            vi = add(pts, 6, "during the outage", locale="vi")
            answered_in_time(vi)
            assert vi.content == AWAY_VI
        # Not at all, as the member was told; and once the database is back the same command works.
        assert entries(world.member) == []
        if scenario == "refusing":
            until_answered_with_result(pts)
        after = add(pts, 7, "after the outage")
        answered_in_time(after)
        assert after.content.endswith("New balance: 7.")
        assert entries(world.member) == [(7, "after the outage")]
        return

    if scenario == "locked_briefly":
        # Another process writes for a moment: the bot's write waits for it, then is done once.
        with faults.write_locked(for_seconds=0.3):
            rec = add(pts, 5, "after a short lock")
        answered_in_time(rec)
        assert rec.content.endswith("New balance: 5.")
        assert entries(world.member) == [(5, "after a short lock")]
        return

    # PostgreSQL: the connection dies while the change is being committed, so the bot cannot know whether it was
    # saved. A first award for the member commits a transaction; for a known member it is a single statement
    # (its own transaction). The bot repeats it under the same idempotency key: that finds the first if it was
    # saved, or does it now; either way it is in the ledger once and the member reads the real balance.
    if scenario == "cut_in_one_statement":
        seed(pts)
    before = entries(world.member)
    with faults.parked_commits():
        rec = add(pts, 5, "cut off", wait=False)
        pid = faults.parked_backend()
        assert pid
        if scenario == "cut_and_still_away":
            # The server goes away (terminating every backend, the parked one too) and stays away: the bot's
            # repeat cannot even connect.
            with faults.refusing():
                pts.emulator.wait(rec)
                answered_in_time(rec)
                assert (rec.ephemeral, rec.content) == (True, UNKNOWN)
            faults.release_commits()
            assert entries(world.member) == before, "the cut COMMIT did not save it: not at all"
            return
        faults.terminate(pid)
        faults.release_commits()  # the repeat's COMMIT goes through
        pts.emulator.wait(rec)
    answered_in_time(rec)
    balance = sum(delta for delta, _reason in before) + 5
    assert rec.content.startswith("Added 5 points to") and rec.content.endswith(f"New balance: {balance}.")
    assert entries(world.member) == [*before, (5, "cut off")], "exactly once"


# ---- the outbox and the periodic loops ----------------------------------------------------------------------


@contextlib.contextmanager
def outage(faults: Faults) -> Iterator[None]:
    """The database is away for the bot's writes: refusing connections, or write-locked by another process."""
    with faults.refusing() if VENDOR == "postgresql" else faults.write_locked():
        yield


@pytest.mark.parametrize("scenario", scenarios(postgresql=["refusing"], sqlite=["locked"]))
def test_the_outbox_survives_an_outage_in_the_middle_of_a_delivery_and_delivers_once_after_it(
        pts, faults, scenario, settings, caplog):
    settings.OUTBOX_LEASE_SECONDS = 0.5  # a claimed row not marked sent is taken again after half a second
    emulator, world = pts.emulator, pts.world
    outbox_cog = pts.bot.get_cog("OutboxCog")
    earlier = len(emulator.emu.dms(world.member))  # the module's emulator keeps DMs of earlier tests
    held = emulator.hold("POST", r"/channels/\d+/messages", times=1)
    points.points_award(guild_id=world.guild_id, user_id=world.member, amount=3, reason="thanks",
                        idempotency_key="outbox-outage")
    emulator.wait_for(lambda: held.waiting == 1)  # the DM is on its way to Discord
    row = OutboxMessage.objects.filter(kind="dm").get()
    with outage(faults):
        emulator.call(held.release)  # Discord takes it, but the bot cannot record that
        eventually(lambda: any("outbox: the database is not answering" in r.getMessage() for r in caplog.records))
        assert not outbox_cog._worker.done()
    # After the outage the worker, not restarted, takes the row again; Discord's nonce dedupes the resend.
    eventually(lambda: OutboxMessage.objects.get(pk=row.pk).status == "sent", timeout=20)
    dms = emulator.emu.dms(world.member)[earlier:]
    assert [m.content for m in dms] == ["+3 points in Test Guild (thanks). Your balance: 3."], "exactly once"
    assert OutboxMessage.objects.get(pk=row.pk).discord_message_id == dms[0].id
    assert not outbox_cog._worker.done()


@pytest.mark.parametrize("scenario", scenarios(postgresql=["refusing"], sqlite=["locked"]))
def test_the_periodic_loops_survive_an_outage_and_do_their_work_after_it(pts, faults, scenario, caplog):
    world = pts.world
    loops = [pts.bot.get_cog("PadsCog").expire, pts.bot.get_cog("TicketsCog").sweep,
             pts.bot.get_cog("CoreCog").refresh_database_size]
    intervals = [loop.seconds for loop in loops]
    session = pads.session_start(guild_id=world.guild_id, pad=3, kind="training", host_id=world.granted,
                                 starts="now")
    PadSession.objects.filter(pk=session.id).update(ends_at=timezone.now() - timedelta(minutes=1))  # past its deadline
    try:
        with outage(faults):
            for loop in loops:  # every few tenths of a second, so they run into the outage
                pts.emulator.call(loop.change_interval, seconds=0.2)
                pts.emulator.call(loop.restart)
            eventually(lambda: any("could not end expired pad sessions" in r.getMessage() for r in caplog.records),
                       timeout=10)
        # The same loop tasks, never restarted by anyone, end the session once the database answers.
        eventually(lambda: PadSession.objects.get(pk=session.id).ended_at is not None, timeout=20)
        assert all(pts.emulator.call(loop.is_running) for loop in loops)
    finally:
        for loop, seconds in zip(loops, intervals, strict=True):
            pts.emulator.call(loop.change_interval, seconds=seconds)
            pts.emulator.call(loop.restart)  # back to their usual pace at once


@pytest.mark.parametrize("scenario", scenarios(postgresql=["refusing"], sqlite=["locked"]))
def test_a_command_that_defers_first_gets_the_same_clear_answer_and_writes_nothing(pts, faults, scenario):
    world = pts.world
    core.config_set_channel(guild_id=world.guild_id, kind="pads", channel_id=world.general, channel_type="text")
    core.grant_add(guild_id=world.guild_id, kind="user", target_id=world.granted)
    with outage(faults):
        rec = pts.slash("granted", "training", pad=4, starts="now")
        assert rec.deferred and rec.content == AWAY, rec  # acknowledged at once, then told plainly
    assert not PadSession.objects.exists()
    if scenario == "refusing":
        until_answered_with_result(pts)
    after = pts.slash("granted", "training", pad=4, starts="now")
    assert after.content.startswith("Announced in"), after
    assert PadSession.objects.filter(pad=4, ended_at__isnull=True).count() == 1
