"""The async bridge: runs ORM work off the event loop and survives a database that dropped its connections."""

import asyncio
import threading
import time

import pytest
from django.db import connection

from botproject.bot.db import close_db_connections, db_call
from botproject.models import Guild
from botproject.services import guild_ensure


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
def test_shutdown_closes_every_bridge_thread_connection():
    async def main():
        await asyncio.gather(*(db_call(_backend_id)() for _ in range(4)))
        await close_db_connections()
        # The bridge starts a fresh executor on next use.
        return await db_call(guild_ensure)(guild_id=9)

    assert asyncio.run(main()).guild_id == 9
