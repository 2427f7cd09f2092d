"""The one bridge from the event loop to synchronous Django code, with connection hygiene."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection, connections

P = ParamSpec("P")
R = TypeVar("R")

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()
# Database work can be held (maintenance, a test suite emptying tables) and waits at this gate.
_open = threading.Event()
_open.set()
_busy = threading.Condition()
_in_flight = 0


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=settings.DB_THREADS, thread_name_prefix="db")
        return _executor


def _tidy_connections() -> None:
    # Drop connections that are broken, expired or were left mid-transaction, so a database
    # restart costs one reconnect instead of an error. Inside an atomic block (a test's
    # transaction) closing would poison the block, so leave it alone there.
    if not connection.in_atomic_block:
        close_old_connections()


def db_call(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Wrap a synchronous service or selector so the event loop can await it on a DB thread."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        global _in_flight
        _open.wait()
        with _busy:
            _in_flight += 1
        try:
            _tidy_connections()
            try:
                return func(*args, **kwargs)
            finally:
                _tidy_connections()
        finally:
            with _busy:
                _in_flight -= 1
                _busy.notify_all()

    return sync_to_async(run, thread_sensitive=False, executor=_get_executor())


async def close_db_connections() -> None:
    """Close the database connection of every bridge thread (graceful shutdown)."""
    global _executor
    release_database_work()  # held work would keep the threads (and so this) from finishing
    with _lock:
        executor, _executor = _executor, None
    if executor is None:
        return
    workers = executor._max_workers
    barrier = threading.Barrier(workers, timeout=5)

    def close_here() -> None:
        # Each task waits at the barrier, so the N tasks necessarily run on N distinct threads.
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        connections.close_all()

    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(executor, close_here) for _ in range(workers)))
    executor.shutdown(wait=True)


def hold_database_work(timeout: float = 10.0) -> bool:
    """Stop starting new bridge calls and wait for running ones (blocking; not from the event loop).

    For maintenance and for test suites that empty tables while a bot runs: a TRUNCATE racing the
    bot's writes can deadlock on PostgreSQL. Returns False if calls were still running at the timeout.
    """
    _open.clear()
    with _busy:
        return _busy.wait_for(lambda: _in_flight == 0, timeout=timeout)


def release_database_work() -> None:
    """Let bridge calls run again."""
    _open.set()
