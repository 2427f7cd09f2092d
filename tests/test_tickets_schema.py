"""The second wave's invariants are the database's own: each constraint refuses the row that breaks it."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from botproject import services as core
from tickets import services
from tickets.models import (
    Ticket,
    TicketCategory,
    TicketCloseRequest,
    TicketDeadline,
    TicketQuestion,
    TicketRating,
)

GUILD = 701


@pytest.fixture
def category(db):
    core.config_update(guild_id=GUILD, changes={"log_channel_id": 7099})
    return TicketCategory.objects.get(pk=services.category_create(guild_id=GUILD, name="Bugs"))


@pytest.fixture
def ticket(category):
    view = services.ticket_open(guild_id=GUILD, category_id=category.pk, opener_id=11)
    return Ticket.objects.get(pk=view.id)


def _refused(**kwargs):
    model = kwargs.pop("model")
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(**kwargs)


def test_category_defaults_match_the_contract(category):
    assert (category.remind_after, category.autoclose_after, category.alert_after, category.reopen_window) == (
        timedelta(hours=12), timedelta(hours=24), timedelta(minutes=30), timedelta(hours=24))
    assert (category.transcript_dm, category.rating_bonus, category.opens_per_hour, category.outside_hours) == (
        True, 0, 3, "refuse")
    assert category.required_role_ids == [] and category.hours_start is None and category.time_zone == "UTC"


def test_category_constraints(category):
    rows = TicketCategory.objects.filter(pk=category.pk)
    for change in ({"remind_after": timedelta(0)}, {"autoclose_after": -timedelta(seconds=1)},
                   {"opens_per_hour": 0}, {"outside_hours": "maybe"},
                   {"hours_start": timezone.now().time()}):
        with pytest.raises(IntegrityError), transaction.atomic():
            rows.update(**change)
    # No upper bound on a timer: a year is a valid duration.
    rows.update(remind_after=timedelta(days=400))
    assert TicketCategory.objects.get(pk=category.pk).remind_after == timedelta(days=400)


def test_at_most_five_questions_per_category(category):
    for position in range(1, 6):
        TicketQuestion.objects.create(category=category, position=position, label=f"Q{position}")
    _refused(model=TicketQuestion, category=category, position=6, label="sixth")
    _refused(model=TicketQuestion, category=category, position=3, label="again")
    assert TicketQuestion.objects.filter(category=category).count() == 5


def test_one_rating_per_ticket_and_stars_in_range(ticket):
    _refused(model=TicketRating, ticket=ticket, stars=6)
    _refused(model=TicketRating, ticket=ticket, stars=0)
    TicketRating.objects.create(ticket=ticket, stars=4)
    _refused(model=TicketRating, ticket=ticket, stars=5)
    assert TicketRating.objects.get(ticket=ticket).stars == 4


def test_one_pending_deadline_per_ticket_and_kind(ticket):
    due = timezone.now()
    first = TicketDeadline.objects.create(ticket=ticket, kind="remind", due_at=due)
    _refused(model=TicketDeadline, ticket=ticket, kind="remind", due_at=due)
    _refused(model=TicketDeadline, ticket=ticket, kind="alert", due_at=due, done_at=due)  # done needs an outcome
    TicketDeadline.objects.filter(pk=first.pk).update(done_at=due, outcome="fired")
    TicketDeadline.objects.create(ticket=ticket, kind="remind", due_at=due)  # a new timer once the first is done
    assert TicketDeadline.objects.filter(ticket=ticket, kind="remind").count() == 2


def test_one_pending_close_request_per_ticket(ticket):
    due = timezone.now() + timedelta(hours=1)
    TicketCloseRequest.objects.create(ticket=ticket, requested_by_id=12, hours=1, due_at=due)
    _refused(model=TicketCloseRequest, ticket=ticket, requested_by_id=13, hours=1, due_at=due)
    _refused(model=TicketCloseRequest, ticket=ticket, requested_by_id=13, hours=0, due_at=due, outcome="denied",
             answered_at=due)
    _refused(model=TicketCloseRequest, ticket=ticket, requested_by_id=13, hours=1, due_at=due, outcome="denied")
