"""Check the bot's own Discord permissions before acting, so members get a precise message."""

from __future__ import annotations

import discord
from django.utils.translation import gettext_lazy as _

from botproject.exceptions import BotMissingPermission, BotRoleTooLow

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
