"""Ticket timers as database rows (`TicketDeadline`): armed and cancelled inside the writes that cause them, claimed
by the bot's deadline loop with a lease, fired once.

No timer lives in memory and none has an upper bound: a row says what is due when. Claiming is safe with several
processes: on PostgreSQL the due rows are read with `FOR UPDATE SKIP LOCKED`, and on every database a row is taken
only by the conditional UPDATE that sets its lease (SQLite has one writer at a time), so each row is taken by one
process at a time. A row whose process died is taken again when its lease has run out; what it sends carries the
row's nonce, so Discord returns the first message instead of a second one.

Firing is one transaction per row (`deadline_fire`): it reloads the ticket and decides whether the timer still
applies (the opener answered, staff responded, the ticket closed). Closing kinds close in that transaction;
kinds that post to Discord return what to post, and the bot marks the row done after posting (`deadline_done`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from ..models import OPEN_STATUSES, Ticket, TicketDeadline

Kind = TicketDeadline.Kind
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 5
_waker: Callable[[], None] | None = None
_waker_lock = threading.Lock()


def set_waker(waker: Callable[[], None] | None) -> None:
    """The running bot's thread-safe wake-up for its deadline loop (None when it stops)."""
    global _waker
    with _waker_lock:
        _waker = waker


def wake() -> None:
    """Tell the deadline loop (in this process) that a row is due now; other processes find it on their next poll."""
    with _waker_lock:
        waker = _waker
    if waker is not None:
        waker()


def arm(ticket: Ticket, kind: str, due_at: datetime) -> None:
    """Set the ticket's pending timer of this kind to `due_at` (one pending row per ticket and kind)."""
    TicketDeadline.objects.update_or_create(ticket=ticket, kind=kind, done_at=None,
                                            defaults={"due_at": due_at, "lease_until": None, "attempts": 0})
    if due_at <= timezone.now() + timedelta(seconds=1):
        transaction.on_commit(wake)


def cancel(ticket: Ticket, kinds: Iterable[str]) -> int:
    """Drop the ticket's pending timers of these kinds."""
    return TicketDeadline.objects.filter(ticket=ticket, kind__in=list(kinds), done_at__isnull=True).update(
        done_at=timezone.now(), outcome=TicketDeadline.Outcome.CANCELLED, lease_until=None)


def message_arrived(ticket: Ticket, *, author_id: int, from_staff: bool, at) -> None:
    """A message in the ticket's channel (inside the transcript's transaction): who the ticket now waits on.

    Staff or a helper wrote: the ticket waits on the opener (the reminder and the auto-close are armed from now)
    and the first-response alert is dropped. The opener wrote: nothing waits on them any more.
    """
    if ticket.status not in OPEN_STATUSES or ticket.category_id is None:
        return
    if from_staff:
        Ticket.objects.filter(pk=ticket.pk).update(waiting_on_opener=True)
        remind = at + ticket.category.remind_after
        arm(ticket, Kind.REMIND, remind)
        arm(ticket, Kind.AUTOCLOSE, remind + ticket.category.autoclose_after)
        cancel(ticket, [Kind.ALERT])
    elif author_id == ticket.opener_id:
        Ticket.objects.filter(pk=ticket.pk).update(waiting_on_opener=False)
        cancel(ticket, [Kind.REMIND, Kind.AUTOCLOSE])


@dataclass(frozen=True)
class DeadlineItem:
    """A claimed row."""

    id: int
    kind: str
    ticket_id: int
    guild_id: int
    attempts: int

    @property
    def nonce(self) -> str:
        """What a message posted for this row carries (a retry after a crash is recognised by Discord)."""
        return f"td{self.id}"


@transaction.atomic
def deadlines_claim(*, limit: int = 20, shard_count: int | None = None,
                    shard_ids: list[int] | None = None) -> list[DeadlineItem]:
    """Take up to `limit` due rows (of this process's shards' guilds), each with a lease; rows that failed
    MAX_ATTEMPTS times are given up (cancelled)."""
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    rows = TicketDeadline.objects.filter(free, done_at__isnull=True, due_at__lte=now)
    if shard_count and shard_ids is not None and len(set(shard_ids)) < shard_count:
        rows = rows.annotate(_shard=F("ticket__guild__discord_id").bitrightshift(22) % shard_count).filter(
            _shard__in=shard_ids)
    rows = rows.order_by("due_at", "id")
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    claimed = []
    for pk, kind, ticket_id, guild_id, attempts in rows.values_list(
            "pk", "kind", "ticket_id", "ticket__guild__discord_id", "attempts")[:limit]:
        if attempts >= MAX_ATTEMPTS:
            TicketDeadline.objects.filter(pk=pk, done_at__isnull=True).update(
                done_at=now, outcome=TicketDeadline.Outcome.CANCELLED, lease_until=None)
            continue
        # The conditional UPDATE is the claim: of two processes reading the row, one updates it.
        if TicketDeadline.objects.filter(free, pk=pk, done_at__isnull=True).update(
                lease_until=now + LEASE, attempts=F("attempts") + 1):
            claimed.append(DeadlineItem(pk, kind, ticket_id, guild_id, attempts + 1))
    return claimed


def deadlines_next_due() -> datetime | None:
    """When the earliest pending row is due (None when none is pending)."""
    return (TicketDeadline.objects.filter(done_at__isnull=True).order_by("due_at")
            .values_list("due_at", flat=True).first())


@transaction.atomic
def deadline_done(*, deadline_id: int, cancelled: bool = False) -> None:
    """The bot did what the row asked (or there was nothing left to do)."""
    TicketDeadline.objects.filter(pk=deadline_id, done_at__isnull=True).update(
        done_at=timezone.now(), lease_until=None,
        outcome=TicketDeadline.Outcome.CANCELLED if cancelled else TicketDeadline.Outcome.FIRED)


@transaction.atomic
def deadline_release(*, deadline_id: int, retry_in: timedelta = timedelta(seconds=30)) -> None:
    """Posting failed for a reason that may pass (Discord busy): try the row again later."""
    TicketDeadline.objects.filter(pk=deadline_id, done_at__isnull=True).update(
        lease_until=timezone.now() + retry_in)
