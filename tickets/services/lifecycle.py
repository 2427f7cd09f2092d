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
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext

from botproject import outbox
from botproject.exceptions import DomainError
from botproject.models import OutboxMessage
from botproject.services import config_row
from points.services import Kind as LedgerKind
from points.services import points_award

from ..exceptions import (
    AddRefused,
    AlreadyClaimed,
    AtLimit,
    CannotRemoveOpener,
    ClaimRefused,
    NotATicket,
    NotOpener,
    OwnTicket,
    SlotsFull,
    StaffOnly,
    TicketClosed,
    TooManyOpens,
    UnknownCategory,
    UnknownPanel,
)
from ..models import OPEN_STATUSES, Ticket, TicketCategory, TicketClaim, TicketCounter, TicketPanel, TranscriptMessage
from ..selectors import TicketView
from ..transcripts import admin_closer_text
from .transcript import transcript_store_after_close

log = logging.getLogger(__name__)
CODE_ALPHABET = string.ascii_lowercase + string.digits
HELP_PING_INTERVAL = timedelta(minutes=10)  # per member, across their tickets
OPEN_WINDOW = timedelta(hours=1)
# The bot posts the close note with the transcript file at once; the outbox sends the note without the
# file only if the bot has not done so within this time (it stopped right after the close).
LOG_NOTE_GRACE = timedelta(seconds=60)



def new_code() -> str:
    """6 random lowercase letters/digits (the channel is ticket-<code>)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


# --- opening --------------------------------------------------------------------------------------
def _next_number(guild) -> int:
    TicketCounter.objects.get_or_create(guild=guild)
    # The UPDATE takes the counter's row lock: openings in one guild queue here, and the slot check
    # below sees every ticket committed before us.
    TicketCounter.objects.filter(pk=guild.pk).update(last_number=F("last_number") + 1)
    return TicketCounter.objects.values_list("last_number", flat=True).get(pk=guild.pk)


def _at_limit(guild, category, opener_id: int) -> AtLimit:
    held = Ticket.objects.filter(guild=guild, category=category, opener_id=opener_id,
                                 status__in=OPEN_STATUSES).order_by("created_at").first()
    where = f"<#{held.channel_id}>" if held and held.channel_id else (f"ticket-{held.code}" if held else "?")
    return AtLimit(channel=where)


@transaction.atomic
def ticket_open(*, guild_id: int, category_id: int, opener_id: int, panel_id: int | None = None) -> TicketView:
    """Reserve a ticket (status pending) for the member, or refuse at their limit naming their open ticket."""
    config = config_row(guild_id)
    category = TicketCategory.objects.filter(pk=category_id, guild=config.guild, active=True).first()
    if category is None:
        raise UnknownCategory()
    if panel_id is not None:
        panel = TicketPanel.objects.filter(pk=panel_id, guild=config.guild).first()
        if panel is None:
            raise UnknownPanel()
        if panel.categories.exists() and not panel.categories.filter(pk=category.pk).exists():
            raise UnknownCategory()
    limit = category.max_open_per_member or config.tickets_max_open_per_member
    number = _next_number(config.guild)  # from here on, openings in this guild queue behind us
    now = timezone.now()
    recent = list(Ticket.objects.filter(guild=config.guild, opener_id=opener_id, created_at__gte=now - OPEN_WINDOW)
                  .order_by("created_at").values_list("created_at", flat=True))
    if len(recent) >= settings.TICKETS_OPENS_PER_HOUR:
        wait = recent[0] + OPEN_WINDOW - now
        raise TooManyOpens(count=len(recent), minutes=max(1, int(wait.total_seconds() // 60) + 1))
    taken = set(Ticket.objects.filter(guild=config.guild, category=category, opener_id=opener_id,
                                      status__in=OPEN_STATUSES).values_list("slot", flat=True))
    free = [slot for slot in range(1, limit + 1) if slot not in taken]
    if not free:
        raise _at_limit(config.guild, category, opener_id)
    code = new_code()
    while Ticket.objects.filter(guild=config.guild, code=code).exists():
        code = new_code()
    try:
        with transaction.atomic():
            ticket = Ticket.objects.create(
                guild=config.guild, number=number, code=code, category=category, category_name=category.name,
                opener_id=opener_id, slot=free[0], member_ids=[opener_id])
    except IntegrityError:
        # The database decided: a simultaneous click took the slot.
        raise _at_limit(config.guild, category, opener_id) from None
    return TicketView.of(ticket)


def _locked(guild_id: int, ticket_id: int) -> Ticket:
    ticket = (Ticket.objects.select_for_update(of=("self",)).select_related("guild__config", "category")
              .filter(pk=ticket_id, guild__discord_id=guild_id).first())
    if ticket is None:
        raise NotATicket()
    return ticket


@transaction.atomic
def ticket_channel_created(*, guild_id: int, ticket_id: int, channel_id: int) -> TicketView:
    """Record the ticket's channel: the ticket is open."""
    ticket = _locked(guild_id, ticket_id)
    if ticket.status != Ticket.Status.PENDING:
        raise TicketClosed()
    ticket.channel_id, ticket.status, ticket.opened_at = channel_id, Ticket.Status.OPEN, timezone.now()
    ticket.save(update_fields=["channel_id", "status", "opened_at"])
    return TicketView.of(ticket)


@transaction.atomic
def ticket_welcome_sent(*, ticket_id: int, message_id: int) -> None:
    """Remember the welcome message."""
    Ticket.objects.filter(pk=ticket_id).update(welcome_message_id=message_id)


@transaction.atomic
def ticket_fail(*, ticket_id: int, error: str) -> None:
    """The channel could not be created: the ticket is marked failed and frees the member's slot."""
    Ticket.objects.filter(pk=ticket_id, status=Ticket.Status.PENDING).update(
        status=Ticket.Status.FAILED, failure=error[:300])


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
    awarded = _award_helpers(ticket, config) if resolved else []
    message_count = TranscriptMessage.objects.filter(ticket=ticket).count()
    # Rendered and stored after this transaction commits, in its own (never while the close holds its locks).
    transaction.on_commit(lambda: transcript_store_after_close(ticket.pk))
    delay = config.tickets_delete_delay_seconds
    delete_at = now + timedelta(seconds=delay)
    if ticket.channel_id:
        outbox.enqueue_channel_delete(guild=ticket.guild, channel_id=ticket.channel_id, at=delete_at,
                                      reason=f"ticket #{ticket.number} closed", dedupe_key=f"ticket:{ticket.pk}:delete")
    log_id, text = None, ""
    with translation.override(config.language):
        text = gettext("🎫 Ticket #%(number)s (%(category)s) of <@%(opener)s> closed by %(actor)s: %(path)s.") % {
            "number": ticket.number, "category": ticket.category_name, "opener": ticket.opener_id,
            "actor": f"<@{actor_id}>" if actor_id else admin_closer_text(admin_user, markdown=True),
            "path": ticket.get_close_path_display()}
        if reason:
            text += " " + gettext("Reason: %(reason)s") % {"reason": reason}
        if awarded:
            text += " " + gettext("Helper points: %(list)s.") % {
                "list": ", ".join(f"<@{user}> +{points}" for user, points in awarded)}
        text += " " + gettext("%(count)s messages in the transcript.") % {"count": message_count}
    if config.log_channel_id:
        log_id = outbox.enqueue_log(guild=ticket.guild, channel_id=config.log_channel_id, content=text,
                                    dedupe_key=f"ticket:{ticket.pk}:closed")
        # The bot posts the note itself right after this commits (with the transcript, and this row's nonce): that
        # post is the row's first attempt, so the outbox looks for it before sending the row after a kill.
        OutboxMessage.objects.filter(pk=log_id).update(available_at=now + LOG_NOTE_GRACE, attempts=1)
    return CloseResult(TicketView.of(ticket), path, actor_id, delete_at, delay, tuple(awarded),
                       config.log_channel_id, log_id, text, reason)


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
