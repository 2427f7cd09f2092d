"""Tickets end to end through the emulator: panel, open (privacy, limits, races), the lifecycle of seed 004,
helper points, transcripts, refusals, and a restart in the middle."""

import asyncio

from botproject import services as core
from botproject.models import OutboxMessage
from points.models import LedgerEntry
from tests.conftest import eventually
from tickets import services
from tickets.models import Ticket, TicketCategory, TicketTranscript


def _panel(bot):
    rec = bot.slash("admin", "ticket panel", title="Support")
    assert rec.ephemeral and rec.content == f"The ticket panel is posted in <#{bot.world.general}>."
    return [m for m in bot.emulator.messages(bot.world.general) if m.components][-1]


def _open(bot, who="member"):
    panel = _panel(bot)
    rec = bot.click(who, panel, f"ticket:open:{bot.category_id}", timeout=10)
    return rec


def _ticket_channel(bot, ticket):
    return bot.emulator.channel(ticket.channel_id)


def test_panel_open_privacy_and_welcome(tickets_bot):
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    panel = _panel(bot)
    assert panel.embeds[0]["title"] == "Support"
    assert [c["custom_id"] for row in panel.components for c in row["components"]] == [
        f"ticket:open:{bot.category_id}"]
    rec = bot.click("member", panel, f"ticket:open:{bot.category_id}", timeout=10)
    ticket = Ticket.objects.get()
    assert rec.ephemeral and rec.deferred and rec.content == f"Your ticket is ready: <#{ticket.channel_id}>"
    channel = _ticket_channel(bot, ticket)
    assert channel.name == f"ticket-{ticket.code}" and len(ticket.code) == 6 and ticket.code.isalnum()
    assert ticket.number == 1 and ticket.status == "open"
    parent = emu.channel(channel.parent_id)
    assert parent.name == "Tickets"
    for who in ("member", "staff", "admin", "owner"):
        assert emu.can_view(channel.id, getattr(world, who)), who
    for who in ("helper", "granted", "blocked"):
        assert not emu.can_view(channel.id, getattr(world, who)), who
    welcome = emu.messages(channel.id)[0]
    embed = welcome.embeds[0]
    assert embed["title"] == "🎫 Welcome to your ticket"
    assert [f["name"] for f in embed["fields"]] == ["📋 Category", "⏱️ Response time", "📖 Instructions"]
    assert embed["fields"][0]["value"] == "Demon Slayer" and embed["fields"][1]["value"] == "Minutes to hours"
    assert embed["color"] == 5814783
    assert [c["custom_id"] for row in welcome.components for c in row["components"]] == [
        f"ticket:works:{ticket.pk}", f"ticket:help:{ticket.pk}", f"ticket:close:{ticket.pk}",
        f"ticket:claim:{ticket.pk}"]


def test_refusals_blocked_limit_and_module_off(tickets_bot):
    bot, world = tickets_bot, tickets_bot.world
    panel = _panel(bot)
    custom_id = f"ticket:open:{bot.category_id}"
    assert bot.click("blocked", panel, custom_id).content == "You are blocked from using this in this server."
    bot.click("member", panel, custom_id, timeout=10)
    ticket = Ticket.objects.get()
    rec = bot.click("member", panel, custom_id)
    assert rec.content == (f"You already have an open ticket: <#{ticket.channel_id}>. "
                           "Finish it before opening another.")
    assert bot.click("member", panel, custom_id, locale="vi").content.startswith("Bạn")
    core.config_update(guild_id=world.guild_id, changes={"tickets_enabled": False})
    bot.bot._configs.clear()
    rec = bot.click("granted", panel, custom_id)
    assert rec.content == ("Tickets is not enabled in this server. An admin can switch it on with /config module.")
    assert Ticket.objects.count() == 1


def test_it_works_closes_publicly_and_deletes_the_channel(tickets_bot):
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    _open(bot)
    ticket = Ticket.objects.get()
    welcome = emu.messages(ticket.channel_id)[0]
    works = f"ticket:works:{ticket.pk}"
    for who in ("staff", "helper", "admin"):
        assert bot.click(who, welcome, works).content == f"Only <@{world.member}>, who opened this ticket, can do that."
    emu.user_message(ticket.channel_id, world.member, "my game crashes", attachments=[("log.txt", b"boom")])
    rec = bot.click("member", welcome, works)
    assert not rec.ephemeral
    assert rec.embeds[0]["title"] == "✅ Problem solved" and rec.embeds[0]["color"] == 0x2ECC71
    assert rec.embeds[0]["footer"]["text"] == "This channel will be deleted in 1 seconds."
    ticket.refresh_from_db()
    assert (ticket.status, ticket.close_path, ticket.closed_by_id, ticket.resolved) == (
        "closed", "works", world.member, True)
    emu.wait_for(lambda: emu.channel(ticket.channel_id) is None, timeout=5)
    transcript = TicketTranscript.objects.get(ticket=ticket)
    assert "my game crashes" in transcript.html and "log.txt" in transcript.html
    # The log note carries the transcript file and is not sent twice by the outbox.
    note = [m for m in emu.messages(world.logs) if "Ticket #1" in m.content][-1]
    assert note.attachments and note.attachments[0]["filename"].endswith(".html")
    assert OutboxMessage.objects.get(dedupe_key=f"ticket:{ticket.pk}:closed").status == "sent"


def test_need_help_pings_staff_once_then_staff_close_pays_claimers(tickets_bot):
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    _open(bot)
    ticket = Ticket.objects.get()
    welcome = emu.messages(ticket.channel_id)[0]
    assert bot.click("staff", welcome, f"ticket:help:{ticket.pk}").content.startswith("Only <@")
    rec = bot.click("member", welcome, f"ticket:help:{ticket.pk}")
    assert rec.content == f"<@&{world.staff_role}>" and rec.embeds[0]["title"] == "🆘 Help requested"
    assert rec.embeds[0]["color"] == 0xE67E22 and not rec.ephemeral
    again = bot.click("member", welcome, f"ticket:help:{ticket.pk}")
    assert not again.content and "already called" in again.embeds[0]["footer"]["text"]
    assert Ticket.objects.get().status == "need_help"
    # Claims: staff takes a slot, the same staff again is refused, slots fill up, members are refused.
    assert bot.click("member", welcome, f"ticket:claim:{ticket.pk}").content == \
        "Only helpers and staff can claim tickets."
    assert "claimed this ticket (1/2" in bot.click("staff", welcome, f"ticket:claim:{ticket.pk}").content
    assert bot.click("staff", welcome, f"ticket:claim:{ticket.pk}").content == "You already claimed this ticket."
    assert "(2/2" in bot.click("admin", welcome, f"ticket:claim:{ticket.pk}").content
    assert bot.click("owner", welcome, f"ticket:claim:{ticket.pk}").content == \
        "All 2 helper slots of this ticket are taken."
    emu.user_message(ticket.channel_id, world.staff, "try reinstalling")
    assert bot.click("member", welcome, f"ticket:close:{ticket.pk}").content == "Only staff can close this ticket."
    rec = bot.click("staff", welcome, f"ticket:close:{ticket.pk}")
    assert rec.embeds[0]["title"] == "🔒 Ticket closed" and rec.embeds[0]["color"] == 0xE74C3C
    ticket.refresh_from_db()
    assert (ticket.close_path, ticket.resolved, ticket.closed_by_id) == ("staff_after_help", True, world.staff)
    assert ticket.first_response_at is not None
    entries = LedgerEntry.objects.filter(kind="helper").order_by("member__user_id")
    assert sorted((e.member.user_id, e.delta) for e in entries) == sorted([(world.staff, 7), (world.admin, 7)])
    assert {e.idempotency_key for e in entries} == {f"ticket:{ticket.pk}:helper:{world.staff}",
                                                   f"ticket:{ticket.pk}:helper:{world.admin}"}
    emu.wait_for(lambda: emu.channel(ticket.channel_id) is None, timeout=5)
    stats = bot.slash("staff", "helper stats")
    fields = {f["name"]: f["value"] for f in stats.embeds[0]["fields"]}
    assert fields["Tickets claimed"] == "1" and fields["Helper points from tickets"] == "7"
    assert fields["Claimed tickets closed as resolved"] == "1"


def test_slash_close_add_remove_stats_and_transcript_edits(tickets_bot):
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    _open(bot)
    ticket = Ticket.objects.get()
    cid = ticket.channel_id
    assert not emu.can_view(cid, world.granted)
    assert bot.slash("member", "ticket add", member=world.granted, channel_id=cid).content == \
        "Only staff and this ticket's helpers can add or remove members."
    rec = bot.slash("staff", "ticket add", member=world.granted, channel_id=cid)
    assert rec.content == f"<@{world.granted}> can now see this ticket."
    assert emu.can_view(cid, world.granted)
    msg = emu.user_message(cid, world.granted, "hello")
    emu.user_edit_message(msg.id, "hello there")
    gone = emu.user_message(cid, world.member, "oops")
    emu.user_delete_message(gone.id)
    bot.slash("staff", "ticket remove", member=world.granted, channel_id=cid)
    assert not emu.can_view(cid, world.granted)
    refused = bot.slash("member", "ticket close", channel_id=world.general)
    assert refused.content == "This is not an open ticket channel."
    assert bot.slash("helper", "ticket stats").content == "Only staff can do that."
    from tickets.models import TranscriptMessage
    eventually(lambda: TranscriptMessage.objects.filter(deleted_at__isnull=False).exists())
    eventually(lambda: TranscriptMessage.objects.filter(edited_at__isnull=False).exists())
    rec = bot.slash("member", "ticket close", reason="fixed it myself", channel_id=cid)
    assert rec.embeds[0]["title"] == "🔒 Ticket closed"
    ticket.refresh_from_db()
    assert (ticket.close_path, ticket.resolved, ticket.close_reason) == ("opener", False, "fixed it myself")
    html = TicketTranscript.objects.get(ticket=ticket).html
    assert "hello there" in html and "before the edit:" in html and "deleted at" in html
    stats = bot.slash("staff", "ticket stats", days=7)
    fields = {f["name"]: f["value"] for f in stats.embeds[0]["fields"]}
    assert fields["Created"] == "1" and fields["Still open"] == "0" and fields["Closed otherwise"] == "1"


def test_twenty_simultaneous_clicks_make_one_ticket(tickets_bot):
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    panel = _panel(bot)

    async def burst():
        recs = await asyncio.gather(*(emu.emu.click(world.guild_id, world.member, panel.id,
                                                    f"ticket:open:{bot.category_id}", timeout=15)
                                      for _ in range(20)))
        return recs

    recs = emu.run(burst(), timeout=30)
    assert Ticket.objects.filter(status__in=["open", "pending"]).count() == 1
    ready = [r for r in recs if r.content.startswith("Your ticket is ready")]
    refused = [r for r in recs if r.content.startswith("You already have an open ticket")]
    assert len(ready) == 1 and len(refused) == 19
    assert all(r.latency is not None and r.latency < 3 for r in recs)
    assert len(emu.channels(world.guild_id, name=f"ticket-{Ticket.objects.get().code}")) == 1


def test_sendticket_alias_and_select_above_five(tickets_bot):
    bot, world = tickets_bot, tickets_bot.world
    for n in range(5):
        services.category_create(guild_id=world.guild_id, name=f"Service {n}", position=n + 1)
    rec = bot.slash("admin", "sendticket")
    assert rec.content == f"The ticket panel is posted in <#{world.general}>."
    panel = [m for m in bot.emulator.messages(world.general) if m.components][-1]
    (select,) = [c for row in panel.components for c in row["components"]]
    assert select["custom_id"].startswith("ticket:pick:") and len(select["options"]) == 6
    rec = bot.select("member", panel, select["custom_id"], [str(bot.category_id)], timeout=10)
    assert rec.content.startswith("Your ticket is ready")
    assert bot.slash("staff", "sendticket").content == "Only admins can do that (Manage Server or an admin role)."


def test_a_full_tickets_category_overflows_into_tickets_2(tickets_bot):
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    full = emu.add_category(world.guild_id, "Tickets")
    for n in range(50):  # Discord allows 50 channels in a category
        emu.add_channel(world.guild_id, f"old-{n}", parent_id=full.id)
    core.config_set_channel(guild_id=world.guild_id, kind="tickets", channel_id=full.id, channel_type="category")
    bot.bot._configs.clear()
    rec = _open(bot)
    ticket = Ticket.objects.get()
    assert rec.content == f"Your ticket is ready: <#{ticket.channel_id}>"
    parent = emu.channel(_ticket_channel(bot, ticket).parent_id)
    assert parent.name == "Tickets 2" and parent.id != full.id
    assert not emu.can_view(ticket.channel_id, world.granted)
    for channel in emu.channels(world.guild_id):
        if channel.name.startswith("old-"):
            emu.delete_channel(channel.id)


def test_at_discords_channel_limit_the_member_is_told_and_no_ticket_is_left(tickets_bot):
    bot, emu = tickets_bot, tickets_bot.emulator
    panel = _panel(bot)
    guild = emu.get(lambda: emu.emu.guilds[bot.world.guild_id])
    emu.emu.max_channels = len(guild.channel_ids)  # the next channel would be one too many
    try:
        rec = bot.click("member", panel, f"ticket:open:{bot.category_id}", timeout=10)
    finally:
        emu.emu.max_channels = 500
    assert rec.content == ("This server has reached Discord's limit of 500 channels, so no ticket channel can be "
                           "created. Ask an admin to delete some channels.")
    assert not Ticket.objects.filter(status__in=["pending", "open", "need_help"]).exists()
    assert bot.click("member", panel, f"ticket:open:{bot.category_id}", timeout=10).content.startswith(
        "Your ticket is ready")  # nothing orphaned blocks the next try


def test_admin_close_transcript_and_metrics_pages(tickets_bot, client):
    from django.contrib.auth.models import User

    from botproject.models import Guild

    bot, world = tickets_bot, tickets_bot.world
    _open(bot)
    ticket = Ticket.objects.get()
    bot.emulator.user_message(ticket.channel_id, world.member, "my <b>game</b> crashes")
    eventually(lambda: ticket.transcript_messages.exists() if hasattr(ticket, "transcript_messages") else True)
    admin = User.objects.create_superuser("root", password="pw")
    client.force_login(admin)
    closed = client.post("/admin/tickets/ticket/", {"action": "close_tickets", "_selected_action": [ticket.pk]},
                         follow=True)
    assert "1 ticket(s) closed." in closed.content.decode()
    ticket.refresh_from_db()
    assert (ticket.status, ticket.close_path, ticket.closed_by_id) == ("closed", "admin", None)
    assert OutboxMessage.objects.filter(kind="log", content__contains="closed by the admin site").exists()
    page = client.get(f"/admin/tickets/ticket/{ticket.pk}/transcript/")
    assert page.status_code == 200 and page["Content-Security-Policy"].startswith("default-src 'none'")
    assert f"#{ticket.number}" in page.content.decode() or ticket.code in page.content.decode()
    metrics = client.get("/admin/tickets/ticket/metrics/?days=7")
    assert metrics.status_code == 200 and "Ticket metrics" in metrics.content.decode()

    # Staff of another guild get neither the transcript nor the ticket.
    other = User.objects.create_user("other-staff", password="pw", is_staff=True)
    from django.contrib.auth.models import Permission

    other.user_permissions.set(Permission.objects.filter(content_type__app_label="tickets"))
    Guild.objects.create(discord_id=424242, name="Elsewhere").staff_users.add(other)
    client.force_login(other)
    assert client.get(f"/admin/tickets/ticket/{ticket.pk}/transcript/").status_code == 404


def test_the_admin_reposts_and_refreshes_a_panel_through_the_bot(tickets_bot, client):
    from django.contrib.auth.models import User

    from tickets.models import TicketPanel

    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    first = _panel(bot)
    panel = TicketPanel.objects.get()
    assert panel.message_id == first.id
    panels_before = sum(1 for m in emu.messages(world.general) if m.components)  # earlier tests' too
    client.force_login(User.objects.create_superuser("root", password="pw"))
    response = client.post("/admin/tickets/ticketpanel/", {"action": "repost", "_selected_action": [panel.pk]},
                           follow=True)
    assert "posts 1 panel(s) again" in response.content.decode()
    # The bot's sweep (every few seconds) posts it again, with working buttons, and records the new message.
    emu.wait_for(lambda: sum(1 for m in emu.messages(world.general) if m.components) == panels_before + 1,
                 timeout=15)
    again = [m for m in emu.messages(world.general) if m.components][-1]
    assert [c["custom_id"] for row in again.components for c in row["components"]] == [
        f"ticket:open:{bot.category_id}"]
    assert eventually(lambda: TicketPanel.objects.get(pk=panel.pk).message_id == again.id)
    assert bot.click("member", again, f"ticket:open:{bot.category_id}", timeout=10).content.startswith(
        "Your ticket is ready")


# --- limits on abuse (issue 13.6) ----------------------------------------------------------------------------
def test_a_member_opens_at_most_the_hourly_number_of_tickets(tickets_bot, settings):
    bot = tickets_bot
    settings.TICKETS_OPENS_PER_HOUR = 2
    TicketCategory.objects.filter(pk=bot.category_id).update(max_open_per_member=5)
    for _ in range(2):
        assert _open(bot).content.startswith("Your ticket is ready")
    refused = _open(bot)
    assert refused.ephemeral
    assert refused.content == "You opened 2 tickets in the last hour, the most allowed. Try again in 60 minutes."
    assert Ticket.objects.count() == 2
    assert _open(bot, who="granted").content.startswith("Your ticket is ready")  # others are not held up


def test_need_help_pings_the_staff_once_per_member_not_once_per_ticket(tickets_bot):
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    TicketCategory.objects.filter(pk=bot.category_id).update(max_open_per_member=2)
    _open(bot)
    _open(bot)
    first, second = Ticket.objects.order_by("pk")
    rec = bot.click("member", emu.messages(first.channel_id)[0], f"ticket:help:{first.pk}")
    assert rec.content == f"<@&{world.staff_role}>"
    other = bot.click("member", emu.messages(second.channel_id)[0], f"ticket:help:{second.pk}")
    assert not other.content and "already called" in other.embeds[0]["footer"]["text"]
    assert Ticket.objects.get(pk=second.pk).help_pinged_at is None
