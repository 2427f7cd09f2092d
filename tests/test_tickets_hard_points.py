"""Issue 16's hard points, service level (fast; the Discord side is in tests/test_tickets_auto_e2e.py): staff
silence never closes a ticket; timers of any length are rows (40 days work, nothing caps them); the rating bonus
never goes to a helper who opened the ticket; a rating is one per ticket and changeable for 24 hours; every
refusal of the second wave writes nothing and says why (and when) in English and Vietnamese."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone, translation

from botproject import services as core
from botproject.exceptions import DomainError
from points.models import LedgerEntry
from tickets import services
from tickets.models import (
    Ticket,
    TicketAnswer,
    TicketCategory,
    TicketClaim,
    TicketClose,
    TicketCloseRequest,
    TicketDeadline,
    TicketRating,
)

pytestmark = pytest.mark.django_db
GUILD, OPENER, STAFF, HELPER, OTHER = 802, 31, 32, 33, 34


@pytest.fixture
def category():
    core.config_update(guild_id=GUILD, changes={"log_channel_id": 8199})
    return TicketCategory.objects.get(pk=services.category_create(guild_id=GUILD, name="Bugs", helper_slots=2))


def _open(category, opener=OPENER, channel=9301):
    view = services.ticket_open(guild_id=GUILD, category_id=category.pk, opener_id=opener)
    return services.ticket_channel_created(guild_id=GUILD, ticket_id=view.id, channel_id=channel)


def _say(ticket, author, message_id, *, staff=False, at=None):
    services.transcript_message(ticket_id=ticket.id, message_id=message_id, author_id=author, author_name="x",
                                is_bot=False, content="text", embeds=[], attachments=[],
                                author_manages_guild=staff, created_at=at or timezone.now())


def _time_passes(days: int) -> None:
    """Move every pending timer `days` into the past (as if that much time went by), then fire what is due."""
    TicketDeadline.objects.filter(done_at__isnull=True).update(due_at=F("due_at") - timedelta(days=days))
    while items := services.deadlines_claim():
        for item in items:
            fired = services.deadline_fire(deadline_id=item.id)
            if fired is not None and fired.close is None:
                services.deadline_done(deadline_id=item.id)


def test_staff_silence_never_closes_a_ticket(category):
    ticket = _open(category)
    _say(ticket, STAFF, 1, staff=True)   # staff answer: the ticket waits on the opener…
    _say(ticket, OPENER, 2)              # …until the opener answers: now it waits on staff
    _time_passes(400)
    row = Ticket.objects.get(pk=ticket.id)
    assert row.status == "open" and not row.waiting_on_opener
    assert not TicketDeadline.objects.filter(kind__in=["remind", "autoclose"], outcome="fired").exists()
    # A ticket staff never answered is never closed either (the first-response alert is all that fires).
    quiet = _open(category, opener=OTHER, channel=9302)
    _say(quiet, OTHER, 3)
    _time_passes(400)
    assert Ticket.objects.get(pk=quiet.id).status == "open"
    assert set(TicketDeadline.objects.filter(ticket_id=quiet.id).values_list("kind", "outcome")) == {
        ("alert", "fired")}


def test_a_stale_auto_close_row_does_not_close_a_ticket_that_waits_on_staff(category):
    ticket = _open(category)
    _say(ticket, STAFF, 1, staff=True)
    Ticket.objects.filter(pk=ticket.id).update(waiting_on_opener=False)  # the opener's answer, archived late
    row = TicketDeadline.objects.get(ticket_id=ticket.id, kind="autoclose")
    TicketDeadline.objects.filter(pk=row.pk).update(due_at=timezone.now() - timedelta(seconds=1))
    assert [i.id for i in services.deadlines_claim()] == [row.pk]
    assert services.deadline_fire(deadline_id=row.pk) is None
    assert Ticket.objects.get(pk=ticket.id).status == "open"
    assert TicketDeadline.objects.get(pk=row.pk).outcome == "cancelled"


def test_forty_day_timers_are_rows_and_fire_when_due(category):
    TicketCategory.objects.filter(pk=category.pk).update(remind_after=timedelta(days=40),
                                                         autoclose_after=timedelta(days=40))
    ticket = _open(category)
    at = timezone.now()
    _say(ticket, STAFF, 1, staff=True, at=at)
    pending = dict(TicketDeadline.objects.filter(done_at__isnull=True).values_list("kind", "due_at"))
    assert pending == {"remind": at + timedelta(days=40), "autoclose": at + timedelta(days=80)}
    assert services.deadlines_claim() == []  # nothing due: no process holds a timer for it meanwhile
    _time_passes(39)
    assert Ticket.objects.get(pk=ticket.id).status == "open"
    _time_passes(1)  # day 40: the reminder
    assert TicketDeadline.objects.get(ticket_id=ticket.id, kind="remind").outcome == "fired"
    assert Ticket.objects.get(pk=ticket.id).status == "open"
    _time_passes(40)  # day 80: the auto-close
    row = Ticket.objects.get(pk=ticket.id)
    assert (row.status, row.close_path) == ("closed", "auto")


def test_the_rating_bonus_never_goes_to_a_helper_who_opened_the_ticket(category):
    TicketCategory.objects.filter(pk=category.pk).update(rating_bonus=4)
    ticket = _open(category, opener=HELPER)
    services.ticket_claim(guild_id=GUILD, ticket_id=ticket.id, actor_id=STAFF, may_claim=True)
    with pytest.raises(DomainError):  # the opener cannot claim their own ticket…
        services.ticket_claim(guild_id=GUILD, ticket_id=ticket.id, actor_id=HELPER, may_claim=True)
    TicketClaim.objects.create(ticket_id=ticket.id, user_id=HELPER, slot=2)  # …an imported claim may say so
    services.ticket_close(guild_id=GUILD, ticket_id=ticket.id, actor_id=STAFF, is_staff=True)
    result = services.rating_set(ticket_id=ticket.id, actor_id=HELPER, stars=5)
    assert result.bonus == ((STAFF, 4),)
    assert not LedgerEntry.objects.filter(idempotency_key=f"ticket:{ticket.id}:rating:{HELPER}").exists()
    services.rating_set(ticket_id=ticket.id, actor_id=HELPER, stars=4)  # a change pays nobody twice
    assert LedgerEntry.objects.filter(idempotency_key__startswith=f"ticket:{ticket.id}:rating:").count() == 1


def test_one_rating_per_ticket_changeable_for_24_hours(category):
    ticket = _open(category)
    services.ticket_close(guild_id=GUILD, ticket_id=ticket.id, actor_id=STAFF, is_staff=True)
    assert not services.rating_set(ticket_id=ticket.id, actor_id=OPENER, stars=2).changed
    assert services.rating_set(ticket_id=ticket.id, actor_id=OPENER, stars=3).changed
    services.rating_comment(ticket_id=ticket.id, actor_id=OPENER, comment="  fine  ")
    TicketRating.objects.filter(ticket_id=ticket.id).update(rated_at=timezone.now() - timedelta(hours=24, seconds=1))
    for attempt in (lambda: services.rating_set(ticket_id=ticket.id, actor_id=OPENER, stars=5),
                    lambda: services.rating_comment(ticket_id=ticket.id, actor_id=OPENER, comment="changed")):
        with pytest.raises(DomainError) as refused:
            attempt()
        assert "24 hours" in refused.value.user_message()
    assert list(TicketRating.objects.values_list("ticket_id", "stars", "comment")) == [(ticket.id, 3, "fine")]


def _snapshot():
    """Every row the second wave writes, with the fields that change."""
    return (list(Ticket.objects.order_by("pk").values_list("pk", "status", "closed_at", "channel_id", "reopen_count",
                                                           "waiting_on_opener", "slot")),
            list(TicketDeadline.objects.order_by("pk").values_list("pk", "kind", "due_at", "done_at", "lease_until")),
            list(TicketCloseRequest.objects.order_by("pk").values_list("pk", "outcome", "answered_at")),
            list(TicketRating.objects.order_by("pk").values_list("pk", "stars", "comment", "changed_at")),
            list(TicketClose.objects.order_by("pk").values_list("pk", "reopened_at")),
            TicketAnswer.objects.count(), TicketClaim.objects.count(), LedgerEntry.objects.count())


def test_every_refusal_writes_nothing_and_says_why_in_english_and_vietnamese(category):
    open_ticket = _open(category)
    services.ticket_claim(guild_id=GUILD, ticket_id=open_ticket.id, actor_id=HELPER, may_claim=True)
    services.close_request_create(guild_id=GUILD, ticket_id=open_ticket.id, actor_id=STAFF, is_staff=True, hours=2)
    closed = _open(category, opener=OTHER, channel=9302)
    services.ticket_close(guild_id=GUILD, ticket_id=closed.id, actor_id=STAFF, is_staff=True)
    Ticket.objects.filter(pk=closed.id).update(created_at=timezone.now() - timedelta(hours=31),
                                               closed_at=timezone.now() - timedelta(hours=30))
    services.rating_set(ticket_id=closed.id, actor_id=OTHER, stars=4)
    TicketRating.objects.filter(ticket_id=closed.id).update(rated_at=timezone.now() - timedelta(hours=30))
    TicketCategory.objects.filter(pk=category.pk).update(opens_per_hour=1)
    refusals = {
        "close request by a member": lambda: services.close_request_create(
            guild_id=GUILD, ticket_id=open_ticket.id, actor_id=OTHER, is_staff=False),
        "close request, hours 0": lambda: services.close_request_create(
            guild_id=GUILD, ticket_id=open_ticket.id, actor_id=STAFF, is_staff=True, hours=0),
        "second close request": lambda: services.close_request_create(
            guild_id=GUILD, ticket_id=open_ticket.id, actor_id=HELPER, is_staff=False),
        "close request, closed ticket": lambda: services.close_request_create(
            guild_id=GUILD, ticket_id=closed.id, actor_id=STAFF, is_staff=True),
        "accept by staff": lambda: services.close_request_answer(
            guild_id=GUILD, ticket_id=open_ticket.id, actor_id=STAFF, accept=True),
        "accept, other guild": lambda: services.close_request_answer(
            guild_id=GUILD + 1, ticket_id=open_ticket.id, actor_id=OPENER, accept=True),
        "reopen by a stranger": lambda: services.ticket_reopen(guild_id=GUILD, actor_id=HELPER, is_staff=False,
                                                               number=closed.number),
        "reopen after the window": lambda: services.ticket_reopen(guild_id=GUILD, actor_id=OTHER, is_staff=False,
                                                                  number=closed.number),
        "reopen an open ticket": lambda: services.ticket_reopen(guild_id=GUILD, actor_id=STAFF, is_staff=True,
                                                                number=open_ticket.number),
        "reopen no such ticket": lambda: services.ticket_reopen(guild_id=GUILD, actor_id=STAFF, is_staff=True,
                                                                number=99),
        "reopen, other guild": lambda: services.ticket_reopen(guild_id=GUILD + 1, actor_id=STAFF, is_staff=True,
                                                              number=closed.number),
        "rate by staff": lambda: services.rating_set(ticket_id=closed.id, actor_id=STAFF, stars=5),
        "rate 6 stars": lambda: services.rating_set(ticket_id=closed.id, actor_id=OTHER, stars=6),
        "rate an open ticket": lambda: services.rating_set(ticket_id=open_ticket.id, actor_id=OPENER, stars=5),
        "rate after 24 h": lambda: services.rating_set(ticket_id=closed.id, actor_id=OTHER, stars=1),
        "comment after 24 h": lambda: services.rating_comment(ticket_id=closed.id, actor_id=OTHER, comment="x"),
        "comment, not rated": lambda: services.rating_comment(ticket_id=open_ticket.id, actor_id=OPENER,
                                                              comment="x"),
        "open past the hourly limit": lambda: services.ticket_open(guild_id=GUILD, category_id=category.pk,
                                                                   opener_id=OPENER),
    }
    before = _snapshot()
    for name, refusal in refusals.items():
        with pytest.raises(DomainError) as refused:
            refusal()
        english = refused.value.user_message()
        with translation.override("vi"):
            vietnamese = refused.value.user_message()
        assert english and vietnamese and english != vietnamese, name
        assert _snapshot() == before, name
    # Where it applies, the refusal says when: the reopen window and how long ago it ended, the pending request's
    # close, the hourly limit's wait, each in the member's language.
    with pytest.raises(DomainError) as refused:
        refusals["reopen after the window"]()
    assert "within 1 d of its close, and that time ended 6 h ago" in refused.value.user_message()
    with translation.override("vi"):
        assert "1 ngày" in refused.value.user_message() and "6 giờ" in refused.value.user_message()
    with pytest.raises(DomainError) as refused:
        refusals["open past the hourly limit"]()
    with translation.override("vi"):
        assert refused.value.user_message().endswith(("giờ.", "phút.")), refused.value.user_message()
