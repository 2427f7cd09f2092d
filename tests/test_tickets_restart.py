"""Tickets across restarts: buttons of a ticket opened before a restart work after it, and a channel delete
scheduled before a restart happens after it. (Its own module: no shared bot sweeps the outbox meanwhile.)"""

from datetime import timedelta

import pytest

from botproject import services as core
from tests.conftest import start_runner, stop_runner
from tickets import services
from tickets.models import Ticket, TicketCategory


@pytest.mark.django_db(transaction=True)
def test_buttons_and_a_scheduled_delete_survive_a_restart(own_emulator, settings):
    settings.OUTBOX_SWEEP_SECONDS = 0.2
    harness, world = own_emulator, own_emulator.world
    gid = world.guild_id
    core.config_set_role(guild_id=gid, kind="staff", role_id=world.staff_role)
    core.config_update(guild_id=gid, changes={"tickets_delete_delay_seconds": 2})
    category_id = services.category_create(guild_id=gid, name="General Support")
    TicketCategory.objects.filter(pk=category_id).update(rating_wait=timedelta(0))  # no wait for a rating here
    runner = start_runner(harness)
    try:
        harness.slash(gid, world.admin, "ticket panel")
        panel = [m for m in harness.messages(world.general) if m.components][-1]
        harness.click(gid, world.member, panel, f"ticket:open:{category_id}", timeout=10)
        harness.click(gid, world.member, panel, f"ticket:open:{category_id}", timeout=10)
    finally:
        stop_runner(harness, runner)
    first = Ticket.objects.get()
    runner = start_runner(harness)
    try:
        welcome = harness.messages(first.channel_id)[0]
        rec = harness.click(gid, world.staff, welcome, f"ticket:close:{first.pk}")
        assert rec.embeds[0]["title"] == "🔒 Ticket closed"
    finally:
        stop_runner(harness, runner)  # the delete is due in 2 s: it happens after the restart
    assert harness.channel(first.channel_id) is not None
    runner = start_runner(harness)
    try:
        harness.wait_for(lambda: harness.emu.channel(first.channel_id) is None, timeout=10)
    finally:
        stop_runner(harness, runner)
