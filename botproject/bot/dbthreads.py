"""The database bridge's threads (botproject/bot/db.py runs every call on one of them)."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

# A job runs the call on the thread and returns what hands the answer to the caller.
Job = Callable[[], Callable[[], None]]


class _Worker:
    """One bridge thread: it sleeps on its own lock until a job is handed to it."""

    __slots__ = ("job", "thread", "wake")

    def __init__(self) -> None:
        self.job: Job | None = None
        self.wake = threading.Lock()
        self.wake.acquire()  # held: the thread blocks on it until a job (or the stop) is handed over
        self.thread: threading.Thread | None = None


class Threads:
    """The bridge's threads (settings.DB_THREADS of them, started as needed).

    A job goes straight to the thread that went idle last, so under the bot's usual load one or two threads do
    the work with their connections and caches warm, instead of every call waking the thread idle the longest;
    under a burst every thread works and the rest wait in order. A hand-off is one lock release and the answer
    one `call_soon_threadsafe`: the event loop, the threads and the emulator share the GIL, and every step the
    loop does not take is time it answers members in.
    """

    def __init__(self, size: int, *, starts: Callable[[], None], ends: Callable[[], None]) -> None:
        self.size = max(1, size)
        self._starts, self._ends = starts, ends  # run on each thread when it starts and when it ends
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []  # the most recently idle last
        self._queue: collections.deque[Job] = collections.deque()
        self._workers: list[_Worker] = []
        self._closed = False

    def submit(self, job: Job) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the database bridge is shut down")
            if self._idle:
                worker = self._idle.pop()
                worker.job = job
                worker.wake.release()
                return
            if len(self._workers) >= self.size:
                self._queue.append(job)
                return
            worker = _Worker()
            worker.job = job
            worker.thread = threading.Thread(target=self._work, args=(worker,), name=f"db_{len(self._workers)}",
                                             daemon=True)
            self._workers.append(worker)
        worker.thread.start()

    def _work(self, worker: _Worker) -> None:
        self._starts()
        try:
            job = worker.job
            while job is not None:
                worker.job = None
                answer = job()
                job = None  # drop the finished job's references before sleeping
                with self._lock:
                    if self._queue:
                        job = self._queue.popleft()
                    elif not self._closed:
                        # Idle before the answer goes out: the caller's next call (often right after) comes here.
                        self._idle.append(worker)
                answer()
                answer = None  # nor the answer's
                if job is None:
                    if self._closed and worker not in self._idle:
                        break
                    worker.wake.acquire()
                    job = worker.job
        finally:
            self._ends()

    def close(self) -> list[threading.Thread]:
        """Stop taking jobs; idle threads stop now, busy ones once the queued jobs are done. Returns the threads."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            threads = [w.thread for w in self._workers if w.thread is not None]
        for worker in idle:
            worker.job = None
            worker.wake.release()
        return threads
