"""Discord errors (#14.5): 429s (route and global), 500/502/503/504 and lost answers on every route the bot uses,
and gateway faults while interactions are in flight. Every interaction is answered exactly once, inside the 3 s
deadline; no message, DM, channel or point is made twice, and none is lost.

What discord.py does by itself (discord/http.py and discord/webhook/async_.py, 2.7): bot routes retry 429s after
`retry_after` and 500/502/504/524 after 1, 3, 5... s, but raise 503 at once; the interaction webhook routes (the
callback and followups) retry every 5xx. What is left is the bot's: the outbox retries what discord.py gave up on,
message sends carry a nonce that Discord deduplicates, and answers after a defer are idempotent edits.
"""

import asyncio

import pytest

from botproject import services as core
from botproject.bot.status import runtime
from botproject.models import OutboxMessage
from points.models import LedgerEntry
from tests.conftest import eventually

CALLBACK = r"^/interactions/\d+/[^/]+/callback$"
ORIGINAL = r"^/webhooks/\d+/[^/]+/messages/@original$"  # the answer after a "thinking" defer
_HANDLERS = ("CommandTree-invoker", "discord-ui-view-dispatch", "discord.py: interaction")


@pytest.fixture
def faults(discord_bot, settings):
    """The standard guild with a log channel and a helper role; no fault is left armed after a test."""
    settings.OUTBOX_SWEEP_SECONDS = 0.2
    world, emu = discord_bot.world, discord_bot.emulator
    core.guild_ensure(guild_id=world.guild_id, name="Test Guild")
    core.config_set_role(guild_id=world.guild_id, kind="staff", role_id=world.staff_role)
    core.config_set_role(guild_id=world.guild_id, kind="helper", role_id=world.helper_role)
    core.config_set_channel(guild_id=world.guild_id, kind="log", channel_id=world.logs, channel_type="text")
    yield discord_bot
    emu.get(lambda: (emu.emu.faults.clear(), emu.emu.holds.clear()))
    unanswered = emu.get(lambda: [r for r in emu.emu.interaction_log if not r.settled and r.type != 4])
    assert not unanswered, f"interactions left unanswered: {unanswered}"


def settle(emu) -> None:
    """Wait until the bot has finished every interaction it started (its command and component tasks ended)."""
    def idle():
        return not any(not t.done() and t.get_name().startswith(_HANDLERS) for t in asyncio.all_tasks())
    emu.wait_for(idle)


def mark(emu) -> float:
    """Now, on the emulator's clock (to look only at the requests that come after)."""
    return emu.get(emu.emu._now)


def statuses(emu, method: str, path: str, since: float) -> list[int]:
    """Statuses of the requests after `since` that match."""
    return [r.status for r in emu.requests_to(method, path) if r.t_received >= since]


def callbacks(emu, rec) -> list:
    """Every callback request of one interaction, with its status."""
    return [r.status for r in emu.requests_to("POST", rf"^/interactions/{rec.id}/[^/]+/callback$")]


def assert_answered_once(emu, rec, *, within: float = 3.0) -> None:
    """The member saw one answer: one accepted callback, inside the deadline, and no extra message."""
    assert rec.settled, rec.describe()
    assert rec.latency is not None and rec.latency < within, rec.latency
    visible = [m for m in [rec.original_message, *rec.followup_messages] if m is not None and not m.deleted]
    assert len({m.id for m in visible}) == 1, [m.content for m in visible]


# ---- interaction callbacks ------------------------------------------------------------------------------------

@pytest.mark.parametrize("status,global_", [(429, False), (429, True), (500, False), (502, False), (503, False),
                                            (504, False)])
def test_a_failing_callback_is_retried_inside_the_deadline(faults, status, global_):
    emu = faults.emulator
    emu.inject("POST", CALLBACK, status=status, retry_after=0.05, global_=global_, times=1)
    rec = faults.slash("member", "status")
    assert rec.embeds[0]["title"] == "Bot status"
    assert [s // 100 for s in callbacks(emu, rec)] == [status // 100, 2]
    assert_answered_once(emu, rec)


def test_a_lost_answer_to_a_points_award_is_neither_repeated_nor_awarded_twice(faults):
    """Discord shows the answer but the bot never hears back: the retry is refused (40060), nothing is redone."""
    emu, world = faults.emulator, faults.world
    errors = runtime.errors
    emu.inject("POST", CALLBACK, status=500, after_processing=True, times=1)
    rec = faults.slash("admin", "points add", member=world.member, amount=5, reason="lost answer")
    assert rec.content == f"Added 5 points to <@{world.member}>. New balance: 5."
    settle(emu)
    # The retry is refused (400 40060: already acknowledged), and the bot does not try to answer again.
    assert callbacks(emu, rec) == [500, 400]
    assert runtime.errors == errors
    assert_answered_once(emu, rec)
    assert list(LedgerEntry.objects.values_list("delta", flat=True)) == [5]
    emu.wait_for(lambda: len(emu.dms(world.member)) == 1)
    assert eventually(lambda: OutboxMessage.objects.filter(kind="dm", status="sent").count() == 1)


def test_a_dropped_connection_after_the_callback_is_not_answered_twice(faults):
    emu, world = faults.emulator, faults.world
    emu.inject("POST", CALLBACK, status=0, after_processing=True, times=1)
    rec = faults.slash("admin", "points add", member=world.member, amount=3, reason="reset")
    assert rec.content == f"Added 3 points to <@{world.member}>. New balance: 3."
    settle(emu)
    assert_answered_once(emu, rec)
    assert list(LedgerEntry.objects.values_list("delta", flat=True)) == [3]
    assert callbacks(emu, rec) == [0, 400]  # the edge's "something went wrong" is refused: the answer is there


# ---- followups after a defer, and role changes --------------------------------------------------------------

def _helper_role_put(world) -> str:
    return rf"^/guilds/{world.guild_id}/members/{world.member}/roles/{world.helper_role}$"


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_helper_add_survives_failing_role_and_followup_requests(faults, status):
    emu, world = faults.emulator, faults.world
    emu.set_member_roles(world.guild_id, world.member, [world.verified_role])
    start = mark(emu)
    emu.inject("PUT", _helper_role_put(world), status=429 if status == 429 else 500, retry_after=0.05, times=1)
    emu.inject("PATCH", ORIGINAL, status=status, retry_after=0.05, times=1)
    rec = faults.slash("admin", "helper add", member=world.member, timeout=10)
    assert rec.content == f"<@{world.member}> is now a helper."
    assert world.helper_role in emu.member(world.guild_id, world.member).roles
    settle(emu)
    assert_answered_once(emu, rec)
    assert [s // 100 for s in statuses(emu, "PUT", _helper_role_put(world), start)] == [4 if status == 429 else 5, 2]
    assert [s // 100 for s in statuses(emu, "PATCH", ORIGINAL, start)] == [status // 100, 2]


@pytest.mark.parametrize("status", [500, 0])
def test_a_lost_reply_to_the_answer_after_a_defer_is_not_shown_twice(faults, status):
    """The answer after a defer is an edit of the thinking message: a retry of it (or the edge's) shows nothing new."""
    emu, world = faults.emulator, faults.world
    emu.set_member_roles(world.guild_id, world.member, [world.verified_role])
    start = mark(emu)
    emu.inject("PATCH", ORIGINAL, status=status, after_processing=True, times=1)
    rec = faults.slash("admin", "helper add", member=world.member, timeout=10)
    settle(emu)
    assert rec.content == f"<@{world.member}> is now a helper."
    assert_answered_once(emu, rec)
    assert rec.followup_ids == [] and rec.edits >= 2  # edited again, never a second message
    assert statuses(emu, "POST", r"^/webhooks/", start) == []
