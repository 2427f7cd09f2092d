"""Tickets that start with the facts (#16.1) and gating per category (#16.6), end to end through the emulator:
the intake form's modal, answers as the ticket's first message and in the transcript, required roles, support
hours (refuse or warn), opens per hour, each refusal saying why and when, in English and Vietnamese."""

from datetime import UTC, datetime, timedelta

from tests.test_tickets_e2e import _panel
from tickets.models import Ticket, TicketAnswer, TicketCategory, TicketQuestion, TicketTranscript


def _questions(category_id):
    TicketQuestion.objects.create(category_id=category_id, position=1, label="Your Roblox name",
                                  label_vi="Tên Roblox của bạn", max_length=40)
    TicketQuestion.objects.create(category_id=category_id, position=2, label="What happened?", style="paragraph",
                                  required=False, max_length=1500)


def test_the_form_opens_the_ticket_on_submit_with_the_answers_first(tickets_bot):
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    _questions(bot.category_id)
    panel = _panel(bot)
    shown = bot.click("member", panel, f"ticket:open:{bot.category_id}")
    assert shown.modal["custom_id"] == f"ticket:form:{bot.category_id}"
    inputs = [c for row in shown.modal["components"] for c in row.get("components", [row.get("component")])]
    assert [(i["custom_id"], i["label"], i["style"], i.get("required", True), i["max_length"]) for i in inputs] == [
        ("q1", "Your Roblox name", 1, True, 40), ("q2", "What happened?", 2, False, 1500)]
    assert not Ticket.objects.exists()  # nothing opens before the submit
    shown_vi = bot.click("member", panel, f"ticket:open:{bot.category_id}", locale="vi")
    assert [c["label"] for row in shown_vi.modal["components"] for c in row["components"]] == [
        "Tên Roblox của bạn", "What happened?"]
    text = "It crashes @everyone **always** " + "x" * 1200
    done = emu.submit_modal(world.guild_id, world.member, shown, values={"q1": "Builder_77", "q2": text}, timeout=10)
    ticket = Ticket.objects.get()
    assert done.content == f"Your ticket is ready: <#{ticket.channel_id}>"
    assert list(TicketAnswer.objects.filter(ticket=ticket).values_list("position", "label", "value")) == [
        (1, "Your Roblox name", "Builder_77"), (2, "What happened?", text)]
    first, welcome = emu.messages(ticket.channel_id)[:2]
    assert first.embeds[0]["title"] == "📝 Answers" and welcome.embeds[0]["title"] == "🎫 Welcome to your ticket"
    fields = first.embeds[0]["fields"]
    assert [f["name"] for f in fields] == ["Your Roblox name", "What happened?"]
    # The member's text is data: no mention, no markdown; cut in the channel (the full text is kept).
    assert "@\u200beveryone" in fields[1]["value"] and "\\*\\*always" in fields[1]["value"]
    assert fields[1]["value"].endswith("…") and len(fields[1]["value"]) <= 1024
    bot.click("staff", welcome, f"ticket:close:{ticket.pk}")
    html = TicketTranscript.objects.get(ticket=ticket).html
    assert "Builder_77" in html and "x" * 1200 in html and "<b>" not in html.split("</style>")[1].split("Answers")[0]


def test_the_admin_shows_the_answers_escaped(tickets_bot, client):
    from django.contrib.auth.models import User

    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    _questions(bot.category_id)
    shown = bot.click("member", _panel(bot), f"ticket:open:{bot.category_id}")
    emu.submit_modal(world.guild_id, world.member, shown, values={"q1": "<script>x</script>"}, timeout=10)
    ticket = Ticket.objects.get()
    client.force_login(User.objects.create_superuser("root", password="pw"))
    page = client.get(f"/admin/tickets/ticket/{ticket.pk}/change/").content.decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x</script>" not in page
    assert "Your Roblox name" in page


def test_gating_is_checked_before_the_form_and_again_on_submit(tickets_bot):
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    _questions(bot.category_id)
    TicketCategory.objects.filter(pk=bot.category_id).update(required_role_ids=[world.verified_role])
    panel = _panel(bot)
    refused = bot.click("granted", panel, f"ticket:open:{bot.category_id}")
    assert refused.modal is None and refused.ephemeral
    assert refused.content == (f"To open this kind of ticket you need one of these roles: <@&{world.verified_role}>. "
                               "Ask the staff how to get it.")
    assert bot.click("granted", panel, f"ticket:open:{bot.category_id}", locale="vi").content.startswith(
        "Để mở loại phiếu này")
    shown = bot.click("member", panel, f"ticket:open:{bot.category_id}")
    assert shown.modal is not None
    emu.set_member_roles(world.guild_id, world.member, [])  # the role goes while the form is open
    refused = emu.submit_modal(world.guild_id, world.member, shown, values={"q1": "Builder_77"}, timeout=10)
    assert refused.content.startswith("To open this kind of ticket you need one of these roles")
    assert not Ticket.objects.exists() and not TicketAnswer.objects.exists()


def test_support_hours_refuse_saying_when_or_warn_and_open(tickets_bot):
    bot = tickets_bot
    now = datetime.now(UTC)
    start, end = (now + timedelta(hours=2)).time().replace(second=0, microsecond=0), (now + timedelta(hours=3)).time()
    end = end.replace(second=0, microsecond=0)
    TicketCategory.objects.filter(pk=bot.category_id).update(hours_start=start, hours_end=end, time_zone="UTC")
    panel = _panel(bot)
    refused = bot.click("member", panel, f"ticket:open:{bot.category_id}", timeout=10)
    hours = f"{start:%H:%M}–{end:%H:%M} (UTC)"
    assert refused.content in {f"Support for this kind of ticket is open {hours}. It opens again in {wait}; try "
                               "again then." for wait in ("1 h 59 min", "2 h")}, refused.content
    assert not Ticket.objects.exists()
    TicketCategory.objects.filter(pk=bot.category_id).update(outside_hours="warn")
    opened = bot.click("member", panel, f"ticket:open:{bot.category_id}", timeout=10)
    ticket = Ticket.objects.get()
    assert opened.content.startswith(f"Your ticket is ready: <#{ticket.channel_id}>\n⏰ This is outside the support "
                                     f"hours ({hours})")
    assert ticket.opened_outside_hours
    welcome = bot.emulator.messages(ticket.channel_id)[0]
    assert "⏰ Outside support hours" in [f["name"] for f in welcome.embeds[0]["fields"]]


def test_opens_per_hour_per_category_say_when_to_try_again(tickets_bot):
    bot = tickets_bot
    TicketCategory.objects.filter(pk=bot.category_id).update(opens_per_hour=1)
    panel = _panel(bot)
    assert bot.click("member", panel, f"ticket:open:{bot.category_id}", timeout=10).content.startswith(
        "Your ticket is ready")
    ticket = Ticket.objects.get()
    bot.click("staff", bot.emulator.messages(ticket.channel_id)[0], f"ticket:close:{ticket.pk}")
    refused = bot.click("member", panel, f"ticket:open:{bot.category_id}", timeout=10)
    assert refused.content in {"You opened 1 Demon Slayer tickets in the last hour, the most allowed. Try again in "
                               f"{m}." for m in ("59 min", "1 h")}, refused.content
    assert Ticket.objects.count() == 1
    assert bot.click("granted", panel, f"ticket:open:{bot.category_id}", timeout=10).content.startswith(
        "Your ticket is ready")  # per member
