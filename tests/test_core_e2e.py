"""/status, /setup and /config end to end: the real discord.py client against the emulator."""

import pytest

from botproject.bot.status import runtime
from botproject.models import Guild, GuildConfig
from botproject.sandbox.emulator import CommandHidden
from tests.conftest import IMPLEMENTED_COMMANDS, eventually


def _config(world) -> GuildConfig:
    return GuildConfig.objects.get(guild__discord_id=world.guild_id)


def _field(rec, name):
    embed = rec.embeds[0]
    return next(f["value"] for f in embed["fields"] if f["name"] == name)


def test_ready_guild_recorded_and_exactly_the_implemented_commands_synced(discord_bot):
    emu = discord_bot.emulator
    assert {c["name"] for c in emu.commands()} == IMPLEMENTED_COMMANDS
    config = {c["name"]: c for c in emu.commands()}["config"]
    assert [o["name"] for o in config["options"]] == ["show", "role", "channel", "language", "module"]
    assert int(config["default_member_permissions"]) == 1 << 5  # Manage Server
    assert config["name_localizations"]["vi"] == "cấu-hình"
    # The guild seen at start was recorded (the flush between tests may have removed it: ask again).
    discord_bot.record_guild()
    assert Guild.objects.get(discord_id=discord_bot.world.guild_id).name == "Test Guild"


def test_status_answers_anyone_privately_with_the_figures(discord_bot):
    rec = discord_bot.slash("member", "status")
    assert rec.ephemeral
    embed = rec.embeds[0]
    assert embed["title"] == "Bot status"
    names = [f["name"] for f in embed["fields"]]
    assert names == ["Uptime", "Gateway latency", "Servers", "Shards", "Commands processed", "Error rate",
                     "Database size"]
    assert _field(rec, "Servers") == "1"
    assert int(_field(rec, "Commands processed")) >= 1


def test_status_speaks_vietnamese_to_a_vietnamese_client(discord_bot):
    rec = discord_bot.slash("member", "status", locale="vi")
    assert rec.embeds[0]["title"] == "Trạng thái bot"
    assert "Thời gian chạy" in [f["name"] for f in rec.embeds[0]["fields"]]


def test_other_locales_get_the_guild_language(discord_bot):
    discord_bot.slash("admin", "config language", value="vi")
    rec = discord_bot.slash("member", "status", locale="fr")
    assert rec.embeds[0]["title"] == "Trạng thái bot"
    assert discord_bot.slash("member", "status", locale="en-GB").embeds[0]["title"] == "Bot status"


def test_setup_wizard_saves_each_choice_at_once(discord_bot):
    world, emu = discord_bot.world, discord_bot.emulator
    rec = discord_bot.slash("admin", "setup")
    assert rec.ephemeral
    assert rec.embeds[0]["title"] == "Server setup"
    assert set(rec.custom_ids) == {"setup:role:staff", "setup:role:helper", "setup:role:admin", "setup:role:verified",
                                   "setup:page:2"}
    assert "❌" in _field(rec, "Staff role")

    step = discord_bot.select("admin", rec, "setup:role:staff", [world.staff_role])
    assert _config(world).staff_role_id == world.staff_role
    assert _field(step, "Staff role") == f"✅ <@&{world.staff_role}>"

    discord_bot.select("admin", rec, "setup:role:admin", [world.admin_role])
    discord_bot.select("admin", rec, "setup:role:helper", [world.helper_role])
    discord_bot.select("admin", rec, "setup:role:verified", [world.verified_role])
    config = _config(world)
    assert (config.admin_role_ids, config.helper_role_id, config.verified_role_id) == (
        [world.admin_role], world.helper_role, world.verified_role)

    page2 = discord_bot.click("admin", rec, "setup:page:2")
    assert set(page2.custom_ids) == {"setup:channel:tickets", "setup:channel:log", "setup:channel:pads",
                                     "setup:language", "setup:page:1"}
    category = emu.add_category(world.guild_id, "Tickets")
    discord_bot.select("admin", rec, "setup:channel:tickets", [category.id])
    discord_bot.select("admin", rec, "setup:channel:log", [world.logs])
    discord_bot.select("admin", rec, "setup:channel:pads", [world.general])
    final = discord_bot.select("admin", rec, "setup:language", ["vi"])
    config = _config(world)
    assert (config.tickets_category_id, config.log_channel_id, config.pads_channel_id, config.language) == (
        category.id, world.logs, world.general, "vi")
    assert final.embeds[0]["footer"]["text"] == "Everything is set."  # the admin's client is English


def test_setup_is_hidden_from_members_and_refused_if_they_get_through(discord_bot):
    with pytest.raises(CommandHidden):
        discord_bot.slash("member", "setup")
    rec = discord_bot.slash("member", "setup", bypass_permissions=True)
    assert rec.ephemeral
    assert rec.content == "Only admins can do that (Manage Server or an admin role)."
    assert not GuildConfig.objects.exists()


def test_a_member_cannot_use_an_admins_wizard_message(discord_bot):
    world = discord_bot.world
    rec = discord_bot.slash("owner", "setup")
    refused = discord_bot.select("member", rec, "setup:role:staff", [world.staff_role])
    assert refused.content == "Only admins can do that (Manage Server or an admin role)."
    assert GuildConfig.objects.get(guild__discord_id=world.guild_id).staff_role_id is None


def test_an_admin_role_from_config_counts_as_admin(discord_bot):
    world, emu = discord_bot.world, discord_bot.emulator
    helper_is_admin = discord_bot.slash("helper", "config show", bypass_permissions=True)
    assert helper_is_admin.content.startswith("Only admins")
    discord_bot.slash("owner", "config role", kind="admin", role=world.helper_role)
    rec = discord_bot.slash("helper", "config show", bypass_permissions=True)
    assert rec.embeds[0]["title"] == "Server configuration"
    assert _config(world).admin_role_ids == [world.helper_role]
    assert emu.member(world.guild_id, world.helper) is not None


def test_config_show_marks_what_is_missing(discord_bot):
    world = discord_bot.world
    discord_bot.slash("admin", "config role", kind="staff", role=world.staff_role)
    rec = discord_bot.slash("admin", "config show")
    assert _field(rec, "Staff role") == f"✅ <@&{world.staff_role}>"
    assert _field(rec, "Log channel") == "❌ not set"
    assert rec.embeds[0]["footer"]["text"].startswith("Missing: Helper role")


def test_config_role_sets_and_refuses_roles_the_bot_cannot_give(discord_bot):
    world, emu = discord_bot.world, discord_bot.emulator
    rec = discord_bot.slash("admin", "config role", kind="helper", role=world.helper_role)
    assert rec.content == f"helper role set to <@&{world.helper_role}>."
    assert _config(world).helper_role_id == world.helper_role

    high = emu.add_role(world.guild_id, "Above the bot", 0, position=50)
    refused = discord_bot.slash("admin", "config role", kind="verified", role=high.id)
    assert refused.content.startswith("I cannot manage Above the bot: it is not below my highest role")
    assert _config(world).verified_role_id is None

    everyone = discord_bot.slash("admin", "config role", kind="staff", role=world.everyone_role)
    assert everyone.content == "@everyone cannot be used as a configured role."
    assert _config(world).staff_role_id is None


def test_config_channel_checks_the_channel_type_and_writes_nothing_when_wrong(discord_bot):
    world, emu = discord_bot.world, discord_bot.emulator
    refused = discord_bot.slash("admin", "config channel", kind="tickets", channel=world.general)
    assert refused.content == "The tickets category must be a category, and that channel is a text channel. " \
                              "Nothing was changed."
    assert not GuildConfig.objects.filter(tickets_category_id__isnull=False).exists()

    refused_vi = discord_bot.slash("admin", "config channel", kind="log", channel=emu.add_category(
        world.guild_id, "Archive").id, locale="vi")
    assert refused_vi.content.startswith("kênh nhật ký phải là một kênh văn bản")

    done = discord_bot.slash("admin", "config channel", kind="log", channel=world.logs)
    assert done.content == f"log set to <#{world.logs}>."
    assert _config(world).log_channel_id == world.logs


def test_unexpected_errors_show_an_error_id_and_are_counted(discord_bot):
    emu = discord_bot.emulator
    errors = runtime.errors
    # Discord rejects the command's first answer (a 400 is not retried): the command fails in a way
    # nobody planned for, and the error edge's own reply goes through.
    emu.inject("POST", r"/interactions/\d+/[^/]+/callback", status=400, times=1)
    rec = discord_bot.slash("member", "status")
    assert rec.content.startswith("Something went wrong on our side.")
    error_id = rec.content.rsplit(" ", 1)[1]
    assert len(error_id) == 8
    assert runtime.errors == errors + 1


def test_joining_a_guild_creates_its_configuration_and_leaving_keeps_it(discord_bot):
    emu = discord_bot.emulator
    guild = emu.add_guild("Second Guild", locale="vi")
    config = eventually(lambda: GuildConfig.objects.filter(guild__discord_id=guild.id).select_related("guild").first())
    assert config.guild.name == "Second Guild" and config.guild.left_at is None
    emu.remove_guild(guild.id)
    left = eventually(lambda: Guild.objects.filter(discord_id=guild.id, left_at__isnull=False).first())
    assert GuildConfig.objects.filter(guild=left).exists()
