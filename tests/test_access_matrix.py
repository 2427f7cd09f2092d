"""Who may use what: every command and component × owner, admin, staff, helper, granted, member, blocked.

Discord hides admin commands from members (default_member_permissions); these cases bypass that, as a
modified client could, to prove the bot decides again on its own from the configuration and roles.
"""

import pytest

from botproject import services
from botproject.selectors import Access

ROLES = {
    "owner": Access.OWNER,
    "admin": Access.ADMIN,
    "staff": Access.STAFF,
    "helper": Access.HELPER,
    "granted": Access.MEMBER,
    "member": Access.MEMBER,
    "blocked": Access.MEMBER,
}
# Who holds a grant (/allowusers) in the configured guild: the "granted" member only; staff and
# above need none, helpers do not have one.
GRANTED_USERS = {"granted"}
REFUSALS = {
    Access.OWNER: "Only the server owner can do that.",
    Access.ADMIN: "Only admins can do that (Manage Server or an admin role).",
    Access.STAFF: "Only staff can do that.",
    Access.GRANTED: "You need to be granted access to do that. Ask the server owner.",
}
BLOCKED = "You are blocked from using this in this server."
# Member-facing actions the contract marks "not blocked": a blocked member is refused even when
# their level would do.
REFUSES_BLOCKED = {"training", "tryout", "claim", "verify", "reverify", "ticket reopen"}

# (case id, needed level, how to run it given the world: (command, options) or a component).
SLASH = [
    ("status", Access.MEMBER, "status", lambda w: {}),
    ("setup", Access.ADMIN, "setup", lambda w: {}),
    ("config show", Access.ADMIN, "config show", lambda w: {}),
    ("config role", Access.ADMIN, "config role", lambda w: {"kind": "staff", "role": w.staff_role}),
    ("config channel", Access.ADMIN, "config channel", lambda w: {"kind": "log", "channel": w.logs}),
    ("config language", Access.ADMIN, "config language", lambda w: {"value": "en"}),
    ("config module", Access.ADMIN, "config module", lambda w: {"name": "pads", "enabled": True}),
    ("addrole", Access.OWNER, "addrole", lambda w: {"role": w.verified_role}),
    ("allowusers", Access.OWNER, "allowusers", lambda w: {"user": w.member}),
    ("permissions list", Access.OWNER, "permissions list", lambda w: {}),
    ("permissions revoke", Access.OWNER, "permissions revoke", lambda w: {"role": w.verified_role}),
    ("permissions revoke-user", Access.OWNER, "permissions revoke-user", lambda w: {"user": w.granted}),
    ("block", Access.STAFF, "block", lambda w: {"user": w.member, "reason": "spam"}),
    ("unblock", Access.STAFF, "unblock", lambda w: {"user": w.blocked}),
    ("blocklist", Access.STAFF, "blocklist", lambda w: {}),
    ("helper add", Access.ADMIN, "helper add", lambda w: {"member": w.member}),
    ("helper remove", Access.ADMIN, "helper remove", lambda w: {"member": w.helper}),
    ("helper list", Access.STAFF, "helper list", lambda w: {}),
    ("helper stats", Access.STAFF, "helper stats", lambda w: {}),
    ("training", Access.GRANTED, "training", lambda w: {"pad": 1, "starts": "in 5 minutes"}),
    ("tryout", Access.GRANTED, "tryout", lambda w: {"pad": 2, "starts": "now"}),
    ("pads", Access.MEMBER, "pads", lambda w: {}),
    ("endsession", Access.MEMBER, "endsession", lambda w: {"pad": 9}),
    ("claim", Access.MEMBER, "claim", lambda w: {"code": "NOPE-NOPE-NOPE"}),
    ("email", Access.MEMBER, "email", lambda w: {}),
    ("ticket panel", Access.ADMIN, "ticket panel", lambda w: {}),
    ("sendticket", Access.ADMIN, "sendticket", lambda w: {}),
    ("ticket stats", Access.STAFF, "ticket stats", lambda w: {}),
    ("ticket add", Access.MEMBER, "ticket add", lambda w: {"member": w.member}),
    ("ticket remove", Access.MEMBER, "ticket remove", lambda w: {"member": w.member}),
    ("ticket close", Access.MEMBER, "ticket close", lambda w: {}),
    ("ticket closerequest", Access.MEMBER, "ticket closerequest", lambda w: {}),
    ("ticket reopen", Access.MEMBER, "ticket reopen", lambda w: {"ticket": 1}),
    ("balance", Access.MEMBER, "balance", lambda w: {}),
    ("balance other", Access.MEMBER, "balance", lambda w: {"member": w.owner}),
    ("leaderboard", Access.MEMBER, "leaderboard", lambda w: {"page": 2}),
    ("history", Access.MEMBER, "history", lambda w: {}),
    ("history other", Access.STAFF, "history", lambda w: {"member": w.owner}),
    ("achievements", Access.MEMBER, "achievements", lambda w: {"member": w.owner}),
    ("notifications", Access.MEMBER, "notifications", lambda w: {"enabled": False}),
    ("points add", Access.ADMIN, "points add", lambda w: {"member": w.member, "amount": 5, "reason": "matrix"}),
    ("points remove", Access.ADMIN, "points remove", lambda w: {"member": w.member, "amount": 5, "reason": "matrix"}),
    ("points set", Access.ADMIN, "points set", lambda w: {"member": w.member, "amount": 0, "reason": "matrix"}),
    # A username Roblox would refuse: the access decision comes first, and no request leaves the bot.
    ("verify", Access.MEMBER, "verify", lambda w: {"username": "not a username"}),
    ("reverify", Access.MEMBER, "reverify", lambda w: {"username": "Builderman"}),
    ("unverify", Access.MEMBER, "unverify", lambda w: {}),
    ("unverify other", Access.STAFF, "unverify", lambda w: {"member": w.owner}),
    ("whois", Access.STAFF, "whois", lambda w: {"member": w.member}),
]
COMPONENTS = [
    ("setup:role:staff select", Access.ADMIN, "select", "setup:role:staff"),
    ("setup:channel:log select", Access.ADMIN, "select", "setup:channel:log"),
    ("setup:language select", Access.ADMIN, "select", "setup:language"),
    ("setup:page:2 button", Access.ADMIN, "click", "setup:page:2"),
]


@pytest.fixture
def configured(discord_bot):
    """The standard roles configured, a user grant for `granted`, and `blocked` on the blocklist."""
    world = discord_bot.world
    gid = world.guild_id
    # Commands such as /helper add change members' roles on "Discord": start every case from the same roles.
    original = {"admin": [world.admin_role, world.verified_role], "staff": [world.staff_role, world.verified_role],
                "helper": [world.helper_role, world.verified_role], "granted": [world.verified_role],
                "member": [world.verified_role], "blocked": []}
    for who, roles in original.items():
        discord_bot.emulator.set_member_roles(gid, getattr(world, who), roles)
    services.config_set_role(guild_id=gid, kind="staff", role_id=world.staff_role)
    services.config_set_role(guild_id=gid, kind="helper", role_id=world.helper_role)
    services.grant_add(guild_id=gid, kind="user", target_id=world.granted)
    services.block_add(guild_id=gid, user_id=world.blocked, reason="test")
    return discord_bot


def _allowed(who: str, needed: Access) -> bool:
    if needed is Access.GRANTED:
        return who in GRANTED_USERS or ROLES[who] >= Access.STAFF
    return ROLES[who] >= needed


def _refused(rec) -> bool:
    return rec.content in REFUSALS.values() or rec.content == BLOCKED


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("case,needed,command,options", SLASH, ids=[c[0] for c in SLASH])
def test_slash_command_access(configured, who, case, needed, command, options):
    rec = configured.slash(who, command, bypass_permissions=True, **options(configured.world))
    blocked = who == "blocked" and case in REFUSES_BLOCKED
    allowed = _allowed(who, needed) and not blocked
    should = "should" if allowed else "should not"
    assert _refused(rec) is not allowed, f"{who} {should} use /{command}: {rec.content!r}"
    if not allowed:
        assert rec.content == (BLOCKED if blocked else REFUSALS[needed])
        assert rec.ephemeral


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("case,needed,kind,custom_id", COMPONENTS, ids=[c[0] for c in COMPONENTS])
def test_component_access(configured, who, case, needed, kind, custom_id):
    world, emu = configured.world, configured.emulator
    wizard = configured.slash("owner", "setup")
    if custom_id.startswith("setup:channel") or custom_id == "setup:language":
        configured.click("owner", wizard, "setup:page:2")
    if kind == "click":
        rec = configured.click(who, wizard, custom_id)
    else:
        value = {"setup:role:staff": world.staff_role, "setup:channel:log": world.logs,
                 "setup:language": "vi"}[custom_id]
        rec = configured.select(who, wizard, custom_id, [value])
    allowed = _allowed(who, needed)
    if allowed:
        assert rec.embeds and rec.embeds[0]["title"] == "Server setup", rec.content
    else:
        assert rec.content == REFUSALS[needed] and rec.ephemeral
    assert emu.unknown_routes == []


def test_the_matrix_covers_every_synced_command(discord_bot):
    covered = {case.split()[0] for case, *_ in SLASH}
    synced = {c["name"] for c in discord_bot.emulator.commands()}
    assert synced == covered
    subcommands = {
        f"{c['name']} {o['name']}" for c in discord_bot.emulator.commands() for o in c.get("options", [])
        if o["type"] in (1, 2)
    }
    assert subcommands <= {case for case, *_ in SLASH}
