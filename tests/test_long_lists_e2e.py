"""Every list fits Discord's limits however big the community grows (issue 14, point 2), end to end.

200 grants, 200 helpers, 60 ticket categories, long (100-character) names and long reasons: every page of
/permissions list, /helper list, /blocklist, /ticket stats, /history, /achievements and /whois is measured
against Discord's limits (embed by embed, and the 6,000 characters over all), paged forward and back by its
◀ ▶ buttons, and refused to anyone but the member who asked; /pads, /helper stats and /config show fit
without pages. A Vietnamese member gets Vietnamese page labels. Bulk data comes from bulk_create.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from botproject import services as core
from botproject.models import BlockEntry, GuildConfig, HelperRecord, PermissionGrant
from pads import services as pad_services
from points.models import Achievement, LedgerEntry, MemberAchievement, MemberProfile
from tests.conftest import start_runner, stop_runner
from tickets.models import Ticket
from verification.models import LinkEvent, RobloxLink

LONG_NAME = ("**Bold** _x_ @everyone " + "Ω" * 100)[:100]  # markdown, a mass mention, 100 characters
REASON = ("`code` @here <@123456789012345678> " + "reason " * 80)[:500]
REFUSAL = "Only the member who asked for this list can turn its pages. Run the command yourself."
REFUSAL_VI = "Chỉ thành viên đã yêu cầu danh sách này mới lật được trang. Hãy tự chạy lệnh."


def width(text: str | None) -> int:
    """Characters as Discord counts them (UTF-16 code units)."""
    return len((text or "").encode("utf-16-le")) // 2


def assert_fits(message) -> None:
    """Every documented limit of a message: content, embeds (each and together), buttons."""
    assert width(message.content) <= 2000
    assert len(message.embeds) <= 10
    total = 0
    for embed in message.embeds:
        fields = embed.get("fields", [])
        assert width(embed.get("title")) <= 256
        assert width(embed.get("description")) <= 4096
        assert len(fields) <= 25
        for field in fields:
            assert 0 < width(field["name"]) <= 256 and 0 < width(field["value"]) <= 1024
        footer = (embed.get("footer") or {}).get("text")
        author = (embed.get("author") or {}).get("name")
        assert width(footer) <= 2048 and width(author) <= 256
        total += (width(embed.get("title")) + width(embed.get("description")) + width(footer) + width(author)
                  + sum(width(f["name"]) + width(f["value"]) for f in fields))
    assert total <= 6000, total
    assert len(message.components) <= 5
    for row in message.components:
        assert len(row["components"]) <= 5
        for item in row["components"]:
            assert width(item.get("label")) <= 80 and width(item.get("custom_id")) <= 100


def text_of(message) -> str:
    embed = message.embeds[0]
    return "\n".join([embed.get("title") or "", embed.get("description") or "",
                      *(f"{f['name']}\n{f['value']}" for f in embed.get("fields", []))])


def footer(message) -> str:
    return (message.embeds[0].get("footer") or {}).get("text") or ""


def buttons(message) -> dict[str, dict]:
    """Label → button."""
    return {item["label"]: item for row in message.components for item in row["components"]}


def walk(bot, who: str, rec, pages: int, *, locale: str = "en-US") -> list:
    """Check page 1 of `pages`, click Next to the end (each page fits), then Previous once; return the pages."""
    emu = bot.emulator
    message = rec.latest
    seen = [text_of(message)]  # the emulator edits the message in place: keep each page's text
    assert_fits(message)
    previous, following = ("◀ Trang trước", "Trang sau ▶") if locale == "vi" else ("◀ Previous", "Next ▶")
    page_label = "Trang {page}/{pages}" if locale == "vi" else "Page {page} of {pages}"
    assert footer(message).startswith(page_label.format(page=1, pages=pages))
    assert buttons(message)[previous].get("disabled") and not buttons(message)[following].get("disabled")
    for page in range(2, pages + 1):
        clicked = bot.click(who, message.id, buttons(message)[following]["custom_id"], locale=locale)
        assert clicked.callback["type"] == 7  # the list's own message is edited
        message = emu.message(message.id)
        assert footer(message).startswith(page_label.format(page=page, pages=pages)), footer(message)
        assert_fits(message)
        seen.append(text_of(message))
    assert buttons(message)[following].get("disabled")
    bot.click(who, message.id, buttons(message)[previous]["custom_id"], locale=locale)
    back = emu.message(message.id)
    assert footer(back).startswith(page_label.format(page=pages - 1, pages=pages))
    assert text_of(back) == seen[-2]
    return seen


def ids_in(texts: list[str], prefix: str = "<@") -> set[int]:
    return {int(m) for text in texts for m in re.findall(re.escape(prefix) + r"(\d+)>", text)}


@pytest.fixture
def lists(discord_bot):
    """The standard guild recorded, with staff and helper roles configured."""
    world = discord_bot.world
    discord_bot.record_guild()
    core.config_set_role(guild_id=world.guild_id, kind="staff", role_id=world.staff_role)
    core.config_set_role(guild_id=world.guild_id, kind="helper", role_id=world.helper_role)
    return discord_bot


def guild_row(bot):
    return core.config_row(bot.world.guild_id).guild


@pytest.fixture(scope="module")
def long_named(running_bot):
    """A member with a 100-character nickname full of markdown (joins once for the module)."""
    emu, world = running_bot.emulator, running_bot.world
    member = emu.member_join(world.guild_id, username="long_named", roles=[world.verified_role], nick=LONG_NAME)
    emu.wait_for(lambda: running_bot.bot.get_guild(world.guild_id).get_member(member.user_id) is not None)
    return member.user_id


# ---- paged lists ----------------------------------------------------------------------------------------------


def test_permissions_list_pages_200_grants_only_for_the_owner(lists):
    world, guild = lists.world, guild_row(lists)
    PermissionGrant.objects.bulk_create(
        [PermissionGrant(guild=guild, kind="role", target_id=10_000 + n, granted_by_id=world.owner) for n in range(100)]
        + [PermissionGrant(guild=guild, kind="user", target_id=20_000 + n, granted_by_id=world.owner)
           for n in range(100)])
    rec = lists.slash("owner", "permissions list")
    assert rec.ephemeral and rec.embeds[0]["title"] == "Granted access"
    texts = walk(lists, "owner", rec, pages=14)
    assert ids_in(texts, "<@&") == {10_000 + n for n in range(100)}
    assert ids_in(texts, "<@") == {20_000 + n for n in range(100)}  # every grant is on some page, once
    assert "more" not in "".join(texts)

    # Someone else (even an admin) cannot turn the owner's pages: a translated refusal, the list unchanged.
    message = rec.latest
    before = text_of(lists.emulator.message(message.id))
    next_id = buttons(lists.emulator.message(message.id))["◀ Previous"]["custom_id"]
    refused = lists.click("admin", message.id, next_id)
    assert refused.content == REFUSAL and refused.ephemeral
    vi = lists.click("admin", message.id, next_id, locale="vi")
    assert vi.content == REFUSAL_VI
    assert text_of(lists.emulator.message(message.id)) == before


def test_helper_list_pages_200_helpers(lists):
    world, guild = lists.world, guild_row(lists)
    HelperRecord.objects.bulk_create(
        [HelperRecord(guild=guild, user_id=30_000 + n, added_by_id=world.admin) for n in range(200)])
    rec = lists.slash("staff", "helper list")
    texts = walk(lists, "staff", rec, pages=11)  # 200 recorded + the one with the role by hand, 20 a page
    assert ids_in(texts) == {30_000 + n for n in range(200)} | {world.helper}
    assert f"<@{world.helper}> · role given by hand" in "".join(texts)


def test_blocklist_pages_long_reasons_shown_as_data(lists):
    world, guild = lists.world, guild_row(lists)
    BlockEntry.objects.bulk_create(
        [BlockEntry(guild=guild, user_id=40_000 + n, reason=REASON, blocked_by_id=world.staff) for n in range(60)]
        + [BlockEntry(guild=guild, user_id=50_000 + n, reason=REASON, blocked_by_id=world.staff,
                      unblocked_by_id=world.staff, unblocked_at=timezone.now() + timedelta(minutes=1))
           for n in range(30)])
    rec = lists.slash("staff", "blocklist")
    texts = walk(lists, "staff", rec, pages=6)
    assert ids_in(texts) >= {40_000 + n for n in range(60)}
    description = rec.latest.embeds[0]["description"]
    assert "…" in description and "\\`code" in description  # cut, and markdown shown as text
    assert "@here" not in description and "@\u200bhere" in description  # no ping, even were mentions allowed
    assert "<@123456789012345678>" not in description and "<@\u200b123456789012345678>" in description
    assert rec.latest.embeds[0]["fields"][0]["name"] == "Recently unblocked"


def test_ticket_stats_pages_60_long_categories_and_their_helpers(lists):
    world, guild = lists.world, guild_row(lists)
    now = timezone.now()
    Ticket.objects.bulk_create([
        Ticket(guild=guild, number=n + 1, code=f"t{n}", category_name=(f"{n:02d} " + "Category " * 12)[:100],
               opener_id=world.member, status="closed", created_at=now - timedelta(hours=2), closed_at=now,
               closed_by_id=60_000 + n, close_path="staff")
        for n in range(60)])
    rec = lists.slash("staff", "ticket stats", days=7)
    texts = walk(lists, "staff", rec, pages=6)
    first = texts[0]
    assert "Per category (1–10 / 60)" in first and "Helpers (claims · resolved · points) (1–10 / 60)" in first
    assert "Category Category" in first and "…: 1" in first  # 100-character names cut with "…"
    assert ids_in(texts) == {60_000 + n for n in range(60)}
    assert all(f"\n{n:02d} Category" in "\n" + "\n".join(texts) for n in range(60))


def test_history_pages_long_reasons_in_vietnamese(lists, long_named):
    world, guild = lists.world, guild_row(lists)
    profile = MemberProfile.objects.create(guild=guild, user_id=long_named, display_name=LONG_NAME, balance=45)
    LedgerEntry.objects.bulk_create([
        LedgerEntry(guild=guild, member=profile, delta=1, balance_after=n + 1, kind="admin_add", reason=REASON,
                    actor_id=world.admin, idempotency_key=f"long:{n}")
        for n in range(45)])
    rec = lists.slash("staff", "history", member=long_named, locale="vi")
    title = rec.latest.embeds[0]["title"]
    assert title.startswith("Lịch sử điểm: ") and "\\*\\*Bold" in title and "@\u200beveryone" in title
    texts = walk(lists, "staff", rec, pages=5, locale="vi")
    assert sum(text.count("→") for text in texts) == 45  # every entry, once
    refused = lists.click("member", rec.latest.id, buttons(lists.emulator.message(rec.latest.id))["Trang sau ▶"]
                          ["custom_id"], locale="vi")
    assert refused.content == REFUSAL_VI


def test_history_buttons_check_access_again_and_survive_a_restart(lists, long_named):
    world, guild = lists.world, guild_row(lists)
    profile = MemberProfile.objects.create(guild=guild, user_id=world.member, balance=12)
    LedgerEntry.objects.bulk_create([
        LedgerEntry(guild=guild, member=profile, delta=1, balance_after=n + 1, kind="admin_add", reason="r",
                    idempotency_key=f"own:{n}") for n in range(12)])
    rec = lists.slash("member", "history")
    assert footer(rec.latest) == "Page 1 of 2"
    next_id = buttons(rec.latest)["Next ▶"]["custom_id"]
    assert len(next_id) <= 100 and next_id.startswith("page:history:")
    # A page button is only data: the restarted bot serves it (no view kept in memory).
    emu = lists.emulator
    stop_runner(emu, lists.runner)
    lists.runner = start_runner(emu)
    lists.click("member", rec.latest.id, next_id)
    assert footer(emu.message(rec.latest.id)) == "Page 2 of 2"
    # The owner of a staff member's view of someone else's history loses it with the staff role.
    other = lists.slash("staff", "history", member=world.member)
    emu.set_member_roles(world.guild_id, world.staff, [world.verified_role])
    try:
        emu.wait_for(lambda: lists.bot.get_guild(world.guild_id).get_member(world.staff).get_role(
            world.staff_role) is None)
        refused = lists.click("staff", other.latest.id, buttons(other.latest)["Next ▶"]["custom_id"])
        assert refused.content == "Only staff can do that."
    finally:
        emu.set_member_roles(world.guild_id, world.staff, [world.staff_role, world.verified_role])


def test_achievements_pages_long_names_earned_first(lists, long_named):
    guild = guild_row(lists)
    Achievement.objects.bulk_create([
        Achievement(guild=guild, name=f"{n:02d} {LONG_NAME}"[:100], description="D" * 300, condition="points_earned",
                    threshold=n + 1, bonus_points=1_000_000) for n in range(30)])
    profile = MemberProfile.objects.create(guild=guild, user_id=long_named, balance=1)
    earned = Achievement.objects.filter(threshold__gt=20)
    MemberAchievement.objects.bulk_create([MemberAchievement(achievement=a, member=profile) for a in earned])
    rec = lists.slash("member", "achievements", member=long_named)
    texts = walk(lists, "member", rec, pages=4)
    assert texts[0].count("🏆") == 8 and "Earned" in texts[0] and "\nOpen\n" not in texts[0]
    assert "10 of 30 earned" in footer(rec.latest)
    assert sum(text.count("🏆") for text in texts) == 10
    assert all(f"{n:02d} " in "".join(texts) for n in range(30))


def test_whois_pages_the_link_history(lists, long_named):
    world, guild = lists.world, guild_row(lists)
    link = RobloxLink.objects.create(guild=guild, user_id=long_named, roblox_id=77, roblox_name="Long_Name_Here")
    LinkEvent.objects.bulk_create([
        LinkEvent(guild=guild, user_id=long_named, action="verify", link=link, roblox_id=77,
                  roblox_name="Long_Name_Here", actor_id=world.staff) for _ in range(25)])
    rec = lists.slash("staff", "whois", member=long_named)
    texts = walk(lists, "staff", rec, pages=3)
    assert sum(text.count("verified as") for text in texts) == 25
    assert rec.latest.embeds[0]["fields"][0]["name"] == "History"


# ---- outputs without pages ----------------------------------------------------------------------------------


def test_pads_helper_stats_and_config_show_fit_without_pages(lists, long_named):
    world = lists.world
    for pad in range(1, 10):
        pad_services.session_start(guild_id=world.guild_id, pad=pad, kind="training", host_id=world.granted,
                                   starts=("@everyone **now** " + "x" * 200)[:199], host_name="host")
    pads = lists.slash("member", "pads")
    assert_fits(pads.latest)
    lines = pads.latest.embeds[0]["description"].split("\n")
    assert len(lines) == 9 and all("…" in line and "@\u200beveryone" in line for line in lines)
    assert not pads.latest.components

    stats = lists.slash("staff", "helper stats", member=long_named)
    assert_fits(stats.latest)
    assert stats.latest.embeds[0]["title"].startswith("Helper stats: \\*\\*Bold")

    GuildConfig.objects.filter(guild=guild_row(lists)).update(admin_role_ids=[str(90_000 + n) for n in range(300)])
    shown = lists.slash("admin", "config show")
    assert_fits(shown.latest)
    admins = next(f["value"] for f in shown.latest.embeds[0]["fields"] if f["name"] == "Admin roles")
    assert admins.startswith("✅ <@&90000>, <@&90001>") and re.search(r"… and \d+ more$", admins)
    vi = lists.slash("admin", "config show", locale="vi")
    assert_fits(vi.latest)
    assert re.search(r"… và \d+ mục khác", text_of(vi.latest))


# ---- the cutting itself, on worst cases (no bot needed) --------------------------------------------------------


def test_fit_and_join_lines_keep_every_limit_on_worst_cases():
    import discord

    from botproject.bot import pages

    astral = "😀" * 3000  # two UTF-16 units each: Discord counts 6,000
    embed = discord.Embed(title=astral, description=astral * 2)
    for _ in range(40):
        embed.add_field(name=astral, value=astral)
    embed.set_footer(text=astral)
    embed.set_author(name=astral)
    fitted = pages.fit(embed)
    assert len(fitted.fields) == 25 and fitted.fields[-1].name == "…"
    assert pages.embed_size(fitted) <= 6000
    assert width(fitted.title) <= 256 and width(fitted.description) <= 4096 and width(fitted.footer.text) <= 2048
    assert all(width(f.name) <= 256 and width(f.value) <= 1024 for f in fitted.fields)
    assert fitted.title.endswith("…") and width(fitted.title) == 255  # a surrogate pair is never split

    many = discord.Embed(title="t")
    for n in range(40):
        many.add_field(name=f"f{n}", value="v")
    assert pages.fit(many).fields[-1].value == "… and 16 more" and len(many.fields) == 25

    lines = [f"line {n} " + "x" * 100 for n in range(100)]
    joined = pages.join_lines(lines, 1024)
    assert width(joined) <= 1024 and joined.endswith("… and 91 more") and joined.count("\n") == 9
    assert pages.join_lines([], 10, empty="none") == "none"
    assert pages.join_lines(["a" * 50], 20) == "a" * 19 + "…"
    assert pages.clean("**x** @everyone <@123456789012345678>") == \
        "\\*\\*x** @\u200beveryone <@\u200b123456789012345678>"
