"""Tickets that run themselves, without Discord: intake answers and gating refusals that write nothing, the timers'
fairness, and the concurrency claims proven with real threads on the real database (SQLite and PostgreSQL): a
deadline is claimed by one process, a ticket gets one rating, concurrent reopens make one reservation."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from botproject import services as core
from tickets import gating, services
from tickets.exceptions import (
    AnswerMissing,
    AnswerTooLong,
    CategoryOpensExceeded,
    FormChanged,
    MissingRole,
    OutsideSupportHours,
)
from tickets.models import (
    Ticket,
    TicketAnswer,
    TicketCategory,
    TicketDeadline,
    TicketQuestion,
    TicketRating,
)

pytestmark = pytest.mark.django_db(transaction=True)
GUILD, OPENER, STAFF, ROLE = 801, 21, 22, 8011


@pytest.fixture
def category():
    core.config_update(guild_id=GUILD, changes={"log_channel_id": 8099})
    pk = services.category_create(guild_id=GUILD, name="Bugs")
    TicketQuestion.objects.create(category_id=pk, position=1, label="Name", max_length=10)
    TicketQuestion.objects.create(category_id=pk, position=2, label="Details", required=False, max_length=100)
    return TicketCategory.objects.get(pk=pk)


def _open(category, opener=OPENER, answers=((1, "Bo"), (2, "")), channel=9001, **kw):
    view = services.ticket_open(guild_id=GUILD, category_id=category.pk, opener_id=opener, answers=list(answers), **kw)
    return services.ticket_channel_created(guild_id=GUILD, ticket_id=view.id, channel_id=channel)


def _rows():
    return (Ticket.objects.count(), TicketAnswer.objects.count(), TicketDeadline.objects.count())


def test_bad_answers_and_gating_refusals_write_nothing(category):
    before = _rows()
    for answers, error in (([(1, ""), (2, "x")], AnswerMissing), ([(1, "x" * 11), (2, "")], AnswerTooLong),
                           ([(1, "Bo")], FormChanged), (None, FormChanged)):
        with pytest.raises(error):
            services.ticket_open(guild_id=GUILD, category_id=category.pk, opener_id=OPENER, answers=answers)
    TicketCategory.objects.filter(pk=category.pk).update(required_role_ids=[ROLE])
    with pytest.raises(MissingRole) as refused:
        services.ticket_open(guild_id=GUILD, category_id=category.pk, opener_id=OPENER, answers=[(1, "Bo"), (2, "")],
                             role_ids=[1])
    assert f"<@&{ROLE}>" in refused.value.user_message()
    assert _rows() == before
    ticket = _open(category, role_ids=[ROLE])
    assert list(TicketAnswer.objects.filter(ticket_id=ticket.id).values_list("label", "value")) == [
        ("Name", "Bo"), ("Details", "")]
    assert TicketDeadline.objects.get(ticket_id=ticket.id).kind == "alert"  # armed when the channel exists


def test_gating_hours_over_midnight_and_per_hour_limit(category):
    category.hours_start, category.hours_end, category.time_zone = time(22, 0), time(6, 0), "Asia/Ho_Chi_Minh"
    at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)  # 19:00 in Ho Chi Minh City: closed until 22:00
    with pytest.raises(OutsideSupportHours) as refused:
        gating.check(category, role_ids=[], recent_opens=[], now=at)
    assert refused.value.user_message() == ("Support for this kind of ticket is open 22:00–06:00 (Asia/Ho_Chi_Minh). "
                                            "It opens again in 3 h; try again then.")
    assert gating.check(category, role_ids=[], recent_opens=[], now=at + timedelta(hours=4)) is False  # 23:00
    category.outside_hours = "warn"
    assert gating.check(category, role_ids=[], recent_opens=[], now=at) is True
    category.opens_per_hour = 2
    with pytest.raises(CategoryOpensExceeded) as refused:
        late = at + timedelta(hours=4)
        gating.check(category, role_ids=[], recent_opens=[late - timedelta(minutes=50), late - timedelta(minutes=5)],
                     now=late)
    assert "Try again in 10 min." in refused.value.user_message()


def test_timers_run_only_while_the_ticket_waits_on_the_opener(category):
    ticket = _open(category)
    now = timezone.now()
    services.transcript_message(ticket_id=ticket.id, message_id=1, author_id=OPENER, author_name="o", is_bot=False,
                                content="help", embeds=[], attachments=[], created_at=now)
    assert not TicketDeadline.objects.filter(kind__in=["remind", "autoclose"]).exists()
    services.transcript_message(ticket_id=ticket.id, message_id=2, author_id=STAFF, author_name="s", is_bot=False,
                                content="try", embeds=[], attachments=[], author_manages_guild=True, created_at=now)
    pending = dict(TicketDeadline.objects.filter(done_at__isnull=True).values_list("kind", "due_at"))
    assert pending == {"remind": now + timedelta(hours=12), "autoclose": now + timedelta(hours=36)}
    services.transcript_message(ticket_id=ticket.id, message_id=3, author_id=OPENER, author_name="o", is_bot=False,
                                content="ok", embeds=[], attachments=[], created_at=now)
    assert not TicketDeadline.objects.filter(done_at__isnull=True).exists()
    assert set(TicketDeadline.objects.values_list("kind", "outcome")) == {
        ("alert", "cancelled"), ("remind", "cancelled"), ("autoclose", "cancelled")}


def run_threads(n: int, work) -> tuple[list, list]:
    barrier, lock, results, errors = threading.Barrier(n), threading.Lock(), [], []

    def worker(i):
        try:
            barrier.wait()
            outcome = work(i)
            with lock:
                results.append(outcome)
        except Exception as error:  # noqa: BLE001 - asserted on below
            with lock:
                errors.append(error)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results, errors


def test_each_due_deadline_is_claimed_by_one_of_many_processes(category):
    past = timezone.now() - timedelta(minutes=1)
    for n in range(12):
        ticket = _open(category, opener=100 + n, channel=9100 + n)
        TicketDeadline.objects.filter(ticket_id=ticket.id).update(due_at=past)
    results, errors = run_threads(8, lambda i: [item.id for item in services.deadlines_claim(limit=5)])
    assert errors == []
    claimed = [pk for batch in results for pk in batch]
    assert len(claimed) == len(set(claimed))  # nobody took a row another took
    assert set(claimed) <= set(TicketDeadline.objects.values_list("pk", flat=True))
    assert TicketDeadline.objects.filter(lease_until__isnull=False).count() == len(claimed)
    assert all(a == 1 for a in TicketDeadline.objects.filter(pk__in=claimed).values_list("attempts", flat=True))


def test_one_rating_per_ticket_under_simultaneous_clicks(category):
    ticket = _open(category)
    services.ticket_close(guild_id=GUILD, ticket_id=ticket.id, actor_id=STAFF, is_staff=True)
    results, errors = run_threads(10, lambda i: services.rating_set(ticket_id=ticket.id, actor_id=OPENER,
                                                                    stars=1 + i % 5))
    assert errors == []
    assert TicketRating.objects.count() == 1 and sum(not r.changed for r in results) == 1
    assert TicketRating.objects.get().stars == results[-1].stars or len({r.stars for r in results}) > 1


def test_concurrent_reopens_reserve_once(category):
    ticket = _open(category)
    services.ticket_close(guild_id=GUILD, ticket_id=ticket.id, actor_id=STAFF, is_staff=True)
    results, errors = run_threads(8, lambda i: services.ticket_reopen(guild_id=GUILD, actor_id=STAFF, is_staff=True,
                                                                      number=ticket.number))
    assert len(results) == 1 and len(errors) == 7
    assert {type(e).__name__ for e in errors} == {"ReopenInProgress"}
    row = Ticket.objects.get(pk=ticket.id)
    assert (row.status, row.reopen_count, row.channel_id) == ("pending", 1, None)


def test_a_timer_firing_while_staff_close_the_ticket_closes_it_once(category):
    """The auto-close fires as staff press Close (and the opener rates): no deadlock, one close per ticket."""
    tickets = []
    for n in range(6):
        ticket = _open(category, opener=200 + n, channel=9200 + n)
        services.transcript_message(ticket_id=ticket.id, message_id=500 + n, author_id=STAFF, author_name="s",
                                    is_bot=False, content="try", embeds=[], attachments=[],
                                    author_manages_guild=True)
        TicketDeadline.objects.filter(ticket_id=ticket.id, done_at__isnull=True).update(
            due_at=timezone.now() - timedelta(days=2))
        tickets.append(ticket)
    jobs = [("fire", t) for t in tickets] + [("close", t) for t in tickets]

    def work(i):
        what, ticket = jobs[i]
        if what == "fire":
            row = TicketDeadline.objects.get(ticket_id=ticket.id, kind="autoclose")
            return services.deadline_fire(deadline_id=row.pk)
        return services.ticket_close(guild_id=GUILD, ticket_id=ticket.id, actor_id=STAFF, is_staff=True)

    results, errors = run_threads(len(jobs), work)
    assert {type(e).__name__ for e in errors} <= {"TicketClosed"}
    for ticket in tickets:
        row = Ticket.objects.get(pk=ticket.id)
        assert row.status == "closed" and row.close_path in ("auto", "staff")
        assert row.closes.count() == 1
    assert not TicketDeadline.objects.filter(kind="autoclose", done_at__isnull=True).exists()
