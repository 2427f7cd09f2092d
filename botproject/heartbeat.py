"""Whether a bot is running on this database: each runbot process keeps a heartbeat row fresh.

The runner calls `beat` when it is ready and every BEAT_SECONDS after (through the database bridge), and `clear`
on a clean stop. A heartbeat older than STALE_SECONDS is a bot that died without stopping (killed, host down):
it counts as no bot. `manage.py restore` refuses while `live_bots()` is not empty.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from django.db import DatabaseError
from django.utils import timezone

from .models import BotHeartbeat

BEAT_SECONDS = 30.0
STALE_SECONDS = 120.0


def instance_name(suffix: str = "") -> str:
    """This process's name in the heartbeat table: host, process id (and what it runs, e.g. its shards)."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    return f"{name}:{suffix}" if suffix else name


def beat(instance: str, *, started_at: datetime | None = None, now: datetime | None = None) -> None:
    """Record that `instance` is alive now (creating its row on the first beat)."""
    now = now or timezone.now()
    updated = BotHeartbeat.objects.filter(instance=instance).update(beat_at=now)
    if not updated:
        BotHeartbeat.objects.update_or_create(instance=instance,
                                              defaults={"beat_at": now, "started_at": started_at or now})
        # Rows of bots that died without stopping (killed, host down) go after a day, so the table stays small.
        BotHeartbeat.objects.filter(beat_at__lt=now - timedelta(days=1)).delete()


def clear(instance: str) -> None:
    """`instance` stopped cleanly: remove its row."""
    BotHeartbeat.objects.filter(instance=instance).delete()


def clear_all() -> int:
    """Remove every heartbeat (after a restore: the rows that came with the backup describe no process);
    returns how many there were. A database without the table (an older backup) has none."""
    try:
        return BotHeartbeat.objects.all().delete()[0]
    except DatabaseError:
        return 0


def live_bots(*, now: datetime | None = None) -> list[BotHeartbeat]:
    """The bots whose heartbeat is fresh (newer than STALE_SECONDS), newest first; none when the table is absent
    (a database not yet migrated has no bot that writes one)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=STALE_SECONDS)
    try:
        return list(BotHeartbeat.objects.filter(beat_at__gt=cutoff).order_by("-beat_at"))
    except DatabaseError:
        return []
