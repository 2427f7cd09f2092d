"""Access commands: grants (/addrole, /allowusers, /permissions), the blocklist and helpers."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext_lazy

from .. import selectors, services
from ..bot.checks import access_of, require
from ..bot.db import db_call
from ..bot.preflight import require_manageable_role, require_safe_role
from ..bot.replies import answer
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
    return f"<t:{int(moment.timestamp())}:R>" if moment else "–"


async def _remember_user(guild_id: int, user: discord.abc.User) -> None:
    await db_call(services.names_seen)(guild_id=guild_id, users={user.id: user.display_name})


async def _reply(interaction: discord.Interaction, text: str | None = None, *, embed: discord.Embed | None = None) -> None:
    await interaction.response.send_message(text, embed=embed, ephemeral=True,
                                            allowed_mentions=discord.AllowedMentions.none())


class PermissionsGroup(app_commands.Group):
    """/permissions: list and revoke grants (owner only)."""

    def __init__(self) -> None:
        super().__init__(name="permissions", description=gettext_noop("List or revoke granted access"),
                         guild_only=True, default_permissions=OWNER_ONLY)

    @app_commands.command(name="list", description=gettext_noop("List the roles and users granted access"))
    async def list_(self, interaction: discord.Interaction) -> None:
        await require(interaction, Access.OWNER)
        grants = await db_call(selectors.grants_list)(guild_id=interaction.guild_id)
        embed = discord.Embed(title=_("Granted access"), colour=discord.Colour.blurple())
        roles = [f"<@&{g.target_id}> · {_when(g.created_at)}" for g in grants if g.kind == "role"]
        users = [f"<@{g.target_id}> · {_when(g.created_at)}" for g in grants if g.kind == "user"]
        embed.add_field(name=_("Roles"), value="\n".join(roles) or _("none"), inline=False)
        embed.add_field(name=_("Users"), value="\n".join(users) or _("none"), inline=False)
        await _reply(interaction, embed=embed)

    @app_commands.command(name="revoke", description=gettext_noop("Revoke a role's access"))
    @app_commands.describe(role=gettext_noop("The role"))
    async def revoke(self, interaction: discord.Interaction, role: discord.Role) -> None:
        await require(interaction, Access.OWNER)
        await db_call(services.grant_revoke)(guild_id=interaction.guild_id, kind="role",
                                             target_id=role.id, actor_id=interaction.user.id)
        await _reply(interaction, _("%(target)s no longer has access.") % {"target": role.mention})

    @app_commands.command(name="revoke-user", description=gettext_noop("Revoke a user's access"))
    @app_commands.describe(user=gettext_noop("The member"))
    async def revoke_user(self, interaction: discord.Interaction, user: discord.Member) -> None:
        await require(interaction, Access.OWNER)
        await db_call(services.grant_revoke)(guild_id=interaction.guild_id, kind="user",
                                             target_id=user.id, actor_id=interaction.user.id)
        await _reply(interaction, _("%(target)s no longer has access.") % {"target": user.mention})


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
        await interaction.response.defer(ephemeral=True)
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
        await interaction.response.defer(ephemeral=True)
        await member.remove_roles(role, reason=f"/helper remove by {interaction.user} ({interaction.user.id})")
        await db_call(services.helper_remove)(guild_id=interaction.guild_id, user_id=member.id,
                                              actor_id=interaction.user.id)
        await answer(interaction, _("%(member)s is no longer a helper.") % {"member": member.mention},
                     ephemeral=True, allowed_mentions=discord.AllowedMentions.none())

    @app_commands.command(name="list", description=gettext_noop("List the helpers"))
    async def list_(self, interaction: discord.Interaction) -> None:
        access = await require(interaction, Access.STAFF)
        recorded = {h.user_id: h for h in await db_call(selectors.helpers_list)(guild_id=interaction.guild_id)}
        role = interaction.guild.get_role(access.config.helper_role_id) if access.config.helper_role_id else None
        with_role = {m.id for m in role.members} if role else set()
        lines = []
        for user_id in sorted(with_role | set(recorded)):
            record = recorded.get(user_id)
            since = _("since %(when)s") % {"when": _when(record.added_at)} if record else _("role given by hand")
            note = "" if user_id in with_role else " · " + _("no longer has the role")
            lines.append(f"<@{user_id}> · {since}{note}")
        embed = discord.Embed(title=_("Helpers"), description="\n".join(lines) or _("No helpers yet."),
                              colour=discord.Colour.blurple())
        await _reply(interaction, embed=embed)

    @app_commands.command(name="stats", description=gettext_noop("See a helper's work"))
    @app_commands.describe(member=gettext_noop("The helper (default: you)"))
    async def stats(self, interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        await require(interaction, Access.STAFF)
        member = member or interaction.user
        stats = await db_call(selectors.helper_stats)(guild_id=interaction.guild_id, user_id=member.id)
        embed = discord.Embed(title=_("Helper stats: %(name)s") % {"name": member.display_name},
                              colour=discord.Colour.blurple())
        embed.add_field(name=_("Helper since"), value=_when(stats.helper_since) if stats.helper_since else _("not a helper"))
        embed.add_field(name=_("Added by"), value=f"<@{stats.added_by_id}>" if stats.added_by_id else "–")
        embed.add_field(name=_("Times made helper"), value=str(stats.times_added))
        for label, value in stats.figures.items():
            embed.add_field(name=label, value=str(value))
        if not stats.figures:
            embed.set_footer(text=_("Ticket and points figures appear once the tickets and points modules record them."))
        await _reply(interaction, embed=embed)


class AccessCog(commands.Cog):
    """Grants and the blocklist."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="addrole", description=gettext_noop("Grant a role the restricted commands (pads)"))
    @app_commands.describe(role=gettext_noop("The role"))
    @app_commands.guild_only()
    @app_commands.default_permissions(administrator=True)
    async def addrole(self, interaction: discord.Interaction, role: discord.Role) -> None:
        await require(interaction, Access.OWNER)
        if role.is_default() or role.managed:
            raise InvalidConfigValue(_("%(role)s cannot be granted: pick a normal role."), role=role.name)
        await db_call(services.grant_add)(guild_id=interaction.guild_id, kind="role",
                                          target_id=role.id, actor_id=interaction.user.id)
        await _reply(interaction, _("%(target)s now has access to the restricted commands.") % {"target": role.mention})

    @app_commands.command(name="allowusers", description=gettext_noop("Grant one member the restricted commands (pads)"))
    @app_commands.describe(user=gettext_noop("The member"))
    @app_commands.guild_only()
    @app_commands.default_permissions(administrator=True)
    async def allowusers(self, interaction: discord.Interaction, user: discord.Member) -> None:
        await require(interaction, Access.OWNER)
        if user.bot:
            raise InvalidConfigValue(_("Bots cannot be granted access."))
        await _remember_user(interaction.guild_id, user)
        await db_call(services.grant_add)(guild_id=interaction.guild_id, kind="user",
                                          target_id=user.id, actor_id=interaction.user.id)
        await _reply(interaction, _("%(target)s now has access to the restricted commands.") % {"target": user.mention})

    @app_commands.command(name="block", description=gettext_noop("Block a member from tickets, claims, pads and verification"))
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
        await require(interaction, Access.STAFF)
        active, lifted = await db_call(selectors.blocklist)(guild_id=interaction.guild_id)
        embed = discord.Embed(title=_("Blocklist"), colour=discord.Colour.red())
        embed.description = "\n".join(
            _("%(user)s · %(reason)s · by %(by)s %(when)s") % {
                "user": f"<@{b.user_id}>", "reason": b.reason, "by": f"<@{b.blocked_by_id}>" if b.blocked_by_id else "–",
                "when": _when(b.blocked_at)}
            for b in active
        )[:4000] or _("Nobody is blocked.")
        if lifted:
            embed.add_field(name=_("Recently unblocked"), value="\n".join(
                _("%(user)s · unblocked by %(by)s %(when)s") % {
                    "user": f"<@{b.user_id}>", "by": f"<@{b.unblocked_by_id}>" if b.unblocked_by_id else "–",
                    "when": _when(b.unblocked_at)}
                for b in lifted
            )[:1024], inline=False)
        await _reply(interaction, embed=embed)
