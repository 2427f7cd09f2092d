"""Issue 13, point 3: no role escalation through the bot.

A helper or verified role carrying Administrator, Manage Server/Roles/Channels/Webhooks, Ban/Kick Members or
Mention Everyone, or (for an admin who is not the owner) not below the admin's highest role, is refused when it
is configured (/config role, /setup, the admin form) and when it is handed out (/helper add, Verify): a
translated refusal, a note in the log channel, nothing written and no role given.
"""

import pytest
from django.urls import reverse

from botproject import roles
from botproject import services as core
from botproject.models import AuditEntry, DiscordName, GuildConfig, HelperRecord, OutboxMessage
from botproject.sandbox.emulator import permissions as P
from botproject.sandbox.fake_roblox import FakeRoblox
from tests.conftest import eventually
from verification.models import LinkEvent, RobloxLink, VerificationAttempt


@pytest.fixture
def rbot(discord_bot):
    """The standard guild with its log channel set; roles made per test."""
    world = discord_bot.world
    core.config_set_channel(guild_id=world.guild_id, kind="log", channel_id=world.logs, channel_type="text")
    return discord_bot


def _role(bot, name: str, permissions: int = 0, position: int | None = None) -> int:
    """A role of the test guild the bot has seen (and recorded)."""
    role = bot.emulator.add_role(bot.world.guild_id, name, permissions, position=position)
    bot.emulator.wait_for(lambda: bot.bot.get_guild(bot.world.guild_id).get_role(role.id) is not None)
    eventually(lambda: DiscordName.objects.filter(kind="role", discord_id=role.id, permissions__isnull=False).exists())
    return role.id


def _config() -> GuildConfig:
    return GuildConfig.objects.get()


def _log_note(bot, fragment: str) -> str:
    row = eventually(lambda: OutboxMessage.objects.filter(kind="log", content__contains=fragment).first())
    bot.emulator.wait_for(lambda: any(fragment in m.content for m in bot.emulator.messages(bot.world.logs)))
    return row.content


@pytest.mark.parametrize("permission, label", [
    (P.ADMINISTRATOR, "Administrator"), (P.MANAGE_GUILD, "Manage Server"), (P.MANAGE_ROLES, "Manage Roles"),
    (P.MANAGE_CHANNELS, "Manage Channels"), (P.BAN_MEMBERS, "Ban Members"), (P.KICK_MEMBERS, "Kick Members"),
    (P.MANAGE_WEBHOOKS, "Manage Webhooks"), (P.MENTION_EVERYONE, "Mention @everyone, @here and All Roles"),
])
def test_the_pure_rule_names_each_dangerous_permission(permission, label):
    refusal = roles.role_refusal(name="Mods", permissions=permission | P.SEND_MESSAGES, position=1)
    assert isinstance(refusal, roles.RoleTooPowerful)
    assert refusal.user_message().startswith(f"Mods cannot be handed out by the bot: it has {label}.")
    assert roles.role_refusal(name="Fine", permissions=P.SEND_MESSAGES | P.VIEW_CHANNEL, position=1) is None
    assert isinstance(roles.role_refusal(name="High", permissions=0, position=5, actor_top_position=5),
                      roles.RoleNotBelowActor)
    assert roles.role_refusal(name="High", permissions=0, position=5, actor_top_position=5, actor_is_owner=True) is None


@pytest.mark.parametrize("kind", ["helper", "verified"])
def test_config_role_refuses_a_dangerous_role_with_a_log_note(rbot, kind):
    mods = _role(rbot, f"Mods {kind}", P.ADMINISTRATOR, position=1)
    before = AuditEntry.objects.count()
    rec = rbot.slash("admin", "config role", kind=kind, role=mods)
    assert rec.content.startswith(f"Mods {kind} cannot be handed out by the bot: it has Administrator.")
    assert rec.content.endswith("Nothing was changed.")
    assert getattr(_config(), f"{kind}_role_id") is None and AuditEntry.objects.count() == before
    note = _log_note(rbot, "Refused to make")
    assert note.startswith(f"⛔ Refused to make <@&{mods}> the {kind} role (asked by <@{rbot.world.admin}>)")


def test_config_role_refuses_a_role_not_below_the_admins_top_role_but_the_owner_may(rbot):
    high = _role(rbot, "Senior", P.SEND_MESSAGES)  # above the Admin role, below the bot
    rec = rbot.slash("admin", "config role", kind="helper", role=high)
    assert rec.content == ("Senior is not below your highest role, so you cannot have the bot hand it out. Pick a "
                           "lower role, or ask the server owner. Nothing was changed.")
    assert _config().helper_role_id is None
    _log_note(rbot, "Refused to make")
    rec = rbot.slash("owner", "config role", kind="helper", role=high)
    assert rec.content.startswith("helper role set to")
    assert _config().helper_role_id == high


def test_the_refusal_is_translated(rbot):
    mods = _role(rbot, "Mods vi", P.MANAGE_ROLES, position=1)
    rec = rbot.emulator.slash(rbot.world.guild_id, rbot.world.admin, "config role", kind="helper", role=mods,
                              locale="vi")
    assert rec.content.startswith("Bot không thể trao vai trò Mods vi: vai trò này có quyền Quản lý vai trò.")
    assert _config().helper_role_id is None


def test_setup_wizard_refuses_a_dangerous_helper_role(rbot):
    mods = _role(rbot, "Wizard mods", P.BAN_MEMBERS, position=1)
    wizard = rbot.slash("admin", "setup")
    rec = rbot.select("admin", wizard, "setup:role:helper", [mods])
    assert "Wizard mods cannot be handed out by the bot: it has Ban Members." in rec.every_text
    assert _config().helper_role_id is None
    _log_note(rbot, "Refused to make")


def test_helper_add_refuses_a_role_that_became_dangerous_and_gives_nothing(rbot):
    world = rbot.world
    core.config_set_role(guild_id=world.guild_id, kind="helper", role_id=world.helper_role)
    rbot.emulator.set_role(world.guild_id, world.helper_role, permissions=P.MANAGE_ROLES)  # changed on Discord later
    rbot.emulator.wait_for(
        lambda: rbot.bot.get_guild(world.guild_id).get_role(world.helper_role).permissions.manage_roles)
    rec = rbot.slash("admin", "helper add", member=world.member)
    assert rec.content.startswith("Helper cannot be handed out by the bot: it has Manage Roles.")
    assert world.helper_role not in rbot.emulator.member(world.guild_id, world.member).roles
    assert not HelperRecord.objects.exists()
    note = _log_note(rbot, "Refused to give")
    assert note.startswith(
        f"⛔ Refused to give <@&{world.helper_role}> to <@{world.member}> (asked by <@{world.admin}>)")
    rbot.emulator.set_role(world.guild_id, world.helper_role, permissions=0)


def test_helper_add_refuses_a_role_above_the_admins_top_role(rbot):
    world = rbot.world
    high = _role(rbot, "Top helper", P.SEND_MESSAGES)
    core.config_set_role(guild_id=world.guild_id, kind="helper", role_id=high)  # set by the owner earlier
    rec = rbot.slash("admin", "helper add", member=world.member)
    assert rec.content.startswith("Top helper is not below your highest role")
    assert high not in rbot.emulator.member(world.guild_id, world.member).roles
    assert not HelperRecord.objects.exists()


def test_verify_refuses_a_dangerous_verified_role_and_writes_nothing(rbot, settings):
    world, emu = rbot.world, rbot.emulator
    core.config_set_role(guild_id=world.guild_id, kind="verified", role_id=world.verified_role)
    emu.set_role(world.guild_id, world.verified_role, permissions=P.ADMINISTRATOR)
    emu.wait_for(lambda: rbot.bot.get_guild(world.guild_id).get_role(world.verified_role).permissions.administrator)
    rbot.bot.get_cog("VerificationCog").checks.reset()
    try:
        with FakeRoblox() as roblox:
            settings.ROBLOX_USERS_API_URL = roblox.url
            member = emu.member_join(world.guild_id, username="newcomer").user_id
            account = roblox.add_user("NewcomerBuilds")
            rec = emu.slash(world.guild_id, member, "verify", username=account.name)
            attempt = VerificationAttempt.objects.get(user_id=member, status="pending")
            roblox.set_description(account.id, attempt.code)
            done = emu.click(world.guild_id, member, rec, f"verify:check:{attempt.pk}")
        assert "Verified cannot be handed out by the bot: it has Administrator." in done.every_text
        assert not RobloxLink.objects.exists() and not LinkEvent.objects.exists()
        assert VerificationAttempt.objects.get(pk=attempt.pk).status == "pending"
        assert world.verified_role not in emu.member(world.guild_id, member).roles
        note = _log_note(rbot, "Refused to give")
        assert note.startswith(f"⛔ Refused to give <@&{world.verified_role}> to <@{member}>")
    finally:
        emu.set_role(world.guild_id, world.verified_role, permissions=0)


def test_the_admin_form_refuses_a_recorded_dangerous_role(rbot, admin_client):
    safe = _role(rbot, "Safe helpers", P.SEND_MESSAGES, position=1)
    mods = _role(rbot, "Form mods", P.MANAGE_WEBHOOKS, position=1)
    config = _config()
    url = reverse("admin:botproject_guildconfig_change", args=[config.pk])
    data = {"language": "en", "prefix": "!", "admin_role_ids": "[]", "points_max_adjustment": 100000,
            "points_max_balance": 1000000000, "tickets_max_open_per_member": 1, "tickets_delete_delay_seconds": 5,
            "pads_max_duration_minutes": 120, "log_channel_id": rbot.world.logs, "points_enabled": "on",
            "tickets_enabled": "on", "pads_enabled": "on", "verification_enabled": "on"}
    response = admin_client.post(url, {**data, "helper_role_id": mods})
    assert response.status_code == 200
    assert "Form mods cannot be handed out by the bot: it has Manage Webhooks." in response.content.decode()
    assert _config().helper_role_id is None
    response = admin_client.post(url, {**data, "verified_role_id": mods})
    assert "Form mods cannot be handed out by the bot" in response.content.decode()
    assert _config().verified_role_id is None
    response = admin_client.post(url, {**data, "helper_role_id": safe})
    assert response.status_code == 302
    assert _config().helper_role_id == safe
