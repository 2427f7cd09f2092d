"""Ratings: the opener rates a closed ticket 1-5 (one row per ticket, changeable for 24 hours), with an optional
comment; a category may pay its helpers a bonus for 4-5 stars through the ledger, standing only while the rating
is 4-5 stars (taken back when it is changed below)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from botproject.exceptions import DomainError
from botproject.models import OutboxMessage
from points.services import Kind as LedgerKind
from points.services import points_bonus_settle

from ..exceptions import BadStars, NotATicket, NotRateable, NotRater, RatingFinal
from ..models import Ticket, TicketClaim, TicketDeadline, TicketRating
from . import deadlines
from .lifecycle import close_key

log = logging.getLogger(__name__)
CHANGEABLE = timedelta(hours=24)
COMMENT_CHARS = 1000


@dataclass(frozen=True)
class RatingResult:
    """What the opener's click did."""

    ticket_id: int
    number: int
    stars: int
    changed: bool
    bonus: tuple[tuple[int, int], ...]  # (helper, points) the rating paid (+) or took back (-)
    language: str


def _rateable(ticket_id: int, actor_id: int) -> Ticket:
    ticket = (Ticket.objects.select_for_update(of=("self",)).select_related("guild__config", "category")
              .filter(pk=ticket_id).first())
    if ticket is None:
        raise NotATicket()
    if actor_id != ticket.opener_id:
        raise NotRater()
    if ticket.status != Ticket.Status.CLOSED:
        raise NotRateable()
    return ticket


def _settle_bonus(ticket: Ticket, stars: int) -> list[tuple[int, int]]:
    """The category's 4-5 star bonus to each claimer (never to the opener): paid when the rating reaches 4 stars,
    taken back (a reversal in the ledger) when a changed rating drops below, paid again if it comes back up.
    Returns (helper, points) for each change made."""
    amount = ticket.category.rating_bonus if ticket.category_id else 0
    config = ticket.guild.config
    if not amount or not config.points_enabled:
        return []
    changes = []
    with translation.override(config.language):
        labels = {"number": ticket.number, "category": ticket.category_name}
        reason = gettext("Rated 4-5 stars: ticket #%(number)s (%(category)s)") % labels
        withdraw = gettext("Rating of ticket #%(number)s (%(category)s) changed below 4 stars") % labels
    for user_id in TicketClaim.objects.filter(ticket=ticket).exclude(user_id=ticket.opener_id).order_by(
            "slot").values_list("user_id", flat=True):
        try:
            change = points_bonus_settle(
                guild_id=config.guild.discord_id, user_id=user_id, amount=amount, due=stars >= 4,
                key=f"ticket:{ticket.pk}:rating:{user_id}", reason=reason, withdraw_reason=withdraw,
                kind=LedgerKind.HELPER)
        except DomainError as error:  # e.g. the balance cap: the rating still counts
            log.warning("ticket %s: rating bonus for %s not settled: %s", ticket.pk, user_id, error)
            continue
        if change:
            changes.append((user_id, change))
    return changes


@transaction.atomic
def rating_set(*, ticket_id: int, actor_id: int, stars: int) -> RatingResult:
    """The opener rates their closed ticket (or changes the rating within 24 hours of giving it).

    One row per ticket (the primary key): of two simultaneous clicks one creates it, the other changes it.
    Once rated, the channel no longer waits: its delete is moved to the server's delay after the close.
    """
    if not 1 <= stars <= 5:
        raise BadStars()
    ticket = _rateable(ticket_id, actor_id)
    now = timezone.now()
    rating = TicketRating.objects.select_for_update().filter(ticket=ticket).first()
    changed = rating is not None
    if rating is None:
        try:
            with transaction.atomic():
                rating = TicketRating.objects.create(ticket=ticket, stars=stars, rated_at=now, changed_at=now)
        except IntegrityError:  # rated at the same moment (the ticket row lock makes this rare): change it
            rating, changed = TicketRating.objects.select_for_update().get(ticket=ticket), True
    if changed:
        if now - rating.rated_at > CHANGEABLE:
            raise RatingFinal()
        rating.stars, rating.changed_at = stars, now
        rating.save(update_fields=["stars", "changed_at"])
    deadlines.cancel(ticket, [TicketDeadline.Kind.RATE_PROMPT, TicketDeadline.Kind.RATE_DM])
    if ticket.closed_at is not None:
        earliest = ticket.closed_at + timedelta(seconds=ticket.guild.config.tickets_delete_delay_seconds)
        OutboxMessage.objects.filter(dedupe_key=close_key(ticket, "delete"), status=OutboxMessage.Status.PENDING,
                                     available_at__gt=max(now, earliest)).update(available_at=max(now, earliest))
    bonus = _settle_bonus(ticket, stars)
    return RatingResult(ticket.pk, ticket.number, stars, changed, tuple(bonus), ticket.guild.config.language)


@transaction.atomic
def rating_comment(*, ticket_id: int, actor_id: int, comment: str) -> int:
    """The optional comment after the stars (the opener, while the rating may be changed); returns the stars."""
    ticket = _rateable(ticket_id, actor_id)
    rating = TicketRating.objects.select_for_update().filter(ticket=ticket).first()
    if rating is None:
        raise NotRateable()
    if timezone.now() - rating.rated_at > CHANGEABLE:
        raise RatingFinal()
    rating.comment = comment.strip()[:COMMENT_CHARS]
    rating.save(update_fields=["comment"])
    return rating.stars
