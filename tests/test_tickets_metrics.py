"""Ticket metrics of the second wave (#16.8): ratings, auto-closed and one-touch shares, the backlog per day, per
helper tickets and average rating, on /ticket stats and /helper stats (through the emulator) and on the admin's
metrics page (server-side SVG with escaped labels, CSV export that no spreadsheet reads as a formula)."""

from django.contrib.auth.models import User
from django.utils import timezone

from tickets import metrics, services
from tickets.models import Ticket, TicketCategory


def _ticket(gid, category_id, opener, channel):
    view = services.ticket_open(guild_id=gid, category_id=category_id, opener_id=opener)
    return services.ticket_channel_created(guild_id=gid, ticket_id=view.id, channel_id=channel)


def _message(ticket, message_id, author, **kw):
    services.transcript_message(ticket_id=ticket.id, message_id=message_id, author_id=author, author_name="x",
                                is_bot=False, content="hi", embeds=[], attachments=[], **kw)


def _data(bot):
    world, gid = bot.world, bot.world.guild_id
    TicketCategory.objects.filter(pk=bot.category_id).update(name="=cmd|' /C calc'!A0 <script>")
    first = _ticket(gid, bot.category_id, world.member, 990001)
    services.ticket_claim(guild_id=gid, ticket_id=first.id, actor_id=world.helper, may_claim=True)
    _message(first, 991, world.helper, author_role_ids=[world.helper_role])  # one staff-side message
    services.ticket_close(guild_id=gid, ticket_id=first.id, actor_id=world.staff, is_staff=True)
    services.rating_set(ticket_id=first.id, actor_id=world.member, stars=4)
    second = _ticket(gid, bot.category_id, world.granted, 990002)
    _message(second, 992, world.staff, author_role_ids=[world.staff_role])
    _message(second, 993, world.staff, author_role_ids=[world.staff_role])
    services.ticket_close(guild_id=gid, ticket_id=second.id, actor_id=world.staff, is_staff=True)
    Ticket.objects.filter(pk=second.id).update(close_path="auto")  # as the deadline loop closes an abandoned one
    _ticket(gid, bot.category_id, world.admin, 990003)  # still open: the backlog
    return first, second


def test_figures_on_ticket_stats_and_helper_stats(tickets_bot):
    bot, world = tickets_bot, tickets_bot.world
    _data(bot)
    s = metrics.ticket_stats(guild_id=world.guild_id, days=7)
    assert (s.closed, s.rated, s.rating_avg) == (2, 1, 4.0)
    # The auto-closed ticket is no resolution: the one-touch share is of the first alone.
    assert (s.rated_share, s.auto_closed_share, s.one_touch_share) == (0.5, 0.5, 1.0)
    assert s.backlog[-1] == (timezone.now().date().isoformat(), 1)
    helper = next(h for h in s.helpers if h.user_id == world.helper)
    assert (helper.claims, helper.rating_avg, helper.rated) == (1, 4.0, 1)
    fields = {f["name"]: f["value"] for f in bot.slash("staff", "ticket stats", days=7).embeds[0]["fields"]}
    assert fields["Average rating · rated"] == "4.00 ⭐ · 50 %"
    assert fields["Auto-closed"] == "50 %" and fields["One-touch resolutions"] == "100 %"
    assert fields["Backlog (open at the end of the day)"].endswith(": 1")
    assert f"<@{world.helper}>: 1 · 1 · 7 · 4.00 ⭐" in fields["Helpers (claims · resolved · points) (1–2 / 2)"]
    helper_fields = {f["name"]: f["value"] for f in bot.slash("staff", "helper stats", member=world.helper)
                     .embeds[0]["fields"]}
    assert helper_fields["Rating of claimed tickets"] == "4.00 ⭐ (1)"



def test_one_touch_counts_resolved_tickets_only(tickets_bot):
    """A ticket auto-closed after one staff answer (the opener went silent) or closed because the opener left is no
    one-touch resolution: the share is of the tickets resolved."""
    world, gid = tickets_bot.world, tickets_bot.world.guild_id
    for n, (opener, path, answers) in enumerate([(world.member, "staff", 1), (world.granted, "staff", 2),
                                                 (world.admin, "auto", 1), (world.helper, "opener_left", 1)]):
        ticket = _ticket(gid, tickets_bot.category_id, opener, 995000 + n)
        for m in range(answers):
            _message(ticket, 996000 + 10 * n + m, world.staff, author_role_ids=[world.staff_role])
        services.ticket_close(guild_id=gid, ticket_id=ticket.id, actor_id=world.staff, is_staff=True)
        Ticket.objects.filter(pk=ticket.id).update(close_path=path)
    s = metrics.ticket_stats(guild_id=gid, days=7)
    assert s.closed == 4 and s.auto_closed_share == 0.25
    assert s.one_touch_share == 0.5  # the first of the two resolved; counting all four would say 0.75

def test_admin_metrics_page_draws_escaped_svg_and_exports_csv(tickets_bot, client):
    bot = tickets_bot
    _data(bot)
    client.force_login(User.objects.create_superuser("root", password="pw"))
    page = client.get("/admin/tickets/ticket/metrics/?days=7").content.decode()
    assert page.count("<svg") >= 4 and "Backlog (open at the end of the day)" in page
    assert "<script>" not in page.split("</style>", 1)[1].split("<footer", 1)[0].replace(
        '<script src', '')  # the category name is shown as text
    assert "&lt;script&gt;" in page
    csv = client.get("/admin/tickets/ticket/metrics/?days=7&format=csv")
    assert csv["Content-Type"].startswith("text/csv") and "attachment" in csv["Content-Disposition"]
    text = csv.content.decode()
    assert "figure,rating_avg,4.0" in text and "figure,auto_closed_share,0.5" in text
    assert ",category,'=cmd|' /C calc'!A0 <script>,3" in text  # never a formula
    assert Ticket.objects.count() == 3
    # The ticket's admin page shows its rating; the comment is the member's text, escaped.
    first = Ticket.objects.get(opener_id=bot.world.member)
    services.rating_comment(ticket_id=first.pk, actor_id=bot.world.member, comment="<b>great</b> help")
    change = client.get(f"/admin/tickets/ticket/{first.pk}/change/").content.decode()
    assert "&lt;b&gt;great&lt;/b&gt; help" in change and "<b>great</b>" not in change
