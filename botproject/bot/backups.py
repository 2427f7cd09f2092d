"""Backups on a schedule while runbot runs (BACKUP_EVERY_HOURS > 0): the runner checks every minute whether one is
due and takes it on a thread (botproject.backup); a failure is logged and never stops the bot.

The first one is due an interval after the newest backup already in BACKUP_DIR (at once when there is none), so a
restart does not take one more. `clock` (seconds since the epoch) is replaceable, so tests move time themselves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from django.db import connections

from botproject import backup

log = logging.getLogger(__name__)

CHECK_SECONDS = 60.0  # how often the runner asks whether a backup is due


class BackupSchedule:
    """A backup every `every_hours` into `directory`, keeping the newest `keep`."""

    def __init__(self, every_hours: float, directory: Path | str, keep: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.every = every_hours * 3600.0
        self.directory, self.keep, self.clock = Path(directory), keep, clock
        self.next_due: float | None = None
        self._lock = asyncio.Lock()

    def _first_due(self) -> float:
        try:
            newest = backup.own_backups(self.directory, backup.database_kind())[-1:]
        except (OSError, backup.BackupError):
            newest = []
        taken = backup.backup_time(newest[0]) if newest else None
        return taken.timestamp() + self.every if taken else self.clock()

    def _take(self, now: float) -> backup.BackupResult:
        try:
            return backup.take_backup(directory=self.directory, keep=self.keep,
                                      now=datetime.fromtimestamp(now, UTC))
        finally:
            connections.close_all()  # this worker thread's connection (PostgreSQL counts tables on it)

    async def run_if_due(self) -> backup.BackupResult | None:
        """Take a backup if one is due (on a thread); the result, or None when none was due or it failed."""
        async with self._lock:
            now = self.clock()
            if self.next_due is None:
                self.next_due = await asyncio.to_thread(self._first_due)
            if now < self.next_due:
                return None
            self.next_due = now + self.every
            try:
                result = await asyncio.to_thread(self._take, now)
            except Exception:  # noqa: BLE001 - a failed backup is logged; the bot goes on
                log.exception("scheduled backup into %s failed; next attempt in %.1f h", self.directory,
                              self.every / 3600)
                return None
            log.info("scheduled backup written: %s (%d bytes, %.1f s)%s", result.path, result.size, result.seconds,
                     f"; removed {len(result.removed)} older" if result.removed else "")
            return result

    async def run_forever(self) -> None:
        """The runner's task: check now and every CHECK_SECONDS."""
        while True:
            await self.run_if_due()
            await asyncio.sleep(CHECK_SECONDS)
