"""Issue 14.1: outputs of the bot that the stricter emulator found over Discord's limits, now within them."""

from botproject import services as core
from tickets import services


def test_a_ticket_panel_of_many_long_categories_is_posted_within_discords_limits(discord_bot):
    world, emu = discord_bot.world, discord_bot.emulator
    core.config_set_role(guild_id=world.guild_id, kind="staff", role_id=world.staff_role)
    for n in range(30):
        services.category_create(guild_id=world.guild_id, name=f"{n:02d} " + "N" * 77, emoji="🎫",
                                 description="D" * 300, response_time="R" * 100)
    rec = discord_bot.slash("admin", "ticket panel", title="T" * 200)
    assert rec.content == f"The ticket panel is posted in <#{world.general}>."
    panel = [m for m in emu.messages(world.general) if m.components][-1]
    embed = panel.embeds[0]
    assert embed["title"] == "T" * 200 and len(embed["fields"]) == 25
    assert embed["fields"][0]["name"] == "🎫 00 " + "N" * 77
    size = len(embed["title"]) + len(embed.get("description", "")) + sum(
        len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert 5900 < size <= 6000, "as much as fits is shown, cut with an ellipsis"
    assert embed["fields"][0]["value"] == "D" * 300 and embed["fields"][-1]["value"].endswith("…")
    options = panel.components[0]["components"][0]["options"]
    assert len(options) == 25 and options[0]["label"] == "00 " + "N" * 77
