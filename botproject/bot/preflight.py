"""Check the bot's own Discord permissions before acting, so members get a precise message."""

from __future__ import annotations

import discord
from django.utils.translation import gettext_lazy as _

from botproject import services
from botproject.exceptions import BotMissingPermission, BotRoleTooLow
from botproject.roles import role_refusal

from .db import db_call

PERMISSION_LABELS = {
    "manage_roles": _("Manage Roles"),
    "manage_channels": _("Manage Channels"),
    "manage_nicknames": _("Manage Nicknames"),
    "view_channel": _("View Channel"),
    "send_messages": _("Send Messages"),
    "embed_links": _("Embed Links"),
    "attach_files": _("Attach Files"),
    "read_message_history": _("Read Message History"),
    "mention_everyone": _("Mention @everyone, @here and All Roles"),
}


def require_bot_permissions(guild: discord.Guild, *names: str, channel: discord.abc.GuildChannel | None = None) -> None:
    """Raise BotMissingPermission naming every permission the bot lacks (in `channel`, or server-wide)."""
    me = guild.me
    permissions = channel.permissions_for(me) if channel is not None else me.guild_permissions
    missing = [name for name in names if not getattr(permissions, name)]
    if missing:
        where = _(" in %(channel)s") % {"channel": channel.mention} if channel is not None else ""
        raise BotMissingPermission(permission=", ".join(str(PERMISSION_LABELS.get(n, n)) for n in missing),
                                   where=where)


def require_manageable_role(guild: discord.Guild, role: discord.Role) -> None:
    """Raise unless the bot can give and take `role` (Manage Roles, and the role below the bot's top role)."""
    require_bot_permissions(guild, "manage_roles")
    if role.managed or role.is_default() or role >= guild.me.top_role:
        raise BotRoleTooLow(role=role.name, mine=guild.me.top_role.name)


async def require_safe_role(interaction: discord.Interaction, role: discord.Role, *, kind: str,
                            member: discord.abc.User | None = None, check_actor: bool = True) -> None:
    """Refuse a helper/verified role the bot must not configure or hand out (issue 13.3), with a log note.

    `kind`: "helper" or "verified"; `member`: who would get the role (None when it is being configured);
    `check_actor`: also require the role below the invoker's highest role (the owner aside); off for Verify,
    where a member gets the role the server configured.
    """
    actor = interaction.user
    top = actor.top_role.position if check_actor and isinstance(actor, discord.Member) else None
    refusal = role_refusal(name=role.name, permissions=role.permissions.value, position=role.position,
                           actor_top_position=top, actor_is_owner=guild_owner(interaction) == actor.id)
    if refusal is None:
        return
    await db_call(services.role_refusal_note)(guild_id=interaction.guild_id, refusal=refusal, role_id=role.id,
                                              kind=kind, actor_id=actor.id,
                                              member_id=member.id if member is not None else None)
    raise refusal


def guild_owner(interaction: discord.Interaction) -> int | None:
    """The owner of the interaction's server (None outside one)."""
    return interaction.guild.owner_id if interaction.guild is not None else None
