"""Issue 13.8: the bot pings nobody by default; the sends that must ping name exactly whom; member-written text
(reasons) never pings, also when the outbox delivers it later. The emulator computes whom each message pings
from its content and allowed_mentions the way Discord does (role mentionable, Mention Everyone)."""

import pytest
from django.utils import timezone

from botproject import outbox
from botproject.models import OutboxMessage
from botproject.sandbox.emulator import permissions as P
from tests.test_tickets_e2e import _open
from tickets.models import Ticket

NOBODY = {"users": [], "roles": [], "everyone": False}


@pytest.fixture
def pingable(tickets_bot):
    """Everything that could be pinged is pingable: the bot may Mention Everyone and the staff role is mentionable,
    so only allowed_mentions stands between a hostile reason and a ping."""
    world, emu = tickets_bot.world, tickets_bot.emulator
    emu.set_role(world.guild_id, world.bot_role, permissions=P.BOT_DEFAULT | P.MENTION_EVERYONE)
    emu.set_role(world.guild_id, world.staff_role, mentionable=True)
    yield tickets_bot
    emu.set_role(world.guild_id, world.bot_role, permissions=P.BOT_DEFAULT)
    emu.set_role(world.guild_id, world.staff_role, mentionable=False)


def _hostile(world) -> str:
    return f"@everyone <@&{world.staff_role}> <@{world.helper}> @here"


def test_the_emulator_computes_pings_like_discord(tickets_bot):
    world, emu = tickets_bot.world, tickets_bot.emulator
    text = f"@everyone <@&{world.staff_role}> <@{world.helper}>"
    # A member without Mention Everyone: users ping, a non-mentionable role and @everyone do not.
    assert emu.user_message(world.general, world.member, text).pings == {
        "users": [world.helper], "roles": [], "everyone": False}
    # The owner may mention everyone and every role.
    assert emu.user_message(world.general, world.owner, text).pings == {
        "users": [world.helper], "roles": [world.staff_role], "everyone": True}


def test_the_bot_pings_nobody_by_default(tickets_bot):
    assert tickets_bot.bot.allowed_mentions.to_dict() == {"parse": []}


def test_need_help_pings_exactly_the_staff_role_and_the_welcome_exactly_the_opener(pingable):
    bot, world, emu = pingable, pingable.world, pingable.emulator
    _open(bot)
    ticket = Ticket.objects.get()
    welcome = emu.messages(ticket.channel_id)[0]
    assert welcome.content == f"<@{world.member}>"
    assert welcome.pings == {"users": [world.member], "roles": [], "everyone": False}
    rec = bot.click("member", welcome, f"ticket:help:{ticket.pk}")
    help_message = emu.message(rec.original_id)
    assert help_message.content == f"<@&{world.staff_role}>"
    assert help_message.pings == {"users": [], "roles": [world.staff_role], "everyone": False}


def test_a_close_reason_pings_nobody_when_posted_nor_when_the_outbox_delivers_it(pingable):
    bot, world, emu = pingable, pingable.world, pingable.emulator
    _open(bot)
    ticket = Ticket.objects.get()
    reason = _hostile(world)
    # The bot's own post of the note (with the transcript) fails: the outbox row sends it.
    emu.inject("POST", rf"/channels/{world.logs}/messages", status=403,
               body={"code": 50013, "message": "Missing Permissions"})
    rec = bot.slash("member", "ticket close", reason=reason, channel_id=ticket.channel_id)
    assert rec.embeds[0]["title"] == "🔒 Ticket closed"
    assert emu.message(rec.original_id).pings == NOBODY
    row = OutboxMessage.objects.get(kind="log", content__contains="Reason:")
    assert row.status == "pending"
    OutboxMessage.objects.filter(pk=row.pk).update(available_at=timezone.now())  # the grace minute is over
    outbox.wake()
    emu.wait_for(lambda: any(reason in m.content for m in emu.messages(world.logs)), timeout=5)
    note = next(m for m in emu.messages(world.logs) if reason in m.content)
    assert f"<@{world.member}>" in note.content and note.pings == NOBODY


def test_a_block_reason_in_the_log_and_a_points_reason_in_a_dm_ping_nobody(pingable):
    bot, world, emu = pingable, pingable.world, pingable.emulator
    reason = _hostile(world)
    rec = bot.slash("staff", "block", user=world.granted, reason=reason)
    assert "granted" in rec.content or rec.content  # answered
    emu.wait_for(lambda: any(reason in m.content for m in emu.messages(world.logs)), timeout=5)
    note = next(m for m in emu.messages(world.logs) if reason in m.content)
    assert note.pings == NOBODY

    bot.slash("admin", "points add", member=world.member, amount=5, reason=reason)
    emu.wait_for(lambda: any(reason in m.content for m in emu.dms(world.member)), timeout=5)
    dm = next(m for m in emu.dms(world.member) if reason in m.content)
    assert dm.pings == NOBODY
