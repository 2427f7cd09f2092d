"""Access commands: grants (/addrole, /allowusers, /permissions), the blocklist and helpers."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands
from discord.utils import format_dt
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext_lazy

from .. import selectors, services
from ..bot import pages
from ..bot.checks import access_of, require
from ..bot.db import db_call
from ..bot.preflight import require_manageable_role, require_safe_role
from ..bot.replies import answer, defer
from ..exceptions import InvalidConfigValue, NotAllowed
from ..selectors import Access

NAMES = (
    pgettext_lazy("discord command name", "addrole"),
    pgettext_lazy("discord command name", "allowusers"),
    pgettext_lazy("discord command name", "permissions"),
    pgettext_lazy("discord command name", "list"),
    pgettext_lazy("discord command name", "revoke"),
    pgettext_lazy("discord command name", "revoke-user"),
    pgettext_lazy("discord command name", "user"),
    pgettext_lazy("discord command name", "block"),
    pgettext_lazy("discord command name", "unblock"),
    pgettext_lazy("discord command name", "blocklist"),
    pgettext_lazy("discord command name", "reason"),
    pgettext_lazy("discord command name", "helper"),
    pgettext_lazy("discord command name", "add"),
    pgettext_lazy("discord command name", "remove"),
    pgettext_lazy("discord command name", "stats"),
    pgettext_lazy("discord command name", "member"),
)
OWNER_ONLY = discord.Permissions(administrator=True)


def _when(moment) -> str:
    return format_dt(moment, "R") if moment else "–"


async def _remember_user(guild_id: int, user: discord.abc.User) -> None:
    await db_call(services.names_seen)(guild_id=guild_id, users={user.id: user.display_name})


async def _reply(interaction: discord.Interaction, text: str | None = None, *,
                 embed: discord.Embed | None = None) -> None:
    await interaction.response.send_message(text, embed=embed, ephemeral=True,
                                            allowed_mentions=discord.AllowedMentions.none())


async def _grant(interaction: discord.Interaction, kind: str, target: discord.Role | discord.Member) -> None:
    await db_call(services.grant_add)(guild_id=interaction.guild_id, kind=kind, target_id=target.id,
                                      actor_id=interaction.user.id)
    await _reply(interaction, _("%(target)s now has access to the restricted commands.") % {"target": target.mention})


async def _revoke(interaction: discord.Interaction, kind: str, target: discord.Role | discord.Member) -> None:
    await require(interaction, Access.OWNER)
    await db_call(services.grant_revoke)(guild_id=interaction.guild_id, kind=kind, target_id=target.id,
                                         actor_id=interaction.user.id)
    await _reply(interaction, _("%(target)s no longer has access.") % {"target": target.mention})


class PermissionsGroup(app_commands.Group):
    """/permissions: list and revoke grants (owner only)."""

    def __init__(self) -> None:
        super().__init__(name="permissions", description=gettext_noop("List or revoke granted access"),
                         guild_only=True, default_permissions=OWNER_ONLY)

    @app_commands.command(name="list", description=gettext_noop("List the roles and users granted access"))
    async def list_(self, interaction: discord.Interaction) -> None:
        await pages.send(interaction, "perm")

    @app_commands.command(name="revoke", description=gettext_noop("Revoke a role's access"))
    @app_commands.describe(role=gettext_noop("The role"))
    async def revoke(self, interaction: discord.Interaction, role: discord.Role) -> None:
        await _revoke(interaction, "role", role)

    @app_commands.command(name="revoke-user", description=gettext_noop("Revoke a user's access"))
    @app_commands.describe(user=gettext_noop("The member"))
    async def revoke_user(self, interaction: discord.Interaction, user: discord.Member) -> None:
        await _revoke(interaction, "user", user)


class HelperGroup(app_commands.Group):
    """/helper: add and remove helpers (admin), list them and see their work (staff)."""

    def __init__(self) -> None:
        super().__init__(name="helper", description=gettext_noop("Manage helpers and see their work"),
                         guild_only=True)

    async def _helper_role(self, interaction: discord.Interaction) -> discord.Role:
        config = (await access_of(interaction)).config
        role = interaction.guild.get_role(config.helper_role_id) if config.helper_role_id else None
        if role is None:
            raise InvalidConfigValue(_("No helper role is set. An admin can set one with /config role kind:helper."))
        require_manageable_role(interaction.guild, role)
        return role

    @app_commands.command(name="add", description=gettext_noop("Make a member a helper (gives the helper role)"))
    @app_commands.describe(member=gettext_noop("The member"))
    async def add(self, interaction: discord.Interaction, member: discord.Member) -> None:
        await require(interaction, Access.ADMIN)
        if member.bot:
            raise InvalidConfigValue(_("Bots cannot be helpers."))
        role = await self._helper_role(interaction)
        await require_safe_role(interaction, role, kind="helper", member=member)
        await defer(interaction, ephemeral=True)
        await member.add_roles(role, reason=f"/helper add by {interaction.user} ({interaction.user.id})")
        await _remember_user(interaction.guild_id, member)
        await db_call(services.helper_add)(guild_id=interaction.guild_id, user_id=member.id,
                                           actor_id=interaction.user.id)
        await answer(interaction, _("%(member)s is now a helper.") % {"member": member.mention}, ephemeral=True,
                     allowed_mentions=discord.AllowedMentions.none())

    @app_commands.command(name="remove", description=gettext_noop("Take the helper role away from a member"))
    @app_commands.describe(member=gettext_noop("The member"))
    async def remove(self, interaction: discord.Interaction, member: discord.Member) -> None:
        await require(interaction, Access.ADMIN)
        role = await self._helper_role(interaction)
        if role not in member.roles:
            raise InvalidConfigValue(_("%(member)s is not a helper."), member=member.mention)
        await defer(interaction, ephemeral=True)
        await member.remove_roles(role, reason=f"/helper remove by {interaction.user} ({interaction.user.id})")
        await db_call(services.helper_remove)(guild_id=interaction.guild_id, user_id=member.id,
                                              actor_id=interaction.user.id)
        await answer(interaction, _("%(member)s is no longer a helper.") % {"member": member.mention},
                     ephemeral=True, allowed_mentions=discord.AllowedMentions.none())

    @app_commands.command(name="list", description=gettext_noop("List the helpers"))
    async def list_(self, interaction: discord.Interaction) -> None:
        await pages.send(interaction, "helpers")

    @app_commands.command(name="stats", description=gettext_noop("See a helper's work"))
    @app_commands.describe(member=gettext_noop("The helper (default: you)"))
    async def stats(self, interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        await require(interaction, Access.STAFF)
        member = member or interaction.user
        stats = await db_call(selectors.helper_stats)(guild_id=interaction.guild_id, user_id=member.id)
        embed = discord.Embed(title=_("Helper stats: %(name)s") % {"name": pages.clean(member.display_name)},
                              colour=discord.Colour.blurple())
        since = _when(stats.helper_since) if stats.helper_since else _("not a helper")
        embed.add_field(name=_("Helper since"), value=since)
        embed.add_field(name=_("Added by"), value=f"<@{stats.added_by_id}>" if stats.added_by_id else "–")
        embed.add_field(name=_("Times made helper"), value=str(stats.times_added))
        for label, value in stats.figures.items():
            embed.add_field(name=pages.truncate(label, pages.FIELD_NAME), value=str(value))
        if not stats.figures:
            embed.set_footer(text=_("No module records figures for helpers yet."))
        await _reply(interaction, embed=pages.fit(embed))


class AccessCog(commands.Cog):
    """Grants and the blocklist."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="addrole", description=gettext_noop("Grant a role the restricted commands"))
    @app_commands.describe(role=gettext_noop("The role"))
    @app_commands.guild_only()
    @app_commands.default_permissions(administrator=True)
    async def addrole(self, interaction: discord.Interaction, role: discord.Role) -> None:
        await require(interaction, Access.OWNER)
        if role.is_default() or role.managed:
            raise InvalidConfigValue(_("%(role)s cannot be granted: pick a normal role."), role=role.name)
        await _grant(interaction, "role", role)

    @app_commands.command(name="allowusers", description=gettext_noop("Grant one member the restricted commands"))
    @app_commands.describe(user=gettext_noop("The member"))
    @app_commands.guild_only()
    @app_commands.default_permissions(administrator=True)
    async def allowusers(self, interaction: discord.Interaction, user: discord.Member) -> None:
        await require(interaction, Access.OWNER)
        if user.bot:
            raise InvalidConfigValue(_("Bots cannot be granted access."))
        await _remember_user(interaction.guild_id, user)
        await _grant(interaction, "user", user)

    @app_commands.command(name="block", description=gettext_noop("Block a member from the member-facing commands"))
    @app_commands.describe(user=gettext_noop("The member"), reason=gettext_noop("Why (kept in the history)"))
    @app_commands.guild_only()
    async def block(self, interaction: discord.Interaction, user: discord.Member,
                    reason: app_commands.Range[str, 1, 500]) -> None:
        await require(interaction, Access.STAFF)
        if user.id == interaction.user.id or user.bot:
            raise InvalidConfigValue(_("You cannot block yourself or a bot."))
        target = await db_call(selectors.member_access)(
            guild_id=interaction.guild_id, user_id=user.id, role_ids=[r.id for r in user.roles],
            is_owner=interaction.guild.owner_id == user.id, can_manage_guild=user.guild_permissions.manage_guild,
        )
        if target.at_least(Access.STAFF):
            raise NotAllowed(_("Staff and admins cannot be blocked."))
        await _remember_user(interaction.guild_id, user)
        await db_call(services.block_add)(guild_id=interaction.guild_id, user_id=user.id, reason=reason,
                                          actor_id=interaction.user.id)
        await _reply(interaction, _("%(user)s is blocked: %(reason)s") % {"user": user.mention, "reason": reason})

    @app_commands.command(name="unblock", description=gettext_noop("Lift a member's block"))
    @app_commands.describe(user=gettext_noop("The member"))
    @app_commands.guild_only()
    async def unblock(self, interaction: discord.Interaction, user: discord.User) -> None:
        await require(interaction, Access.STAFF)
        await db_call(services.block_remove)(guild_id=interaction.guild_id, user_id=user.id,
                                             actor_id=interaction.user.id)
        await _reply(interaction, _("%(user)s is no longer blocked.") % {"user": user.mention})

    @app_commands.command(name="blocklist", description=gettext_noop("Show blocked members and recent unblocks"))
    @app_commands.guild_only()
    async def blocklist(self, interaction: discord.Interaction) -> None:
        await pages.send(interaction, "block")


# ---- the lists, a page at a time (the buttons re-run these with the page asked for) ----------------------
GRANTS_PER_PAGE = 15
HELPERS_PER_PAGE = 20
BLOCKS_PER_PAGE = 10
REASON_CHARS = 200


async def grants_page(interaction: discord.Interaction, _arg: int, page: int) -> tuple[discord.Embed, int, int]:
    """/permissions list: roles first, then users; 15 grants a page."""
    await require(interaction, Access.OWNER)
    result = await db_call(selectors.grants_page)(guild_id=interaction.guild_id, page=page,
                                                  per_page=GRANTS_PER_PAGE)
    embed = discord.Embed(title=_("Granted access"), colour=discord.Colour.blurple())
    roles = [f"<@&{g.target_id}> · {_when(g.created_at)}" for g in result.rows if g.kind == "role"]
    users = [f"<@{g.target_id}> · {_when(g.created_at)}" for g in result.rows if g.kind == "user"]
    if roles or not result.total:
        embed.add_field(name=_("Roles"), value=pages.join_lines(roles, pages.FIELD_VALUE, empty=_("none")),
                        inline=False)
    if users or not result.total:
        embed.add_field(name=_("Users"), value=pages.join_lines(users, pages.FIELD_VALUE, empty=_("none")),
                        inline=False)
    return embed, result.number, result.pages


async def helpers_page(interaction: discord.Interaction, _arg: int, page: int) -> tuple[discord.Embed, int, int]:
    """/helper list: members with the helper role and those recorded by /helper add, by id; 20 a page."""
    access = await require(interaction, Access.STAFF)
    role = interaction.guild.get_role(access.config.helper_role_id) if access.config.helper_role_id else None
    result = await db_call(selectors.helpers_page)(
        guild_id=interaction.guild_id, with_role=[m.id for m in role.members] if role else [], page=page,
        per_page=HELPERS_PER_PAGE)
    lines = []
    for line in result.rows:
        since = (_("since %(when)s") % {"when": _when(line.record.added_at)} if line.record
                 else _("role given by hand"))
        note = "" if line.has_role else " · " + _("no longer has the role")
        lines.append(f"<@{line.user_id}> · {since}{note}")
    embed = discord.Embed(title=_("Helpers"), description=pages.join_lines(lines, 4000, empty=_("No helpers yet.")),
                          colour=discord.Colour.blurple())
    return embed, result.number, result.pages


async def blocks_page(interaction: discord.Interaction, _arg: int, page: int) -> tuple[discord.Embed, int, int]:
    """/blocklist: the active blocks, 10 a page with their reasons cut to 200 characters; recent unblocks."""
    await require(interaction, Access.STAFF)
    active, lifted = await db_call(selectors.blocklist_page)(guild_id=interaction.guild_id, page=page,
                                                             per_page=BLOCKS_PER_PAGE)
    embed = discord.Embed(title=_("Blocklist"), colour=discord.Colour.red())
    embed.description = pages.join_lines([
        _("%(user)s · %(reason)s · by %(by)s %(when)s") % {
            "user": f"<@{b.user_id}>", "reason": pages.clean(b.reason, REASON_CHARS),
            "by": f"<@{b.blocked_by_id}>" if b.blocked_by_id else "–", "when": _when(b.blocked_at)}
        for b in active.rows
    ], 4000, empty=_("Nobody is blocked."))
    if lifted:
        embed.add_field(name=_("Recently unblocked"), value=pages.join_lines([
            _("%(user)s · unblocked by %(by)s %(when)s") % {
                "user": f"<@{b.user_id}>", "by": f"<@{b.unblocked_by_id}>" if b.unblocked_by_id else "–",
                "when": _when(b.unblocked_at)}
            for b in lifted
        ], pages.FIELD_VALUE), inline=False)
    return embed, active.number, active.pages


pages.register("perm", grants_page)
pages.register("helpers", helpers_page)
pages.register("block", blocks_page)
