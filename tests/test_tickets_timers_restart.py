"""Ticket timers across restarts (#16.2, #16.3): the bot stops in the middle of a reminder, auto-close and
close-request wait; the rows stay in the database, the test moves time (the rows' due times), and the next bot
carries them out once. (Its own module: it starts and stops its own bots.)"""

from datetime import timedelta

import pytest
from django.db.models import F

from botproject import services as core
from tests.conftest import eventually, start_runner, stop_runner
from tickets import services
from tickets.models import Ticket, TicketCategory, TicketCloseRequest, TicketDeadline, TicketQuestion


def _advance(**delta):
    TicketDeadline.objects.filter(done_at__isnull=True).update(due_at=F("due_at") - timedelta(**delta))


def _reminders(harness, channel_id):
    return [m for m in harness.messages(channel_id) if m.embeds and m.embeds[0]["title"] == "⏰ Still there?"]


@pytest.mark.django_db(transaction=True)
def test_reminder_auto_close_and_close_request_survive_restarts(own_emulator, settings):
    settings.OUTBOX_SWEEP_SECONDS = 0.2
    harness, world = own_emulator, own_emulator.world
    gid = world.guild_id
    core.config_set_role(guild_id=gid, kind="staff", role_id=world.staff_role)
    core.config_update(guild_id=gid, changes={"tickets_delete_delay_seconds": 1})
    category_id = services.category_create(guild_id=gid, name="General Support")
    TicketCategory.objects.filter(pk=category_id).update(rating_wait=timedelta(0), transcript_dm=False)
    runner = start_runner(harness)
    try:
        harness.slash(gid, world.admin, "ticket panel")
        panel = [m for m in harness.messages(world.general) if m.components][-1]
        harness.click(gid, world.member, panel, f"ticket:open:{category_id}", timeout=10)
        harness.click(gid, world.granted, panel, f"ticket:open:{category_id}", timeout=10)
        waiting, asked = Ticket.objects.get(opener_id=world.member), Ticket.objects.get(opener_id=world.granted)
        harness.user_message(waiting.channel_id, world.staff, "please send a screenshot")
        eventually(lambda: TicketDeadline.objects.filter(ticket=waiting, kind="autoclose", done_at=None).exists())
        harness.slash(gid, world.staff, "ticket closerequest", hours=48, channel_id=asked.channel_id)
    finally:
        stop_runner(harness, runner)
    _advance(hours=12)  # the reminder falls due while no bot runs
    runner = start_runner(harness)
    try:
        harness.wait_for(lambda: len(_reminders(harness, waiting.channel_id)) == 1, timeout=10)
        eventually(lambda: TicketDeadline.objects.get(ticket=waiting, kind="remind").outcome == "fired")
    finally:
        stop_runner(harness, runner)
    assert Ticket.objects.get(pk=waiting.pk).status == "open"
    _advance(hours=48)  # the auto-close and the close request fall due while no bot runs
    runner = start_runner(harness)
    try:
        eventually(lambda: set(Ticket.objects.values_list("status", flat=True)) == {"closed"}, timeout=15)
        harness.wait_for(lambda: harness.channel(waiting.channel_id) is None
                         and harness.channel(asked.channel_id) is None, timeout=10)
    finally:
        stop_runner(harness, runner)
    assert set(Ticket.objects.values_list("close_path", flat=True)) == {"auto"}
    assert TicketCloseRequest.objects.get().outcome == "expired"
    assert len(_reminders(harness, waiting.channel_id)) == 1  # fired once, across the restarts
    assert not TicketDeadline.objects.filter(done_at__isnull=True, kind__in=["remind", "autoclose", "closereq",
                                                                           "alert"]).exists()


@pytest.mark.django_db(transaction=True)
def test_an_intake_form_shown_before_a_restart_opens_the_ticket_after_it(own_emulator):
    harness, world = own_emulator, own_emulator.world
    gid = world.guild_id
    category_id = services.category_create(guild_id=gid, name="Forms")
    TicketQuestion.objects.create(category_id=category_id, position=1, label="What broke?")
    runner = start_runner(harness)
    try:
        harness.slash(gid, world.admin, "ticket panel")
        panel = [m for m in harness.messages(world.general) if m.components][-1]
        shown = harness.click(gid, world.member, panel, f"ticket:open:{category_id}")
        assert shown.modal["custom_id"] == f"ticket:form:{category_id}"
    finally:
        stop_runner(harness, runner)
    runner = start_runner(harness)
    try:
        done = harness.submit_modal(gid, world.member, shown, values={"q1": "the lift"}, timeout=10)
    finally:
        stop_runner(harness, runner)
    ticket = Ticket.objects.get()
    assert done.content == f"Your ticket is ready: <#{ticket.channel_id}>"
    assert list(ticket.answers.values_list("label", "value")) == [("What broke?", "the lift")]


@pytest.mark.django_db(transaction=True)
def test_an_opener_who_left_while_no_bot_ran_has_their_ticket_closed_at_the_start(own_emulator):
    harness, world = own_emulator, own_emulator.world
    gid = world.guild_id
    category_id = services.category_create(guild_id=gid, name="Leavers")
    leaver = harness.member_join(gid, username="leaver").user_id
    runner = start_runner(harness)
    try:
        harness.slash(gid, world.admin, "ticket panel")
        panel = [m for m in harness.messages(world.general) if m.components][-1]
        harness.click(gid, leaver, panel, f"ticket:open:{category_id}", timeout=10)
        harness.click(gid, world.member, panel, f"ticket:open:{category_id}", timeout=10)
    finally:
        stop_runner(harness, runner)
    harness.member_leave(gid, leaver)  # nobody hears it
    assert set(Ticket.objects.values_list("status", flat=True)) == {"open"}
    runner = start_runner(harness)
    try:
        eventually(lambda: Ticket.objects.get(opener_id=leaver).status == "closed", timeout=15)
    finally:
        stop_runner(harness, runner)
    assert Ticket.objects.get(opener_id=leaver).close_path == "opener_left"
    assert Ticket.objects.get(opener_id=world.member).status == "open"
