"""Issue 13, point 2 (bot side): nothing the bot does reaches across guilds.

A channel id stored on a row of guild A (an outbox row, a panel, the log channel) that is guild B's channel is
never posted in, edited in or deleted; the row is marked failed (or the request dropped) with a reason.
"""

import pytest
from django.db import transaction
from django.utils import timezone

from botproject import outbox
from botproject import services as core
from botproject.models import Guild, OutboxMessage
from tests.conftest import eventually
from tickets.models import TicketPanel


@pytest.fixture(scope="module")
def other_world(running_bot):
    """A second guild (B) the same bot is in."""
    world = running_bot.emulator.build_guild("Other Guild")
    running_bot.emulator.wait_for(lambda: running_bot.bot.get_guild(world.guild_id) is not None)
    return world


@pytest.fixture
def two_guilds(discord_bot, other_world):
    core.guild_ensure(guild_id=discord_bot.world.guild_id, name="Test Guild")
    core.guild_ensure(guild_id=other_world.guild_id, name="Other Guild")
    return discord_bot, other_world


def _guild(world) -> Guild:
    return Guild.objects.get(discord_id=world.guild_id)


def _enqueue(call, **kwargs) -> int:
    with transaction.atomic():
        return call(**kwargs)


def _fresh_channel(bot, world, name: str) -> int:
    """A new channel of `world` the bot has seen (the module's guilds are shared by its tests)."""
    channel = bot.emulator.add_channel(world.guild_id, name)
    bot.emulator.wait_for(lambda: bot.bot.get_channel(channel.id) is not None)
    return channel.id


def _settled(row_id: int) -> OutboxMessage:
    return eventually(lambda: OutboxMessage.objects.filter(pk=row_id).exclude(status="pending").first())


def test_a_log_note_of_guild_a_aimed_at_guild_b_is_not_posted(two_guilds):
    bot, b = two_guilds
    target = _fresh_channel(bot, b, "b-log")
    row_id = _enqueue(outbox.enqueue_log, guild=_guild(bot.world), channel_id=target, content="leak")
    own_id = _enqueue(outbox.enqueue_log, guild=_guild(bot.world), channel_id=bot.world.general, content="mine")
    row = _settled(row_id)
    assert row.status == "failed" and "not a channel of this row's server" in row.last_error
    assert _settled(own_id).status == "sent"  # the guild's own channel still works
    assert bot.emulator.messages(target) == []
    assert "mine" in [m.content for m in bot.emulator.messages(bot.world.general)]


def test_a_channel_message_of_guild_a_aimed_at_guild_b_is_not_posted(two_guilds):
    bot, b = two_guilds
    target = _fresh_channel(bot, b, "b-chat")
    row = _settled(_enqueue(outbox.enqueue_channel, guild=_guild(bot.world), channel_id=target, content="leak"))
    assert row.status == "failed"
    assert bot.emulator.messages(target) == []


def test_a_channel_delete_of_guild_a_aimed_at_guild_b_deletes_nothing(two_guilds):
    bot, b = two_guilds
    victim = _fresh_channel(bot, b, "precious")
    row = _settled(_enqueue(outbox.enqueue_channel_delete, guild=_guild(bot.world), channel_id=victim,
                            reason="ticket closed"))
    assert row.status == "failed" and str(victim) in row.last_error
    assert not bot.emulator.channel(victim).deleted
    assert bot.emulator.requests_to("DELETE", rf"/channels/{victim}$") == []


def test_a_message_edit_of_guild_a_aimed_at_guild_b_edits_nothing(two_guilds):
    bot, b = two_guilds
    # The bot's own message in guild B (posted for guild B, legitimately).
    posted = _settled(_enqueue(outbox.enqueue_channel, guild=_guild(b), channel_id=b.general, content="B's notice"))
    assert posted.status == "sent"
    row = _settled(_enqueue(outbox.enqueue_message_edit, guild=_guild(bot.world), channel_id=b.general,
                            message_id=posted.discord_message_id, content="defaced"))
    assert row.status == "failed"
    assert bot.emulator.message(posted.discord_message_id).content == "B's notice"


def test_a_panel_whose_channel_is_guild_bs_is_never_posted_there(two_guilds):
    bot, b = two_guilds
    target = _fresh_channel(bot, b, "b-announcements")
    panel = TicketPanel.objects.create(guild=_guild(bot.world), channel_id=target,
                                       repost_requested_at=timezone.now())
    eventually(lambda: not TicketPanel.objects.filter(pk=panel.pk, repost_requested_at__isnull=False).exists(),
               timeout=10)
    panel.refresh_from_db()
    assert panel.message_id is None
    assert bot.emulator.messages(target) == []

