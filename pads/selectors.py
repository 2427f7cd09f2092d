"""Pad reads: the nine pads of a guild, and the next deadline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from botproject.models import Guild

from .models import PAD_MAX, PAD_MIN, PadSession


@dataclass(frozen=True)
class SessionView:
    """A session as the Discord side needs it."""

    id: int
    guild_id: int
    pad: int
    kind: str
    host_id: int
    starts: str
    started_at: datetime
    ends_at: datetime
    ended_at: datetime | None
    end_reason: str
    channel_id: int | None
    message_id: int | None

    @classmethod
    def of(cls, session: PadSession) -> SessionView:
        """Copy a row."""
        return cls(session.pk, session.guild.discord_id, session.pad, session.kind, session.host_id, session.starts,
                   session.started_at, session.ends_at, session.ended_at, session.end_reason, session.channel_id,
                   session.message_id)


def pads_overview(*, guild_id: int) -> dict[int, SessionView | None]:
    """Pad number → its active session, or None when free.

    Plain SQL: every member's /pads reads it, and building the ORM query cost more than the database took.
    """
    with connection.cursor() as cursor:
        cursor.execute(_overview_sql(connection.vendor), [guild_id])
        rows = cursor.fetchall()
    active = {row[2]: SessionView(*row[:6], _aware(row[6]), _aware(row[7]), None, *row[9:]) for row in rows}
    return {pad: active.get(pad) for pad in range(PAD_MIN, PAD_MAX + 1)}


@cache
def _overview_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    return (f"SELECT s.id, g.discord_id, s.pad, s.kind, s.host_id, s.starts, s.started_at, s.ends_at, s.ended_at, "
            f"s.end_reason, s.channel_id, s.message_id FROM {quote(PadSession._meta.db_table)} s "
            f"JOIN {quote(Guild._meta.db_table)} g ON g.id = s.guild_id "
            f"WHERE g.discord_id = %s AND s.ended_at IS NULL")


def _aware(value) -> datetime:
    """A DateTimeField value as read through a raw cursor (SQLite gives text or a naive UTC time) as an aware one."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)


def next_deadline() -> datetime | None:
    """When the next active session runs out of time (None when none is active)."""
    return (PadSession.objects.filter(ended_at__isnull=True).order_by("ends_at")
            .values_list("ends_at", flat=True).first())


def sessions_unannounced(*, started_before: datetime) -> list[SessionView]:
    """Sessions whose announcement was never recorded, started before `started_before` (a restart in between).

    Only the last day's (no session lasts longer): an older one is left as it is.
    """
    return [SessionView.of(s) for s in PadSession.objects.select_related("guild").filter(
        channel_id__isnull=False, message_id__isnull=True, started_at__lt=started_before,
        started_at__gte=timezone.now() - timedelta(days=1)).order_by("pk")[:50]]


def active_sessions_count(*, guild_id: int | None = None) -> int:
    """How many of the guild's pads have a session running (the admin overview's card); of every guild's without
    `guild_id` (GET /metrics)."""
    sessions = PadSession.objects.filter(ended_at__isnull=True)
    return (sessions if guild_id is None else sessions.filter(guild__discord_id=guild_id)).count()
