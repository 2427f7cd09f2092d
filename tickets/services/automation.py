"""What makes a ticket run itself: who it waits on (from the messages as they arrive), firing its timers, and the
opener leaving the server.

Fairness: the reminder and auto-close run only while the ticket waits on the opener (the last message is from the
ticket's staff or a helper: `deadlines.message_arrived`); the opener's message stops them, and staff silence
never closes a ticket.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from botproject import outbox

from ..models import OPEN_STATUSES, Ticket, TicketDeadline, TicketRating, TicketTranscript
from ..selectors import TicketView
from .lifecycle import CloseResult, _close
from .requests import close_request_expire
from .transcript import transcript_store

Kind = TicketDeadline.Kind


@dataclass(frozen=True)
class Fired:
    """A timer that fired: what the bot posts (nothing for `close`, which is done and only announced)."""

    deadline_id: int
    kind: str
    ticket: TicketView
    close: CloseResult | None = None
    log_channel_id: int | None = None
    rated: bool = False
    transcript: str = ""
    nonce: str = ""


def _fired(row: TicketDeadline, ticket: Ticket, **more) -> Fired:
    config = ticket.guild.config
    return Fired(row.pk, row.kind, TicketView.of(ticket), log_channel_id=config.log_channel_id,
                 nonce=f"td{row.pk}", **more)


@transaction.atomic
def deadline_fire(*, deadline_id: int) -> Fired | None:
    """Fire a claimed row: None when it no longer applies (it is marked cancelled); closing kinds close here (the
    row is done with them); posting kinds return what to post (the bot marks the row done after posting)."""
    ticket_id = TicketDeadline.objects.filter(pk=deadline_id).values_list("ticket_id", flat=True).first()
    if ticket_id is None:
        return None
    # The ticket's row first, then the timer's: every write that touches both (close, reopen, rating, a message)
    # takes them in this order, so none of them can deadlock with a firing timer.
    ticket = (Ticket.objects.select_for_update(of=("self",)).select_related("guild__config", "category")
              .get(pk=ticket_id))
    row = TicketDeadline.objects.select_for_update().filter(pk=deadline_id, done_at__isnull=True).first()
    if row is None:
        return None
    result = _decide(row, ticket)
    if result is None or result.close is not None:
        TicketDeadline.objects.filter(pk=row.pk).update(
            done_at=timezone.now(), lease_until=None,
            outcome=TicketDeadline.Outcome.CANCELLED if result is None else TicketDeadline.Outcome.FIRED)
    return result


def _decide(row: TicketDeadline, ticket: Ticket) -> Fired | None:
    is_open = ticket.status in OPEN_STATUSES
    if row.kind == Kind.AUTOCLOSE:
        if not (is_open and ticket.waiting_on_opener):
            return None
        with translation.override(ticket.guild.config.language):
            reason = gettext("no answer from the opener")
        return _fired(row, ticket, close=_close(ticket, path=Ticket.ClosePath.AUTO, actor_id=None, reason=reason,
                                                resolved=False))
    if row.kind == Kind.CLOSE_REQUEST:
        close = close_request_expire(ticket)
        return None if close is None else _fired(row, ticket, close=close)
    if row.kind == Kind.REMIND:
        return _fired(row, ticket) if is_open and ticket.waiting_on_opener and ticket.channel_id else None
    if row.kind == Kind.ALERT:
        return _fired(row, ticket) if is_open and ticket.first_response_at is None else None
    rated = TicketRating.objects.filter(ticket=ticket).exists()
    if row.kind in (Kind.RATE_PROMPT, Kind.RATE_DM):
        return None if rated or is_open else _fired(row, ticket)
    if row.kind == Kind.TRANSCRIPT_DM:
        if is_open:
            return None
        html = TicketTranscript.objects.filter(pk=ticket.pk).values_list("html", flat=True).first()
        return _fired(row, ticket, transcript=html if html is not None else transcript_store(ticket_id=ticket.pk))
    return None


@transaction.atomic
def deadline_dms_closed(*, deadline_id: int) -> None:
    """The opener's DMs are closed: a note in the log channel instead (no retries), and the row is done."""
    row = TicketDeadline.objects.select_related("ticket__guild__config").filter(
        pk=deadline_id, done_at__isnull=True).first()
    if row is None:
        return
    TicketDeadline.objects.filter(pk=row.pk).update(done_at=timezone.now(), lease_until=None,
                                                    outcome=TicketDeadline.Outcome.FIRED)
    ticket, config = row.ticket, row.ticket.guild.config
    if not config.log_channel_id:
        return
    with translation.override(config.language):
        what = (gettext("the transcript") if row.kind == Kind.TRANSCRIPT_DM else gettext("the rating request"))
        note = gettext("📪 Could not send %(what)s of ticket #%(number)s to <@%(user)s> (their DMs are closed).") % {
            "what": what, "number": ticket.number, "user": ticket.opener_id}
    outbox.enqueue_log(guild=ticket.guild, channel_id=config.log_channel_id, content=note,
                       dedupe_key=f"ticket:{ticket.pk}:dm_closed:{row.pk}")


@transaction.atomic
def ticket_opener_left(*, guild_id: int, user_id: int) -> list[CloseResult]:
    """The opener left the server: each of their open tickets closes ("opener left"); the notice goes through the
    outbox (the channel is deleted after the delay)."""
    results = []
    ids = list(Ticket.objects.filter(guild__discord_id=guild_id, opener_id=user_id, status__in=OPEN_STATUSES)
               .order_by("pk").values_list("pk", flat=True))
    for ticket in (Ticket.objects.select_for_update(of=("self",)).select_related("guild__config", "category")
                   .filter(pk__in=ids).order_by("pk")):
        result = _close(ticket, path=Ticket.ClosePath.OPENER_LEFT, actor_id=None, reason="", resolved=False)
        if ticket.channel_id:
            with translation.override(ticket.guild.config.language):
                text = gettext("🚪 <@%(user)s> left the server: this ticket is closed.") % {"user": user_id}
            outbox.enqueue_channel(guild=ticket.guild, channel_id=ticket.channel_id, content=text,
                                   dedupe_key=f"ticket:{ticket.pk}:left:{ticket.reopen_count}")
        results.append(result)
    return results
