"""PostgreSQL pool hygiene: after a server restart, drop every dead idle connection at once.

Django gives psycopg's pool `ConnectionPool.check_connection`, and the pool checks one idle connection per
attempt with a growing pause between attempts (1 s, 2 s, 4 s...). After a restart or failover every idle
connection is dead, so with more than a few of them the first request waits past the pool's timeout and
fails. Our check does the same test, and when it finds a dead connection it has the pool test all its idle
connections in one pass (`ConnectionPool.check()`, a few milliseconds), so the next attempt gets a live
one: a restart costs one pause of about a second, never an error.

A thread may also bound how long it waits for a connection (`set_acquire_timeout`): the bot's bridge threads
answer Discord interactions, which Discord drops after 3 s, so while the server is away they give up after
about a second and the member is told to try again, instead of waiting out the pool's timeout (meant for the
web process and for bursts of work).

A bridge thread may keep a connection between its calls instead of giving it back to the pool after each
(`keep`/`take`; botproject/bot/db.py checks it like the pool would before each use). Closing the pool closes the
connections kept outside it too, so that a database can be dropped (tests) and a new pool (settings changed)
takes over.
"""

from __future__ import annotations

import contextlib
import functools
import select
import threading
from collections.abc import Callable
from typing import Any

_thread = threading.local()
_kept_lock = threading.Lock()
_kept: dict[int, Any] = {}  # id(connection) → connection: kept by a thread between its uses, outside the pool


def set_acquire_timeout(seconds: float | None) -> None:
    """Bound how long this thread waits for a pooled connection (None: the pool's own timeout)."""
    _thread.acquire_timeout = seconds


def _bounded(getconn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(getconn)
    def getconn_within(timeout: float | None = None) -> Any:
        if timeout is None:
            timeout = getattr(_thread, "acquire_timeout", None)
        return getconn(timeout)

    getconn_within.bounded = True  # type: ignore[attr-defined]
    return getconn_within


def keep(conn: Any) -> bool:
    """A thread keeps `conn` (taken from the pool) until its next use; False when its pool is closed: give it back."""
    pool = getattr(conn, "_pool", None)
    with _kept_lock:
        if pool is None or pool.closed:
            return False
        _kept[id(conn)] = conn
        return True


def take(conn: Any) -> bool:
    """The thread uses the connection it kept again; False when that was closed meanwhile (its pool closed)."""
    with _kept_lock:
        _kept.pop(id(conn), None)
    return not conn.closed


def _closing(close: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(close)
    def close_with_kept(*args: Any, **kwargs: Any) -> Any:
        try:
            return close(*args, **kwargs)
        finally:
            pool = close.__self__
            with _kept_lock:  # after the pool says it is closed, so no thread keeps one of its connections again
                mine = [conn for conn in _kept.values() if getattr(conn, "_pool", None) is pool]
                for conn in mine:
                    del _kept[id(conn)]
            for conn in mine:
                with contextlib.suppress(Exception):  # a connection that cannot be closed is gone anyway
                    conn.close()

    close_with_kept.drops_kept = True  # type: ignore[attr-defined]
    return close_with_kept


def quiet_and_idle(conn: Any) -> bool:
    """Whether an idle pooled connection shows no sign of trouble, without a round trip to the server.

    A server that ends a connection (restart, failover, `pg_terminate_backend`, idle timeouts) sends its last
    message and closes the socket, so the socket of a connection the server dropped is readable. A live idle
    connection has nothing to read. What this cannot see (a server that vanished without a word) fails on the
    first statement, which the bridge repeats on a fresh connection when nothing can have been saved.
    """
    from psycopg.pq import TransactionStatus

    if conn.closed or conn.broken or conn.info.transaction_status != TransactionStatus.IDLE:
        return False
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def check_and_drain(conn: Any) -> None:
    """The pool's connection check; on a dead connection, discard every dead idle connection too.

    A quiet idle socket passes without a round trip (see `quiet_and_idle`); anything else gets the pool's own
    check (an empty query), which also reads whatever the server sent.
    """
    from psycopg_pool import ConnectionPool

    if quiet_and_idle(conn):
        return
    try:
        ConnectionPool.check_connection(conn)
    except Exception:
        pool = getattr(conn, "_pool", None)  # psycopg sets it on pooled connections (Django relies on it too)
        if pool is not None:
            pool.check()
        raise


def drain(connection: Any) -> None:
    """After a connection was found dead: test every idle pooled connection now and drop the dead ones.

    A server that ends its connections does so one by one; a socket that looked quiet a moment ago may belong to
    a backend that is just being terminated. The pool's own check (a round trip each) settles them all, so a
    repeat gets a live connection or a new one.
    """
    pool = getattr(connection, "pool", None) if getattr(connection, "vendor", "") == "postgresql" else None
    if pool is not None:
        pool.check()


def install(sender: Any = None, connection: Any = None, **kwargs: Any) -> None:
    """`connection_created` receiver: give the PostgreSQL pool our check and the per-thread acquire bound, once
    (Django passes no option for either)."""
    pool = getattr(connection, "pool", None) if getattr(connection, "vendor", "") == "postgresql" else None
    if pool is None:
        return
    if not getattr(pool.getconn, "bounded", False):
        pool.getconn = _bounded(pool.getconn)  # Django calls pool.getconn() with no timeout of its own
    if not getattr(pool.close, "drops_kept", False):
        pool.close = _closing(pool.close)
    if getattr(pool, "_check", None) in (None, check_and_drain):
        return  # health checks off (CONN_HEALTH_CHECKS=False), or already installed
    pool._check = check_and_drain
