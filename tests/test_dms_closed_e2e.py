"""Issue 13.6: a member whose DMs were found closed is not tried again for a day (end to end, real client and
emulator): the notices go to the log channel without opening a DM; after the day the bot tries again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from botproject import services as core
from botproject.models import DiscordUser, OutboxMessage
from points import services as points
from tests.conftest import eventually, start_runner, stop_runner

NOTE = "📪 Could not DM <@{user}> (their DMs are closed). The message was: "


def _award(world, key: str):
    points.points_award(guild_id=world.guild_id, user_id=world.member, amount=5, reason="thanks", idempotency_key=key)


def _dm_attempts(harness, user_id: int) -> int:
    """Requests that open a DM channel with, or post a message to, the member."""
    dm_channel = harness.emu.dm_channels.get(user_id)
    opened = len(harness.requests_to("POST", r"^/users/@me/channels$"))
    posted = len(harness.requests_to("POST", rf"^/channels/{dm_channel}/messages$")) if dm_channel else 0
    return opened + posted


def _notes(harness, world) -> int:
    note = NOTE.format(user=world.member)
    return sum(m.content.startswith(note) for m in harness.emu.messages(world.logs))


def _rerouted(count: int) -> bool:
    return OutboxMessage.objects.filter(kind="dm", status="rerouted").count() == count


@pytest.mark.django_db(transaction=True)
def test_closed_dms_are_not_tried_again_for_a_day_then_tried_again(own_emulator):
    harness, world = own_emulator, own_emulator.world
    core.config_set_channel(guild_id=world.guild_id, kind="log", channel_id=world.logs, channel_type="text")
    harness.set_dms_closed(world.member, True)
    runner = start_runner(harness)
    try:
        # 1. The first notice tries the DM, which fails (closed): marked, and the notice goes to the log channel.
        _award(world, "first")
        harness.wait_for(lambda: _notes(harness, world) == 1)
        eventually(lambda: _rerouted(1))
        tried = _dm_attempts(harness, world.member)
        assert tried >= 1
        marked = DiscordUser.objects.get(user_id=world.member).dms_closed_at
        assert marked is not None

        # 2. Within the day: no DM is attempted at all; the notice goes straight to the log channel.
        _award(world, "second")
        harness.wait_for(lambda: _notes(harness, world) == 2)
        eventually(lambda: _rerouted(2))
        assert _dm_attempts(harness, world.member) == tried
        assert DiscordUser.objects.get(user_id=world.member).dms_closed_at == marked  # the day is not extended

        # 3. A day later (the mark moved back 25 h, not a wait) the bot tries the DM again; still closed: the
        #    mark is refreshed and the notice rerouted.
        DiscordUser.objects.filter(user_id=world.member).update(dms_closed_at=timezone.now() - timedelta(hours=25))
        _award(world, "third")
        harness.wait_for(lambda: _notes(harness, world) == 3)
        eventually(lambda: _rerouted(3))
        assert _dm_attempts(harness, world.member) > tried
        assert DiscordUser.objects.get(user_id=world.member).dms_closed_at > timezone.now() - timedelta(minutes=1)

        # 4. They opened their DMs; after the day the next notice reaches them and the mark is cleared.
        harness.set_dms_closed(world.member, False)
        DiscordUser.objects.filter(user_id=world.member).update(dms_closed_at=timezone.now() - timedelta(hours=25))
        _award(world, "fourth")
        harness.wait_for(lambda: len(harness.emu.dms(world.member)) == 1)
        eventually(lambda: DiscordUser.objects.get(user_id=world.member).dms_closed_at is None)
    finally:
        stop_runner(harness, runner)
    assert _notes(harness, world) == 3
    assert OutboxMessage.objects.filter(kind="dm", status="sent").count() == 1
