"""The async bridge: runs ORM work off the event loop and survives a database that dropped its connections."""

import asyncio
import contextlib
import sqlite3
import threading
import time

import psycopg
import pytest
from django.db import Error, connection, transaction
from psycopg import sql

from botproject.bot.db import close_db_connections, db_call
from botproject.exceptions import DatabaseOutcomeUnknown, DatabaseUnavailable
from botproject.models import Guild
from botproject.services import guild_ensure
from tests.conftest import database_url, eventually


def _backend_id() -> tuple[str, object]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_backend_pid()")
            return threading.current_thread().name, cursor.fetchone()[0]
        cursor.execute("SELECT 1")
        return threading.current_thread().name, id(connection.connection)


@pytest.mark.django_db(transaction=True)
def test_services_run_on_a_db_thread_not_the_event_loop():
    async def main():
        config = await db_call(guild_ensure)(guild_id=42, name="Guild")
        thread_name, _ = await db_call(_backend_id)()
        return config, thread_name

    config, thread_name = asyncio.run(main())
    assert config.guild_id == 42 and config.language == "en"
    assert thread_name.startswith("db")
    assert Guild.objects.get(discord_id=42).name == "Guild"


@pytest.mark.django_db(transaction=True)
def test_errors_cross_the_bridge_unchanged():
    def boom():
        raise LookupError("nope")

    with pytest.raises(LookupError, match="nope"):
        asyncio.run(db_call(boom)())


@pytest.mark.django_db(transaction=True)
def test_a_database_that_dropped_its_connections_costs_one_reconnect():
    _, before = asyncio.run(db_call(_backend_id)())
    if connection.vendor == "postgresql":
        # What a server restart does to every open connection: the backends go away.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert cursor.fetchall(), "there were bridge connections to terminate"

    async def after_restart():
        config = await db_call(guild_ensure)(guild_id=7)
        return config, (await db_call(_backend_id)())[1]

    config, after = asyncio.run(after_restart())
    assert config.guild_id == 7
    if connection.vendor == "postgresql":
        assert before != after, "the terminated backend must have been replaced"
    else:
        # SQLite has no server to restart: the bridge thread keeps and reuses its connection.
        assert before == after


@pytest.mark.django_db(transaction=True)
def test_a_restart_with_many_idle_pool_connections_costs_one_short_pause():
    """After a restart every idle connection is dead; the pool must not test them one by one with growing pauses
    (1 + 2 + 4 + 8 s for five of them: past its 10 s timeout). SQLite has no server and no pool: the calls just work."""
    barrier = threading.Barrier(8)

    def hold_one() -> None:
        try:
            with connection.cursor() as cursor:
                barrier.wait(timeout=10)  # eight connections in use at once
                cursor.execute("SELECT 1")
        finally:
            connection.close()  # PostgreSQL: back into the pool, eight idle connections

    threads = [threading.Thread(target=hold_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    pool = getattr(connection, "pool", None)
    if connection.vendor == "postgresql":
        assert pool.get_stats()["pool_available"] >= 8
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert len(cursor.fetchall()) >= 5  # five dead ones already take 1 + 2 + 4 + 8 s one by one
    else:
        assert pool is None

    started = time.monotonic()
    config = asyncio.run(db_call(guild_ensure)(guild_id=8))
    assert config.guild_id == 8
    assert time.monotonic() - started < 3.0, "the pool tested its dead connections one pause at a time"
    if pool is not None:
        assert pool.get_stats()["connections_lost"] >= 5


@pytest.mark.django_db(transaction=True)
def test_calls_one_after_another_run_on_one_thread_and_its_connection():
    """Under a light load one thread does the work, on the connection it keeps (PostgreSQL: no trip through the
    pool for every call; SQLite keeps its connection anyway)."""
    async def main():
        return [await db_call(_backend_id)() for _ in range(5)]

    seen = asyncio.run(main())
    assert len(set(seen)) == 1, seen


@pytest.mark.django_db(transaction=True)
def test_closing_the_pool_closes_the_connections_bridge_threads_keep():
    """What Django does before it drops a test database or after a settings change: the pool closes, and with it the
    connections bridge threads keep outside it (else the database could not be dropped); the next call connects
    afresh."""
    _, before = asyncio.run(db_call(_backend_id)())
    if connection.vendor != "postgresql":
        assert asyncio.run(db_call(guild_ensure)(guild_id=15)).guild_id == 15
        return
    connection.close()
    connection.close_pool()
    with psycopg.connect(database_url(), autocommit=True) as admin:
        eventually(lambda: admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                                         [before]).fetchone()[0] == 0)
    _, after = asyncio.run(db_call(_backend_id)())
    assert after != before


@pytest.mark.django_db(transaction=True)
def test_a_call_that_failed_inside_its_transaction_leaves_nothing_for_the_next():
    guild_ensure(guild_id=16, name="first")

    def clash() -> None:
        with transaction.atomic():
            Guild.objects.filter(discord_id=16).update(name="changed")
            Guild.objects.create(discord_id=16)  # the unique Discord id: an IntegrityError, the update rolls back

    async def main():
        with pytest.raises(Error):
            await db_call(clash)()
        return await db_call(lambda: Guild.objects.get(discord_id=16).name)()

    assert asyncio.run(main()) == "first"


@pytest.mark.django_db(transaction=True)
def test_shutdown_closes_every_bridge_thread_connection():
    async def main():
        await asyncio.gather(*(db_call(_backend_id)() for _ in range(4)))
        await close_db_connections()
        # The bridge starts a fresh executor on next use.
        return await db_call(guild_ensure)(guild_id=9)

    assert asyncio.run(main()).guild_id == 9


# ---- outages: the database away, a connection cut off (end-to-end answers: tests/test_db_outage.py) ----------


@contextlib.contextmanager
def _database_away():
    """PostgreSQL refuses connections and drops the open ones; SQLite's write lock is held by another process."""
    if connection.vendor == "sqlite":
        other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.rollback()
            other.close()
        return
    connection.close()
    name = sql.Identifier(connection.settings_dict["NAME"])
    with psycopg.connect(database_url().rsplit("/", 1)[0] + "/postgres", autocommit=True) as maintenance:
        maintenance.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        try:
            maintenance.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                                [connection.settings_dict["NAME"]])
            yield
        finally:
            maintenance.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))


@pytest.mark.django_db(transaction=True)
def test_a_database_that_is_away_is_reported_within_the_interaction_deadline_and_nothing_is_written():
    asyncio.run(db_call(guild_ensure)(guild_id=10))  # the bridge has its connection(s)
    started = time.monotonic()
    with _database_away(), pytest.raises(DatabaseUnavailable) as refused:
        asyncio.run(db_call(guild_ensure)(guild_id=11, name="never"))
    took = time.monotonic() - started
    assert type(refused.value) is DatabaseUnavailable, "nothing was sent that could have been saved"
    assert took < 2.5, f"the member must be answered within Discord's 3 s; the bridge took {took:.2f} s"
    assert not Guild.objects.filter(discord_id=11).exists()
    # Back: the same call works, on a fresh connection, without a restart.
    assert eventually(lambda: _retry(guild_ensure, guild_id=11, name="now"), timeout=15).guild_id == 11


def _retry(func, **kwargs):
    try:
        return asyncio.run(db_call(func)(**kwargs))
    except DatabaseUnavailable:
        return None


@pytest.mark.django_db(transaction=True)
def test_errors_that_are_not_outages_are_not_hidden_as_one():
    def bad_sql():
        with connection.cursor() as cursor:
            cursor.execute("SELEC 1")  # SQLite calls this an OperationalError too: still a bug, not an outage

    with pytest.raises(Error) as raised:
        asyncio.run(db_call(bad_sql)())
    assert not isinstance(raised.value, DatabaseUnavailable)


def _cut_off_while_waiting(key: int, call):
    """PostgreSQL: run `call` through the bridge, and terminate its backend while it waits on advisory lock `key`
    (held here); return what the bridge returns (or raise what it raises)."""
    with psycopg.connect(database_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_advisory_lock(%s)", [key])

        async def cut_off():
            pending = asyncio.ensure_future(db_call(call)())
            pid = await asyncio.to_thread(eventually, lambda: (admin.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND NOT granted",
                [key]).fetchone() or [None])[0])
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            admin.execute("SELECT pg_advisory_unlock_all()")
            return await pending

        return asyncio.run(cut_off())


@pytest.mark.django_db(transaction=True)
def test_a_read_cut_off_is_repeated_once_on_a_fresh_connection():
    """PostgreSQL: the backend running a read is terminated mid-statement; the bridge repeats the read on a fresh
    connection. SQLite: a read is not even held up by another process's write lock (WAL)."""
    key = 2828

    def locked_read() -> int:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [key])  # waits while the test holds it
            cursor.execute("SELECT count(*) FROM botproject_guild")
            return cursor.fetchone()[0]

    guild_ensure(guild_id=12)
    if connection.vendor == "sqlite":
        with _database_away():
            assert asyncio.run(db_call(locked_read)()) == 1
        return
    assert _cut_off_while_waiting(key, locked_read) == 1


@pytest.mark.django_db(transaction=True)
def test_a_write_cut_off_in_its_own_statement_without_a_key_says_it_cannot_tell():
    """A statement outside a transaction may have committed just before its connection died; without an
    idempotency key the bridge cannot check, so it says so instead of repeating it. SQLite has no connection
    to lose, and a failed SQLite statement leaves nothing behind: it says 'nothing was changed'."""
    key = 2929
    guild_ensure(guild_id=13)

    def bump() -> int:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "UPDATE botproject_guild SET name = name || '+' "
                    "WHERE discord_id = 13 AND pg_advisory_xact_lock_shared(%s)::text = ''", [key])
            else:
                cursor.execute("UPDATE botproject_guild SET name = name || '+' WHERE discord_id = 13")
            return cursor.rowcount

    if connection.vendor == "sqlite":
        with _database_away(), pytest.raises(DatabaseUnavailable) as refused:
            asyncio.run(db_call(bump)())
        assert type(refused.value) is DatabaseUnavailable
        assert Guild.objects.get(discord_id=13).name == ""
        return
    with pytest.raises(DatabaseOutcomeUnknown):
        _cut_off_while_waiting(key, bump)
    assert Guild.objects.get(discord_id=13).name == "", "the cut statement was rolled back (and not repeated)"


@pytest.mark.django_db(transaction=True)
def test_a_write_cut_off_inside_its_transaction_is_repeated_and_done_once():
    """PostgreSQL: the connection dies after the UPDATE but before COMMIT, so the server rolled it back and the
    bridge may simply run it again, keyless. SQLite: another process's short write lock only delays it."""
    key = 3030
    guild_ensure(guild_id=14)

    def bump() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE botproject_guild SET name = name || '+' WHERE discord_id = 14")
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [key])  # waits while the test holds it

    if connection.vendor == "sqlite":
        other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.3, other.rollback)
        release.start()
        try:
            asyncio.run(db_call(bump)())
        finally:
            release.join()
            other.close()
    else:
        _cut_off_while_waiting(key, bump)
    assert Guild.objects.get(discord_id=14).name == "+", "done exactly once"
