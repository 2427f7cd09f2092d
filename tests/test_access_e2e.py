"""Grants, blocklist, helpers, preflight checks and the audit trail, end to end through the emulator."""

import pytest

from botproject import services
from botproject.models import AuditEntry, BlockEntry, DiscordName, HelperRecord, OutboxMessage, PermissionGrant
from botproject.sandbox.emulator import OptionRejected
from botproject.sandbox.emulator import permissions as P


@pytest.fixture
def bot_with_log(discord_bot):
    """The standard guild with its log channel and helper role configured."""
    world = discord_bot.world
    services.config_set_channel(guild_id=world.guild_id, kind="log", channel_id=world.logs, channel_type="text")
    services.config_set_role(guild_id=world.guild_id, kind="helper", role_id=world.helper_role)
    services.config_set_role(guild_id=world.guild_id, kind="staff", role_id=world.staff_role)
    return discord_bot


def _log_texts(bot) -> list[str]:
    return [m.content for m in bot.emulator.messages(bot.world.logs)]


def _wait_log(bot, fragment: str) -> str:
    bot.emulator.wait_for(lambda: any(fragment in text for text in _log_texts(bot)), timeout=5)
    return next(text for text in _log_texts(bot) if fragment in text)


def test_owner_grants_roles_and_users_lists_and_revokes_them(bot_with_log):
    world = bot_with_log.world
    rec = bot_with_log.slash("owner", "addrole", role=world.verified_role)
    assert rec.content == f"<@&{world.verified_role}> now has access to the restricted commands."
    again = bot_with_log.slash("owner", "addrole", role=world.verified_role)
    assert again.content == f"<@&{world.verified_role}> already has access."
    bot_with_log.slash("owner", "allowusers", user=world.member)
    assert set(PermissionGrant.objects.values_list("kind", "target_id")) == {
        ("role", world.verified_role), ("user", world.member)}

    listing = bot_with_log.slash("owner", "permissions list")
    fields = {f["name"]: f["value"] for f in listing.embeds[0]["fields"]}
    assert fields["Roles"].startswith(f"<@&{world.verified_role}>")
    assert fields["Users"].startswith(f"<@{world.member}>")

    bot_with_log.slash("owner", "permissions revoke", role=world.verified_role)
    missing = bot_with_log.slash("owner", "permissions revoke", role=world.verified_role)
    assert missing.content == f"<@&{world.verified_role}> has no grant to revoke."
    bot_with_log.slash("owner", "permissions revoke-user", user=world.member)
    assert not PermissionGrant.objects.exists()

    grants = AuditEntry.objects.filter(action__startswith="grant").order_by("id")
    actions = list(grants.values_list("action", "actor_id"))
    assert actions == [("grant.add", world.owner), ("grant.add", world.owner), ("grant.revoke", world.owner),
                       ("grant.revoke", world.owner)]
    assert (_wait_log(bot_with_log, "granted access to")
            == f"🛠️ <@{world.owner}>: granted access to <@&{world.verified_role}>")
    assert DiscordName.objects.get(kind="user", discord_id=world.member).name.endswith("_member")


def test_granting_everyone_or_a_bot_role_is_refused(bot_with_log):
    world = bot_with_log.world
    rec = bot_with_log.slash("owner", "addrole", role=world.everyone_role)
    assert rec.content == "@everyone cannot be granted: pick a normal role."
    rec = bot_with_log.slash("owner", "addrole", role=world.bot_role)
    assert rec.content.endswith("cannot be granted: pick a normal role.")
    assert not PermissionGrant.objects.exists()


def test_block_and_unblock_keep_the_history(bot_with_log):
    world = bot_with_log.world
    rec = bot_with_log.slash("staff", "block", user=world.member, reason="spamming tickets")
    assert rec.content == f"<@{world.member}> is blocked: spamming tickets"
    twice = bot_with_log.slash("staff", "block", user=world.member, reason="again")
    assert twice.content == f"<@{world.member}> is already blocked."

    listing = bot_with_log.slash("staff", "blocklist")
    assert f"<@{world.member}> · spamming tickets · by <@{world.staff}>" in listing.embeds[0]["description"]

    bot_with_log.slash("staff", "unblock", user=world.member)
    entry = BlockEntry.objects.get(user_id=world.member)
    assert (entry.blocked_by_id, entry.unblocked_by_id, entry.reason) == (world.staff, world.staff, "spamming tickets")
    assert entry.unblocked_at >= entry.blocked_at
    not_blocked = bot_with_log.slash("staff", "unblock", user=world.member)
    assert not_blocked.content == f"<@{world.member}> is not blocked."

    listing = bot_with_log.slash("staff", "blocklist")
    assert listing.embeds[0]["description"] == "Nobody is blocked."
    assert listing.embeds[0]["fields"][0]["name"] == "Recently unblocked"
    _wait_log(bot_with_log, "unblocked")


def test_block_refuses_staff_self_and_empty_reasons(bot_with_log):
    world = bot_with_log.world
    assert bot_with_log.slash("staff", "block", user=world.admin, reason="x").content == \
        "Staff and admins cannot be blocked."
    assert bot_with_log.slash("staff", "block", user=world.staff, reason="x").content == \
        "You cannot block yourself or a bot."
    with pytest.raises(OptionRejected):
        bot_with_log.slash("staff", "block", user=world.member, reason="")
    vi = bot_with_log.slash("staff", "block", user=world.owner, reason="x", locale="vi")
    assert vi.content == "Nhân viên và quản trị viên không thể bị chặn."
    assert not BlockEntry.objects.exists()


def test_helper_add_gives_the_role_on_discord_and_records_it(bot_with_log):
    world, emu = bot_with_log.world, bot_with_log.emulator
    rec = bot_with_log.slash("admin", "helper add", member=world.member)
    assert rec.content == f"<@{world.member}> is now a helper."
    assert world.helper_role in emu.member(world.guild_id, world.member).roles
    assert HelperRecord.objects.get(user_id=world.member).added_by_id == world.admin
    again = bot_with_log.slash("admin", "helper add", member=world.member)
    assert again.content == f"<@{world.member}> is already a helper."

    listing = bot_with_log.slash("staff", "helper list")
    description = listing.embeds[0]["description"]
    assert f"<@{world.member}> · since" in description
    assert f"<@{world.helper}> · role given by hand" in description

    stats = bot_with_log.slash("staff", "helper stats", member=world.member)
    fields = {f["name"]: f["value"] for f in stats.embeds[0]["fields"]}
    assert fields["Added by"] == f"<@{world.admin}>" and fields["Times made helper"] == "1"

    removed = bot_with_log.slash("admin", "helper remove", member=world.member)
    assert removed.content == f"<@{world.member}> is no longer a helper."
    assert world.helper_role not in emu.member(world.guild_id, world.member).roles
    assert HelperRecord.objects.get(user_id=world.member).removed_by_id == world.admin
    assert bot_with_log.slash("admin", "helper remove", member=world.member).content == \
        f"<@{world.member}> is not a helper."


def test_helper_add_without_a_helper_role_says_how_to_set_one(discord_bot):
    rec = discord_bot.slash("admin", "helper add", member=discord_bot.world.member)
    assert rec.content == "No helper role is set. An admin can set one with /config role kind:helper."
    assert not HelperRecord.objects.exists()


def test_missing_manage_roles_is_named_to_the_member_and_noted_in_the_log(bot_with_log):
    world, emu = bot_with_log.world, bot_with_log.emulator
    emu.set_role(world.guild_id, world.bot_role, permissions=P.VIEW_CHANNEL | P.SEND_MESSAGES)
    try:
        rec = bot_with_log.slash("admin", "helper add", member=world.member)
        assert rec.content == ("I am missing the Manage Roles permission, so I cannot do that. "
                               "Ask an admin to give my role that permission.")
        note = _wait_log(bot_with_log, "could not use /helper add")
        assert note.startswith(f"⚠️ <@{world.admin}> could not use /helper add: I am missing the Manage Roles")
        assert world.helper_role not in emu.member(world.guild_id, world.member).roles
        assert not HelperRecord.objects.exists()
    finally:
        emu.set_role(world.guild_id, world.bot_role, permissions=P.BOT_DEFAULT)


def test_a_helper_role_above_the_bot_is_refused_before_discord_is_asked(bot_with_log):
    world, emu = bot_with_log.world, bot_with_log.emulator
    high = emu.add_role(world.guild_id, "Senior helper", 0, position=40)
    services.config_set_role(guild_id=world.guild_id, kind="helper", role_id=high.id)
    bot_with_log.bot._configs.clear()
    before = len(emu.requests_to("PUT", r"/members/\d+/roles/"))
    rec = bot_with_log.slash("admin", "helper add", member=world.member)
    assert rec.content.startswith("I cannot manage Senior helper: it is not below my highest role")
    assert len(emu.requests_to("PUT", r"/members/\d+/roles/")) == before


def test_config_changes_are_audited_with_before_and_after_and_announced(bot_with_log):
    world = bot_with_log.world
    bot_with_log.slash("admin", "config module", name="pads", enabled=False)
    entry = AuditEntry.objects.get(target="pads_enabled")
    assert (entry.actor_id, entry.before, entry.after) == (world.admin, True, False)
    assert _wait_log(bot_with_log, "pads enabled") == f"🛠️ <@{world.admin}>: pads enabled changed from on to off"

    bot_with_log.slash("admin", "config language", value="vi")
    entry = AuditEntry.objects.get(action="config.change", target="language")
    assert (entry.actor_id, entry.before, entry.after) == (world.admin, "en", "vi")
    # From now on the guild's notes are in its new language.
    assert _wait_log(bot_with_log, "ngôn ngữ") == f"🛠️ <@{world.admin}>: ngôn ngữ đã đổi từ Tiếng Anh thành Tiếng Việt"


def test_an_admin_site_change_reaches_the_log_channel_through_the_outbox(bot_with_log):
    world = bot_with_log.world
    outbox_cog = bot_with_log.bot.get_cog("OutboxCog")
    services.config_update(guild_id=world.guild_id, changes={"tickets_max_open_per_member": 3}, actor_user=None)
    text = _wait_log(bot_with_log, "open tickets per member")
    assert text == "🛠️ the bot: open tickets per member changed from 1 to 3"
    message = OutboxMessage.objects.get(content=text)
    # Marked sent (with Discord's message id) right after Discord accepted it.
    bot_with_log.emulator.wait_for(lambda: message.pk in outbox_cog.recently_delivered)
    message.refresh_from_db()
    assert message.status == "sent" and message.discord_message_id and message.attempts == 1


def test_invalid_admin_values_write_nothing(bot_with_log):
    world = bot_with_log.world
    before = AuditEntry.objects.count()
    with pytest.raises(services.InvalidConfigValue) as error:
        services.config_update(guild_id=world.guild_id, changes={"tickets_max_open_per_member": 0})
    assert error.value.user_message().startswith("open tickets per member: ")
    assert AuditEntry.objects.count() == before
    assert services.config_update(guild_id=world.guild_id, changes={}).tickets_max_open_per_member == 1


def test_admin_typed_ids_must_be_roles_and_channels_the_bot_has_seen(bot_with_log):
    world = bot_with_log.world
    # What the bot records when the guild becomes available.
    bot_with_log.record_guild()
    with pytest.raises(services.InvalidConfigValue) as unknown_role:
        services.config_update(guild_id=world.guild_id, changes={"staff_role_id": 42})
    assert unknown_role.value.user_message() == "There is no role with id 42 in this server. Nothing was changed."
    with pytest.raises(services.InvalidConfigValue) as wrong_type:
        services.config_update(guild_id=world.guild_id, changes={"tickets_category_id": world.general})
    assert wrong_type.value.user_message().startswith("The tickets category must be a category")
    with pytest.raises(services.InvalidConfigValue):
        services.config_update(guild_id=world.guild_id, changes={"admin_role_ids": [world.admin_role, 7]})
    config = services.config_update(guild_id=world.guild_id, changes={"staff_role_id": world.staff_role,
                                                                      "admin_role_ids": [world.admin_role]})
    assert (config.staff_role_id, config.admin_role_ids) == (world.staff_role, (world.admin_role,))
    assert DiscordName.objects.get(discord_id=world.general).channel_type == "text"
