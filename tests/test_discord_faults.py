"""Discord errors (#14.5): 429s (route and global), 500/502/503/504 and lost answers on every route the bot uses,
and gateway faults while interactions are in flight. Every interaction is answered exactly once, inside the 3 s
deadline; no message, DM, channel or point is made twice, and none is lost.

What discord.py does by itself (discord/http.py and discord/webhook/async_.py, 2.7): bot routes retry 429s after
`retry_after` and 500/502/504/524 after 1, 3, 5... s, but raise 503 at once; the interaction webhook routes (the
callback and followups) retry every 5xx. What is left is the bot's: the outbox retries what discord.py gave up on,
message sends carry a nonce that Discord deduplicates, and answers after a defer are idempotent edits.
"""

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from botproject import outbox
from botproject import services as core
from botproject.bot.status import runtime
from botproject.models import Guild, HelperRecord, OutboxMessage
from points.models import LedgerEntry
from tests.conftest import eventually
from tests.test_claim_e2e import make_order
from tickets import services as tickets
from tickets.models import Ticket

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

def test_a_failing_callback_is_retried_inside_the_deadline(faults):
    """One 429 (route or global) or 5xx on the callback: discord.py's webhook retries it (after 1 s for a 5xx)."""
    emu = faults.emulator
    for status, global_ in [(429, False), (429, True), (500, False), (502, False), (503, False), (504, False)]:
        emu.inject("POST", CALLBACK, status=status, retry_after=0.05, global_=global_, times=1)
        rec = faults.slash("member", "status")
        assert rec.embeds[0]["title"] == "Bot status"
        assert [s // 100 for s in callbacks(emu, rec)] == [status // 100, 2], status
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


def test_a_dropped_connection_after_an_answer_is_asked_again_and_found_given(faults):
    """answer() asks again when the callback got no reply at all: Discord's 40060 says the member has it."""
    emu = faults.emulator
    errors = runtime.errors
    emu.inject("POST", CALLBACK, status=0, after_processing=True)
    rec = faults.slash("staff", "helper list")
    settle(emu)
    assert rec.embeds[0]["title"] == "Helpers"
    assert callbacks(emu, rec) == [0, 400]
    assert_answered_once(emu, rec)
    assert runtime.errors == errors


@pytest.mark.parametrize("status", [500, 0])
def test_a_defer_whose_reply_was_lost_still_gets_the_work_done_and_answered(faults, status):
    """Discord showed "thinking" but the bot never heard so: the retry's 40060 means deferred, and the work goes on."""
    emu, world = faults.emulator, faults.world
    emu.set_member_roles(world.guild_id, world.member, [world.verified_role])
    emu.inject("POST", CALLBACK, status=status, after_processing=True)
    rec = faults.slash("admin", "helper add", member=world.member, timeout=10)
    settle(emu)
    assert rec.deferred and rec.content == f"<@{world.member}> is now a helper."
    assert callbacks(emu, rec) == [status, 400]
    assert_answered_once(emu, rec)
    assert world.helper_role in emu.member(world.guild_id, world.member).roles
    assert HelperRecord.objects.filter(user_id=world.member).count() == 1


def test_a_claim_whose_defer_and_answer_replies_are_lost_credits_once_and_answers_once(faults):
    emu, world = faults.emulator, faults.world
    make_order(world, "LOST-REPLY-2345", amount="9")
    emu.inject("POST", CALLBACK, status=500, after_processing=True)  # the defer
    emu.inject("PATCH", ORIGINAL, status=502, after_processing=True)  # the answer
    rec = faults.slash("member", "claim", code="LOST-REPLY-2345", timeout=10)
    settle(emu)
    assert rec.content == "Order SO-1 claimed: +9 points. Your balance: 9."
    assert_answered_once(emu, rec)
    assert rec.followup_ids == []
    assert list(LedgerEntry.objects.filter(kind="claim").values_list("delta", flat=True)) == [9]


def test_a_callback_that_got_no_reply_before_discord_had_it_is_sent_again(faults):
    """The connection drops before Discord takes the answer: asked again, the member gets it (once)."""
    emu, world = faults.emulator, faults.world
    errors = runtime.errors
    emu.inject("POST", CALLBACK, status=0)
    rec = faults.slash("admin", "points add", member=world.member, amount=8, reason="no reply")
    settle(emu)
    assert rec.content == f"Added 8 points to <@{world.member}>. New balance: 8."
    assert [s // 100 for s in callbacks(emu, rec)] == [0, 2]
    assert_answered_once(emu, rec)
    assert list(LedgerEntry.objects.values_list("delta", flat=True)) == [8]
    assert runtime.errors == errors


# ---- followups after a defer, and role changes --------------------------------------------------------------

def _helper_role_put(world) -> str:
    return rf"^/guilds/{world.guild_id}/members/{world.member}/roles/{world.helper_role}$"


@pytest.mark.parametrize("role_status,global_,status", [(500, False, 429), (429, True, 503), (429, False, 502)])
def test_helper_add_survives_failing_role_and_answer_requests(faults, role_status, global_, status):
    """The role request (a bot route) and the answer after the defer (the interaction webhook) each fail once."""
    emu, world = faults.emulator, faults.world
    emu.set_member_roles(world.guild_id, world.member, [world.verified_role])
    start = mark(emu)
    emu.inject("PUT", _helper_role_put(world), status=role_status, retry_after=0.05, global_=global_, times=1)
    emu.inject("PATCH", ORIGINAL, status=status, retry_after=0.05, times=1)
    rec = faults.slash("admin", "helper add", member=world.member, timeout=10)
    assert rec.content == f"<@{world.member}> is now a helper."
    assert world.helper_role in emu.member(world.guild_id, world.member).roles
    settle(emu)
    assert_answered_once(emu, rec)
    assert [s // 100 for s in statuses(emu, "PUT", _helper_role_put(world), start)] == [role_status // 100, 2]
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


# ---- the outbox: log notes, DMs, channel deletes and role removals -----------------------------------------------

def _note(world, text: str, channel_id: int | None = None) -> int:
    """Queue a note for the log channel (as services do) and return the outbox row's id."""
    return outbox.enqueue_log(guild=Guild.objects.get(discord_id=world.guild_id), channel_id=channel_id or world.logs,
                              content=text)


def _sent(row_id: int) -> bool:
    return OutboxMessage.objects.get(pk=row_id).status == "sent"


@pytest.mark.parametrize("status", [0])  # a 5xx after the post: the DM in test_notices_get_through_429s_and_503s
def test_a_log_note_whose_reply_is_lost_is_posted_once(faults, status):
    """Discord posts the note but the bot never hears so: the retry carries the row's nonce, gets the same message."""
    emu, world = faults.emulator, faults.world
    notes = emu.add_channel(world.guild_id, f"notes-{status}").id
    route = rf"^/channels/{notes}/messages$"
    emu.inject("POST", route, status=status, after_processing=True)
    text = f"note whose reply was lost ({status})"
    row = _note(world, text, notes)
    eventually(lambda: _sent(row), timeout=8)
    posted = [m for m in emu.messages(notes) if m.content == text]
    assert len(posted) == 1
    assert statuses(emu, "POST", route, 0) == [status, 200]
    assert emu.stats["nonce_dedupes"] >= 1
    assert OutboxMessage.objects.get(pk=row).discord_message_id == posted[0].id


def test_notices_get_through_429s_and_503s(faults):
    """A route 429 and a global 429 are waited out by discord.py; a 503 (not retried by it) by the outbox; a DM
    whose reply was lost is retried by discord.py with its nonce and shown once."""
    emu, world = faults.emulator, faults.world
    notes = emu.add_channel(world.guild_id, "notes-429").id
    route = rf"^/channels/{notes}/messages$"
    start = mark(emu)
    emu.inject("POST", route, status=429, retry_after=0.05, global_=True)
    emu.inject("POST", route, status=429, retry_after=0.05)
    emu.inject("POST", route, status=503)
    emu.inject("POST", r"^/users/@me/channels$", status=503)  # opening the DM channel
    dm = emu.call(emu.emu.dm_channel, world.granted).id
    emu.inject("POST", rf"^/channels/{dm}/messages$", status=502, after_processing=True)  # the DM, reply lost
    rec = faults.slash("admin", "points add", member=world.granted, amount=4, reason="through faults")
    assert rec.content == f"Added 4 points to <@{world.granted}>. New balance: 4."
    rows = [_note(world, f"note {n} through faults", notes) for n in range(3)]
    eventually(lambda: all(_sent(r) for r in rows) and OutboxMessage.objects.filter(kind="dm", status="sent").exists(),
               timeout=10)
    assert sorted(m.content for m in emu.messages(notes)) == [f"note {n} through faults" for n in range(3)]
    assert [m.content for m in emu.dms(world.granted)] == ["+4 points in Test Guild (through faults). Your balance: 4."]
    assert statuses(emu, "POST", route, start) == [429, 429, 503, 200, 200, 200]
    assert statuses(emu, "POST", r"^/users/@me/channels$", start) == [503, 200]
    assert statuses(emu, "POST", rf"^/channels/{dm}/messages$", start) == [502, 200]  # the nonce: the same DM


@pytest.mark.parametrize("status", [503, 500])
def test_a_channel_delete_a_message_edit_and_a_role_removal_survive_5xx(faults, status):
    emu, world = faults.emulator, faults.world
    channel = emu.add_channel(world.guild_id, f"doomed-{status}")
    notes = emu.add_channel(world.guild_id, f"edited-{status}").id
    note = _note(world, "session running", notes)
    eventually(lambda: _sent(note))
    posted = OutboxMessage.objects.get(pk=note).discord_message_id
    emu.set_member_roles(world.guild_id, world.member, [world.verified_role, world.helper_role])
    guild = Guild.objects.get(discord_id=world.guild_id)
    start = mark(emu)
    emu.inject("DELETE", rf"^/channels/{channel.id}$", status=status, after_processing=status == 500)
    emu.inject("DELETE", _helper_role_put(world), status=status, after_processing=status == 500)
    emu.inject("PATCH", rf"^/channels/{notes}/messages/{posted}$", status=status, after_processing=status == 500)
    rows = [outbox.enqueue_channel_delete(guild=guild, channel_id=channel.id, reason="faults"),
            outbox.enqueue_role_remove(guild=guild, user_id=world.member, role_id=world.helper_role, reason="faults"),
            outbox.enqueue_message_edit(guild=guild, channel_id=notes, message_id=posted, content="session ended")]
    eventually(lambda: all(_sent(r) for r in rows), timeout=8)
    assert emu.channel(channel.id) is None
    assert world.helper_role not in emu.member(world.guild_id, world.member).roles
    assert [m.content for m in emu.messages(notes)] == ["session ended"]
    assert [s // 100 for s in statuses(emu, "PATCH", rf"^/channels/{notes}/messages/{posted}$", start)] == [5, 2]
    # 503: the outbox tries again later; 500 after the work: discord.py's retry finds it done (404 or no change).
    deletes = statuses(emu, "DELETE", rf"^/channels/{channel.id}$", start)
    assert deletes == ([503, 200] if status == 503 else [500, 404])


# ---- ticket channels ---------------------------------------------------------------------------------------------

@pytest.fixture
def ticket_panel(faults):
    """A ticket category and its panel in #general; returns (bot, panel message, custom_id)."""
    world, emu = faults.world, faults.emulator
    category = tickets.category_create(guild_id=world.guild_id, name="Faults", response_time="soon")
    for channel in emu.channels(world.guild_id):
        if channel.name.startswith(("ticket-", "Tickets")):
            emu.delete_channel(channel.id)
    faults.tickets_category = emu.add_category(world.guild_id, "Tickets").id
    rec = faults.slash("admin", "ticket panel", title="Support")
    assert rec.content == f"The ticket panel is posted in <#{world.general}>."
    panel = [m for m in emu.messages(world.general) if m.components][-1]
    return faults, panel, f"ticket:open:{category}"


def _ticket_channels(emu, world) -> list:
    return [c for c in emu.channels(world.guild_id) if c.name.startswith("ticket-")]


@pytest.mark.parametrize("status", [504])
def test_a_ticket_channel_made_twice_by_a_retried_create_is_removed(ticket_panel, status):
    bot, panel, custom_id = ticket_panel
    emu, world = bot.emulator, bot.world
    create = rf"^/guilds/{world.guild_id}/channels$"
    start = mark(emu)
    emu.inject("POST", create, status=429, retry_after=0.05)
    emu.inject("POST", create, status=status, after_processing=True)
    emu.inject("POST", r"^/channels/\d+/messages$", status=500, after_processing=True)  # the welcome, lost
    rec = bot.click("member", panel, custom_id, timeout=10)
    settle(emu)
    ticket = Ticket.objects.get()
    assert rec.content == f"Your ticket is ready: <#{ticket.channel_id}>"
    assert_answered_once(emu, rec)
    assert [c.id for c in _ticket_channels(emu, world)] == [ticket.channel_id]
    assert [s // 100 for s in statuses(emu, "POST", create, start)] == [4, 5, 2]
    welcome = emu.messages(ticket.channel_id)
    assert len(welcome) == 1 and welcome[0].id == ticket.welcome_message_id
    assert statuses(emu, "POST", rf"^/channels/{ticket.channel_id}/messages$", start) == [500, 200]  # its nonce


@pytest.mark.parametrize("status,after", [(503, False), (0, True)])
def test_a_ticket_channel_discord_did_not_confirm_leaves_nothing_behind(ticket_panel, status, after):
    """A 503 (not retried) or a dropped connection: the member is told, the ticket is failed, no channel is left."""
    bot, panel, custom_id = ticket_panel
    emu, world = bot.emulator, bot.world
    emu.inject("POST", rf"^/guilds/{world.guild_id}/channels$", status=status, after_processing=after)
    rec = bot.click("member", panel, custom_id, timeout=10)
    settle(emu)
    error = "503 0" if status == 503 else "ServerDisconnectedError"
    assert rec.content == (f"Discord did not create the ticket channel ({error}). Nothing was kept; "
                           "try again later.")
    assert_answered_once(emu, rec)
    assert _ticket_channels(emu, world) == []
    assert Ticket.objects.get().status == "failed"


def test_a_tickets_category_made_twice_by_a_retried_create_is_removed(ticket_panel):
    bot, panel, custom_id = ticket_panel
    emu, world = bot.emulator, bot.world
    emu.delete_channel(bot.tickets_category)
    emu.inject("POST", rf"^/guilds/{world.guild_id}/channels$", status=502, after_processing=True)  # the category
    rec = bot.click("member", panel, custom_id, timeout=10)
    settle(emu)
    ticket = Ticket.objects.get()
    assert rec.content == f"Your ticket is ready: <#{ticket.channel_id}>"
    categories = [c for c in emu.channels(world.guild_id) if c.name == "Tickets"]
    assert [c.id for c in categories] == [emu.channel(ticket.channel_id).parent_id]


# ---- gateway faults while interactions are in flight -------------------------------------------------------------

def _award(bot, who: str, amount: int, reason: str, **kwargs):
    return bot.slash("admin", "points add", member=getattr(bot.world, who), amount=amount, reason=reason, **kwargs)


def _awarded(world, who: str) -> list[int]:
    return list(LedgerEntry.objects.filter(member__user_id=getattr(world, who)).values_list("delta", flat=True))


@pytest.mark.parametrize("action", ["close", "reconnect", "invalidate_resumable"])
def test_an_interaction_lost_with_the_connection_is_replayed_on_resume_and_answered_once(faults, action):
    """Discord sequenced the interaction but the socket died before sending it: RESUME replays it."""
    emu, world = faults.emulator, faults.world
    dms = len(emu.dms(world.helper))
    resumes = len([c for c in emu.get(lambda: emu.emu.gateway_connections) if c.kind == "resume"])
    drop = emu.drop_next("INTERACTION_CREATE", action=action, code=4000)
    rec = _award(faults, "helper", 6, f"lost in flight ({action})")
    assert drop.dropped == 1
    assert rec.content == f"Added 6 points to <@{world.helper}>. New balance: 6."
    assert_answered_once(emu, rec)
    resumed = [c for c in emu.get(lambda: emu.emu.gateway_connections) if c.kind == "resume"]
    assert len(resumed) == resumes + 1 and resumed[-1].replayed >= 1
    settle(emu)
    assert _awarded(world, "helper") == [6]
    emu.wait_for(lambda: len(emu.dms(world.helper)) == dms + 1)
    assert eventually(lambda: OutboxMessage.objects.filter(kind="dm", status="sent").count() == 1)


@pytest.mark.parametrize("fault", ["close 4000", "op 7", "op 9 resumable", "op 9"])
def test_interactions_in_flight_across_a_gateway_fault_are_answered_once(faults, fault):
    """One command is mid-answer (Discord holds its callback) when the gateway fails; another arrives right after
    (while the bot reconnects: Discord buffers it for the RESUME, or sends it after the new IDENTIFY)."""
    emu, world = faults.emulator, faults.world
    identified = len(emu.identified())
    held = emu.hold("POST", CALLBACK)
    first = _award(faults, "helper", 2, f"in flight ({fault})", wait=False)
    emu.wait_for(lambda: held.waiting == 1)
    if fault == "close 4000":
        emu.close_gateway(4000)
    elif fault == "op 7":
        emu.request_reconnect()
    else:
        emu.invalidate_session(resumable=fault == "op 9 resumable")
    emu.call(held.release)  # the answer goes over REST, whatever the gateway does
    emu.wait(first)
    if fault == "op 9":  # the session is gone: Discord delivers to the bot once it has identified again
        emu.wait_for(lambda: len(emu.identified()) > identified, timeout=8)
    second = _award(faults, "member", 3, f"during the fault ({fault})", wait=False)
    emu.wait(second)
    settle(emu)
    for rec, who, amount in ((first, "helper", 2), (second, "member", 3)):
        assert rec.content == f"Added {amount} points to <@{getattr(world, who)}>. New balance: {amount}."
        assert_answered_once(emu, rec)
        assert _awarded(world, who) == [amount]
    assert eventually(lambda: OutboxMessage.objects.filter(kind="dm", status="sent").count() == 2)


def test_a_ticket_panel_whose_reply_is_lost_is_posted_once(faults):
    emu, world = faults.emulator, faults.world
    tickets.category_create(guild_id=world.guild_id, name="Panel faults", response_time="soon")
    board = emu.add_channel(world.guild_id, "panel-faults").id
    emu.inject("POST", rf"^/channels/{board}/messages$", status=500, after_processing=True)
    rec = faults.slash("admin", "ticket panel", channel=board, title="Support")
    assert rec.content == f"The ticket panel is posted in <#{board}>."
    assert_answered_once(emu, rec)
    assert statuses(emu, "POST", rf"^/channels/{board}/messages$", 0) == [500, 200]
    assert len(emu.messages(board)) == 1


def test_a_note_sent_long_ago_with_a_lost_reply_is_found_in_history_through_a_503(faults):
    """Beyond the nonce window the outbox reads the channel's history first; a 503 there retries, never resends."""
    emu, world = faults.emulator, faults.world
    notes = emu.add_channel(world.guild_id, "notes-history").id
    send, history = rf"^/channels/{notes}/messages$", rf"^/channels/{notes}/messages$"
    emu.inject("POST", send, status=0, after_processing=True)  # posted; the bot never hears so
    emu.inject("GET", history, status=503)
    row = _note(world, "note from long ago", notes)
    eventually(lambda: OutboxMessage.objects.get(pk=row).last_error.startswith("no answer"), timeout=5)
    # Time passes beyond Discord's nonce window: the next try must look in the channel first.
    OutboxMessage.objects.filter(pk=row).update(created_at=timezone.now() - timedelta(minutes=5),
                                                available_at=timezone.now())
    eventually(lambda: OutboxMessage.objects.get(pk=row).last_error.startswith("503"), timeout=5)
    OutboxMessage.objects.filter(pk=row).update(available_at=timezone.now())  # its backoff has passed
    eventually(lambda: _sent(row), timeout=5)
    posted = emu.messages(notes)
    assert [m.content for m in posted] == ["note from long ago"]
    assert statuses(emu, "POST", send, 0) == [0]
    assert statuses(emu, "GET", history, 0) == [503, 200]
    assert OutboxMessage.objects.get(pk=row).discord_message_id == posted[0].id


def test_interactions_are_answered_while_the_bot_waits_out_a_long_global_rate_limit(faults):
    """A global 429 stops every bot-token request for its retry_after; interaction answers are not bound by it."""
    emu, world = faults.emulator, faults.world
    notes = emu.add_channel(world.guild_id, "notes-global").id
    limited = emu.inject("POST", rf"^/channels/{notes}/messages$", status=429, retry_after=2.5, global_=True)
    row = _note(world, "after the global limit", notes)
    emu.wait_for(lambda: limited.hits == 1)
    dms = len(emu.dms(world.staff))
    rec = _award(faults, "staff", 7, "during a global limit")
    assert rec.content == f"Added 7 points to <@{world.staff}>. New balance: 7."
    assert_answered_once(emu, rec)
    assert len(emu.dms(world.staff)) == dms  # its DM waits for the limit too
    eventually(lambda: _sent(row), timeout=6)
    emu.wait_for(lambda: len(emu.dms(world.staff)) == dms + 1)
    assert [m.content for m in emu.messages(notes)] == ["after the global limit"]


def test_a_503_discord_py_does_not_retry_gets_a_clear_answer_and_changes_nothing(faults):
    emu, world = faults.emulator, faults.world
    emu.set_member_roles(world.guild_id, world.member, [world.verified_role])
    errors = runtime.errors
    for locale, text in [
        ("en-US", "Discord is having trouble right now (503), so I could not finish. Try again in a minute."),
        ("vi", "Discord đang gặp sự cố (503) nên tôi chưa làm xong việc này. Hãy thử lại sau một phút."),
    ]:
        emu.inject("PUT", _helper_role_put(world), status=503)
        rec = faults.slash("admin", "helper add", member=world.member, locale=locale)
        settle(emu)
        assert rec.content == text
        assert_answered_once(emu, rec)
    assert world.helper_role not in emu.member(world.guild_id, world.member).roles
    assert not HelperRecord.objects.exists()
    assert runtime.errors == errors  # Discord's trouble, not a bug of ours
