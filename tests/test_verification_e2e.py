"""Verification end to end: the real bot, the Discord emulator and a fake Roblox API over real HTTP.

/verify → code in the profile → Verify button → link, role and nickname; every refusal (bad input,
unknown or banned account, expired attempt, someone else's button, Roblox busy, account taken, blocked
member, module off, the bot's role too low) changes nothing; /reverify and /unverify keep the history;
/whois shows it; an unlink on the admin site has the bot take the role away through the outbox (a member who
left needs nothing, a bot role too low fails the row and tells the log channel, delivering again is harmless).
"""

from datetime import timedelta

import pytest
from django.utils import timezone, translation
from django.utils.translation import gettext

from botproject import outbox
from botproject import services as core
from botproject.exceptions import BotRoleTooLow
from botproject.models import OutboxMessage
from botproject.sandbox.fake_roblox import FakeRoblox
from tests.conftest import eventually
from verification import services
from verification.models import LinkEvent, RobloxLink, VerificationAttempt
from verification.words import WORDS

BUSY_7 = "Roblox is busy, try again in 7 s. Nothing was changed."
BUSY_DEFAULT = "Roblox is busy, try again in 10 s. Nothing was changed."


@pytest.fixture
def roblox(settings):
    """A fresh fake Roblox users API for each test; the bot reads ROBLOX_USERS_API_URL when it calls."""
    with FakeRoblox() as fake:
        settings.ROBLOX_USERS_API_URL = fake.url
        yield fake


@pytest.fixture
def vbot(discord_bot, roblox):
    """The standard guild with staff, verified role and log channel configured, and `blocked` blocked."""
    world = discord_bot.world
    gid = world.guild_id
    core.config_set_role(guild_id=gid, kind="staff", role_id=world.staff_role)
    core.config_set_role(guild_id=gid, kind="verified", role_id=world.verified_role)
    core.config_set_channel(guild_id=gid, kind="log", channel_id=world.logs, channel_type="text")
    core.block_add(guild_id=gid, user_id=world.blocked, reason="test")
    discord_bot.bot.get_cog("VerificationCog").checks.reset()  # each test starts with a fresh per-member limit
    return discord_bot


class Member:
    """A member who joins the test guild for one test (no roles), and acts as themselves."""

    def __init__(self, bot, username: str) -> None:
        self.bot, self.emu, self.gid = bot, bot.emulator, bot.world.guild_id
        self.id = self.emu.member_join(self.gid, username=username).user_id

    def slash(self, command: str, **options):
        return self.emu.slash(self.gid, self.id, command, **options)

    def click(self, record, custom_id: str, **options):
        return self.emu.click(self.gid, self.id, record, custom_id, **options)

    @property
    def roles(self) -> list[int]:
        return list(self.emu.member(self.gid, self.id).roles)

    @property
    def nick(self) -> str | None:
        return self.emu.member(self.gid, self.id).nick


def _start(member: Member, username: str):
    """Run /verify and return (the reply, the attempt row)."""
    rec = member.slash("verify", username=username)
    return rec, VerificationAttempt.objects.get(user_id=member.id, status="pending")


def _verified(member: Member, roblox: FakeRoblox, account) -> RobloxLink:
    """Verify `member` as `account` all the way; return the link."""
    rec, attempt = _start(member, account.name)
    roblox.set_description(account.id, attempt.code)
    done = member.click(rec, f"verify:check:{attempt.pk}")
    assert done.content.startswith("✅"), done.content
    return RobloxLink.objects.get(user_id=member.id, unlinked_at__isnull=True)


def _nothing_written() -> bool:
    return not RobloxLink.objects.exists() and not LinkEvent.objects.exists()


def _log_texts(bot) -> list[str]:
    return [m.content for m in bot.emulator.messages(bot.world.logs)]


# --- the happy path ------------------------------------------------------------------------------------------
def test_a_member_verifies_with_the_code_in_the_profile_and_gets_the_role(vbot, roblox):
    world, emu = vbot.world, vbot.emulator
    alice = Member(vbot, "alice_discord")
    account = roblox.add_user("AliceBuilds", display_name="Alice", description="I build things")
    rec, attempt = _start(alice, "alicebuilds")
    assert rec.ephemeral
    assert (attempt.roblox_id, attempt.roblox_name, attempt.roblox_display_name, attempt.purpose) == (
        account.id, "AliceBuilds", "Alice", "verify")
    words = attempt.code.split()
    assert len(words) == 5 and set(words) <= set(WORDS)
    assert abs(attempt.expires_at - attempt.created_at - timedelta(minutes=15)) < timedelta(seconds=1)
    embed = rec.embeds[0]
    assert embed["title"] == "Verify your Roblox account"
    assert f"```\n{attempt.code}\n```" in embed["description"]
    assert f"https://www.roblox.com/users/{account.id}/profile" in embed["description"]
    assert rec.custom_ids == [f"verify:check:{attempt.pk}"]
    assert not RobloxLink.objects.exists()

    # Any case, punctuation and line breaks around the words will do.
    roblox.set_description(account.id, "I build things!\n" + attempt.code.upper().replace(" ", ",\n ") + " :)")
    done = alice.click(rec, f"verify:check:{attempt.pk}")
    profile = f"https://www.roblox.com/users/{account.id}/profile"
    assert done.content == (f"✅ You are verified as [Alice (@AliceBuilds)]({profile}).\n"
                            "You can remove the words from your profile now.")
    assert done.components == []  # the button is gone with the code
    link = RobloxLink.objects.get()
    assert (link.user_id, link.roblox_id, link.roblox_name, link.roblox_display_name, link.shared) == (
        alice.id, account.id, "AliceBuilds", "Alice", False)
    assert link.attempt_id == attempt.pk and link.unlinked_at is None
    event = LinkEvent.objects.get()
    assert (event.action, event.link_id, event.actor_id, event.roblox_id) == ("verify", link.pk, alice.id, account.id)
    attempt.refresh_from_db()
    assert attempt.status == "verified" and attempt.closed_at is not None
    assert world.verified_role in alice.roles
    assert alice.nick is None  # the guild did not ask for nicknames
    emu.wait_for(lambda: f"🔗 <@{alice.id}> verified as AliceBuilds (Roblox id {account.id})." in _log_texts(vbot))


def test_the_nickname_becomes_the_roblox_username_when_the_guild_wants_it(vbot, roblox):
    core.config_update(guild_id=vbot.world.guild_id, changes={"verification_set_nickname": True})
    bob = Member(vbot, "bob_discord")
    account = roblox.add_user("BobTheBuilder")
    _verified(bob, roblox, account)
    assert bob.nick == "BobTheBuilder"
    assert vbot.world.verified_role in bob.roles
    bob.slash("unverify")
    assert bob.nick is None and vbot.world.verified_role not in bob.roles


def test_a_username_given_with_at_and_spaces_around_is_found(vbot, roblox):
    carol = Member(vbot, "carol_discord")
    account = roblox.add_user("Carol_99")
    rec, attempt = _start(carol, "  @carol_99 ")
    assert attempt.roblox_id == account.id
    assert roblox.requests[0][2] == {"usernames": ["carol_99"], "excludeBannedUsers": False}


# --- refusals that change nothing ----------------------------------------------------------------------------
def test_a_wrong_code_says_what_was_found_and_a_second_try_works(vbot, roblox):
    dave = Member(vbot, "dave_discord")
    account = roblox.add_user("DaveBuilds", description="Hello   there\nfriends `x`")
    rec, attempt = _start(dave, "DaveBuilds")
    wrong = dave.click(rec, f"verify:check:{attempt.pk}")
    assert wrong.ephemeral
    assert wrong.content == (
        "The code is not in the profile of DaveBuilds yet. Its description says: `Hello there friends 'x'`\n"
        f"Put these words in your Roblox profile description (About), save, then press Verify again: `{attempt.code}`")
    assert _nothing_written()
    assert vbot.world.verified_role not in dave.roles
    # Half the words, or the words out of order, are not the code either.
    half = " ".join(attempt.code.split()[:3])
    roblox.set_description(account.id, half)
    assert dave.click(rec, f"verify:check:{attempt.pk}").content.startswith(
        f"The code is not in the profile of DaveBuilds yet. Its description says: `{half}`")
    roblox.set_description(account.id, " ".join(reversed(attempt.code.split())))
    assert dave.click(rec, f"verify:check:{attempt.pk}").content.startswith("The code is not in the profile")
    assert _nothing_written()
    # Fixed on Roblox: the same button works now (the check reads the profile fresh, never from the cache).
    roblox.set_description(account.id, f"code: {attempt.code}")
    assert dave.click(rec, f"verify:check:{attempt.pk}").content.startswith("✅ You are verified as [DaveBuilds]")
    assert RobloxLink.objects.filter(user_id=dave.id).count() == 1


def test_an_empty_or_filtered_description_is_explained(vbot, roblox):
    erin = Member(vbot, "erin_discord")
    account = roblox.add_user("ErinBuilds", description="")
    rec, attempt = _start(erin, "ErinBuilds")
    assert erin.click(rec, f"verify:check:{attempt.pk}").content.startswith(
        "The code is not in the profile of ErinBuilds yet. Its description says: (empty)\n")
    roblox.set_description(account.id, "#### #### " + attempt.code.split()[-1])
    assert erin.click(rec, f"verify:check:{attempt.pk}").content == (
        "Roblox's filter hid part of the description of ErinBuilds (it shows ####), so the code cannot be read. "
        f"Run /verify again for new words. The description says: `#### #### {attempt.code.split()[-1]}`")
    assert _nothing_written()


def test_an_unknown_username_is_refused(vbot, roblox):
    frank = Member(vbot, "frank_discord")
    rec = frank.slash("verify", username="NobodyHere")
    assert rec.ephemeral
    assert rec.content == ("Roblox has no account called NobodyHere. Check the spelling of the username "
                           "(not the display name) and try again.")
    assert not VerificationAttempt.objects.exists() and _nothing_written()


@pytest.mark.parametrize("username", ["John Doe", "ab", "x" * 21, "Nguyễn", "x" * 100])
def test_a_username_roblox_would_refuse_never_reaches_roblox(vbot, roblox, username):
    gina = Member(vbot, "gina_discord")
    rec = gina.slash("verify", username=username)
    assert rec.content.startswith("That is not a Roblox username. Usernames have 3 to 20 characters")
    assert roblox.requests == []
    assert not VerificationAttempt.objects.exists() and _nothing_written()


def test_a_banned_account_is_refused_at_verify_and_at_the_button(vbot, roblox):
    hank = Member(vbot, "hank_discord")
    roblox.add_user("BannedBuilder", banned=True)
    rec = hank.slash("verify", username="BannedBuilder")
    assert rec.content == "The Roblox account BannedBuilder is banned, so it cannot be linked."
    assert not VerificationAttempt.objects.exists()
    # Banned after the code was handed out.
    account = roblox.add_user("SoonBanned")
    rec, attempt = _start(hank, "SoonBanned")
    roblox.set_description(account.id, attempt.code)
    roblox.users[account.id].banned = True
    assert hank.click(rec, f"verify:check:{attempt.pk}").content == \
        "The Roblox account SoonBanned is banned, so it cannot be linked."
    assert _nothing_written() and vbot.world.verified_role not in hank.roles


def test_an_expired_attempt_is_refused_without_asking_roblox(vbot, roblox):
    ivy = Member(vbot, "ivy_discord")
    account = roblox.add_user("IvyBuilds")
    rec, attempt = _start(ivy, "IvyBuilds")
    roblox.set_description(account.id, attempt.code)
    VerificationAttempt.objects.filter(pk=attempt.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    asked = len(roblox.requests)
    expired = ivy.click(rec, f"verify:check:{attempt.pk}")
    assert expired.content == "This code has expired (codes last 15 minutes). Run /verify again for a new one."
    assert len(roblox.requests) == asked
    assert _nothing_written()
    # A new /verify replaces it with a new code.
    _, attempt2 = _start(ivy, "IvyBuilds")
    assert attempt2.pk != attempt.pk
    assert VerificationAttempt.objects.get(pk=attempt.pk).status == "replaced"
    assert ivy.click(rec, f"verify:check:{attempt.pk}").content == (
        "This verification is finished or was replaced by a newer one. Run /verify to start again.")


def test_only_the_member_who_asked_can_press_the_button(vbot, roblox):
    jack, kim = Member(vbot, "jack_discord"), Member(vbot, "kim_discord")
    account = roblox.add_user("JackBuilds")
    rec, attempt = _start(jack, "JackBuilds")
    roblox.set_description(account.id, attempt.code)
    asked = len(roblox.requests)
    refused = kim.click(rec, f"verify:check:{attempt.pk}")
    assert refused.ephemeral
    assert refused.content == f"This Verify button belongs to <@{jack.id}>. To verify yourself, run /verify."
    staff = vbot.emulator.click(vbot.world.guild_id, vbot.world.staff, rec, f"verify:check:{attempt.pk}")
    assert staff.content == f"This Verify button belongs to <@{jack.id}>. To verify yourself, run /verify."
    assert len(roblox.requests) == asked and _nothing_written()
    assert VerificationAttempt.objects.get(pk=attempt.pk).status == "pending"
    assert vbot.world.verified_role not in kim.roles
    # The member who asked still can.
    assert jack.click(rec, f"verify:check:{attempt.pk}").content.startswith("✅")
    assert RobloxLink.objects.get().user_id == jack.id


@pytest.mark.parametrize("mode,retry_after,expected", [("429", "7", BUSY_7), ("500", None, BUSY_DEFAULT)])
def test_roblox_busy_at_verify_or_at_the_button_links_nothing(vbot, roblox, settings, mode, retry_after, expected):
    leo = Member(vbot, "leo_discord")
    account = roblox.add_user("LeoBuilds")
    roblox.fail(mode, retry_after)
    rec = leo.slash("verify", username="LeoBuilds")
    assert rec.ephemeral and rec.content == expected
    assert not VerificationAttempt.objects.exists()

    # Roblox recovers: the code is handed out; then it fails again just as Leo presses Verify.
    fresh = FakeRoblox()  # a new base URL: the client's "wait 7 s" applies to the old one only
    try:
        settings.ROBLOX_USERS_API_URL = fresh.url
        fresh.add_user("LeoBuilds", user_id=account.id)
        rec, attempt = _start(leo, "LeoBuilds")
        fresh.set_description(account.id, attempt.code)
        fresh.fail(mode, retry_after)
        failed = leo.click(rec, f"verify:check:{attempt.pk}")
        assert failed.content == expected
        assert _nothing_written() and vbot.world.verified_role not in leo.roles
        assert VerificationAttempt.objects.get(pk=attempt.pk).status == "pending"
        fresh.fail(None)
        if mode == "500":  # no wait asked for: pressing again works at once
            assert leo.click(rec, f"verify:check:{attempt.pk}").content.startswith("✅")
    finally:
        fresh.close()


def test_an_account_linked_to_another_member_is_refused_unless_staff_allow_sharing(vbot, roblox):
    mia, ned, olga = Member(vbot, "mia_discord"), Member(vbot, "ned_discord"), Member(vbot, "olga_discord")
    account = roblox.add_user("FamilyAccount")
    # Ned gets a code while the account is still free; Mia links it first.
    ned_rec, ned_attempt = _start(ned, "FamilyAccount")
    _verified(mia, roblox, account)
    taken = ("The Roblox account FamilyAccount is already linked to another member of this server. If it is "
             "yours, ask the staff: they can unlink it, or allow shared accounts.")
    assert ned.click(ned_rec, f"verify:check:{ned_attempt.pk}").content == taken
    assert olga.slash("verify", username="FamilyAccount").content == taken
    assert RobloxLink.objects.filter(roblox_id=account.id).count() == 1
    assert vbot.world.verified_role not in ned.roles

    core.config_update(guild_id=vbot.world.guild_id, changes={"verification_allow_shared_accounts": True})
    vbot.bot._configs.clear()
    link = _verified(olga, roblox, account)
    assert link.shared is True
    assert RobloxLink.objects.filter(roblox_id=account.id, unlinked_at__isnull=True).count() == 2


def test_verify_when_linked_says_so_and_puts_the_role_back(vbot, roblox):
    pam = Member(vbot, "pam_discord")
    account = roblox.add_user("PamBuilds")
    _verified(pam, roblox, account)
    vbot.emulator.set_member_roles(vbot.world.guild_id, pam.id, [])  # someone took the role away by hand
    asked = len(roblox.requests)
    rec = pam.slash("verify", username="SomeoneElse")
    assert rec.content == "You are already verified as PamBuilds. To link another Roblox account, use /reverify."
    assert vbot.world.verified_role in pam.roles
    assert len(roblox.requests) == asked
    assert RobloxLink.objects.count() == 1 and LinkEvent.objects.count() == 1


# --- reverify, unverify, whois -------------------------------------------------------------------------------
def test_reverify_links_another_account_and_keeps_the_history(vbot, roblox):
    world = vbot.world
    quinn = Member(vbot, "quinn_discord")
    first, second = roblox.add_user("QuinnOld"), roblox.add_user("QuinnNew", display_name="Quinn")
    assert quinn.slash("reverify", username="QuinnNew").content == \
        "You are not verified in this server yet. Use /verify first."
    old = _verified(quinn, roblox, first)
    assert quinn.slash("reverify", username="quinnold").content == \
        "You are already linked to QuinnOld. Give /reverify the username of the other account."
    rec = quinn.slash("reverify", username="QuinnNew")
    attempt = VerificationAttempt.objects.get(user_id=quinn.id, status="pending")
    assert attempt.purpose == "reverify" and rec.embeds[0]["title"] == "Link another Roblox account"
    roblox.set_description(second.id, attempt.code)
    done = quinn.click(rec, f"verify:check:{attempt.pk}")
    assert done.content.startswith(
        f"✅ You are now linked to [Quinn (@QuinnNew)](https://www.roblox.com/users/{second.id}/profile). "
        "Your earlier link stays in the history.")
    old.refresh_from_db()
    assert old.unlinked_at is not None and old.unlink_reason == "reverify" and old.unlinked_by_id == quinn.id
    new = RobloxLink.objects.get(user_id=quinn.id, unlinked_at__isnull=True)
    assert new.roblox_id == second.id
    assert list(LinkEvent.objects.order_by("id").values_list("action", "roblox_name", "previous_link")) == [
        ("verify", "QuinnOld", None), ("reverify", "QuinnNew", old.pk)]
    assert world.verified_role in quinn.roles
    vbot.emulator.wait_for(lambda: f"🔁 <@{quinn.id}> reverified: QuinnOld → QuinnNew (Roblox id {second.id})."
                         in _log_texts(vbot))

    whois = vbot.emulator.slash(world.guild_id, world.staff, "whois", member=quinn.id)
    embed = whois.embeds[0]
    assert whois.ephemeral and embed["title"] == "Roblox link of quinn_discord"
    assert embed["description"].startswith(
        f"Linked to [Quinn (@QuinnNew)](https://www.roblox.com/users/{second.id}/profile) · Roblox id {second.id}")
    history = embed["fields"][0]["value"].split("\n")
    assert history[0].endswith(f"reverified: QuinnOld → **QuinnNew** ({second.id})")
    assert history[1].endswith(f"verified as **QuinnOld** ({first.id})")


def test_unverify_removes_the_role_and_the_history_stays(vbot, roblox):
    world = vbot.world
    rita = Member(vbot, "rita_discord")
    account = roblox.add_user("RitaBuilds")
    _verified(rita, roblox, account)
    assert world.verified_role in rita.roles
    rec = rita.slash("unverify")
    assert rec.ephemeral
    assert rec.content == (f"You are no longer linked to [RitaBuilds](https://www.roblox.com/users/{account.id}/"
                           "profile). The link stays in the history.")
    assert world.verified_role not in rita.roles
    link = RobloxLink.objects.get()
    assert link.unlink_reason == "unverify" and link.unlinked_by_id == rita.id
    assert not OutboxMessage.objects.filter(kind="role_del").exists()  # the cog took the role itself
    assert list(LinkEvent.objects.order_by("id").values_list("action", flat=True)) == ["verify", "unverify"]
    assert rita.slash("unverify").content == "You are not verified in this server yet. Use /verify first."
    vbot.emulator.wait_for(lambda: f"✂️ <@{rita.id}> unlinked RitaBuilds (Roblox id {account.id})." in _log_texts(vbot))
    # Verified again later with the same account: a new link, the old one stays.
    _verified(rita, roblox, account)
    assert RobloxLink.objects.count() == 2 and LinkEvent.objects.count() == 3

    whois = vbot.emulator.slash(world.guild_id, world.staff, "whois", member=rita.id)
    lines = whois.embeds[0]["fields"][0]["value"].split("\n")
    assert [line.split(" · ", 1)[1] for line in lines] == [
        f"verified as **RitaBuilds** ({account.id})", "unlinked RitaBuilds themselves",
        f"verified as **RitaBuilds** ({account.id})"]


def test_staff_unlink_a_member_and_members_cannot_unlink_others(vbot, roblox):
    world = vbot.world
    sam, tom = Member(vbot, "sam_discord"), Member(vbot, "tom_discord")
    _verified(sam, roblox, roblox.add_user("SamBuilds"))
    assert tom.slash("unverify", member=sam.id).content == "Only staff can do that."
    assert RobloxLink.objects.get().unlinked_at is None
    rec = vbot.emulator.slash(world.guild_id, world.staff, "unverify", member=sam.id)
    assert rec.content.startswith(f"<@{sam.id}> is no longer linked to [SamBuilds]")
    assert world.verified_role not in sam.roles
    event = LinkEvent.objects.get(action="staff")
    assert (event.user_id, event.actor_id) == (sam.id, world.staff)
    assert vbot.emulator.slash(world.guild_id, world.staff, "unverify", member=tom.id).content == \
        f"<@{tom.id}> has no linked Roblox account in this server."
    whois = vbot.emulator.slash(world.guild_id, world.staff, "whois", member=tom.id)
    assert whois.embeds[0]["description"] == "No linked Roblox account."
    assert whois.embeds[0]["fields"][0]["value"] == "Nothing yet."
    assert tom.slash("whois", member=sam.id).content == "Only staff can do that."


# --- who may, where, and what Discord allows -----------------------------------------------------------------
def test_a_blocked_member_is_refused_and_nothing_reaches_roblox(vbot, roblox):
    world = vbot.world
    roblox.add_user("BlockedBuilds")
    rec = vbot.emulator.slash(world.guild_id, world.blocked, "verify", username="BlockedBuilds")
    assert rec.content == "You are blocked from using this in this server."
    assert vbot.emulator.slash(world.guild_id, world.blocked, "reverify", username="BlockedBuilds").content == \
        "You are blocked from using this in this server."
    assert roblox.requests == [] and not VerificationAttempt.objects.exists()
    # Blocked after getting a code: the button refuses too.
    uma = Member(vbot, "uma_discord")
    account = roblox.add_user("UmaBuilds")
    rec, attempt = _start(uma, "UmaBuilds")
    roblox.set_description(account.id, attempt.code)
    core.block_add(guild_id=world.guild_id, user_id=uma.id, reason="spam")
    assert uma.click(rec, f"verify:check:{attempt.pk}").content == "You are blocked from using this in this server."
    assert _nothing_written()


def test_with_the_module_off_every_command_says_so(vbot, roblox):
    world = vbot.world
    core.config_set_module(guild_id=world.guild_id, module="verification", enabled=False)
    off = "Verification is not enabled in this server. An admin can switch it on with /config module."
    vera = Member(vbot, "vera_discord")
    assert vera.slash("verify", username="Anyone").content == off
    assert vera.slash("reverify", username="Anyone").content == off
    assert vera.slash("unverify").content == off
    assert vbot.emulator.slash(world.guild_id, world.staff, "whois", member=vera.id).content == off
    assert roblox.requests == [] and not VerificationAttempt.objects.exists()


def test_when_the_bot_role_is_too_low_the_member_and_the_log_channel_are_told(vbot, roblox):
    world, emu = vbot.world, vbot.emulator
    walt = Member(vbot, "walt_discord")
    account = roblox.add_user("WaltBuilds")
    bot_role = emu.bot_role(world.guild_id)
    emu.set_role(world.guild_id, world.verified_role, position=bot_role.position + 1)
    try:
        link_rec, attempt = _start(walt, "WaltBuilds")
        roblox.set_description(account.id, attempt.code)
        done = walt.click(link_rec, f"verify:check:{attempt.pk}")
        problem = (f"I cannot manage Verified: it is not below my highest role ({bot_role.name}). "
                   "Move my role above it in Server Settings → Roles, then try again.")
        assert done.content == (
            f"✅ You are verified as [WaltBuilds](https://www.roblox.com/users/{account.id}/profile).\n"
            "You can remove the words from your profile now.\n"
            f"⚠️ I could not give you the Verified role: {problem}")
        assert RobloxLink.objects.filter(user_id=walt.id, unlinked_at__isnull=True).exists()
        assert world.verified_role not in walt.roles
        emu.wait_for(lambda: f"⚠️ Verification of <@{walt.id}>: {problem}" in _log_texts(vbot))
    finally:
        emu.set_role(world.guild_id, world.verified_role, position=1)
    # The admins fixed the role order: /verify puts the role on.
    assert walt.slash("verify", username="WaltBuilds").content.startswith("You are already verified as WaltBuilds.")
    assert world.verified_role in walt.roles


def test_a_vietnamese_member_is_answered_in_vietnamese(vbot, roblox):
    xuan = Member(vbot, "xuan_discord")
    account = roblox.add_user("XuanBuilds")
    assert xuan.slash("verify", username="tên có dấu cách", locale="vi").content.startswith(
        "Đó không phải tên người dùng Roblox.")
    rec = xuan.slash("verify", username="XuanBuilds", locale="vi")
    attempt = VerificationAttempt.objects.get(user_id=xuan.id)
    assert rec.embeds[0]["title"] == "Xác minh tài khoản Roblox của bạn"
    wrong = xuan.click(rec, f"verify:check:{attempt.pk}", locale="vi")
    assert wrong.content.startswith("Mã chưa có trong hồ sơ của XuanBuilds.")
    roblox.set_description(account.id, attempt.code)
    done = xuan.click(rec, f"verify:check:{attempt.pk}", locale="vi")
    assert done.content.startswith("✅ Bạn đã được xác minh là [XuanBuilds]")
    assert vbot.emulator.slash(vbot.world.guild_id, xuan.id, "unverify", locale="vi").content.startswith(
        "Bạn không còn liên kết với [XuanBuilds]")


# --- unlinks on the admin site: the outbox ------------------------------------------------------------------
def _role_removal(link: RobloxLink) -> OutboxMessage:
    return OutboxMessage.objects.get(kind="role_del", dedupe_key=f"verify:unlink:{link.pk}")


def _deliveries(bot, row: OutboxMessage) -> int:
    """How often the bot delivered `row` (read on the bot's loop)."""
    return bot.emulator.call(lambda: list(bot.bot.get_cog("OutboxCog").recently_delivered).count(row.pk))


def _deliver_again(row: OutboxMessage) -> None:
    """Make a row due again and wake the bot, as a retry after a lost answer or an expired lease does."""
    OutboxMessage.objects.filter(pk=row.pk).update(status="pending", available_at=timezone.now())
    outbox.wake()


def test_an_unlink_on_the_admin_site_has_the_bot_take_the_role_and_nickname_away(vbot, roblox, admin_client):
    world, emu = vbot.world, vbot.emulator
    core.config_update(guild_id=world.guild_id, changes={"verification_set_nickname": True})
    yara = Member(vbot, "yara_discord")
    link = _verified(yara, roblox, roblox.add_user("YaraBuilds"))
    assert world.verified_role in yara.roles and yara.nick == "YaraBuilds"
    page = admin_client.post("/admin/verification/robloxlink/", {"action": "unlink",
                                                                 "_selected_action": [link.pk]}, follow=True)
    assert ("Unlinked 1 member; the bot takes the verified role away at once (or when it next starts)."
            in page.content.decode())
    emu.wait_for(lambda: world.verified_role not in yara.roles and yara.nick is None)
    row = _role_removal(link)
    emu.wait_for(lambda: _deliveries(vbot, row) == 1)
    row.refresh_from_db()
    assert (row.status, row.last_error, row.target_id, row.message_id) == ("sent", "", yara.id, world.verified_role)
    link.refresh_from_db()
    assert link.unlink_reason == "admin" and link.unlinked_by_user.username == "admin"
    event = LinkEvent.objects.get(action="admin")
    assert event.actor_user.username == "admin" and event.actor_id is None
    emu.wait_for(lambda: any(t.startswith("✂️ admin (admin site) unlinked YaraBuilds") for t in _log_texts(vbot)))
    # Delivered again (a retry after a lost answer): nothing is left to do, and that is no error.
    emu.set_member(world.guild_id, yara.id, nick="yara_chose_this")
    _deliver_again(row)
    emu.wait_for(lambda: _deliveries(vbot, row) == 2)
    row.refresh_from_db()
    assert (row.status, row.last_error) == ("sent", "")
    assert yara.nick == "yara_chose_this"  # a nickname the member chose since is theirs
    assert not any("could not" in t for t in _log_texts(vbot))
    detail = admin_client.get(f"/admin/verification/robloxlink/{link.pk}/change/")
    assert detail.status_code == 200 and "Discord role removal" in detail.content.decode()
    assert admin_client.get("/admin/verification/linkevent/").status_code == 200
    assert admin_client.get("/admin/verification/verificationattempt/").status_code == 200
    assert admin_client.get(f"/admin/botproject/outboxmessage/{row.pk}/change/").status_code == 200


def test_an_admin_unlink_of_a_member_who_left_needs_nothing(vbot, roblox):
    world, emu = vbot.world, vbot.emulator
    zoe = Member(vbot, "zoe_discord")
    link = _verified(zoe, roblox, roblox.add_user("ZoeBuilds"))
    emu.member_leave(world.guild_id, zoe.id)
    emu.wait_for(lambda: vbot.bot.get_guild(world.guild_id).get_member(zoe.id) is None)
    services.link_unlink_from_admin(link_id=link.pk)
    row = eventually(lambda: OutboxMessage.objects.filter(pk=_role_removal(link).pk, status="skipped").first())
    assert row.last_error == "the member left the server" and row.attempts == 1
    emu.wait_for(lambda: any(t.startswith("✂️ someone (admin site) unlinked ZoeBuilds") for t in _log_texts(vbot)))
    assert not any("could not" in t for t in _log_texts(vbot))


@pytest.mark.parametrize("language", ["en", "vi"])
def test_when_the_bot_role_is_too_low_an_admin_unlink_fails_and_the_log_channel_is_told(vbot, roblox, language):
    world, emu = vbot.world, vbot.emulator
    gid = world.guild_id
    walt = Member(vbot, "walt_discord")
    link = _verified(walt, roblox, roblox.add_user("WaltBuilds"))
    core.config_set_language(guild_id=gid, language=language)
    bot_role = emu.bot_role(gid)
    emu.set_role(gid, world.verified_role, position=bot_role.position + 1)
    try:
        emu.wait_for(lambda: vbot.bot.get_guild(gid).get_role(world.verified_role).position > bot_role.position)
        services.link_unlink_from_admin(link_id=link.pk)
        row = eventually(lambda: OutboxMessage.objects.filter(pk=_role_removal(link).pk, status="failed").first())
        problem = (f"I cannot manage Verified: it is not below my highest role ({bot_role.name}). "
                   "Move my role above it in Server Settings → Roles, then try again.")
        assert row.last_error == f"I could not take the Verified role away from <@{walt.id}>: {problem}"
        with translation.override(language):
            note = "⚠️ " + gettext("I could not take the %(role)s role away from <@%(user)s>: %(problem)s") % {
                "role": "Verified", "user": walt.id,
                "problem": BotRoleTooLow(role="Verified", mine=bot_role.name).user_message()}
        if language == "en":
            assert note == f"⚠️ I could not take the Verified role away from <@{walt.id}>: {problem}"
        else:
            assert note.startswith(f"⚠️ Bot không thể gỡ vai trò Verified khỏi <@{walt.id}>: Bot không thể quản lý "
                                   "Verified")
        emu.wait_for(lambda: note in _log_texts(vbot))
        assert world.verified_role in walt.roles
    finally:
        emu.set_role(gid, world.verified_role, position=1)
    # The admins fixed the role order: delivering the row again takes the role.
    emu.wait_for(lambda: vbot.bot.get_guild(gid).get_role(world.verified_role).position == 1)
    _deliver_again(row)
    emu.wait_for(lambda: world.verified_role not in walt.roles)
    eventually(lambda: OutboxMessage.objects.filter(pk=row.pk, status="sent", last_error="").exists())



# --- limits on abuse (issue 13.6) ----------------------------------------------------------------------------
def test_a_member_who_checks_too_often_waits_and_nothing_reaches_roblox(vbot, roblox):
    from verification.cogs import CHECKS_PER_MINUTE

    mia = Member(vbot, "mia_discord")
    account = roblox.add_user("MiaBuilds")
    rec, attempt = _start(mia, "MiaBuilds")
    for _ in range(CHECKS_PER_MINUTE - 1):  # the /verify above was the first check
        assert mia.click(rec, f"verify:check:{attempt.pk}").content.startswith("The code is not in the profile")
    asked = len(roblox.requests)
    roblox.set_description(account.id, attempt.code)

    refused = mia.click(rec, f"verify:check:{attempt.pk}")
    assert refused.ephemeral
    assert refused.content.startswith("You are checking too often. Try again in ")
    assert refused.content.endswith(" s. Nothing was changed.")
    assert 1 <= int(refused.content.split("Try again in ")[1].split(" s")[0]) <= 60
    again = mia.slash("verify", username="MiaBuilds")  # /verify counts against the same limit
    assert again.content.startswith("You are checking too often.")
    assert len(roblox.requests) == asked, "a refused check asks Roblox nothing"
    assert _nothing_written()
    assert VerificationAttempt.objects.get(user_id=mia.id, status="pending").pk == attempt.pk

    # Other members are not held up by Mia.
    other = Member(vbot, "ola_discord")
    assert _verified(other, roblox, roblox.add_user("OlaBuilds")).user_id == other.id
    with translation.override("vi"):
        assert gettext("You are checking too often. Try again in %(seconds)s s. Nothing was changed.") != (
            "You are checking too often. Try again in %(seconds)s s. Nothing was changed.")
