"""Pads with their own emulator and bot: deadlines across a restart, and fifty hosts racing for one pad.

Kept apart from test_pads_e2e.py: discord.py's URLs are process-wide, so a module that starts its own
bots must not share the process with the module-wide bot of another emulator.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from botproject import services as core
from botproject.models import OutboxMessage
from pads.models import PadSession
from tests.conftest import start_runner, stop_runner


@pytest.mark.django_db(transaction=True)
def test_sessions_end_by_themselves_at_their_deadline_also_after_a_restart(own_emulator, settings):
    settings.PADS_SWEEP_SECONDS = 0.1
    harness, world = own_emulator, own_emulator.world
    core.grant_add(guild_id=world.guild_id, kind="user", target_id=world.granted)
    runner = start_runner(harness)
    harness.slash(world.guild_id, world.granted, "training", pad=7, starts="now")
    harness.slash(world.guild_id, world.granted, "tryout", pad=8, starts="now")
    stop_runner(harness, runner)
    # Time passes while the bot is down: both deadlines are behind us when it comes back.
    PadSession.objects.update(ends_at=timezone.now() - timedelta(seconds=1))
    runner = start_runner(harness)
    try:
        harness.wait_for(lambda: sum("time limit reached" in m.content for m in harness.emu.dms(world.granted)) == 2,
                         timeout=10)
    finally:
        stop_runner(harness, runner)
    assert set(PadSession.objects.values_list("end_reason", flat=True)) == {"timeout"}
    assert OutboxMessage.objects.filter(kind="msg_edit").count() == 2


@pytest.mark.django_db(transaction=True)
def test_fifty_hosts_racing_for_one_pad_get_one_session_and_forty_nine_clear_refusals(own_emulator):
    harness, world = own_emulator, own_emulator.world
    role = harness.add_role(world.guild_id, "Hosts", 0, position=1)
    core.grant_add(guild_id=world.guild_id, kind="role", target_id=role.id)
    hosts = [harness.member_join(world.guild_id, username=f"host{n}", roles=[role.id]).user_id for n in range(50)]
    runner = start_runner(harness)
    try:
        records = [harness.slash(world.guild_id, host, "training", pad=5, starts="now", wait=False) for host in hosts]
        for record in records:
            harness.wait(record, timeout=30)
    finally:
        stop_runner(harness, runner)
    texts = [r.content for r in records]
    winners = [t for t in texts if t.startswith("Announced in")]
    assert len(winners) == 1
    assert sum(t.startswith("Pad 5 is taken: Training by <@") for t in texts) == 49
    assert PadSession.objects.filter(pad=5, ended_at__isnull=True).count() == 1
