"""The sandbox's demo server: the same ids on every start, so the sandbox database stays meaningful across runs.

`build_world` creates it in a fresh emulator (before the bot connects: no gateway events); `seed_database` records
its configuration once (a fresh or reset sandbox database), through the project's services like /setup and the
admin would.
"""

from __future__ import annotations

from dataclasses import dataclass

from .emulator import permissions as P
from .emulator.state import CATEGORY, TEXT, Channel, Member, Role

# Real-shaped snowflakes from early 2018, far below any id the emulator makes up at run time.
_BASE = 100_000_000_000 << 22


def _id(n: int) -> int:
    return _BASE + n


GUILD_NAME = "Sandbox Server"


@dataclass(frozen=True)
class Person:
    """A member of the demo server."""

    key: str
    user_id: int
    username: str
    display: str
    roles: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class DemoIds:
    """Every fixed id of the demo server."""

    guild_id: int = _id(1)
    admin_role: int = _id(11)
    staff_role: int = _id(12)
    helper_role: int = _id(13)
    verified_role: int = _id(14)
    general: int = _id(21)
    tickets: int = _id(22)
    pads: int = _id(23)
    logs: int = _id(24)
    tickets_category: int = _id(25)


IDS = DemoIds()
PEOPLE = (
    Person("owner", _id(31), "olivia_owner", "Olivia (owner)", ("admin", "verified"), "server owner and admin"),
    Person("staff", _id(32), "sam_staff", "Sam (staff)", ("staff", "verified"), "staff: claims and closes tickets"),
    Person("helper", _id(33), "hana_helper", "Hana (helper)", ("helper", "verified"), "helper: earns points"),
    Person("member", _id(34), "mia_member", "Mia (member)", ("verified",), "a verified member"),
    Person("newcomer", _id(35), "max_newcomer", "Max (newcomer)", (), "just joined, not verified"),
)
ROBLOX_ACCOUNTS = ("MiaBuilds", "MaxTheNoob")


def person(key: str) -> Person:
    """A demo member by key (owner, staff, helper, member, newcomer)."""
    return next(p for p in PEOPLE if p.key == key)


def build_world(emu) -> None:
    """Create the demo server in `emu` (call on the emulator's loop, before the bot connects)."""
    owner = person("owner")
    emu.bot_user.global_name = "Community Bot"
    for p in PEOPLE:
        emu.add_user(p.username, user_id=p.user_id, global_name=p.display)
    guild = emu.add_guild(GUILD_NAME, owner_id=owner.user_id, add_bot=False, guild_id=IDS.guild_id)
    roles = {"verified": IDS.verified_role, "helper": IDS.helper_role, "staff": IDS.staff_role,
             "admin": IDS.admin_role}
    for position, (key, name, permissions) in enumerate(
            (("verified", "Verified", 0), ("helper", "Helper", 0), ("staff", "Staff", P.MANAGE_MESSAGES),
             ("admin", "Admin", P.MANAGE_GUILD)), start=1):
        guild.roles[roles[key]] = Role(roles[key], guild.id, name, permissions, position, hoist=True)
    for p in PEOPLE:
        guild.members[p.user_id] = Member(p.user_id, [roles[r] for r in p.roles])
    bot_posts = P.VIEW_CHANNEL | P.SEND_MESSAGES | P.EMBED_LINKS
    staff_only = {
        guild.id: {"id": guild.id, "type": 0, "allow": 0, "deny": P.VIEW_CHANNEL},
        IDS.staff_role: {"id": IDS.staff_role, "type": 0, "allow": P.VIEW_CHANNEL, "deny": 0},
        emu.bot_user.id: {"id": emu.bot_user.id, "type": 1, "allow": bot_posts, "deny": 0},
    }
    read_only = {guild.id: {"id": guild.id, "type": 0, "allow": 0, "deny": P.SEND_MESSAGES},
                 emu.bot_user.id: {"id": emu.bot_user.id, "type": 1, "allow": bot_posts, "deny": 0}}
    for position, (cid, name, kind, topic, overwrites) in enumerate((
            (IDS.general, "general", TEXT, "Say hello", {}),
            (IDS.tickets, "tickets", TEXT, "Open a ticket from the panel", read_only),
            (IDS.pads, "pads", TEXT, "Training and tryout announcements", read_only),
            (IDS.logs, "logs", TEXT, "What the bot did (staff only)", staff_only),
            (IDS.tickets_category, "Tickets", CATEGORY, None, {}))):
        emu.store_channel(Channel(cid, kind, name, guild.id, position, None, topic, dict(overwrites)))
    emu.add_bot(guild.id, P.BOT_DEFAULT)


def seed_database() -> bool:
    """Record the demo server's configuration if it is not there yet; return whether it was seeded now."""
    from botproject import services as core
    from botproject.models import Guild
    from tickets import services as tickets

    if Guild.objects.filter(discord_id=IDS.guild_id).exists():
        return False
    owner = person("owner")
    core.guild_ensure(guild_id=IDS.guild_id, name=GUILD_NAME, owner_id=owner.user_id, member_count=len(PEOPLE))
    for kind, role_id in (("staff", IDS.staff_role), ("helper", IDS.helper_role), ("verified", IDS.verified_role),
                          ("admin", IDS.admin_role)):
        core.config_set_role(guild_id=IDS.guild_id, kind=kind, role_id=role_id, actor_id=owner.user_id)
    for kind, channel_id, channel_type in (("log", IDS.logs, "text"), ("pads", IDS.pads, "text"),
                                           ("tickets", IDS.tickets_category, "category")):
        core.config_set_channel(guild_id=IDS.guild_id, kind=kind, channel_id=channel_id, channel_type=channel_type,
                                actor_id=owner.user_id)
    core.helper_add(guild_id=IDS.guild_id, user_id=person("helper").user_id, actor_id=owner.user_id)
    tickets.category_create(guild_id=IDS.guild_id, name="General help", emoji="🛟", description="Questions of any kind",
                            response_time="Minutes", helper_points=5, helper_slots=2, position=0)
    tickets.category_create(guild_id=IDS.guild_id, name="Report a player", emoji="🚩",
                            description="Something happened in game", response_time="Within a day",
                            helper_points=10, helper_slots=1, position=1)
    return True
