"""Access checks for commands and components, decided server-side at the moment of the interaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import discord
from discord.ext import commands
from django.utils.translation import gettext_lazy as _

from botproject import registry
from botproject.exceptions import DomainError, ModuleDisabled, NotAllowed
from botproject.selectors import Access, MemberAccess, member_access, member_access_along

from .db import db_call

R = TypeVar("R")

REFUSALS = {
    Access.OWNER: _("Only the server owner can do that."),
    Access.ADMIN: _("Only admins can do that (Manage Server or an admin role)."),
    Access.STAFF: _("Only staff can do that."),
    Access.HELPER: _("Only helpers and staff can do that."),
    Access.GRANTED: _("You need to be granted access to do that. Ask the server owner."),
}


class GuildOnly(DomainError):
    """The action needs a server, not a DM."""

    message = _("This only works in a server.")


class Blocked(DomainError):
    """The member is on the guild's blocklist."""

    message = _("You are blocked from using this in this server.")


async def access_of(interaction: discord.Interaction | commands.Context) -> MemberAccess:
    """Load the member's access level from the guild configuration and their roles right now.

    Works for slash commands and components (an Interaction) and for prefix commands (a Context).
    """
    return await db_call(member_access)(**_who(interaction))


def _who(interaction: discord.Interaction | commands.Context) -> dict:
    """What member_access needs to know about the member, from the interaction (or the prefix command)."""
    guild = interaction.guild
    user = interaction.user if isinstance(interaction, discord.Interaction) else interaction.author
    if guild is None or not isinstance(user, discord.Member):
        raise GuildOnly()
    permissions = (interaction.permissions if isinstance(interaction, discord.Interaction)
                   else user.guild_permissions)
    return {
        "guild_id": guild.id,
        "user_id": user.id,
        "role_ids": [role.id for role in user.roles if role.id != guild.id],
        "is_owner": guild.owner_id == user.id,
        "can_manage_guild": permissions.manage_guild,
    }


def module_label(module: str):
    """The name of a module as its app registered it (botproject.registry)."""
    registered = registry.module(module)
    return registered.label if registered is not None else module


async def require(
    interaction: discord.Interaction | commands.Context, level: Access, *, refuse_blocked: bool = False,
    module: str | None = None,
) -> MemberAccess:
    """Return the member's access, or raise a refusal naming what is needed (module, block, level)."""
    return _decide(await access_of(interaction), level, refuse_blocked=refuse_blocked, module=module)


async def require_then(
    interaction: discord.Interaction | commands.Context, level: Access, then: Callable[[MemberAccess], R], *,
    refuse_blocked: bool = False, module: str | None = None, idempotency_key: str | None = None,
    reads_only: bool = False,
) -> tuple[MemberAccess, R]:
    """`require`, then `then(access)` (synchronous database work) in the same trip to a database thread.

    For the commands members use most: one hand-off to the bridge instead of two. `then` runs only when the
    member may act; a refusal raised by `then` itself reaches the caller like one from the check. A write
    that `then` makes under an idempotency key passes the key too, so the bridge may repeat the call after
    an outage (the service answers a repeat with the first result).

    `reads_only`: `then` only reads and does not look at the access. Its first statement then goes to the
    database with the access check's, in one round trip (botproject.selectors.member_access_along): it runs
    even for a member who is refused, and its result is dropped.
    """
    who = _who(interaction)

    def decide_then(**_replay_safe: str) -> tuple[MemberAccess, R]:
        if reads_only:
            checked, result = member_access_along(lambda: then(None), **who)  # type: ignore[arg-type]
            access = _decide(checked, level, refuse_blocked=refuse_blocked, module=module)
            return access, result()
        access = _decide(member_access(**who), level, refuse_blocked=refuse_blocked, module=module)
        return access, then(access)

    decide_then.__qualname__ = f"require_then({getattr(then, '__qualname__', 'then')})"
    return await db_call(decide_then)(**({} if idempotency_key is None else {"idempotency_key": idempotency_key}))


def _decide(access: MemberAccess, level: Access, *, refuse_blocked: bool, module: str | None) -> MemberAccess:
    if module is not None and not access.config.module_enabled(module):
        raise ModuleDisabled(module=module_label(module))
    if refuse_blocked and access.blocked and not access.at_least(Access.STAFF):
        raise Blocked()
    if not access.at_least(level):
        raise NotAllowed(REFUSALS[level])
    return access
