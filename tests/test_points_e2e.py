"""Points end to end: /balance, /leaderboard (and their ! forms), /history, /points, /achievements,
/notifications, through the emulator with the real client."""

import pytest

from botproject import services as core
from botproject.models import OutboxMessage
from botproject.sandbox.emulator import CommandHidden, OptionRejected
from points import services
from points.models import Achievement, LedgerEntry
from tests.conftest import start_runner, stop_runner

ADMIN_ONLY = "Only admins can do that (Manage Server or an admin role)."
DISABLED = "Points is not enabled in this server. An admin can switch it on with /config module."


def award(bot, user_id: int, amount: int, key: str | None = None, **kwargs):
    return services.points_award(guild_id=bot.world.guild_id, user_id=user_id, amount=amount, reason="seed",
                                 idempotency_key=key or f"seed:{user_id}:{amount}", notify=False, **kwargs)


def ledger() -> list[tuple]:
    return list(LedgerEntry.objects.order_by("id").values_list("member__user_id", "delta", "balance_after", "kind"))


def fields(rec_or_embed) -> dict[str, str]:
    embed = rec_or_embed if isinstance(rec_or_embed, dict) else rec_or_embed.embeds[0]
    return {f["name"]: f["value"] for f in embed["fields"]}


def raw_slash(bot, who: str, command: str, valid: dict, **tampered):
    """Send a slash command whose options a modified client changed after building them (Discord's checks bypassed)."""
    emu = bot.emulator
    payload, _control = emu.call(emu.emu._slash_payload, bot.world.guild_id, getattr(bot.world, who), command, valid, 2)
    for option in payload["data"]["options"][0]["options"]:
        if option["name"] in tampered:
            option["value"] = tampered[option["name"]]
    return emu.send_interaction(payload, wait=True)


def prefix(bot, who: str, text: str):
    """Post `text` in #general as a member; return the bot's reply to it."""
    emu, world = bot.emulator, bot.world
    sent = emu.user_message(world.general, getattr(world, who), text)

    def reply():
        return next((m for m in emu.messages(world.general)
                     if m.message_reference and int(m.message_reference["message_id"]) == sent.id), None)

    return emu.wait_for(reply)


# ---- registration ------------------------------------------------------------------------------------


def test_points_commands_are_synced_with_vietnamese_names(pts):
    commands = {c["name"]: c for c in pts.emulator.commands()}
    assert {"balance", "leaderboard", "history", "points", "achievements", "notifications"} <= set(commands)
    group = commands["points"]
    assert [o["name"] for o in group["options"]] == ["add", "remove", "set"]
    assert int(group["default_member_permissions"]) == 1 << 5  # Manage Server
    assert commands["balance"]["name_localizations"]["vi"] == "số-dư"
    assert commands["leaderboard"]["name_localizations"]["vi"] == "bảng-xếp-hạng"
    amount = next(o for o in group["options"][0]["options"] if o["name"] == "amount")
    assert (amount["min_value"], amount["max_value"]) == (1, 1_000_000_000)
    set_amount = next(o for o in group["options"][2]["options"] if o["name"] == "amount")
    assert set_amount["min_value"] == 0


# ---- /balance ----------------------------------------------------------------------------------------


def test_balance_shows_balance_rank_and_stats_privately(pts):
    world = pts.world
    award(pts, world.member, 300)
    award(pts, world.granted, 500)
    award(pts, world.helper, 100)
    services.points_deduct(guild_id=world.guild_id, user_id=world.member, amount=50, reason="oops",
                           idempotency_key="d1", notify=False)
    rec = pts.slash("member", "balance")
    assert rec.ephemeral
    assert rec.embeds[0]["title"].startswith("Points: ")
    got = fields(rec)
    assert (got["Balance"], got["Rank"], got["Earned"], got["Spent or removed"], got["Ledger entries"],
            got["Achievements"]) == ("250", "#2 of 3", "300", "50", "2", "0")
    assert got["Last activity"].startswith("<t:")

    other = pts.slash("member", "balance", member=world.granted)
    assert fields(other)["Balance"] == "500" and fields(other)["Rank"] == "#1 of 3"
    nobody = pts.slash("member", "balance", member=world.staff)
    assert fields(nobody)["Balance"] == "0" and fields(nobody)["Rank"] == "not ranked yet"


def test_balance_speaks_vietnamese(pts):
    award(pts, pts.world.member, 10)
    rec = pts.slash("member", "balance", locale="vi")
    assert rec.embeds[0]["title"].startswith("Điểm: ")
    assert fields(rec)["Số dư"] == "10"


def test_module_switched_off_refuses_every_points_command(pts):
    world = pts.world
    core.config_set_module(guild_id=world.guild_id, module="points", enabled=False)
    for who, command, options in [("member", "balance", {}), ("member", "leaderboard", {}), ("member", "history", {}),
                                  ("member", "achievements", {}), ("member", "notifications", {"enabled": False}),
                                  ("admin", "points add", {"member": world.member, "amount": 5, "reason": "x"})]:
        rec = pts.slash(who, command, **options)
        assert rec.content == DISABLED, command
        assert rec.ephemeral
    assert prefix(pts, "member", "!balance").content == DISABLED
    vi = pts.slash("member", "balance", locale="vi")
    assert vi.content.startswith("Điểm chưa được bật")
    assert ledger() == []


# ---- /points add|remove|set --------------------------------------------------------------------------


def test_admin_adds_removes_and_sets_points_with_a_dm_notice(pts):
    world, emu = pts.world, pts.emulator
    rec = pts.slash("admin", "points add", member=world.member, amount=50, reason="won the event")
    assert rec.ephemeral
    assert rec.content == f"Added 50 points to <@{world.member}>. New balance: 50."
    entry = LedgerEntry.objects.get()
    assert (entry.actor_id, entry.reason, entry.kind, entry.idempotency_key) == (
        world.admin, "won the event", "admin_add", f"interaction:{rec.id}")
    assert entry.member.display_name.endswith("_member")
    dm = emu.wait_for(lambda: next((m for m in emu.dms(world.member) if "+50 points" in m.content), None))
    assert dm.content == "+50 points in Test Guild (won the event). Your balance: 50."

    removed = pts.slash("admin", "points remove", member=world.member, amount=20, reason="typo")
    assert removed.content == f"Removed 20 points from <@{world.member}>. New balance: 30."
    done = pts.slash("admin", "points set", member=world.member, amount=100, reason="correction")
    assert done.content == f"<@{world.member}> now has 100 points (+70)."
    zero = pts.slash("admin", "points set", member=world.member, amount=0, reason="reset")
    assert zero.content == f"<@{world.member}> now has 0 points (-100)."
    assert ledger() == [(world.member, 50, 50, "admin_add"), (world.member, -20, 30, "admin_remove"),
                        (world.member, 70, 100, "admin_set"), (world.member, -100, 0, "admin_set")]


def test_members_cannot_change_points(pts):
    world = pts.world
    with pytest.raises(CommandHidden):
        pts.slash("member", "points add", member=world.member, amount=5, reason="me")
    for who in ("member", "staff", "helper"):
        for sub in ("add", "remove", "set"):
            rec = pts.slash(who, f"points {sub}", member=world.member, amount=5, reason="me", bypass_permissions=True)
            assert rec.content == ADMIN_ONLY and rec.ephemeral
    vi = pts.slash("member", "points add", member=world.member, amount=5, reason="me", bypass_permissions=True,
                   locale="vi")
    assert vi.content.startswith("Chỉ quản trị viên")
    assert ledger() == []


def test_bad_amounts_and_targets_write_nothing(pts):
    world, emu = pts.world, pts.emulator
    award(pts, world.member, 30)
    before = ledger()
    # Discord itself refuses amounts outside the option's range...
    with pytest.raises(OptionRejected):
        pts.slash("admin", "points add", member=world.member, amount=0, reason="x")
    with pytest.raises(OptionRejected):
        pts.slash("admin", "points remove", member=world.member, amount=-5, reason="x")
    # ...and the bot refuses them again when a modified client sends them anyway.
    valid = {"member": world.member, "amount": 1, "reason": "x"}
    for sub, bad in (("add", 0), ("add", -5), ("remove", 0), ("remove", -1), ("set", -1)):
        rec = raw_slash(pts, "admin", f"points {sub}", valid, amount=bad)
        assert rec.content == "The amount must be a whole number above 0.", (sub, bad)

    core.config_update(guild_id=world.guild_id, changes={"points_max_adjustment": 100})
    pts.bot._configs.clear()
    above = pts.slash("admin", "points add", member=world.member, amount=101, reason="too much")
    assert above.content == "At most 100 points can be changed at once in this server."
    set_above = pts.slash("admin", "points set", member=world.member, amount=500, reason="too much")
    assert set_above.content == "At most 100 points can be changed at once in this server."

    too_many = pts.slash("admin", "points remove", member=world.member, amount=50, reason="spent")
    assert too_many.content == f"<@{world.member}> has only 30 points; 50 cannot be removed."
    vi = pts.slash("admin", "points remove", member=world.member, amount=50, reason="spent", locale="vi")
    assert vi.content.startswith(f"<@{world.member}> chỉ có 30 điểm")

    core.config_update(guild_id=world.guild_id, changes={"points_max_balance": 40})
    capped = pts.slash("admin", "points add", member=world.member, amount=11, reason="cap")
    assert capped.content.startswith(f"That would take <@{world.member}> above the largest balance")

    bot_user = emu.get(lambda: emu.emu.bot_user.id)
    robot = pts.slash("admin", "points add", member=bot_user, amount=5, reason="beep")
    assert robot.content == "Bots cannot have points. Pick a member."
    assert ledger() == before
    assert not OutboxMessage.objects.filter(kind="dm").exists()


def test_the_same_interaction_delivered_twice_changes_the_balance_once(pts):
    world, emu = pts.world, pts.emulator
    payload, _control = emu.call(emu.emu._slash_payload, world.guild_id, world.admin, "points add",
                                 {"member": world.member, "amount": 7, "reason": "once"}, 2)
    first = emu.send_interaction(payload, wait=True)
    assert first.content.endswith("New balance: 7.")
    replay = emu.send_interaction({**payload, "token": payload["token"] + "x"}, wait=True)
    assert replay.content.endswith("New balance: 7.")
    assert ledger() == [(world.member, 7, 7, "admin_add")]


# ---- /history ----------------------------------------------------------------------------------------


def test_history_own_for_anyone_others_for_staff_only(pts):
    world = pts.world
    pts.slash("admin", "points add", member=world.member, amount=40, reason="helped a newcomer")
    pts.slash("admin", "points remove", member=world.member, amount=15, reason="late")
    own = pts.slash("member", "history")
    assert own.ephemeral
    lines = own.embeds[0]["description"].splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("<t:") and "**-15** → 25 · removed by staff · late" in lines[0]
    assert f"by <@{world.admin}>" in lines[0]
    assert "**+40** → 40 · added by staff · helped a newcomer" in lines[1]

    for who in ("granted", "helper"):
        refused = pts.slash(who, "history", member=world.member)
        assert refused.content == "Only staff can do that." and refused.ephemeral
    staff = pts.slash("staff", "history", member=world.member)
    assert staff.embeds[0]["description"].splitlines() == lines
    empty = pts.slash("granted", "history")
    assert empty.embeds[0]["description"] == "No ledger entries yet."


def test_history_shows_the_latest_ten(pts):
    world = pts.world
    for n in range(1, 13):
        award(pts, world.member, n)
    rows = pts.slash("member", "history").embeds[0]["description"].splitlines()
    assert len(rows) == 10
    assert "**+12** → 78" in rows[0] and "**+3** → 6" in rows[-1]


# ---- /leaderboard ------------------------------------------------------------------------------------


def _seed_board(bot, count: int = 25) -> list[int]:
    """`count` members with balances count*10 .. 10 (user ids need not be in the guild)."""
    ids = [900_000 + n for n in range(count)]
    for n, user_id in enumerate(ids):
        award(bot, user_id, (count - n) * 10, display_name=f"player{n}")
    return ids


def _lines(embed) -> list[str]:
    return embed["description"].splitlines()


def test_leaderboard_is_public_pages_by_button_and_shows_the_callers_rank(pts):
    world, emu = pts.world, pts.emulator
    ids = _seed_board(pts)
    award(pts, world.member, 155)  # between player9 (160) and player10 (150): rank 11 of 26
    rec = pts.slash("member", "leaderboard")
    assert not rec.ephemeral
    embed = rec.embeds[0]
    assert embed["title"] == "Leaderboard · page 1 of 3"
    assert _lines(embed)[0] == f"**#1** <@{ids[0]}> · 250 points"
    assert len(_lines(embed)) == 10
    assert embed["footer"]["text"].endswith(": #11 of 26 · 155 points")
    assert rec.custom_ids == ["points:lb:0", "points:lb:2"]
    buttons = {c["custom_id"]: c for row in rec.components for c in row["components"]}
    assert buttons["points:lb:0"].get("disabled") is True

    message_id = rec.latest.id
    page2 = pts.click("granted", rec, "points:lb:2")
    assert page2.callback["type"] == 7  # the leaderboard message itself is edited
    edited = emu.message(message_id)
    assert edited.embeds[0]["title"] == "Leaderboard · page 2 of 3"
    assert _lines(edited.embeds[0])[0] == f"**#11** <@{world.member}> · 155 points"
    assert edited.embeds[0]["footer"]["text"].endswith(": no points yet")  # granted paged: their standing
    page3 = pts.click("member", message_id, "points:lb:3")
    assert emu.message(message_id).embeds[0]["title"] == "Leaderboard · page 3 of 3"
    assert len(_lines(emu.message(message_id).embeds[0])) == 6
    assert page3.custom_ids == ["points:lb:2", "points:lb:4"]
    pts.click("member", message_id, "points:lb:2")
    assert emu.message(message_id).embeds[0]["title"] == "Leaderboard · page 2 of 3"
    assert ledger()[-1][0] == world.member  # paging wrote nothing


@pytest.mark.parametrize("who", ["owner", "admin", "staff", "helper", "granted", "member", "blocked"])
def test_anyone_may_page_a_leaderboard(pts, who):
    _seed_board(pts, 15)
    rec = pts.slash("member", "leaderboard")
    clicked = pts.click(who, rec, "points:lb:2")
    assert clicked.callback["type"] == 7
    assert pts.emulator.message(rec.latest.id).embeds[0]["title"] == "Leaderboard · page 2 of 2"


def test_leaderboard_pages_clamp_and_empty_board(pts):
    empty = pts.slash("member", "leaderboard")
    assert empty.embeds[0]["description"] == "Nobody has points yet."
    assert empty.embeds[0]["title"] == "Leaderboard · page 1 of 1"
    _seed_board(pts, 12)
    far = pts.slash("member", "leaderboard", page=99)
    assert far.embeds[0]["title"] == "Leaderboard · page 2 of 2"
    low = pts.slash("member", "leaderboard", page=-3)
    assert low.embeds[0]["title"] == "Leaderboard · page 1 of 2"


def test_leaderboard_buttons_work_after_a_restart(pts):
    emu = pts.emulator
    _seed_board(pts, 15)
    rec = pts.slash("member", "leaderboard")
    message_id = rec.latest.id
    stop_runner(emu, pts.runner)
    pts.runner = start_runner(emu)  # the module's bot from now on (conftest's running_bot stops it)
    pts.click("helper", message_id, "points:lb:2")
    assert emu.message(message_id).embeds[0]["title"] == "Leaderboard · page 2 of 2"


def test_leaderboard_button_refused_when_the_module_is_off(pts):
    _seed_board(pts, 15)
    rec = pts.slash("member", "leaderboard")
    core.config_set_module(guild_id=pts.world.guild_id, module="points", enabled=False)
    pts.bot._configs.clear()
    refused = pts.click("member", rec, "points:lb:2")
    assert refused.content == DISABLED and refused.ephemeral
    assert pts.emulator.message(rec.latest.id).embeds[0]["title"] == "Leaderboard · page 1 of 2"


# ---- prefix forms ------------------------------------------------------------------------------------


def test_prefix_balance_and_leaderboard(pts):
    world = pts.world
    award(pts, world.member, 42)
    award(pts, world.granted, 7)
    reply = prefix(pts, "member", "!balance")
    assert fields(reply.embeds[0])["Balance"] == "42" and fields(reply.embeds[0])["Rank"] == "#1 of 2"
    other = prefix(pts, "member", f"!balance <@{world.granted}>")
    assert fields(other.embeds[0])["Balance"] == "7"

    _seed_board(pts, 20)
    board = prefix(pts, "member", "!leaderboard 2")
    assert board.embeds[0]["title"] == "Leaderboard · page 2 of 3"
    assert [c["custom_id"] for row in board.components for c in row["components"]] == ["points:lb:1", "points:lb:3"]
    clicked = pts.click("staff", board, "points:lb:3")
    assert clicked.callback["type"] == 7
    assert pts.emulator.message(board.id).embeds[0]["title"] == "Leaderboard · page 3 of 3"


def test_prefix_bad_input_gets_a_clear_answer_and_writes_nothing(pts):
    world = pts.world
    award(pts, world.member, 5)
    before = ledger()
    bad_page = prefix(pts, "member", "!leaderboard abc")
    assert bad_page.content == "“abc” is not a page number. Usage: !leaderboard [page=1]"
    nobody = prefix(pts, "member", "!balance @nobody")
    assert nobody.content.startswith("I cannot find the member “@nobody” in this server.")
    core.config_set_language(guild_id=world.guild_id, language="vi")
    core.config_update(guild_id=world.guild_id, changes={"prefix": "?"})
    pts.bot._configs.clear()
    vi = prefix(pts, "member", "?leaderboard abc")
    assert vi.content == "“abc” không phải số trang. Cách dùng: ?leaderboard [page=1]"
    vi_balance = prefix(pts, "member", "?balance")
    assert fields(vi_balance.embeds[0])["Số dư"] == "5"
    assert ledger() == before


# ---- /achievements and /notifications ----------------------------------------------------------------


def test_achievements_show_earned_with_date_and_open_with_condition(pts):
    world = pts.world
    guild = core.config_row(world.guild_id).guild
    Achievement.objects.create(guild=guild, name="First steps", condition="balance_reached", threshold=10)
    Achievement.objects.create(guild=guild, name="Rich", condition="points_earned", threshold=1000, bonus_points=50,
                               description="Earn a thousand points")
    pts.slash("admin", "points add", member=world.member, amount=20, reason="welcome")
    rec = pts.slash("member", "achievements")
    assert rec.ephemeral
    got = fields(rec)
    assert got["Earned"].startswith("🏆 **First steps** · <t:")
    assert got["Open"] == "**Rich** · points earned in total: 1,000 · bonus 50 points\nEarn a thousand points"
    other = pts.slash("member", "achievements", member=world.granted)
    assert fields(other)["Earned"] == "none yet"
    assert pts.slash("member", "balance").embeds[0]["fields"][-1]["value"] == "1"


def test_notifications_off_stops_the_dm_notices(pts):
    world, emu = pts.world, pts.emulator
    earlier = len(emu.dms(world.member))  # the emulator lives for the whole module
    rec = pts.slash("member", "notifications", enabled=False)
    assert rec.content == "You will no longer get DMs when your points change in this server." and rec.ephemeral
    pts.slash("admin", "points add", member=world.member, amount=5, reason="quiet")
    pts.slash("admin", "points add", member=world.granted, amount=5, reason="loud")
    emu.wait_for(lambda: any("loud" in m.content for m in emu.dms(world.granted)))
    assert not OutboxMessage.objects.filter(kind="dm", target_id=world.member).exists()
    assert len(emu.dms(world.member)) == earlier
    back = pts.slash("member", "notifications", enabled=True, locale="vi")
    assert back.content.startswith("Bạn sẽ nhận tin nhắn riêng")
    pts.slash("admin", "points add", member=world.member, amount=5, reason="heard")
    emu.wait_for(lambda: any("heard" in m.content for m in emu.dms(world.member)))
