"""Restarts mid-lifecycle (issue 14.6): the bot process is killed with SIGKILL at the worst moment, started again,
and everything it had scheduled or queued happens exactly once.

The bot runs as `manage.py runbot` in a child process (SIGKILL needs a real process) against one emulator for the
module. The worst moment is made deterministic with the emulator's holds: the bot's request is parked at
"Discord", the process is killed, and only then is the request let through, so Discord processes it while nobody
is left to record the answer. The restarted bot then finds the row still pending (its lease ran out) and must not
do it a second time:

- messages (DMs, channel messages): the retry carries the same nonce with `enforce_nonce`, and Discord answers
  with the message it already made;
- channel deletes and message edits: a channel that is gone is done; an edit is the same edit again;
- role removals: a member without the role needs nothing;
- e-mail: at-least-once with a stable Message-ID (see `test_a_mail_cut_off_by_a_kill_is_sent_again_...`).

Buttons posted before the kill (ticket panel, pad End, leaderboard paging) work after it: they are DynamicItems.
"""

from __future__ import annotations

import email
import email.policy
import signal
import socket
import subprocess
import tempfile
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.db import transaction
from django.utils import timezone

from botproject import services as core
from botproject.models import OutboxMessage
from pads.models import PadSession
from points import services as points
from points.models import GuildPointsStats, MemberProfile, Order
from tests.conftest import eventually, manage
from tickets import services as tickets
from tickets.models import Ticket, TicketPanel
from verification import services as verification
from verification.models import RobloxLink

LEASE = 1.0  # seconds: how long a claimed row waits before another delivery may take it
MESSAGES = r"^/channels/\d+/messages$"


class BotProcess:
    """`manage.py runbot` in a child process against the module's emulator; killed with SIGKILL, started again."""

    def __init__(self, emulator, extra_env: dict[str, str] | None = None) -> None:
        emu = emulator.emu
        self.env = {
            "DISCORD_TOKEN": emu.token, "DISCORD_API_BASE_URL": emu.api_url, "DISCORD_GATEWAY_URL": emu.gateway_url,
            "PORT": "0", "WEB_HOST": "127.0.0.1", "LOG_LEVEL": "INFO",
            "OUTBOX_LEASE_SECONDS": str(LEASE), "OUTBOX_SWEEP_SECONDS": "0.2", "PADS_SWEEP_SECONDS": "0.2",
            **(extra_env or {}),
        }
        self.emulator = emulator
        self.process: subprocess.Popen | None = None
        self.logs: list[Path] = []
        self.starts = 0

    def start(self) -> None:
        """Start the bot and return once it reported ready (its log line), like a supervisor restarting it."""
        log = Path(tempfile.mkstemp(prefix="sigkill-bot-", suffix=".log")[1])
        self.logs.append(log)
        before = len(self.emulator.emu.gateway_connections)
        with log.open("w") as sink:
            self.process = manage("runbot", env=self.env, stdout=subprocess.DEVNULL, stderr=sink)
        self.starts += 1
        deadline = time.monotonic() + 30
        while "ready in" not in log.read_text():
            assert self.process.poll() is None, f"runbot exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"runbot never became ready:\n{log.read_text()}"
            time.sleep(0.05)  # a poll of the child's log, not a wait for time to pass
        self.emulator.wait_for(lambda: len(self.emulator.emu.gateway_connections) > before
                               and self.emulator.emu.gateway_connections[-1].open, timeout=10)

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed, no transaction is finished."""
        assert self.process is not None and self.process.poll() is None, "the bot is not running"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        assert self.process.returncode == -signal.SIGKILL
        # Discord notices the dead connection (the emulator sees the socket close).
        self.emulator.wait_for(lambda: not any(c.open for c in self.emulator.emu.gateway_connections), timeout=10)

    def restart(self) -> None:
        """Kill and start again."""
        self.kill()
        self.start()

    def stop(self) -> None:
        """End of the test: the process goes, whatever state it is in."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        for log in self.logs:
            log.unlink(missing_ok=True)

    def log_text(self) -> str:
        """Everything the bot processes of this test logged (for failure messages)."""
        return "\n".join(f"--- start {n}\n{log.read_text()}" for n, log in enumerate(self.logs, 1))


@pytest.fixture
def bot(emulator, transactional_db):
    """A bot process per test (the module shares the emulator); killed after the test, before the flush."""
    process = BotProcess(emulator)
    yield process
    process.stop()


_worlds = iter(range(1, 1000))


def _world(emulator):
    """A fresh guild per test: DM channels, nonces and messages of one test never meet another's."""
    return emulator.build_guild(f"Kill {next(_worlds)}")


def _release(emulator, held) -> None:
    """Let held requests through now that the bot is dead: Discord processes what it had received."""
    emulator.call(held.release)


def _rows(kind: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(kind=kind).order_by("pk"))


def _all_sent(kind: str, count: int):
    rows = _rows(kind)
    return len(rows) == count and all(r.status == "sent" for r in rows)


# --- DMs (points notices), and the leaderboard's buttons ---------------------------------------------------------
def test_dms_cut_off_by_a_kill_arrive_once_and_the_leaderboard_pages_after_the_restart(emulator, bot):
    world = _world(emulator)
    gid = world.guild_id
    core.guild_ensure(guild_id=gid, name="Kill DMs")
    guild = core.config_row(gid).guild
    # Eleven members on the board: two pages, so the ▶ button is live.
    MemberProfile.objects.bulk_create([
        MemberProfile(guild=guild, user_id=900_000 + n, display_name=f"Old {n}", balance=100 + n,
                      notifications_enabled=False) for n in range(11)])
    GuildPointsStats.objects.create(guild=guild, members=11)  # the counter the profiles' writes keep
    bot.start()
    board = emulator.slash(gid, world.member, "leaderboard")
    page_one = board.latest
    assert "points:lb:2" in board.custom_ids

    # Both notices are committed together, so one claim takes both; Discord sits on the first DM.
    held = emulator.hold("POST", MESSAGES, times=1)
    with transaction.atomic():
        points.points_award(guild_id=gid, user_id=world.member, amount=5, reason="thanks", idempotency_key="k1")
        points.points_award(guild_id=gid, user_id=world.helper, amount=7, reason="help", idempotency_key="k2")
    emulator.wait_for(lambda: held.waiting == 1, timeout=10)
    dedupes = emulator.emu.stats.get("nonce_dedupes", 0)
    bot.kill()
    _release(emulator, held)  # Discord makes the first DM; nobody hears back
    emulator.wait_for(lambda: len(emulator.emu.dms(world.member)) == 1)
    rows = _rows("dm")
    assert [(r.status, r.attempts) for r in rows] == [("pending", 1), ("pending", 1)], "both were claimed"
    assert emulator.emu.dms(world.helper) == []

    bot.start()
    eventually(lambda: _all_sent("dm", 2), timeout=15)
    member_dms, helper_dms = emulator.emu.dms(world.member), emulator.emu.dms(world.helper)
    assert [m.content for m in member_dms] == [f"+5 points in {world.name} (thanks). Your balance: 5."]
    assert [m.content for m in helper_dms] == [f"+7 points in {world.name} (help). Your balance: 7."]
    by_user = {r.target_id: r for r in _rows("dm")}
    assert by_user[world.member].discord_message_id == member_dms[0].id  # the retry got the first message back
    assert by_user[world.helper].discord_message_id == helper_dms[0].id
    assert emulator.emu.stats.get("nonce_dedupes", 0) == dedupes + 1  # the resend came back as the first DM

    # The leaderboard posted by the killed process still pages.
    page2 = emulator.click(gid, world.granted, page_one, "points:lb:2")
    assert page2.embeds[0]["title"] == "Leaderboard · page 2 of 2"
    assert emulator.emu.messages_by_id[page_one.id].embeds[0]["title"] == "Leaderboard · page 2 of 2"  # in place


def _close_rows() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(kind="log", dedupe_key__endswith=":closed").order_by("pk"))


def _close_notes(emulator, world) -> list:
    return [m for m in emulator.emu.messages(world.logs) if "closed by" in m.content]


def test_a_dm_cut_off_by_a_kill_arrives_once_even_when_the_bot_is_back_after_the_nonce_window(emulator, bot):
    """Discord forgets a nonce after a few minutes: a bot down longer must find its own message, not send again."""
    world = _world(emulator)
    gid = world.guild_id
    core.guild_ensure(guild_id=gid, name="Kill late")
    bot.start()
    held = emulator.hold("POST", MESSAGES, times=1)
    points.points_award(guild_id=gid, user_id=world.member, amount=3, reason="late", idempotency_key="late")
    emulator.wait_for(lambda: held.waiting == 1, timeout=10)
    bot.kill()
    _release(emulator, held)
    emulator.wait_for(lambda: len(emulator.emu.dms(world.member)) == 1)
    # The bot stays down longer than Discord keeps nonces: both clocks move on.
    emulator.advance_clock(emulator.emu.nonce_window + 60)
    OutboxMessage.objects.update(created_at=timezone.now() - timedelta(seconds=emulator.emu.nonce_window + 60))
    dedupes = emulator.emu.stats.get("nonce_dedupes", 0)

    bot.start()
    eventually(lambda: _all_sent("dm", 1), timeout=15)
    dms = emulator.emu.dms(world.member)
    assert [m.content for m in dms] == [f"+3 points in {world.name} (late). Your balance: 3."], "exactly once"
    [row] = _rows("dm")
    assert (row.discord_message_id, row.attempts) == (dms[0].id, 2)
    assert emulator.emu.stats.get("nonce_dedupes", 0) == dedupes  # found in the DM history, not by the nonce
    assert len(emulator.emu.requests_to("POST", rf"^/channels/{dms[0].channel_id}/messages$")) == 1  # no resend


# --- scheduled ticket channel deletes, and the ticket panel's button ---------------------------------------------
def test_channel_deletes_cut_off_by_a_kill_happen_once_and_the_panel_opens_tickets_after_the_restart(emulator, bot):
    world = _world(emulator)
    gid = world.guild_id
    core.config_set_role(guild_id=gid, kind="staff", role_id=world.staff_role)
    core.config_set_channel(guild_id=gid, kind="log", channel_id=world.logs, channel_type="text")
    core.config_update(guild_id=gid, changes={"tickets_delete_delay_seconds": 1})
    category_id = tickets.category_create(guild_id=gid, name="General Support")
    bot.start()
    eventually(lambda: _all_sent("log", 2))  # the notes of the configuration changes above
    emulator.slash(gid, world.admin, "ticket panel")
    panel = [m for m in emulator.messages(world.general) if m.components][-1]
    for opener in (world.member, world.granted):
        opened = emulator.click(gid, opener, panel, f"ticket:open:{category_id}", timeout=10)
        assert opened.content.startswith("Your ticket is ready")
    first, second = Ticket.objects.order_by("pk")
    # Discord sits on the first close note (posted with its transcript right after the close; discord.py queues
    # the second behind it) and on the first delete that comes due (the outbox worker sends one row at a time).
    note_held = emulator.hold("POST", rf"^/channels/{world.logs}/messages$", times=1)
    delete_held = emulator.hold("DELETE", r"^/channels/\d+$", times=1)
    for ticket in (first, second):
        welcome = emulator.messages(ticket.channel_id)[0]
        closed = emulator.click(gid, world.staff, welcome, f"ticket:close:{ticket.pk}")
        assert closed.embeds[0]["title"] == "🔒 Ticket closed"
    emulator.wait_for(lambda: note_held.waiting == 1 and delete_held.waiting == 1, timeout=10)
    held_path = [r.path for r in emulator.emu.requests if r.method == "DELETE" and r.status is None][-1]
    dedupes = emulator.emu.stats.get("nonce_dedupes", 0)
    bot.kill()
    _release(emulator, note_held)  # Discord posts the note and deletes the channel; nobody hears back
    _release(emulator, delete_held)
    gone, kept = (first, second) if held_path == f"/channels/{first.channel_id}" else (second, first)
    emulator.wait_for(lambda: emulator.emu.channel(gone.channel_id) is None and len(_close_notes(emulator, world)) == 1)
    assert emulator.emu.channel(kept.channel_id) is not None
    assert [r.status for r in _rows("chan_del")] == ["pending", "pending"]
    # The outbox sends a close note the bot did not record a minute after the close. The bot stays down longer,
    # past Discord's nonce window too: both clocks move on.
    assert [r.status for r in _close_rows()] == ["pending", "pending"]
    emulator.advance_clock(emulator.emu.nonce_window + 60)
    OutboxMessage.objects.filter(kind="log", status="pending").update(
        available_at=timezone.now(), created_at=timezone.now() - timedelta(seconds=emulator.emu.nonce_window + 60))
    log_posts = len(emulator.emu.requests_to("POST", rf"^/channels/{world.logs}/messages$"))

    bot.start()
    eventually(lambda: _all_sent("chan_del", 2) and _all_sent("log", 4), timeout=15)
    assert emulator.emu.channel(kept.channel_id) is None
    for ticket in (first, second):  # one delete each reached Discord: the gone channel was not deleted again
        assert len(emulator.emu.requests_to("DELETE", rf"^/channels/{ticket.channel_id}$")) == 1
    notes = _close_notes(emulator, world)
    assert sorted(note.content.split(" (")[0] for note in notes) == ["🎫 Ticket #1", "🎫 Ticket #2"], "each once"
    assert sorted(r.discord_message_id for r in _close_rows()) == sorted(note.id for note in notes)
    # The note posted before the kill was found in the log channel, not sent again; the other one was sent.
    assert len(emulator.emu.requests_to("POST", rf"^/channels/{world.logs}/messages$")) == log_posts + 1
    assert emulator.emu.stats.get("nonce_dedupes", 0) == dedupes

    # The panel the killed process posted still opens tickets.
    opened = emulator.click(gid, world.helper, panel, f"ticket:open:{category_id}", timeout=10)
    assert opened.content.startswith("Your ticket is ready"), bot.log_text()
    assert Ticket.objects.filter(opener_id=world.helper, status="open").count() == 1


def _with_button(messages: list, custom_id: str) -> list:
    """The messages that carry a component with this custom_id."""
    return [m for m in messages
            if any(c.get("custom_id") == custom_id for row in m.components for c in row["components"])]


def _welcomes(emulator, ticket: Ticket) -> list:
    return _with_button(emulator.emu.messages(ticket.channel_id), f"ticket:close:{ticket.pk}")


def test_tickets_cut_off_while_opening_get_their_channel_and_one_welcome_after_the_restart(emulator, bot):
    world = _world(emulator)
    gid = world.guild_id
    core.config_set_role(guild_id=gid, kind="staff", role_id=world.staff_role)
    category_id = tickets.category_create(guild_id=gid, name="General Support")
    bot.start()
    emulator.slash(gid, world.admin, "ticket panel")
    panel = [m for m in emulator.messages(world.general) if m.components][-1]
    # The admin asks for the panel to be posted again: that is cut off after Discord got the new panel (the tickets
    # sweep takes the request within its 5 s while the clicks below happen). This hold comes first, so it takes
    # the post to #general; the catch-all hold after it takes the welcome in the new ticket channel.
    repost_held = emulator.hold("POST", rf"^/channels/{world.general}/messages$", times=1)
    tickets.panel_request(panel_id=TicketPanel.objects.get().pk, repost=True)
    # One click is cut off after Discord got its welcome, the other after Discord got its channel.
    welcome_held = emulator.hold("POST", MESSAGES, times=1)
    emulator.click(gid, world.granted, panel, f"ticket:open:{category_id}", wait=False)
    emulator.wait_for(lambda: welcome_held.waiting == 1, timeout=10)
    create_held = emulator.hold("POST", rf"^/guilds/{gid}/channels$", times=1)
    emulator.click(gid, world.member, panel, f"ticket:open:{category_id}", wait=False)
    emulator.wait_for(lambda: create_held.waiting == 1 and repost_held.waiting == 1, timeout=10)
    bot.kill()
    for hold in (welcome_held, create_held, repost_held):
        _release(emulator, hold)
    emulator.wait_for(lambda: len(_with_button(emulator.messages(world.general), f"ticket:open:{category_id}")) == 2)
    welcomed, created = Ticket.objects.get(opener_id=world.granted), Ticket.objects.get(opener_id=world.member)
    emulator.wait_for(lambda: len(_welcomes(emulator, welcomed)) == 1
                      and emulator.emu.channels(gid, name=f"ticket-{created.code}"))
    assert (welcomed.status, welcomed.welcome_message_id, created.status, created.channel_id) == (
        "open", None, "pending", None)
    # The pending ticket is settled once no click could still be making its channel: that time passes.
    Ticket.objects.filter(pk=created.pk).update(created_at=timezone.now() - timedelta(minutes=3))

    bot.start()
    eventually(lambda: Ticket.objects.filter(status="open", welcome_message_id__isnull=False).count() == 2, timeout=15)
    welcomed.refresh_from_db()
    created.refresh_from_db()
    [original] = _welcomes(emulator, welcomed)  # found, not posted again
    assert welcomed.welcome_message_id == original.id
    [late] = _welcomes(emulator, created)  # the adopted channel got its welcome once
    assert created.welcome_message_id == late.id and late.content == f"<@{world.member}>"
    closed = emulator.click(gid, world.staff, late, f"ticket:close:{created.pk}")
    assert closed.embeds[0]["title"] == "🔒 Ticket closed"
    # The re-post happened once: the retry got Discord's first answer back, and the row records it.
    eventually(lambda: TicketPanel.objects.filter(repost_requested_at__isnull=True).exists())
    panels = _with_button(emulator.messages(world.general), f"ticket:open:{category_id}")
    assert [m.id for m in panels] == [panel.id, TicketPanel.objects.get().message_id]


# --- pad deadlines, and the End button of an announcement -------------------------------------------------------
def test_pad_deadlines_end_sessions_once_across_a_kill_and_end_buttons_work_after_it(emulator, bot):
    world = _world(emulator)
    gid = world.guild_id
    core.grant_add(guild_id=gid, kind="user", target_id=world.granted)
    bot.start()
    for command, pad in (("training", 7), ("tryout", 8), ("training", 9), ("tryout", 6)):
        answer = emulator.slash(gid, world.granted, command, pad=pad, starts="now")
        assert answer.content.startswith("Announced in"), answer.content
    sessions = {s.pad: s for s in PadSession.objects.all()}
    # Pads 7 and 8 reach their deadline; Discord sits on the first announcement edit.
    held = emulator.hold("PATCH", r"^/channels/\d+/messages/\d+$", times=1)
    PadSession.objects.filter(pad__in=(7, 8)).update(ends_at=timezone.now() - timedelta(seconds=1))
    emulator.wait_for(lambda: held.waiting == 1, timeout=10)
    bot.kill()
    _release(emulator, held)
    # Pad 6 reaches its deadline while no bot runs.
    PadSession.objects.filter(pad=6).update(ends_at=timezone.now() - timedelta(seconds=1))

    bot.start()
    eventually(lambda: _all_sent("msg_edit", 3) and _all_sent("dm", 3), timeout=15)
    ended = [m.content for m in emulator.emu.dms(world.granted)]
    assert sorted(ended) == sorted(
        f"Pad {pad}: {kind} by <@{world.granted}> has ended (time limit reached)."
        for pad, kind in ((7, "Training"), (8, "Tryout"), (6, "Tryout"))), "one DM per session"
    for pad in (7, 8, 6):
        announcement = emulator.emu.messages_by_id[sessions[pad].message_id]
        assert announcement.content.endswith("has ended (time limit reached).") and not announcement.components
    assert set(PadSession.objects.filter(pad__in=(6, 7, 8)).values_list("end_reason", flat=True)) == {"timeout"}

    # The End button the killed process posted still ends pad 9.
    announcement = emulator.emu.messages_by_id[sessions[9].message_id]
    answer = emulator.click(gid, world.granted, announcement, f"pad:end:{sessions[9].pk}")
    assert answer.content == "Pad 9 is free again."
    assert PadSession.objects.get(pad=9).end_reason == "host"


def _announcements(emulator, channel_id: int, session_id: int) -> list:
    return _with_button(emulator.emu.messages(channel_id), f"pad:end:{session_id}")


def test_pad_announcements_cut_off_by_a_kill_are_found_or_posted_once_and_edited_at_the_deadline(emulator, bot):
    world = _world(emulator)
    gid = world.guild_id
    core.grant_add(guild_id=gid, kind="user", target_id=world.granted)
    bot.start()
    # The session is booked, then Discord sits on its announcement: in #general it will be made after the kill,
    # in #logs it never will (Discord fails it once the bot is gone).
    held = [emulator.hold("POST", rf"^/channels/{channel}/messages$", times=1)
            for channel in (world.general, world.logs)]
    emulator.slash(gid, world.granted, "training", pad=5, starts="now", wait=False)
    emulator.slash(gid, world.granted, "tryout", pad=4, starts="soon", channel_id=world.logs, wait=False)
    emulator.wait_for(lambda: all(h.waiting == 1 for h in held), timeout=10)
    bot.kill()
    emulator.inject("POST", rf"^/channels/{world.logs}/messages$", status=500, times=1)
    for hold in held:
        _release(emulator, hold)
    made, lost = PadSession.objects.get(pad=5), PadSession.objects.get(pad=4)
    emulator.wait_for(lambda: len(_announcements(emulator, world.general, made.pk)) == 1)
    assert (made.channel_id, made.message_id) == (world.general, None)
    assert (lost.channel_id, lost.message_id) == (world.logs, None)
    assert _announcements(emulator, world.logs, lost.pk) == []

    bot.start()
    eventually(lambda: PadSession.objects.filter(message_id__isnull=True).count() == 0, timeout=10)
    made.refresh_from_db()
    lost.refresh_from_db()
    [original] = _announcements(emulator, world.general, made.pk)  # found, not posted again
    [late] = _announcements(emulator, world.logs, lost.pk)  # posted once after the restart
    assert (made.message_id, lost.message_id) == (original.id, late.id)
    assert late.embeds[0]["title"] == "Tryout on pad 4"

    # At their deadline both announcements say so.
    PadSession.objects.update(ends_at=timezone.now() - timedelta(seconds=1))
    eventually(lambda: _all_sent("msg_edit", 2), timeout=10)
    for message in (original, late):
        assert "has ended (time limit reached)" in emulator.emu.messages_by_id[message.id].content


# --- role removals ----------------------------------------------------------------------------------------------
def _link(emulator, world, user_id: int, name: str, roblox_id: int) -> RobloxLink:
    """A member linked to Roblox `name`, with the verified role and the nickname the bot gives."""
    emulator.set_member(world.guild_id, user_id, nick=name)
    return RobloxLink.objects.create(guild=core.config_row(world.guild_id).guild, user_id=user_id,
                                     roblox_id=roblox_id, roblox_name=name)


def test_role_removals_cut_off_by_a_kill_or_queued_while_down_are_done_once(emulator, bot):
    world = _world(emulator)
    gid = world.guild_id
    core.config_set_role(guild_id=gid, kind="verified", role_id=world.verified_role)
    core.config_update(guild_id=gid, changes={"verification_set_nickname": True})
    first = _link(emulator, world, world.member, "MemberBuilds", 4242)
    second = _link(emulator, world, world.granted, "GrantedBuilds", 4343)
    bot.start()
    role_path = rf"^/guilds/{gid}/members/\d+/roles/\d+$"
    held = emulator.hold("DELETE", role_path, times=1)
    verification.link_unlink_from_admin(link_id=first.pk)
    emulator.wait_for(lambda: held.waiting == 1, timeout=10)
    bot.kill()
    _release(emulator, held)  # Discord takes the role; nobody hears back
    emulator.wait_for(lambda: world.verified_role not in emulator.emu.member(gid, world.member).roles)
    verification.link_unlink_from_admin(link_id=second.pk)  # the admin unlinks while the bot is down

    bot.start()
    eventually(lambda: _all_sent("role_del", 2), timeout=15)
    for user_id in (world.member, world.granted):
        member = emulator.emu.member(gid, user_id)
        assert world.verified_role not in member.roles and member.nick is None
        assert len(emulator.emu.requests_to("DELETE", rf"^/guilds/{gid}/members/{user_id}/roles/")) == 1
    assert not emulator.emu.requests_to("PUT", rf"^/guilds/{gid}/members/\d+/roles/")
    assert [r.last_error for r in _rows("role_del")] == ["", ""]


# --- e-mail (claim receipts over SMTP) ----------------------------------------------------------------------------
class _SlowMailServer:
    """An aiosmtpd mailbox that can keep its answer to DATA back after it stored the mail (the worst moment)."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.holding = threading.Event()  # set: the next DATA is stored, and its 250 waits for `go`
        self.go = threading.Event()
        self.waiting = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        import asyncio

        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        if self.holding.is_set():
            self.holding.clear()
            self.waiting += 1
            await asyncio.get_running_loop().run_in_executor(None, self.go.wait)
        return "250 OK"


@pytest.fixture
def mail_server():
    inbox = _SlowMailServer()
    with socket.socket() as probe:  # aiosmtpd checks its own port at start, so it needs a real one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.url = f"smtp://127.0.0.1:{port}"
    yield inbox
    inbox.go.set()
    controller.stop()


def _order(guild, number: str, code: str, to: str) -> Order:
    return Order.objects.create(guild=guild, order_number=number, email=to, amount=Decimal("20.00"),
                                code_hash=points.code_hash(guild.discord_id, code), code_hint=code[-4:])


def test_a_mail_cut_off_by_a_kill_is_sent_again_with_the_same_message_id_and_a_queued_one_once(emulator, mail_server,
                                                                                               transactional_db):
    """E-mail is at-least-once: the one moment that can double a mail is after the SMTP server stored it and
    before the bot recorded its 250, and then both copies carry the row's Message-ID. A mail claimed but not
    yet handed over when the bot died (the usual case: connecting, greeting, sending) arrives exactly once."""
    bot = BotProcess(emulator, {"EMAIL_URL": mail_server.url, "DEFAULT_FROM_EMAIL": "shop@example.com"})
    try:
        world = _world(emulator)
        gid = world.guild_id
        core.guild_ensure(guild_id=gid, name="Shop")
        guild = core.config_row(gid).guild
        _order(guild, "SO-1", "KILL-CODE-1111", "first@example.com")
        _order(guild, "SO-2", "KILL-CODE-2222", "second@example.com")
        bot.start()
        mail_server.holding.set()
        with transaction.atomic():  # one claim takes both receipts
            points.order_claim(guild_id=gid, user_id=world.member, code="KILL-CODE-1111")
            points.order_claim(guild_id=gid, user_id=world.member, code="KILL-CODE-2222")
        eventually(lambda: mail_server.waiting == 1, timeout=10)
        bot.kill()
        mail_server.go.set()
        rows = _rows("email")
        assert [(r.status, r.attempts) for r in rows] == [("pending", 1), ("pending", 1)]

        bot.start()
        eventually(lambda: _all_sent("email", 2), timeout=15)
    finally:
        bot.stop()
    first, second = _rows("email")
    ids = [(m["To"], m["Message-ID"]) for m in mail_server.messages]
    domain = "communitybot.local"
    assert ids == [("first@example.com", f"<outbox-{first.pk}@{domain}>"),
                   ("first@example.com", f"<outbox-{first.pk}@{domain}>"),  # the stored-but-unacknowledged one
                   ("second@example.com", f"<outbox-{second.pk}@{domain}>")]
    assert (first.attempts, second.attempts) == (2, 2)


def test_an_announcement_recorded_after_its_session_ended_is_edited_at_once(transactional_db):
    """The settle can record an announcement whose session ended meanwhile: the 'ended' edit follows at once."""
    from pads import services as pads

    session = pads.session_start(guild_id=7700, pad=3, kind="training", host_id=5, starts="now", channel_id=500)
    pads.session_end(guild_id=7700, actor_id=5, is_staff=False, pad=3)
    assert not OutboxMessage.objects.filter(kind="msg_edit").exists()  # nothing known to edit yet
    pads.session_record_announcement(session_id=session.id, channel_id=500, message_id=600)
    [edit] = _rows("msg_edit")
    assert (edit.target_id, edit.message_id) == (500, 600)
    assert edit.content.startswith("Pad 3: Training by <@5> has ended")
