"""PostgreSQL pool hygiene: after a server restart, drop every dead idle connection at once.

Django gives psycopg's pool `ConnectionPool.check_connection`, and the pool checks one idle connection per
attempt with a growing pause between attempts (1 s, 2 s, 4 s...). After a restart or failover every idle
connection is dead, so with more than a few of them the first request waits past the pool's timeout and
fails. Our check does the same test, and when it finds a dead connection it has the pool test all its idle
connections in one pass (`ConnectionPool.check()`, a few milliseconds), so the next attempt gets a live
one: a restart costs one pause of about a second, never an error.
"""

from __future__ import annotations

from typing import Any


def check_and_drain(conn: Any) -> None:
    """The pool's connection check; on a dead connection, discard every dead idle connection too."""
    from psycopg_pool import ConnectionPool

    try:
        ConnectionPool.check_connection(conn)
    except Exception:
        pool = getattr(conn, "_pool", None)  # psycopg sets it on pooled connections (Django relies on it too)
        if pool is not None:
            pool.check()
        raise


def install(sender: Any = None, connection: Any = None, **kwargs: Any) -> None:
    """`connection_created` receiver: give the PostgreSQL pool our check, once (Django passes no option for it)."""
    pool = getattr(connection, "pool", None) if getattr(connection, "vendor", "") == "postgresql" else None
    if pool is None or getattr(pool, "_check", None) in (None, check_and_drain):
        return  # no pool, health checks off (CONN_HEALTH_CHECKS=False), or already installed
    pool._check = check_and_drain
