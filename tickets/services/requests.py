"""Close requests (/ticket closerequest): staff or a claimer asks the opener to confirm the close; Accept closes,
Deny keeps the ticket open, no answer within the hours closes it as auto-closed (a `TicketDeadline` row)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from ..exceptions import BadHours, CloseRequestPending, CloseRequestRefused, NoCloseRequest, NotOpener, TicketClosed
from ..models import Ticket, TicketClaim, TicketCloseRequest, TicketDeadline
from ..selectors import TicketView
from . import deadlines
from .lifecycle import CloseResult, _close
from .opening import locked_ticket

MAX_HOURS = 24 * 366


@dataclass(frozen=True)
class CloseRequestView:
    """A close request as its message shows it."""

    id: int
    ticket: TicketView
    requested_by_id: int
    reason: str
    hours: int
    due_at: datetime


def _view(request: TicketCloseRequest, ticket: Ticket) -> CloseRequestView:
    return CloseRequestView(request.pk, TicketView.of(ticket), request.requested_by_id, request.reason,
                            request.hours, request.due_at)


@transaction.atomic
def close_request_create(*, guild_id: int, ticket_id: int, actor_id: int, is_staff: bool, reason: str = "",
                         hours: int = 24) -> CloseRequestView:
    """Ask the opener to confirm the close within `hours` (staff and the ticket's claimers)."""
    ticket = locked_ticket(guild_id, ticket_id)
    if not ticket.is_open:
        raise TicketClosed()
    if not is_staff and not TicketClaim.objects.filter(ticket=ticket, user_id=actor_id).exists():
        raise CloseRequestRefused()
    if not 1 <= hours <= MAX_HOURS:
        raise BadHours(max=MAX_HOURS)
    pending = TicketCloseRequest.objects.filter(ticket=ticket, outcome=TicketCloseRequest.Outcome.PENDING).first()
    if pending is not None:
        raise CloseRequestPending(when=pending.due_at)
    now = timezone.now()
    request = TicketCloseRequest.objects.create(ticket=ticket, requested_by_id=actor_id, reason=reason[:500],
                                                hours=hours, created_at=now, due_at=now + timedelta(hours=hours))
    deadlines.arm(ticket, TicketDeadline.Kind.CLOSE_REQUEST, request.due_at)
    return _view(request, ticket)


@transaction.atomic
def close_request_posted(*, request_id: int, message_id: int) -> None:
    """Remember the request's public message."""
    TicketCloseRequest.objects.filter(pk=request_id).update(message_id=message_id)


@dataclass(frozen=True)
class CloseAnswer:
    """The opener's answer: the close (Accept) or the request kept open (Deny)."""

    request: CloseRequestView
    close: CloseResult | None


@transaction.atomic
def close_request_answer(*, guild_id: int | None, ticket_id: int, actor_id: int, accept: bool) -> CloseAnswer:
    """Accept (closes the ticket, paying its claimers like a staff close) or Deny (stays open); the opener only."""
    ticket = (Ticket.objects.select_related("guild").filter(pk=ticket_id).first())
    if ticket is None or (guild_id is not None and ticket.guild.discord_id != guild_id):
        raise NoCloseRequest()
    ticket = locked_ticket(ticket.guild.discord_id, ticket_id)
    request = TicketCloseRequest.objects.select_for_update().filter(
        ticket=ticket, outcome=TicketCloseRequest.Outcome.PENDING).first()
    if request is None or not ticket.is_open:
        raise NoCloseRequest()
    if actor_id != ticket.opener_id:
        raise NotOpener(opener=f"<@{ticket.opener_id}>")
    now = timezone.now()
    deadlines.cancel(ticket, [TicketDeadline.Kind.CLOSE_REQUEST])
    request.outcome = TicketCloseRequest.Outcome.ACCEPTED if accept else TicketCloseRequest.Outcome.DENIED
    request.answered_at = now
    request.save(update_fields=["outcome", "answered_at"])
    close = None
    if accept:
        resolved = TicketClaim.objects.filter(ticket=ticket).exists()
        close = _close(ticket, path=Ticket.ClosePath.REQUEST, actor_id=actor_id, reason=request.reason,
                       resolved=resolved)
    return CloseAnswer(_view(request, ticket), close)


def close_request_expire(ticket: Ticket) -> CloseResult | None:
    """The request's hours passed without an answer: auto-close (inside the deadline's transaction)."""
    request = TicketCloseRequest.objects.select_for_update().filter(
        ticket=ticket, outcome=TicketCloseRequest.Outcome.PENDING).first()
    if request is None or not ticket.is_open:
        return None
    request.outcome, request.answered_at = TicketCloseRequest.Outcome.EXPIRED, timezone.now()
    request.save(update_fields=["outcome", "answered_at"])
    return _close(ticket, path=Ticket.ClosePath.AUTO, actor_id=None, reason=request.reason, resolved=False)
