"""Reopen: a closed ticket gets a new private channel with the same number, members, category and helpers.

The ticket's row lock decides between simultaneous reopens: the first turns it `pending` (a channel is being made),
the others are told so, so concurrent clicks make one channel. The close stays in the ticket's history
(`TicketClose.reopened_at`); the stored transcript is dropped so the next close renders one with every message,
earlier ones included.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .. import gating
from ..exceptions import NotClosed, ReopenInProgress, ReopenNotAllowed, ReopenRefused, UnknownTicketNumber
from ..models import OPEN_STATUSES, Ticket, TicketClose, TicketDeadline, TicketTranscript, TranscriptMessage
from ..selectors import TicketView
from . import deadlines
from .opening import _at_limit


def _find(guild_id: int, ticket_id: int | None, number: int | None) -> Ticket:
    rows = Ticket.objects.select_for_update(of=("self",)).select_related("guild__config", "category")
    ticket = rows.filter(guild__discord_id=guild_id, **({"pk": ticket_id} if ticket_id else {"number": number})).first()
    if ticket is None:
        raise UnknownTicketNumber(number=number if number is not None else "?")
    return ticket


@transaction.atomic
def ticket_reopen(*, guild_id: int, actor_id: int, is_staff: bool, ticket_id: int | None = None,
                  number: int | None = None) -> tuple[TicketView, int]:
    """Reserve the reopen (status pending, a slot of the opener's) or refuse: staff at any time, the opener within
    the category's reopen window. Returns the ticket and how many messages it had."""
    ticket = _find(guild_id, ticket_id, number)
    if not is_staff and actor_id != ticket.opener_id:
        raise ReopenNotAllowed()
    if ticket.status == Ticket.Status.PENDING and ticket.reopen_count:
        raise ReopenInProgress(number=ticket.number)
    if ticket.status != Ticket.Status.CLOSED or ticket.close_path == Ticket.ClosePath.LEGACY:
        raise NotClosed(number=ticket.number, status=ticket.get_status_display())
    now = timezone.now()
    if not is_staff:
        window = ticket.category.reopen_window if ticket.category_id else None
        if window is None or now - ticket.closed_at > window:
            ended = ticket.closed_at + window if window is not None else ticket.closed_at
            raise ReopenRefused(window=gating.wait_text(window or timedelta(0)),
                                ago=gating.wait_text(now - ended))
    limit = (ticket.category.max_open_per_member if ticket.category_id else None) or \
        ticket.guild.config.tickets_max_open_per_member
    taken = set(Ticket.objects.filter(guild=ticket.guild, category=ticket.category, opener_id=ticket.opener_id,
                                      status__in=OPEN_STATUSES).values_list("slot", flat=True))
    free = [slot for slot in range(1, limit + 1) if slot not in taken]
    if not free:
        raise _at_limit(ticket.guild, ticket.category, ticket.opener_id)
    TicketClose.objects.filter(ticket=ticket, reopened_at__isnull=True).update(reopened_at=now,
                                                                               reopened_by_id=actor_id)
    deadlines.cancel(ticket, [TicketDeadline.Kind.RATE_PROMPT, TicketDeadline.Kind.RATE_DM,
                              TicketDeadline.Kind.TRANSCRIPT_DM])
    TicketTranscript.objects.filter(pk=ticket.pk).delete()
    ticket.status, ticket.slot = Ticket.Status.PENDING, free[0]
    ticket.channel_id = ticket.welcome_message_id = None
    ticket.closed_at = ticket.closed_by_id = ticket.closed_by_admin = None
    ticket.close_path, ticket.close_reason, ticket.resolved = "", "", False
    ticket.reopen_count += 1
    ticket.save(update_fields=["status", "slot", "channel_id", "welcome_message_id", "closed_at", "closed_by_id",
                               "closed_by_admin", "close_path", "close_reason", "resolved", "reopen_count"])
    return TicketView.of(ticket), TranscriptMessage.objects.filter(ticket=ticket).count()

