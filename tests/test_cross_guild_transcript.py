"""Issue 13, point 2 (bot side, across a start): a ticket bound to another guild's channel archives nothing of it.

Its own module: it starts its own bot on its own emulator (test_cross_guild.py shares one bot per module).
"""

import pytest

from botproject import services as core
from botproject.models import Guild
from tests.conftest import eventually, start_runner, stop_runner
from tickets.models import Ticket, TranscriptMessage


def _guild(world) -> Guild:
    return Guild.objects.get(discord_id=world.guild_id)


@pytest.mark.django_db(transaction=True)
def test_a_ticket_bound_to_another_guilds_channel_never_archives_that_guilds_messages(own_emulator):
    harness, a = own_emulator, own_emulator.world
    b = harness.build_guild("Other Guild")
    theirs = harness.add_channel(b.guild_id, "b-private").id
    core.guild_ensure(guild_id=a.guild_id, name="Own Guild")
    # An old ticket of guild A that names guild B's channel (loaded before the bot ever saw that channel).
    bound = Ticket.objects.create(guild=_guild(a), number=1, code="old1", opener_id=a.member, status="open",
                                  channel_id=theirs, legacy_id="old1")
    own = Ticket.objects.create(guild=_guild(a), number=2, code="old2", opener_id=a.member, status="open",
                                channel_id=a.general, legacy_id="old2")
    runner = start_runner(harness)
    try:
        harness.user_message(theirs, b.member, "B's secret")
        harness.user_message(a.general, a.member, "A's own words")
        eventually(lambda: TranscriptMessage.objects.filter(ticket=own).exists())
    finally:
        stop_runner(harness, runner)
    assert list(TranscriptMessage.objects.values_list("ticket_id", "content")) == [(own.pk, "A's own words")]
    assert not TranscriptMessage.objects.filter(ticket=bound).exists()
