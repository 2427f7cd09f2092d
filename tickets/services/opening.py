"""Opening a ticket: a reserved row (status pending) before the channel exists, with the intake answers.

The database decides whether the member may open one (the open-slot unique constraint), so simultaneous clicks
make one ticket. Gating (required roles, support hours, opens per hour: `tickets.gating`) is checked again here,
in the opening's transaction, after the guild's openings queue on the counter row. The bot then records the
channel (open) or marks the ticket failed (no orphan either way).
"""

from __future__ import annotations

import dataclasses
import secrets
import string
from collections.abc import Collection, Sequence
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from botproject.services import config_row

from .. import gating
from ..exceptions import AnswerMissing, AnswerTooLong, AtLimit, FormChanged, NotATicket, TicketClosed, TooManyOpens
from ..models import (
    OPEN_STATUSES,
    Ticket,
    TicketAnswer,
    TicketClose,
    TicketCounter,
    TicketDeadline,
    TicketQuestion,
)
from ..selectors import TicketView, category_for_opening, recent_opens

CODE_ALPHABET = string.ascii_lowercase + string.digits
OPEN_WINDOW = timedelta(hours=1)


def new_code() -> str:
    """6 random lowercase letters/digits (the channel is ticket-<code>)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


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


def _checked_answers(category, answers: Sequence[tuple[int, str]] | None) -> list[tuple[TicketQuestion, str]]:
    """The answers matched to the category's questions now: each required one given, none too long."""
    questions = list(TicketQuestion.objects.filter(category=category).order_by("position"))
    if answers is None:
        if questions:
            raise FormChanged()
        return []
    given = {int(position): value.strip() for position, value in answers}
    if set(given) != {q.position for q in questions}:
        raise FormChanged()
    checked = []
    for question in questions:
        value = given[question.position]
        if question.required and not value:
            raise AnswerMissing(question=question.label)
        if len(value) > question.max_length:
            raise AnswerTooLong(question=question.label, length=len(value), limit=question.max_length)
        checked.append((question, value))
    return checked


@transaction.atomic
def ticket_open(*, guild_id: int, category_id: int, opener_id: int, panel_id: int | None = None,
                role_ids: Collection[int] | None = None,
                answers: Sequence[tuple[int, str]] | None = None) -> TicketView:
    """Reserve a ticket (status pending) for the member with their intake answers, or refuse: gating (roles,
    support hours, opens per hour), the server's opens per hour, or their limit (naming their open ticket).

    `answers`: (question position, text) for every question of the category's form (None: no form was shown).
    """
    config = config_row(guild_id)
    category = category_for_opening(guild=config.guild, category_id=category_id, panel_id=panel_id)
    checked = _checked_answers(category, answers)
    limit = category.max_open_per_member or config.tickets_max_open_per_member
    number = _next_number(config.guild)  # from here on, openings in this guild queue behind us
    now = timezone.now()
    outside = gating.check(category, role_ids=role_ids, recent_opens=recent_opens(category=category,
                                                                                  opener_id=opener_id), now=now)
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
                opener_id=opener_id, slot=free[0], member_ids=[opener_id], opened_outside_hours=outside)
    except IntegrityError:
        # The database decided: a simultaneous click took the slot.
        raise _at_limit(config.guild, category, opener_id) from None
    TicketAnswer.objects.bulk_create([TicketAnswer(ticket=ticket, position=q.position, label=q.label, value=value)
                                      for q, value in checked])
    return dataclasses.replace(TicketView.of(ticket), answers=tuple((q.label, value) for q, value in checked))


def locked_ticket(guild_id: int, ticket_id: int) -> Ticket:
    ticket = (Ticket.objects.select_for_update(of=("self",)).select_related("guild__config", "category")
              .filter(pk=ticket_id, guild__discord_id=guild_id).first())
    if ticket is None:
        raise NotATicket()
    return ticket


@transaction.atomic
def ticket_channel_created(*, guild_id: int, ticket_id: int, channel_id: int) -> TicketView:
    """Record the ticket's channel: the ticket is open, and its first-response alert is armed."""
    ticket = locked_ticket(guild_id, ticket_id)
    if ticket.status != Ticket.Status.PENDING:
        raise TicketClosed()
    now = timezone.now()
    ticket.channel_id, ticket.status, ticket.opened_at = channel_id, Ticket.Status.OPEN, now
    ticket.save(update_fields=["channel_id", "status", "opened_at"])
    if ticket.category_id and ticket.first_response_at is None:
        TicketDeadline.objects.update_or_create(
            ticket=ticket, kind=TicketDeadline.Kind.ALERT, done_at=None,
            defaults={"due_at": now + ticket.category.alert_after, "lease_until": None})
    return TicketView.of(ticket)


@transaction.atomic
def ticket_welcome_sent(*, ticket_id: int, message_id: int) -> None:
    """Remember the welcome message."""
    Ticket.objects.filter(pk=ticket_id).update(welcome_message_id=message_id)


@transaction.atomic
def ticket_fail(*, ticket_id: int, error: str) -> None:
    """The channel could not be created: the ticket is marked failed and frees the member's slot (a reopened
    ticket is closed again as it was instead: `ticket_reopen_failed`)."""
    if Ticket.objects.filter(pk=ticket_id, status=Ticket.Status.PENDING, reopen_count__gt=0).exists():
        ticket_reopen_failed(ticket_id=ticket_id, error=error)
        return
    Ticket.objects.filter(pk=ticket_id, status=Ticket.Status.PENDING).update(
        status=Ticket.Status.FAILED, failure=error[:300])


@transaction.atomic
def ticket_reopen_failed(*, ticket_id: int, error: str) -> None:
    """The new channel could not be made: the ticket is closed again as it was (its last close restored)."""
    ticket = Ticket.objects.select_for_update().filter(pk=ticket_id, status=Ticket.Status.PENDING).first()
    last = TicketClose.objects.filter(ticket_id=ticket_id).order_by("-closed_at").first()
    if ticket is None or last is None:
        return
    TicketClose.objects.filter(pk=last.pk).update(reopened_at=None, reopened_by_id=None)
    Ticket.objects.filter(pk=ticket_id).update(
        status=Ticket.Status.CLOSED, closed_at=last.closed_at, closed_by_id=last.closed_by_id,
        close_path=last.close_path, close_reason=last.close_reason, failure=error[:300])
