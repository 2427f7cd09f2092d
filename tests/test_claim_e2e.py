"""/claim, !claim and /email end to end through the emulator."""

from decimal import Decimal

from botproject import services as core
from points import services
from points.models import ClaimAttempt, LedgerEntry, MemberProfile, Order


def make_order(world, code: str, amount: str = "10", number: str = "SO-1", status: str = "open",
               email: str = "buyer@example.com") -> Order:
    return Order.objects.create(guild=core.config_row(world.guild_id).guild, order_number=number, email=email,
                                amount=Decimal(amount), code_hash=services.code_hash(world.guild_id, code),
                                code_hint=code[-4:], status=status)


def balance(world, who: str) -> int:
    return MemberProfile.objects.filter(user_id=getattr(world, who)).values_list("balance", flat=True).first() or 0


def test_claim_credits_the_order_once_and_sends_a_receipt(discord_bot):
    world, emu = discord_bot.world, discord_bot.emulator
    make_order(world, "GOOD-CODE-2345", amount="12.50")
    rec = discord_bot.slash("member", "claim", code="good-code-2345")
    assert rec.ephemeral
    assert rec.content == "Order SO-1 claimed: +13 points. Your balance: 13."
    assert balance(world, "member") == 13
    emu.wait_for(lambda: any("+13 points" in m.content for m in emu.dms(world.member)))

    again = discord_bot.slash("member", "claim", code="GOOD-CODE-2345")
    assert again.content.startswith("You already claimed that code on ")
    other = discord_bot.slash("staff", "claim", code="GOOD-CODE-2345")
    assert other.content == "That code was already claimed."
    assert LedgerEntry.objects.filter(kind="claim").count() == 1


def test_every_refusal_is_clear_and_credits_nothing(discord_bot):
    world = discord_bot.world
    make_order(world, "VOID-CODE-2345", number="SO-2", status="void")
    assert discord_bot.slash("member", "claim", code="VOID-CODE-2345").content.startswith(
        "That order was cancelled, so its code cannot be claimed.")
    assert discord_bot.slash("member", "claim", code="NOPE-NOPE-NOPE").content == \
        "No order in this server has that code. Check it and try again."
    assert discord_bot.slash("member", "claim", code="abc").content.startswith("That does not look like an order code")
    assert discord_bot.slash("member", "claim", code="NOPE-NOPE-NOPE", locale="vi").content == \
        "Không có đơn hàng nào trong máy chủ này có mã đó. Hãy kiểm tra và thử lại."
    core.block_add(guild_id=world.guild_id, user_id=world.blocked, reason="fraud")
    make_order(world, "MINE-CODE-2345", number="SO-3")
    assert discord_bot.slash("blocked", "claim", code="MINE-CODE-2345").content == \
        "You are blocked from using this in this server."
    assert not LedgerEntry.objects.exists()
    assert Order.objects.get(order_number="SO-3").status == "open"


def test_guessing_is_slowed_down_after_five_wrong_codes(discord_bot):
    world = discord_bot.world
    make_order(world, "REAL-CODE-2345")
    for n in range(5):
        discord_bot.slash("member", "claim", code=f"WRONG{n}CODE")
    rec = discord_bot.slash("member", "claim", code="REAL-CODE-2345")
    assert rec.content == "Too many wrong codes. Wait 10 minutes before trying again."
    assert Order.objects.get().status == "open"
    assert ClaimAttempt.objects.filter(user_id=world.member, succeeded=False).count() == 5


def test_prefix_claim_answers_in_the_channel(discord_bot):
    world, emu = discord_bot.world, discord_bot.emulator
    make_order(world, "TEXT-CODE-2345", amount="5")
    said = emu.user_message(world.general, world.member, "!claim TEXT-CODE-2345")
    answer = f"<@{world.member}> claimed an order code: +5 points. Your balance: 5."
    emu.wait_for(lambda: any(m.content == answer for m in emu.messages(world.general)))
    # The code was public: the bot (with Manage Messages) deleted it, and the answer names no order.
    emu.wait_for(lambda: emu.message(said.id).deleted)
    assert not any("SO-1" in m.content or "TEXT-CODE" in m.content for m in emu.messages(world.general))
    wrong = emu.user_message(world.general, world.member, "!claim NOPE-NOPE-NOPE")
    emu.wait_for(lambda: emu.message(wrong.id).deleted)
    emu.wait_for(lambda: any(m.content.startswith("No order in this server has that code")
                             for m in emu.messages(world.general)))
    emu.user_message(world.general, world.granted, "!claim")
    emu.wait_for(lambda: any(m.content.startswith("Something is missing: code.") for m in emu.messages(world.general)))
    assert balance(world, "member") == 5 and balance(world, "granted") == 0


def test_email_modal_validates_stores_and_matches_open_orders(discord_bot):
    world = discord_bot.world
    make_order(world, "MAIL-CODE-2345", email="Member@Example.com")
    shown = discord_bot.slash("member", "email")
    assert shown.modal is not None
    bad = discord_bot.emulator.submit_modal(world.guild_id, world.member, shown, values={"email": "not an address"})
    assert bad.content == "not an address is not a valid email address."
    assert not MemberProfile.objects.filter(user_id=world.member, email__gt="").exists()
    good = discord_bot.emulator.submit_modal(world.guild_id, world.member, shown,
                                             values={"email": "member@example.com"})
    assert good.content == ("Saved. Order notices will go to member@example.com. 1 unclaimed order carries this "
                            "address: claim it with /claim and the code from its e-mail.")
    assert MemberProfile.objects.get(user_id=world.member).email == "member@example.com"


def test_claim_and_email_answer_not_enabled_when_points_are_off(discord_bot):
    world = discord_bot.world
    core.config_set_module(guild_id=world.guild_id, module="points", enabled=False)
    text = "Points is not enabled in this server. An admin can switch it on with /config module."
    assert discord_bot.slash("member", "claim", code="ANY-CODE-2345").content == text
    assert discord_bot.slash("member", "email").content == text
