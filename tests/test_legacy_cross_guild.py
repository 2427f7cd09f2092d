"""Issue 13, point 2 (legacy): a legacy file cannot bind (and so later have the bot delete) another guild's channel.

convert_legacy rejects a panel or ticket whose channel the bot has seen in another guild, with a report line;
loaddata refuses a fixture row that does (the bot saw the channel after the conversion). Channels the bot has
never seen (an old ticket's deleted channel) and the guild's own are kept.
"""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from botproject.legacy import LegacyLoadError
from botproject.models import DiscordName, Guild
from tests.legacy_support import GUILD, convert, load, ticket, tickets_file, write_json
from tickets.models import Ticket, TicketPanel

OTHER = 902_345_678_901_234_567
OWN_CHANNEL, THEIR_CHANNEL, UNKNOWN_CHANNEL = (
    1_300_000_000_000_000_001, 1_300_000_000_000_000_002, 1_300_000_000_000_000_003)


def _seen(guild_id: int, channel_id: int) -> None:
    guild, _created = Guild.objects.get_or_create(discord_id=guild_id)
    DiscordName.objects.create(guild=guild, kind="channel", discord_id=channel_id, name=f"c{channel_id}",
                               channel_type="text")


def _file(tmp_path):
    return write_json(tmp_path, "tickets.json", tickets_file(
        tickets={"own": ticket("own", channel_id=OWN_CHANNEL), "theirs": ticket("theirs", channel_id=THEIR_CHANNEL),
                 "gone": ticket("gone", channel_id=UNKNOWN_CHANNEL)},
        panels=[{"message_id": 11, "channel_id": THEIR_CHANNEL}, {"message_id": 12, "channel_id": OWN_CHANNEL}]))


@pytest.mark.django_db
def test_convert_rejects_records_bound_to_another_guilds_channel(tmp_path):
    _seen(GUILD, OWN_CHANNEL)
    _seen(OTHER, THEIR_CHANNEL)
    tickets = _file(tmp_path)
    with pytest.raises(CommandError) as refused:
        convert(tmp_path, tickets=tickets)
    assert refused.value.returncode == 1
    report = convert(tmp_path, tickets=tickets, extra=("--allow-partial",)).report
    reasons = {r["path"]: r["reason"] for r in report["rejected"]}
    expected = (f"channel {THEIR_CHANNEL} is a channel of guild {OTHER}, not of guild {GUILD}: the bot never binds "
                f"or deletes another guild's channel")
    assert reasons == {"$.tickets.theirs": expected, "$.panels[0]": expected}
    files = {f["name"]: f for f in report["files"]}
    assert (files["tickets.json"]["converted"], files["tickets.json"]["rejected"]) == (3, 2)

    load(tmp_path / "legacy.json")
    assert set(Ticket.objects.values_list("code", "channel_id")) == {("own", OWN_CHANNEL), ("gone", UNKNOWN_CHANNEL)}
    assert list(TicketPanel.objects.values_list("channel_id", flat=True)) == [OWN_CHANNEL]


@pytest.mark.django_db
def test_loaddata_refuses_a_channel_seen_in_another_guild_after_the_conversion(tmp_path):
    tickets = _file(tmp_path)
    convert(tmp_path, tickets=tickets)  # nothing known yet: every record converts
    _seen(OTHER, THEIR_CHANNEL)  # the bot then saw that channel in another guild
    with pytest.raises(LegacyLoadError) as refused:
        load(tmp_path / "legacy.json")
    assert f"channel {THEIR_CHANNEL} is a channel of guild {OTHER}, not of guild {GUILD}" in str(refused.value)
    assert not Ticket.objects.exists() and not TicketPanel.objects.exists()
