"""Tickets that run themselves, end to end through the emulator with the real client: close requests (#16.3), the
transcript by DM (#16.7), reminders, auto-close, the opener leaving and the first-response alert (#16.2), ratings
in the ticket and by DM (#16.5), reopen (#16.4). Time is moved by the test (the rows' due times move back), never
slept."""

import asyncio
from datetime import timedelta

from django.db.models import F
from django.utils import timezone

from botproject import services as core
from botproject.models import OutboxMessage
from points.models import LedgerEntry
from tests.conftest import eventually
from tests.test_tickets_e2e import _open
from tickets.models import (
    Ticket,
    TicketCategory,
    TicketClaim,
    TicketClose,
    TicketCloseRequest,
    TicketDeadline,
    TicketRating,
)


def _advance(**delta) -> None:
    """Move the tickets' clock forward: every pending timer falls due that much sooner."""
    TicketDeadline.objects.filter(done_at__isnull=True).update(due_at=F("due_at") - timedelta(**delta))


def _ticket(bot, who="member"):
    _open(bot, who)
    ticket = Ticket.objects.filter(opener_id=getattr(bot.world, who)).latest("pk")
    return ticket, bot.emulator.messages(ticket.channel_id)[0]


def _pending(ticket, kind):
    return TicketDeadline.objects.filter(ticket=ticket, kind=kind, done_at__isnull=True).exists()


def test_close_request_deny_then_accept(tickets_bot):
    bot, world = tickets_bot, tickets_bot.world
    ticket, _welcome = _ticket(bot)
    cid = ticket.channel_id
    refused = bot.slash("member", "ticket closerequest", channel_id=cid)
    assert refused.content == "Only staff and this ticket's helpers can ask the opener to close it."
    asked = bot.slash("staff", "ticket closerequest", reason="fixed by the patch?", hours=2, channel_id=cid)
    assert not asked.ephemeral and asked.content == f"<@{world.member}>"
    assert asked.embeds[0]["title"] == "🔒 Close this ticket?" and "fixed by the patch?" in str(asked.embeds[0])
    assert asked.custom_ids == [f"ticket:closeaccept:{ticket.pk}", f"ticket:closedeny:{ticket.pk}"]
    again = bot.slash("staff", "ticket closerequest", channel_id=cid)
    due = int(TicketCloseRequest.objects.get().due_at.timestamp())
    assert again.content == (
        f"A close request already waits for the opener's answer (it closes the ticket at <t:{due}:f>).")
    assert bot.click("staff", asked, f"ticket:closeaccept:{ticket.pk}").content == (
        f"Only <@{world.member}>, who opened this ticket, can do that.")
    denied = bot.click("member", asked, f"ticket:closedeny:{ticket.pk}")
    assert not denied.ephemeral and denied.content == (
        f"<@{world.member}> wants to keep this ticket open, <@{world.staff}>.")
    assert TicketCloseRequest.objects.get().outcome == "denied" and Ticket.objects.get().status == "open"
    assert not _pending(ticket, "closereq")
    assert bot.click("member", asked, f"ticket:closeaccept:{ticket.pk}").content == (
        "This close request is no longer open.")
    asked = bot.slash("staff", "ticket closerequest", channel_id=cid)
    accepted = bot.click("member", asked, f"ticket:closeaccept:{ticket.pk}")
    assert accepted.embeds[0]["title"] == "🔒 Ticket closed"
    ticket.refresh_from_db()
    assert (ticket.status, ticket.close_path, ticket.closed_by_id) == ("closed", "request", world.member)
    assert list(TicketCloseRequest.objects.order_by("pk").values_list("outcome", flat=True)) == ["denied", "accepted"]


def test_an_unanswered_close_request_auto_closes_when_its_hours_pass(tickets_bot):
    bot, emu = tickets_bot, tickets_bot.emulator
    ticket, _welcome = _ticket(bot)
    bot.slash("staff", "ticket closerequest", hours=3, channel_id=ticket.channel_id)
    _advance(hours=2)
    assert TicketCloseRequest.objects.get().outcome == "pending"
    _advance(hours=1)
    eventually(lambda: Ticket.objects.get(pk=ticket.pk).status == "closed", timeout=10)
    ticket.refresh_from_db()
    assert ticket.close_path == "auto" and TicketCloseRequest.objects.get().outcome == "expired"
    emu.wait_for(lambda: any(m.embeds and m.embeds[0].get("description", "").startswith("Auto-closed")
                             for m in emu.messages(ticket.channel_id)), timeout=5)


def test_the_transcript_goes_to_the_opener_by_dm_or_a_log_note_when_dms_are_closed(tickets_bot):
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    ticket, welcome = _ticket(bot)
    emu.user_message(ticket.channel_id, world.member, "my transcript line")
    before = len(emu.dms(world.member))
    bot.click("staff", welcome, f"ticket:close:{ticket.pk}")
    emu.wait_for(lambda: any(m.attachments for m in emu.dms(world.member)[before:]), timeout=10)
    dm = next(m for m in emu.dms(world.member)[before:] if m.attachments)
    assert dm.content.startswith(f"🎫 Your ticket #{ticket.number} (Demon Slayer) is closed.")
    assert dm.attachments[0]["filename"] == f"ticket-{ticket.number}-{ticket.code}.html"
    assert [c["custom_id"] for row in dm.components for c in row["components"]] == [f"ticket:reopen:{ticket.pk}"]
    emu.wait_for(lambda: emu.channel(ticket.channel_id) is None, timeout=10)
    # From a DM too, a blocked opener cannot reopen, nor anyone while the server has tickets switched off.
    core.block_add(guild_id=world.guild_id, user_id=world.member, reason="spam")
    assert emu.click(None, world.member, dm, f"ticket:reopen:{ticket.pk}").content == (
        "You are blocked from using this in this server.")
    core.block_remove(guild_id=world.guild_id, user_id=world.member)
    core.config_update(guild_id=world.guild_id, changes={"tickets_enabled": False})
    assert emu.click(None, world.member, dm, f"ticket:reopen:{ticket.pk}").content.startswith(
        "Tickets is not enabled in this server.")
    core.config_update(guild_id=world.guild_id, changes={"tickets_enabled": True})
    assert Ticket.objects.get(pk=ticket.pk).status == "closed"
    reopened = emu.click(None, world.member, dm, f"ticket:reopen:{ticket.pk}", timeout=10)  # from the DM
    ticket.refresh_from_db()
    assert reopened.content == f"Ticket #{ticket.number} is open again: <#{ticket.channel_id}>"
    assert emu.click(None, world.granted, dm, f"ticket:reopen:{ticket.pk}").content == (
        "Only staff and the member who opened this ticket can reopen it.")
    # Closed DMs: a note in the log channel, and no retry.
    emu.set_dms_closed(world.granted)
    try:
        second, welcome = _ticket(bot, "granted")
        bot.click("staff", welcome, f"ticket:close:{second.pk}")
        note = f"📪 Could not send the transcript of ticket #{second.number} to <@{world.granted}>"
        emu.wait_for(lambda: any(m.content.startswith(note) for m in emu.messages(world.logs)), timeout=10)
        row = TicketDeadline.objects.get(ticket=second, kind="transcript")
        assert (row.outcome, row.attempts) == ("fired", 1)
    finally:
        emu.set_dms_closed(world.granted, False)
    # A category can turn it off.
    TicketCategory.objects.filter(pk=bot.category_id).update(transcript_dm=False)
    third, welcome = _ticket(bot, "admin")  # the member's ticket is open again
    bot.click("staff", welcome, f"ticket:close:{third.pk}")
    assert not TicketDeadline.objects.filter(ticket=third, kind="transcript").exists()


def test_reminder_then_auto_close_only_while_waiting_on_the_opener(tickets_bot):
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    ticket, _welcome = _ticket(bot)
    emu.user_message(ticket.channel_id, world.member, "it crashes")
    _advance(days=30)  # staff silence never closes a ticket (only the first-response alert fires)
    eventually(lambda: not _pending(ticket, "alert"), timeout=10)
    assert Ticket.objects.get(pk=ticket.pk).status == "open" and not _pending(ticket, "autoclose")
    emu.user_message(ticket.channel_id, world.staff, "does it still crash?")
    eventually(lambda: _pending(ticket, "remind") and _pending(ticket, "autoclose"))
    assert Ticket.objects.get(pk=ticket.pk).waiting_on_opener
    _advance(hours=12)
    emu.wait_for(lambda: any(m.embeds and m.embeds[0]["title"] == "⏰ Still there?"
                             for m in emu.messages(ticket.channel_id)), timeout=10)
    reminder = next(m for m in emu.messages(ticket.channel_id)
                    if m.embeds and m.embeds[0]["title"] == "⏰ Still there?")
    assert reminder.content == f"<@{world.member}>" and world.member in reminder.mentions
    emu.user_message(ticket.channel_id, world.member, "yes, still")  # the opener answers: no auto-close
    eventually(lambda: not _pending(ticket, "autoclose"))
    _advance(days=3)
    assert Ticket.objects.get(pk=ticket.pk).status == "open"
    bot.slash("staff", "ticket add", member=world.helper, channel_id=ticket.channel_id)
    emu.user_message(ticket.channel_id, world.helper, "try this")  # a helper's message counts as staff's
    eventually(lambda: _pending(ticket, "autoclose"))
    _advance(hours=36)
    eventually(lambda: Ticket.objects.get(pk=ticket.pk).status == "closed", timeout=10)
    ticket.refresh_from_db()
    assert (ticket.close_path, ticket.closed_by_id, ticket.resolved) == ("auto", None, False)
    # One reminder per wait: after the staff's message, and after the helper's.
    assert sum(1 for m in emu.messages(ticket.channel_id) if m.embeds and m.embeds[0]["title"] == "⏰ Still there?"
               ) == 2


def test_first_response_alert_pings_the_staff_role_once_in_the_log_channel(tickets_bot):
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    before = len(emu.messages(world.logs))  # the emulator (and its log channel) serves the whole module
    ticket, _welcome = _ticket(bot)
    _advance(minutes=29)
    assert _pending(ticket, "alert")
    _advance(minutes=1)
    text = f"<@&{world.staff_role}> ⏱️ Ticket #{ticket.number} (Demon Slayer) of <@{world.member}> has no answer"
    emu.wait_for(lambda: any(m.content.startswith(text) for m in emu.messages(world.logs)[before:]), timeout=10)
    _advance(days=1)
    assert sum(m.content.startswith(text) for m in emu.messages(world.logs)[before:]) == 1
    answered, _welcome = _ticket(bot, "granted")
    emu.user_message(answered.channel_id, world.staff, "hello!")
    eventually(lambda: not _pending(answered, "alert"))  # a staff answer drops it
    assert TicketDeadline.objects.get(ticket=answered, kind="alert").outcome == "cancelled"


def test_the_opener_leaving_closes_their_ticket(tickets_bot):
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    extra = emu.member_join(world.guild_id, username="leaver").user_id
    panel = [m for m in emu.messages(world.general) if m.components]
    _open(bot, "member")
    panel = [m for m in emu.messages(world.general) if m.components][-1]
    emu.click(world.guild_id, extra, panel, f"ticket:open:{bot.category_id}", timeout=10)
    ticket = Ticket.objects.get(opener_id=extra)
    emu.member_leave(world.guild_id, extra)
    eventually(lambda: Ticket.objects.get(pk=ticket.pk).status == "closed", timeout=10)
    assert Ticket.objects.get(pk=ticket.pk).close_path == "opener_left"
    assert Ticket.objects.get(opener_id=world.member).status == "open"
    emu.wait_for(lambda: emu.channel(ticket.channel_id) is None, timeout=10)
    assert OutboxMessage.objects.get(dedupe_key=f"ticket:{ticket.pk}:left:0").status == "sent"


def test_rating_in_the_ticket_with_a_comment_and_the_helper_bonus(tickets_bot):
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    TicketCategory.objects.filter(pk=bot.category_id).update(rating_wait=timedelta(minutes=10), rating_bonus=3)
    ticket, welcome = _ticket(bot)
    bot.click("helper", welcome, f"ticket:claim:{ticket.pk}")
    closed = bot.click("staff", welcome, f"ticket:close:{ticket.pk}")
    assert closed.embeds[0]["footer"]["text"] == "This channel will be deleted in 600 seconds."
    emu.wait_for(lambda: any(m.embeds and m.embeds[0]["title"] == "⭐ How did we do?"
                             for m in emu.messages(ticket.channel_id)), timeout=10)
    prompt = next(m for m in emu.messages(ticket.channel_id)
                  if m.embeds and m.embeds[0]["title"] == "⭐ How did we do?")
    assert [c["custom_id"] for row in prompt.components for c in row["components"]] == [
        f"ticket:rate:{ticket.pk}:{n}" for n in range(1, 6)]
    assert bot.click("staff", prompt, f"ticket:rate:{ticket.pk}:5").content == (
        "Only the member who opened this ticket can rate it.")
    shown = bot.click("member", prompt, f"ticket:rate:{ticket.pk}:4")
    assert shown.modal["custom_id"] == f"ticket:ratenote:{ticket.pk}"
    thanks = emu.submit_modal(world.guild_id, world.member, shown, values={"comment": "quick and kind"})
    assert thanks.content == "Thank you: your rating (4 ⭐) is saved. You can change it within 24 hours."
    rating = TicketRating.objects.get(ticket=ticket)
    assert (rating.stars, rating.comment) == (4, "quick and kind")
    # Rated: the channel no longer waits for the 10 minutes.
    emu.wait_for(lambda: emu.channel(ticket.channel_id) is None, timeout=10)
    bonus = LedgerEntry.objects.get(idempotency_key=f"ticket:{ticket.pk}:rating:{world.helper}")
    assert bonus.delta == 3 and bonus.member.user_id == world.helper
    assert not LedgerEntry.objects.filter(idempotency_key=f"ticket:{ticket.pk}:rating:{world.member}").exists()


def test_a_rating_after_the_channel_is_gone_comes_by_dm(tickets_bot):
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    ticket, welcome = _ticket(bot)
    before = len(emu.dms(world.member))
    bot.click("staff", welcome, f"ticket:close:{ticket.pk}")
    emu.wait_for(lambda: emu.channel(ticket.channel_id) is None, timeout=10)

    def rating_dm():
        return next((m for m in emu.dms(world.member)[before:] if m.embeds and
                     m.embeds[0]["title"] == "⭐ How did we do?"), None)

    emu.wait_for(lambda: rating_dm() is not None, timeout=10)
    shown = emu.click(None, world.member, rating_dm(), f"ticket:rate:{ticket.pk}:2")
    emu.submit_modal(None, world.member, shown, values={})
    assert TicketRating.objects.get(ticket=ticket).stars == 2
    changed = emu.click(None, world.member, rating_dm(), f"ticket:rate:{ticket.pk}:3")
    assert changed.modal is not None and TicketRating.objects.get(ticket=ticket).stars == 3
    TicketRating.objects.filter(ticket=ticket).update(rated_at=timezone.now() - timedelta(hours=25))
    final = emu.click(None, world.member, rating_dm(), f"ticket:rate:{ticket.pk}:5")
    assert final.content == "Your rating of this ticket was given more than 24 hours ago and can no longer be changed."
    assert TicketRating.objects.get(ticket=ticket).stars == 3



def test_a_rating_changed_below_four_stars_takes_the_helper_bonus_back(tickets_bot):
    """The 4-5 star bonus stands only while the rating does: 5 pays it, 2 reverses it in the ledger, 4 pays it
    again (a new entry), and the helper's balance follows."""
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    TicketCategory.objects.filter(pk=bot.category_id).update(rating_bonus=3)
    ticket, welcome = _ticket(bot)
    bot.click("helper", welcome, f"ticket:claim:{ticket.pk}")
    before = len(emu.dms(world.member))
    bot.click("staff", welcome, f"ticket:close:{ticket.pk}")

    def rating_dm():
        return next((m for m in emu.dms(world.member)[before:] if m.embeds and
                     m.embeds[0]["title"] == "⭐ How did we do?"), None)

    def helper_bonus():
        return sum(LedgerEntry.objects.filter(member__user_id=world.helper, idempotency_key__contains=":rating:")
                   .values_list("delta", flat=True)) + sum(LedgerEntry.objects.filter(
                       member__user_id=world.helper, kind="reversal").values_list("delta", flat=True))

    emu.wait_for(lambda: rating_dm() is not None, timeout=10)
    key = f"ticket:{ticket.pk}:rating:{world.helper}"
    emu.click(None, world.member, rating_dm(), f"ticket:rate:{ticket.pk}:5")
    assert helper_bonus() == 3 and LedgerEntry.objects.get(idempotency_key=key).delta == 3
    emu.click(None, world.member, rating_dm(), f"ticket:rate:{ticket.pk}:2")
    reversal = LedgerEntry.objects.get(reverses__idempotency_key=key)
    assert reversal.delta == -3 and reversal.reason == "Rating of ticket #1 (Demon Slayer) changed below 4 stars"
    assert helper_bonus() == 0
    emu.click(None, world.member, rating_dm(), f"ticket:rate:{ticket.pk}:1")  # still below: nothing more
    emu.click(None, world.member, rating_dm(), f"ticket:rate:{ticket.pk}:4")
    assert LedgerEntry.objects.get(idempotency_key=f"{key}:2").delta == 3 and helper_bonus() == 3
    emu.click(None, world.member, rating_dm(), f"ticket:rate:{ticket.pk}:5")  # still 4-5: paid once
    assert helper_bonus() == 3 and TicketRating.objects.get(ticket=ticket).stars == 5
    assert not LedgerEntry.objects.filter(member__user_id=world.member, idempotency_key__contains=":rating:").exists()
    assert emu.unknown_routes == []

def test_with_the_rating_wait_on_an_unrated_ticket_is_asked_in_the_channel_then_by_dm(tickets_bot):
    """The category's rating wait (README: "channel waits for a rating"): the prompt comes in the ticket, the
    channel stays for the wait, and when it goes unrated the opener is asked by DM; nothing is lost."""
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    TicketCategory.objects.filter(pk=bot.category_id).update(rating_wait=timedelta(minutes=10))
    ticket, welcome = _ticket(bot)
    before = len(emu.dms(world.member))
    closed = bot.click("staff", welcome, f"ticket:close:{ticket.pk}")
    assert closed.embeds[0]["footer"]["text"] == "This channel will be deleted in 600 seconds."
    emu.wait_for(lambda: any(m.embeds and m.embeds[0]["title"] == "⭐ How did we do?"
                             for m in emu.messages(ticket.channel_id)), timeout=10)
    assert emu.channel(ticket.channel_id) is not None and _pending(ticket, "rate_dm")
    # Ten minutes pass unrated: the channel goes and the DM comes.
    _advance(minutes=10)
    OutboxMessage.objects.filter(dedupe_key=f"ticket:{ticket.pk}:delete").update(available_at=timezone.now())
    emu.wait_for(lambda: emu.channel(ticket.channel_id) is None, timeout=10)

    def rating_dm():
        return next((m for m in emu.dms(world.member)[before:] if m.embeds and
                     m.embeds[0]["title"] == "⭐ How did we do?"), None)

    emu.wait_for(lambda: rating_dm() is not None, timeout=10)
    shown = emu.click(None, world.member, rating_dm(), f"ticket:rate:{ticket.pk}:5")
    emu.submit_modal(None, world.member, shown, values={"comment": "late but fine"})
    rating = TicketRating.objects.get(ticket=ticket)
    assert (rating.stars, rating.comment) == (5, "late but fine")
    assert not _pending(ticket, "rate_dm") and not _pending(ticket, "rate")


def test_reopen_by_the_opener_within_the_window_and_by_staff_after_it(tickets_bot):
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    ticket, welcome = _ticket(bot)
    bot.click("helper", welcome, f"ticket:claim:{ticket.pk}")
    emu.user_message(ticket.channel_id, world.member, "first life")
    old_channel = ticket.channel_id
    bot.click("staff", welcome, f"ticket:close:{ticket.pk}")
    emu.wait_for(lambda: emu.channel(old_channel) is None, timeout=10)
    assert bot.slash("granted", "ticket reopen", ticket=ticket.number).content == (
        "Only staff and the member who opened this ticket can reopen it.")
    assert bot.slash("member", "ticket reopen", ticket=999).content == "There is no ticket #999 in this server."
    done = bot.slash("member", "ticket reopen", ticket=ticket.number, timeout=10)
    ticket.refresh_from_db()
    assert done.content == f"Ticket #{ticket.number} is open again: <#{ticket.channel_id}>"
    assert (ticket.status, ticket.reopen_count, ticket.number) == ("open", 1, 1) and ticket.channel_id != old_channel
    assert emu.channel(ticket.channel_id).name == f"ticket-{ticket.code}"
    assert emu.can_view(ticket.channel_id, world.member) and emu.can_view(ticket.channel_id, world.helper)
    assert list(TicketClaim.objects.filter(ticket=ticket).values_list("user_id", flat=True)) == [world.helper]
    history = TicketClose.objects.get(ticket=ticket)
    assert history.close_path == "staff" and history.reopened_by_id == world.member
    first = emu.messages(ticket.channel_id)[0]
    assert first.embeds[0]["title"] == "🔓 Ticket reopened" and f"ticket:close:{ticket.pk}" in [
        c["custom_id"] for row in first.components for c in row["components"]]
    assert bot.slash("member", "ticket reopen", ticket=ticket.number).content == (
        f"Ticket #{ticket.number} is not closed (it is open), so there is nothing to reopen.")
    bot.click("staff", first, f"ticket:close:{ticket.pk}")
    Ticket.objects.filter(pk=ticket.pk).update(created_at=F("created_at") - timedelta(hours=26),
                                               closed_at=F("closed_at") - timedelta(hours=25))
    refused = bot.slash("member", "ticket reopen", ticket=ticket.number)
    assert refused.content.startswith("Only staff can reopen this ticket now: the opener may reopen it within 1 d")
    assert bot.slash("staff", "ticket reopen", ticket=ticket.number, timeout=10).content.startswith(
        f"Ticket #{ticket.number} is open again")
    assert TicketClose.objects.filter(ticket=ticket).count() == 2


def test_concurrent_reopens_make_one_channel(tickets_bot):
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    ticket, welcome = _ticket(bot)
    bot.click("staff", welcome, f"ticket:close:{ticket.pk}")
    emu.wait_for(lambda: emu.channel(ticket.channel_id) is None, timeout=10)

    async def burst():
        return await asyncio.gather(*(emu.emu.slash(world.guild_id, who, "ticket reopen", ticket=ticket.number,
                                                    timeout=15)
                                      for who in [world.staff, world.admin, world.owner, world.member] * 3))

    records = emu.run(burst(), timeout=40)
    texts = [r.content for r in records]
    assert sum(t.startswith(f"Ticket #{ticket.number} is open again") for t in texts) == 1, texts
    assert all(t.startswith((f"Ticket #{ticket.number} is open again", f"Ticket #{ticket.number} is being reopened",
                             f"Ticket #{ticket.number} is not closed")) for t in texts), texts
    assert len(emu.channels(world.guild_id, name=f"ticket-{ticket.code}")) == 1
    assert Ticket.objects.get(pk=ticket.pk).reopen_count == 1
