"""Pads end to end: start, refusals, /pads, ending by host, staff, button, timeout and after a restart; races."""

from datetime import timedelta

import pytest

from botproject import services as core
from botproject.sandbox.emulator import OptionRejected
from pads import services
from pads.exceptions import InvalidPad, InvalidStarts
from pads.models import PadSession


@pytest.fixture
def pads_bot(discord_bot):
    """The standard guild with a pads channel, staff role and a grant for `granted`."""
    world = discord_bot.world
    core.config_set_channel(guild_id=world.guild_id, kind="pads", channel_id=world.general, channel_type="text")
    core.config_set_role(guild_id=world.guild_id, kind="staff", role_id=world.staff_role)
    core.grant_add(guild_id=world.guild_id, kind="user", target_id=world.granted)
    core.block_add(guild_id=world.guild_id, user_id=world.blocked, reason="test")
    return discord_bot


def _announcement(bot, session: PadSession):
    return bot.emulator.message(session.message_id)


def test_a_granted_member_starts_a_training_announced_with_an_end_button(pads_bot):
    world = pads_bot.world
    rec = pads_bot.slash("granted", "training", pad=5, starts="in 10 minutes @everyone")
    assert rec.ephemeral and rec.content == f"Announced in <#{world.general}>. End it with /endsession or the button."
    session = PadSession.objects.get()
    assert (session.pad, session.kind, session.host_id, session.channel_id) == (5, "training", world.granted,
                                                                                world.general)
    assert session.starts == "in 10 minutes @\u200beveryone"  # no ping in the announcement
    assert abs((session.ends_at - session.started_at) - timedelta(minutes=120)) < timedelta(seconds=1)
    message = _announcement(pads_bot, session)
    assert message.embeds[0]["title"] == "Training on pad 5"
    assert [c["custom_id"] for row in message.components for c in row["components"]] == [f"pad:end:{session.pk}"]


def test_a_busy_pad_is_refused_naming_who_holds_it(pads_bot):
    world = pads_bot.world
    pads_bot.slash("granted", "tryout", pad=3, starts="now")
    rec = pads_bot.slash("staff", "training", pad=3, starts="later")
    assert rec.content == f"Pad 3 is taken: Tryout by <@{world.granted}>, starts now."
    assert PadSession.objects.count() == 1


def test_members_without_a_grant_and_blocked_members_are_refused(pads_bot):
    assert pads_bot.slash("member", "training", pad=1, starts="x").content == \
        "You need to be granted access to do that. Ask the server owner."
    assert pads_bot.slash("blocked", "training", pad=1, starts="x").content == \
        "You are blocked from using this in this server."
    assert pads_bot.slash("helper", "tryout", pad=1, starts="x", locale="vi").content == \
        "Bạn cần được cấp quyền để làm việc này. Hãy hỏi chủ máy chủ."
    assert not PadSession.objects.exists()


@pytest.mark.parametrize("pad", [0, 10, "five", 2.5])
def test_pads_outside_one_to_nine_are_refused_by_discord_and_by_the_service(pads_bot, pad):
    with pytest.raises(OptionRejected):
        pads_bot.slash("granted", "training", pad=pad, starts="now")
    with pytest.raises(InvalidPad):
        services.session_start(guild_id=pads_bot.world.guild_id, pad=pad, kind="training", host_id=1, starts="x")
    with pytest.raises(InvalidStarts):
        services.session_start(guild_id=pads_bot.world.guild_id, pad=1, kind="training", host_id=1, starts=" " * 5)
    assert not PadSession.objects.exists()


def test_pads_lists_all_nine(pads_bot):
    world = pads_bot.world
    pads_bot.slash("granted", "training", pad=2, starts="at 8")
    rec = pads_bot.slash("member", "pads")
    lines = rec.embeds[0]["description"].split("\n")
    assert len(lines) == 9
    assert lines[0] == "**Pad 1** · free"
    assert lines[1].startswith(f"**Pad 2** · Training by <@{world.granted}> · starts at 8 · since <t:")


def test_the_host_ends_with_endsession_and_the_announcement_is_marked_ended(pads_bot):
    world, emu = pads_bot.world, pads_bot.emulator
    pads_bot.slash("granted", "training", pad=4, starts="now")
    session = PadSession.objects.get()
    assert pads_bot.slash("member", "endsession", pad=4).content == \
        f"Only the host (<@{world.granted}>) or staff can end this session."
    rec = pads_bot.slash("granted", "endsession", pad=4)
    assert rec.content == "Pad 4 is free again."
    session.refresh_from_db()
    assert (session.end_reason, session.ended_by_id) == ("host", world.granted)
    ended = f"Pad 4: Training by <@{world.granted}> has ended (ended by the host)."
    emu.wait_for(lambda: _announcement(pads_bot, session).content == ended)
    assert _announcement(pads_bot, session).components == []
    assert pads_bot.slash("granted", "endsession", pad=4).content == "Nothing is running on pad 4."


def test_staff_end_with_the_button_and_the_host_is_told(pads_bot):
    world, emu = pads_bot.world, pads_bot.emulator
    pads_bot.slash("granted", "tryout", pad=6, starts="now")
    session = PadSession.objects.get()
    message = _announcement(pads_bot, session)
    refused = pads_bot.click("member", message, f"pad:end:{session.pk}")
    assert refused.content == f"Only the host (<@{world.granted}>) or staff can end this session."
    done = pads_bot.click("staff", message, f"pad:end:{session.pk}")
    assert done.content == "Pad 6 is free again."
    session.refresh_from_db()
    assert session.end_reason == "staff"
    emu.wait_for(lambda: any("has ended (ended by staff)" in m.content for m in emu.dms(world.granted)))
