"""A ticket's life: opening (a reserved row before the channel exists), the buttons, closing.

Opening reserves a row (status pending) before Discord creates the channel: the database decides
whether the member may open one (the open-slot unique constraint), so simultaneous clicks make one
ticket. The bot then records the channel (open) or marks the ticket failed (no orphan either way).
Closing is one transaction: the status, the helpers' points, the channel's deletion deadline and the log
note (outbox rows) commit together. The HTML transcript is rendered and stored right after that commit, in
a short transaction of its own (`transcript.transcript_store`), so a long channel never holds the close's
locks; the tickets sweep stores any transcript a stop left out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from botproject import outbox
from botproject.exceptions import DomainError
from botproject.models import OutboxMessage
from points.services import Kind as LedgerKind
from points.services import points_award

from ..exceptions import (
    AddRefused,
    AlreadyClaimed,
    CannotRemoveOpener,
    ClaimRefused,
    NotOpener,
    OwnTicket,
    SlotsFull,
    StaffOnly,
    TicketClosed,
)
from ..models import (
    OPEN_STATUSES,
    Ticket,
    TicketClaim,
    TicketClose,
    TicketCloseRequest,
    TicketDeadline,
    TicketRating,
    TranscriptMessage,
)
from ..selectors import TicketView
from ..transcripts import admin_closer_text
from . import deadlines
from .opening import locked_ticket as _locked
from .transcript import transcript_store_after_close

log = logging.getLogger(__name__)
HELP_PING_INTERVAL = timedelta(minutes=10)  # per member, across their tickets
# The bot posts the close note with the transcript file at once; the outbox sends the note without the
# file only if the bot has not done so within this time (it stopped right after the close).
LOG_NOTE_GRACE = timedelta(seconds=60)
# Timers of an open ticket: a close drops them.
RUNNING_TIMERS = (TicketDeadline.Kind.REMIND, TicketDeadline.Kind.AUTOCLOSE, TicketDeadline.Kind.ALERT,
                  TicketDeadline.Kind.CLOSE_REQUEST)



# --- the buttons ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CloseResult:
    """What a close did, for the public notice and the log note."""

    ticket: TicketView
    path: str
    closed_by_id: int
    delete_at: datetime
    delay_seconds: int
    awarded: tuple[tuple[int, int], ...]
    log_channel_id: int | None
    log_outbox_id: int | None
    log_text: str
    reason: str = ""


def _award_helpers(ticket: Ticket, config) -> list[tuple[int, int]]:
    amount = ticket.category.helper_points if ticket.category_id else 0
    if not amount or not config.points_enabled:
        return []
    awarded = []
    for claim in TicketClaim.objects.filter(ticket=ticket).order_by("slot"):
        with translation.override(config.language):
            reason = gettext("Helped with ticket #%(number)s (%(category)s)") % {
                "number": ticket.number, "category": ticket.category_name}
        try:
            points_award(guild_id=config.guild.discord_id, user_id=claim.user_id, amount=amount, reason=reason,
                         idempotency_key=f"ticket:{ticket.pk}:helper:{claim.user_id}",
                         kind=LedgerKind.HELPER)
        except DomainError as error:  # e.g. the balance cap: the close still happens
            log.warning("ticket %s: no helper points for %s: %s", ticket.pk, claim.user_id, error)
            continue
        TicketClaim.objects.filter(pk=claim.pk).update(points_awarded=amount)
        awarded.append((claim.user_id, amount))
    return awarded


def _close(ticket: Ticket, *, path: str, actor_id: int | None, reason: str, resolved: bool,
           admin_user=None) -> CloseResult:
    now = timezone.now()
    if not Ticket.objects.filter(pk=ticket.pk, status__in=OPEN_STATUSES).update(
            status=Ticket.Status.CLOSED, closed_at=now, closed_by_id=actor_id, close_path=path,
            close_reason=reason[:500], resolved=resolved,
            closed_by_admin=admin_user if admin_user is not None and admin_user.pk else None):
        raise TicketClosed()
    ticket.refresh_from_db()
    config = ticket.guild.config
    if ticket.first_response_at is None and actor_id is not None and actor_id != ticket.opener_id:
        Ticket.objects.filter(pk=ticket.pk).update(first_response_at=now, first_responder_id=actor_id)
    Ticket.objects.filter(pk=ticket.pk).update(waiting_on_opener=False)
    TicketClose.objects.create(ticket=ticket, closed_at=now, closed_by_id=actor_id, close_path=path,
                               close_reason=reason[:500], channel_id=ticket.channel_id)
    deadlines.cancel(ticket, RUNNING_TIMERS)
    TicketCloseRequest.objects.filter(ticket=ticket, outcome=TicketCloseRequest.Outcome.PENDING).update(
        outcome=TicketCloseRequest.Outcome.CANCELLED, answered_at=now)
    awarded = _award_helpers(ticket, config) if resolved else []
    message_count = TranscriptMessage.objects.filter(ticket=ticket).count()
    # Rendered and stored after this transaction commits, in its own (never while the close holds its locks).
    transaction.on_commit(lambda: transcript_store_after_close(ticket.pk))
    delay = config.tickets_delete_delay_seconds
    delete_at = _after_close(ticket, path=path, now=now, delay=timedelta(seconds=delay))
    if ticket.channel_id:
        outbox.enqueue_channel_delete(guild=ticket.guild, channel_id=ticket.channel_id, at=delete_at,
                                      reason=f"ticket #{ticket.number} closed", dedupe_key=close_key(ticket, "delete"))
    log_id, text = None, ""
    with translation.override(config.language):
        actor = (f"<@{actor_id}>" if actor_id else admin_closer_text(admin_user, markdown=True)
                 if path == Ticket.ClosePath.ADMIN else gettext("the bot"))
        text = gettext("🎫 Ticket #%(number)s (%(category)s) of <@%(opener)s> closed by %(actor)s: %(path)s.") % {
            "number": ticket.number, "category": ticket.category_name, "opener": ticket.opener_id,
            "actor": actor, "path": ticket.get_close_path_display()}
        if reason:
            text += " " + gettext("Reason: %(reason)s") % {"reason": reason}
        if awarded:
            text += " " + gettext("Helper points: %(list)s.") % {
                "list": ", ".join(f"<@{user}> +{points}" for user, points in awarded)}
        text += " " + gettext("%(count)s messages in the transcript.") % {"count": message_count}
    if config.log_channel_id:
        log_id = outbox.enqueue_log(guild=ticket.guild, channel_id=config.log_channel_id, content=text,
                                    dedupe_key=close_key(ticket, "closed"))
        # The bot posts the note itself right after this commits (with the transcript, and this row's nonce): that
        # post is the row's first attempt, so the outbox looks for it before sending the row after a kill.
        OutboxMessage.objects.filter(pk=log_id).update(available_at=now + LOG_NOTE_GRACE, attempts=1)
    return CloseResult(TicketView.of(ticket), path, actor_id, delete_at, int((delete_at - now).total_seconds()),
                       tuple(awarded), config.log_channel_id, log_id, text, reason)


def close_key(ticket: Ticket, what: str) -> str:
    """The outbox dedupe key of a close's row (`what`: delete, closed); a reopened ticket's later closes count on."""
    base = f"ticket:{ticket.pk}:{what}"
    return f"{base}:{ticket.reopen_count}" if ticket.reopen_count else base


def _after_close(ticket: Ticket, *, path: str, now: datetime, delay: timedelta) -> datetime:
    """Arm what follows a close: the rating prompt (in the channel while it waits for it, else by DM) and the
    transcript by DM; return when the channel is deleted."""
    category = ticket.category
    if category is not None and category.transcript_dm:
        deadlines.arm(ticket, TicketDeadline.Kind.TRANSCRIPT_DM, now)
    if TicketRating.objects.filter(ticket=ticket).exists():
        return now + delay
    in_channel = bool(ticket.channel_id) and path != Ticket.ClosePath.OPENER_LEFT
    if not in_channel:
        deadlines.arm(ticket, TicketDeadline.Kind.RATE_DM, now)
        return now + delay
    wait = max(delay, category.rating_wait if category is not None else delay)
    deadlines.arm(ticket, TicketDeadline.Kind.RATE_PROMPT, now)
    deadlines.arm(ticket, TicketDeadline.Kind.RATE_DM, now + wait)  # unrated when the channel goes: by DM
    return now + wait


@transaction.atomic
def ticket_works(*, guild_id: int, ticket_id: int, actor_id: int) -> CloseResult:
    """It works!: the opener closes their ticket as resolved."""
    ticket = _locked(guild_id, ticket_id)
    if not ticket.is_open:
        raise TicketClosed()
    if actor_id != ticket.opener_id:
        raise NotOpener(opener=f"<@{ticket.opener_id}>")
    return _close(ticket, path=Ticket.ClosePath.WORKS, actor_id=actor_id, reason="", resolved=True)


@transaction.atomic
def ticket_close(*, guild_id: int, ticket_id: int, actor_id: int, is_staff: bool, reason: str = "",
                 opener_may: bool = False) -> CloseResult:
    """Close by staff (Close button, /ticket close), or by the opener with /ticket close (`opener_may`)."""
    ticket = _locked(guild_id, ticket_id)
    if not ticket.is_open:
        raise TicketClosed()
    if is_staff:
        path = Ticket.ClosePath.STAFF_AFTER_HELP if ticket.need_help_at else Ticket.ClosePath.STAFF
        resolved = TicketClaim.objects.filter(ticket=ticket).exists()
    elif opener_may and actor_id == ticket.opener_id:
        path, resolved = Ticket.ClosePath.OPENER, False
    else:
        raise StaffOnly()
    return _close(ticket, path=path, actor_id=actor_id, reason=reason, resolved=resolved)


@transaction.atomic
def ticket_close_from_admin(*, ticket_id: int, actor_user=None) -> CloseResult:
    """Close from the admin site (the channel is deleted by the bot through the outbox); `actor_user` (the admin
    site user) is recorded as the ticket's `closed_by_admin` and named in the log note and the transcript."""
    ticket = Ticket.objects.select_related("guild").get(pk=ticket_id)
    ticket = _locked(ticket.guild.discord_id, ticket_id)
    if not ticket.is_open:
        raise TicketClosed()
    return _close(ticket, path=Ticket.ClosePath.ADMIN, actor_id=None, reason=gettext("closed from the admin site"),
                  resolved=False, admin_user=actor_user)


@dataclass(frozen=True)
class HelpResult:
    """Need help: the ticket and whether the staff role is pinged this time."""

    ticket: TicketView
    ping: bool
    pinged_at: datetime | None = field(default=None)


@transaction.atomic
def ticket_need_help(*, guild_id: int, ticket_id: int, actor_id: int) -> HelpResult:
    """Need help: status need_help; the staff role is pinged at most once per 10 minutes per member (not per
    ticket: a member with several tickets cannot ping the staff from each of them in turn)."""
    # The member's tickets are locked in one order first, so two Need help clicks of theirs queue here.
    list(Ticket.objects.select_for_update().filter(guild__discord_id=guild_id, opener_id=actor_id)
         .order_by("pk").values_list("pk", flat=True))
    ticket = _locked(guild_id, ticket_id)
    if not ticket.is_open:
        raise TicketClosed()
    if actor_id != ticket.opener_id:
        raise NotOpener(opener=f"<@{ticket.opener_id}>")
    now = timezone.now()
    last = (Ticket.objects.filter(guild=ticket.guild, opener_id=actor_id, help_pinged_at__isnull=False)
            .order_by("-help_pinged_at").values_list("help_pinged_at", flat=True).first())
    ping = last is None or now - last >= HELP_PING_INTERVAL
    ticket.status = Ticket.Status.NEED_HELP
    ticket.need_help_at = ticket.need_help_at or now
    if ping:
        ticket.help_pinged_at = now
    ticket.save(update_fields=["status", "need_help_at", "help_pinged_at"])
    return HelpResult(TicketView.of(ticket), ping, now if ping else last)


@transaction.atomic
def ticket_claim(*, guild_id: int, ticket_id: int, actor_id: int, may_claim: bool) -> TicketView:
    """Take one of the category's helper slots (helpers and staff; refused when full or already claimed)."""
    ticket = _locked(guild_id, ticket_id)
    if not ticket.is_open:
        raise TicketClosed()
    if not may_claim:
        raise ClaimRefused()
    if actor_id == ticket.opener_id:
        raise OwnTicket()
    slots = ticket.category.helper_slots if ticket.category_id else 1
    claims = list(TicketClaim.objects.filter(ticket=ticket))
    if any(c.user_id == actor_id for c in claims):
        raise AlreadyClaimed()
    taken = {c.slot for c in claims}
    free = [s for s in range(1, slots + 1) if s not in taken]
    if not free:
        raise SlotsFull(slots=slots)
    try:
        with transaction.atomic():
            TicketClaim.objects.create(ticket=ticket, user_id=actor_id, slot=free[0])
    except IntegrityError:
        raise SlotsFull(slots=slots) from None
    changes = ["member_ids"]
    if actor_id not in ticket.member_ids:
        ticket.member_ids = [*ticket.member_ids, actor_id]
    if ticket.first_response_at is None:
        ticket.first_response_at, ticket.first_responder_id = timezone.now(), actor_id
        changes += ["first_response_at", "first_responder_id"]
    ticket.save(update_fields=changes)
    return TicketView.of(ticket)


@transaction.atomic
def ticket_member_set(*, guild_id: int, ticket_id: int, actor_id: int, is_staff: bool, member_id: int,
                      present: bool) -> TicketView:
    """Give a member access to the ticket (present) or take it away; staff and the ticket's claimers may."""
    ticket = _locked(guild_id, ticket_id)
    if not ticket.is_open:
        raise TicketClosed()
    if not is_staff and not TicketClaim.objects.filter(ticket=ticket, user_id=actor_id).exists():
        raise AddRefused()
    if not present and member_id == ticket.opener_id:
        raise CannotRemoveOpener()
    members = [m for m in ticket.member_ids if m != member_id]
    ticket.member_ids = [*members, member_id] if present else members
    ticket.save(update_fields=["member_ids"])
    return TicketView.of(ticket)
