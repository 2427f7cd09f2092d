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
        _tidy_connections()
        try:
            return func(*args, **kwargs)
        finally:
            _tidy_connections()

    return sync_to_async(run, thread_sensitive=False, executor=_get_executor())


async def close_db_connections() -> None:
    """Close the database connection of every bridge thread (graceful shutdown)."""
    global _executor
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
