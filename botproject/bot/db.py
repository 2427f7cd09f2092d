"""The one bridge from the event loop to synchronous Django code, with connection hygiene.

Database outages (PostgreSQL dropping its connections or away, SQLite locked by another process or read-only)
never reach the member as a surprise. A call that fails because the database is not answering is repeated once
on a fresh connection when that is safe: nothing it sent could have been saved (the failure came on connect, in
a transaction that was never committed, or on a read), or it carries an `idempotency_key` (its service then
answers a repeat with the first result: the repeat is the check of whether the first one was saved). Otherwise,
or when the repeat fails too, the caller gets `DatabaseUnavailable` ("nothing was changed") or, when the
connection died while a change was being committed and the database stayed away, `DatabaseOutcomeUnknown`. The
waits are short (Discord drops an interaction not answered within 3 s): a second for a pooled PostgreSQL
connection, 1.5 s for another process's SQLite write lock, and no repeat after an attempt that took half a
second, so a call gives up within about 1.5 s.

The calls run on the bridge's own threads (settings.DB_THREADS), in a copy of the caller's context and language;
see botproject/bot/dbthreads.py for how work is handed to them.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import Error, InterfaceError, OperationalError, close_old_connections, connection, connections
from django.utils import translation

from botproject import dbpool, metrics
from botproject.exceptions import DatabaseOutcomeUnknown, DatabaseUnavailable

from .dbthreads import Threads

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger(__name__)

# Seconds a bridge thread waits for a pooled PostgreSQL connection before it says the database is away.
CONNECT_WAIT = 1.0
# Seconds a bridge statement waits for another process's SQLite write lock (the settings' timeout is for the web).
LOCK_WAIT = 1.5
# An attempt that failed after this many seconds is not repeated: the answer must go out within Discord's 3 s.
RETRY_WITHIN = 0.5
# Seconds a bridge thread keeps one PostgreSQL connection between its calls before it gives it back to the pool.
KEEP_SECONDS = 60.0
# SQLite errors that mean "the file cannot be written or read now", not a bug in the statement.
SQLITE_OUTAGES = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN",
                  "SQLITE_FULL", "SQLITE_PROTOCOL")
# PostgreSQL SQLSTATEs that mean the server ended or refused the connection.
PG_OUTAGE_STATES = ("08", "57P01", "57P02", "57P03", "53300")
# Statements that change nothing (a SELECT ... FOR UPDATE only locks).
_READS = ("SELECT", "SAVEPOINT", "RELEASE", "ROLLBACK", "SET ", "SHOW", "PRAGMA", "BEGIN", "EXPLAIN", "VALUES")
_thread = threading.local()

# Database work can be held (maintenance, a test suite emptying tables) and waits at this gate.
_open = threading.Event()
_open.set()
_busy = threading.Condition()
_in_flight = 0
# Called after every bridge call with (name, seconds queued for a thread, seconds it ran); for benchmarks.
_observer: Callable[[str, float, float], None] | None = None


_threads: Threads | None = None
_lock = threading.Lock()


def _thread_starts() -> None:
    dbpool.set_acquire_timeout(CONNECT_WAIT)


def _thread_ends() -> None:
    if connection.vendor == "postgresql" and connection.connection is not None:
        dbpool.take(connection.connection)  # no longer kept: it goes back to the pool now
    connections.close_all()  # this thread's connections (back to the pool)


def _get_threads() -> Threads:
    global _threads
    with _lock:
        if _threads is None:
            _threads = Threads(settings.DB_THREADS, starts=_thread_starts, ends=_thread_ends)
        return _threads


def observe(observer: Callable[[str, float, float], None] | None) -> None:
    """Call `observer(name, queued, ran)` after every bridge call from now on (None: stop). For benchmarks."""
    global _observer
    _observer = observer


def _tidy_connections() -> None:
    # Drop connections that are broken, expired or were left mid-transaction, so a database
    # restart costs one reconnect instead of an error. Inside an atomic block (a test's
    # transaction) closing would poison the block, so leave it alone there.
    if not connection.in_atomic_block:
        close_old_connections()


def _sound() -> bool:
    """Whether this thread's PostgreSQL connection is fit for another call as it stands: open, no error on it, not
    in a transaction, autocommit as configured, and kept for less than KEEP_SECONDS (then the pool sees it again,
    and replaces it when it is past its lifetime)."""
    raw = connection.connection
    return (raw is not None and connection.vendor == "postgresql" and not connection.errors_occurred
            and connection.autocommit and not connection.in_atomic_block and not connection.needs_rollback
            and not raw.closed and not raw.broken
            and time.monotonic() - getattr(_thread, "kept_since", 0.0) < KEEP_SECONDS)


def _take_or_tidy() -> None:
    """Before a call: carry on with the PostgreSQL connection this thread kept when it is sound and its socket quiet
    (the pool's own check before it hands a connection out), else tidy up as before any call."""
    raw = connection.connection
    if raw is not None and connection.vendor == "postgresql" and dbpool.take(raw) and _sound() \
            and dbpool.quiet_and_idle(raw):
        return
    _tidy_connections()


def _keep_or_tidy(sound: bool) -> None:
    """After a call: keep a sound PostgreSQL connection for this thread's next call (no trip through the pool for
    every call); give back one a database error came from, or one the pool no longer takes, as before."""
    raw = connection.connection
    if raw is not None and getattr(_thread, "kept", None) is not raw:
        _thread.kept, _thread.kept_since = raw, time.monotonic()  # a connection new to this thread
    if sound and raw is not None and _sound() and dbpool.keep(raw):
        return
    _thread.kept = None
    _discard_connection()


def _connect() -> None:
    """Open (or take from the pool) this thread's connection with the bridge's short waits."""
    if connection.vendor == "postgresql":
        dbpool.install(connection=connection)  # the per-thread acquire bound, also before the first connect
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        raw = connection.connection
        if getattr(_thread, "tuned", None) is not raw:
            raw.execute(f"PRAGMA busy_timeout = {int(LOCK_WAIT * 1000)}")
            _thread.tuned = raw


def _is_write(sql: Any) -> bool:
    """Whether a statement may change data (anything not plainly a read counts as a write)."""
    if not isinstance(sql, str):
        return True
    head = sql.lstrip()[:9].upper()
    if head.startswith("WITH"):  # a CTE reads unless one of its parts writes
        upper = sql.upper()
        return any(word in upper for word in ("INSERT ", "UPDATE ", "DELETE "))
    return not head.startswith(_READS)


class _Watch:
    """An execute wrapper that records what a call sent, so a failure can be classed as 'nothing was saved' or
    'something may have been saved'."""

    __slots__ = ("committed", "failed", "wrote")

    def __init__(self) -> None:
        self.wrote = False  # a statement that changes data was sent
        self.committed = False  # such a statement is known to be committed
        self.failed: tuple[bool, bool] | None = None  # (a write?, inside a transaction?) of the statement that failed

    def __call__(self, execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: dict) -> Any:
        db = context["connection"]
        write = _is_write(sql)
        in_transaction = db.in_atomic_block
        self.wrote |= write
        self.failed = None  # only the last statement counts (a service may have caught an earlier failure)
        try:
            result = execute(sql, params, many, context)
        except Exception:
            self.failed = (write, in_transaction)
            raise
        if write:
            if in_transaction:
                db.on_commit(self._committed)  # dropped with its transaction (or savepoint) when that rolls back
            else:
                self.committed = True  # autocommit: the statement was its own transaction
        return result

    def _committed(self) -> None:
        self.committed = True

    def may_have_saved(self) -> bool:
        """After a lost connection: could any of the call's changes be in the database?"""
        if self.committed:
            return True
        if connection.vendor == "sqlite":
            return False  # no network: a failed statement or COMMIT leaves nothing behind
        if self.failed is not None:
            write, in_transaction = self.failed
            # In a transaction the server rolls back what a dead connection did; a statement of its own
            # (autocommit) may have committed just before its answer was lost.
            return write and not in_transaction
        return self.wrote  # it failed outside any statement with changes sent: at COMMIT


def is_outage(error: BaseException) -> bool:
    """Whether `error` (raised on this thread's connection) means the database is not answering, not a bug."""
    if isinstance(error, InterfaceError):
        return True  # the connection is already closed
    if not isinstance(error, OperationalError):
        return False
    cause = error.__cause__
    if connection.vendor == "sqlite":
        return str(getattr(cause, "sqlite_errorname", "")).startswith(SQLITE_OUTAGES)
    # PostgreSQL: the driver lost the connection or could not get one (no SQLSTATE: connection lost, connect
    # timeout, the pool's timeout), or the server ended it (class 08, shutdown, crash, not accepting, too many
    # connections). A lock timeout, deadlock, serialization failure or cancelled query is not an outage.
    # (The connection itself says little afterwards: Django reconnects when it leaves a failed atomic block.)
    state = getattr(cause, "sqlstate", None)
    return state is None or state.startswith(PG_OUTAGE_STATES)


def _discard_connection() -> None:
    """Tidy after a call, never failing: a connection that cannot even be closed is gone anyway."""
    try:
        _tidy_connections()
    except Error:  # closing a dead connection may fail too; it is gone either way
        log.debug("closing a failed connection failed", exc_info=True)


def _drain_pool() -> None:
    """Before a repeat: drop every dead idle pooled connection, never failing (the repeat will tell)."""
    try:
        dbpool.drain(connection)
    except Exception:  # noqa: BLE001 - the pool's check failing leaves the repeat to find out
        log.debug("checking the pool's idle connections failed", exc_info=True)


def _call(func: Callable[..., R], args: tuple, kwargs: dict) -> R:
    """Run `func` on this thread's connection, repeating it once after an outage when that is safe."""
    started = time.monotonic()
    replay_safe = "idempotency_key" in kwargs
    maybe_saved = False
    for attempt in (1, 2):
        watch = _Watch()
        sound = True  # no database error (a refusal the function raises leaves its connection fit for more)
        try:
            _take_or_tidy()
            _connect()
            with connection.execute_wrapper(watch):
                return func(*args, **kwargs)
        except Error as error:
            sound = False
            outage = is_outage(error)
            metrics.database_error(outage=outage)
            if not outage:
                raise
            maybe_saved |= watch.may_have_saved()
            took = time.monotonic() - started
            log.warning("database not answering in %s (attempt %s after %.2f s, %s): %s", func.__qualname__,
                        attempt, took, "may have been saved" if maybe_saved else "nothing saved",
                        str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)
            if attempt == 1 and took < RETRY_WITHIN and (replay_safe or not maybe_saved):
                _discard_connection()
                _drain_pool()
                continue
            raise (DatabaseOutcomeUnknown() if maybe_saved else DatabaseUnavailable()) from error
        finally:
            _keep_or_tidy(sound)
    raise AssertionError("unreachable")  # pragma: no cover


def db_call(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Wrap a synchronous service or selector so the event loop can await it on a DB thread.

    An outage raises `DatabaseUnavailable` (nothing was saved) or `DatabaseOutcomeUnknown`, after at most one
    repeat on a fresh connection (see the module docstring for when a call is repeated).
    """

    def run(args: tuple, kwargs: dict) -> R:
        global _in_flight
        _open.wait()
        with _busy:
            _in_flight += 1
        try:
            return _call(func, args, kwargs)
        finally:
            with _busy:
                _in_flight -= 1
                _busy.notify_all()

    @functools.wraps(func)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        # The thread runs in a copy of the caller's context, speaking the caller's language (Django keeps the
        # active language per thread as well: a copied context alone does not carry it).
        context = contextvars.copy_context()
        language = translation.get_language()
        submitted = time.perf_counter()

        def job() -> Callable[[], None]:
            """Run the call on this thread; return what hands its answer to the caller's loop."""
            started = time.perf_counter()
            try:
                result = context.run(_in_language, language, run, args, kwargs)
            except BaseException as error:  # noqa: BLE001 - whatever it is, the awaiting task gets it
                outcome: tuple = (False, error)
            else:
                outcome = (True, result)
            observer = _observer
            if observer is not None:
                try:
                    observer(getattr(func, "__qualname__", repr(func)), started - submitted,
                             time.perf_counter() - started)
                except Exception:  # noqa: BLE001 - a benchmark's observer never keeps an answer from its caller
                    log.exception("the bridge's observer failed")
            return functools.partial(_answer, loop, future, outcome)

        _get_threads().submit(job)
        return await future

    return call


def _in_language(language: str | None, run: Callable[[tuple, dict], R], args: tuple, kwargs: dict) -> R:
    if language:
        translation.activate(language)
    else:
        translation.deactivate_all()
    return run(args, kwargs)


def _answer(loop: asyncio.AbstractEventLoop, future: asyncio.Future, outcome: tuple) -> None:
    try:
        loop.call_soon_threadsafe(_settle, future, outcome)
    except RuntimeError:  # the caller's loop is closed: nobody waits for the answer
        pass


def _settle(future: asyncio.Future, outcome: tuple) -> None:
    if future.cancelled():  # the awaiting task was cancelled while the call ran
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


async def close_db_connections() -> None:
    """Close the database connection of every bridge thread (graceful shutdown); the next call starts afresh."""
    global _threads
    release_database_work()  # held work would keep the threads (and so this) from finishing
    with _lock:
        threads, _threads = _threads, None
    if threads is None:
        return
    running = threads.close()

    def join() -> None:
        for thread in running:
            thread.join()

    await asyncio.to_thread(join)


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
