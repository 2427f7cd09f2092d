"""A populated test guild: owner, admin, staff, helper, granted, member, blocked; roles; #general and #logs."""
from __future__ import annotations

from dataclasses import dataclass

from . import permissions as P


@dataclass
class World:
    """Ids of a guild built by build_guild (data only; the project decides what roles mean)."""
    guild_id: int
    owner: int
    admin: int
    staff: int
    helper: int
    granted: int
    member: int
    blocked: int
    admin_role: int
    staff_role: int
    helper_role: int
    verified_role: int
    bot_role: int
    everyone_role: int
    general: int
    logs: int
    name: str
    locale: str

    @property
    def users(self) -> dict[str, int]:
        """Member name → user id."""
        return {k: getattr(self, k) for k in ("owner", "admin", "staff", "helper", "granted", "member", "blocked")}


def build_guild(emu, name: str = "Test Guild", locale: str = "en-US", bot_permissions: int = P.BOT_DEFAULT) -> World:
    """Create the standard guild and add the bot (GUILD_CREATE is sent if the bot is connected)."""
    slug = name.lower().replace(" ", "_")
    guild = emu.add_guild(name, locale=locale, add_bot=False)
    verified = emu.add_role(guild.id, "Verified", 0, position=1)
    helper = emu.add_role(guild.id, "Helper", 0, position=2)
    staff = emu.add_role(guild.id, "Staff", 0, position=3)
    admin = emu.add_role(guild.id, "Admin", P.MANAGE_GUILD, position=4)
    ids = {}
    for who, roles in (("admin", [admin.id, verified.id]), ("staff", [staff.id, verified.id]),
                       ("helper", [helper.id, verified.id]), ("granted", [verified.id]), ("member", [verified.id]),
                       ("blocked", [])):
        ids[who] = emu.member_join(guild.id, username=f"{slug}_{who}", roles=roles).user_id
    general = emu.add_channel(guild.id, "general")
    logs = emu.add_channel(guild.id, "logs")
    bot_role = emu.add_bot(guild.id, bot_permissions)
    return World(guild.id, guild.owner_id, ids["admin"], ids["staff"], ids["helper"], ids["granted"], ids["member"],
                 ids["blocked"], admin.id, staff.id, helper.id, verified.id, bot_role.id, guild.id, general.id, logs.id,
                 name, locale)
