"""Which roles the bot may configure and hand out (issue 13.3): pure rules, no Discord imports.

The helper and verified roles are given to members by the bot, so they must carry none of the permissions that
would make a member able to take over the server, and an admin may only pick (or have the bot give) a role
below their own highest role; the server owner aside. Used by /setup, /config role, the admin form, /helper add
and the Verify button, each with the role's permission bits and position as Discord (or the recorded
DiscordName) shows them.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from .exceptions import NotAllowed, RoleNotBelowActor, RoleTooPowerful

# Discord permission bits a handed-out role must not carry, with their names as Discord shows them.
DANGEROUS_PERMISSIONS: tuple[tuple[int, object], ...] = (
    (1 << 3, _("Administrator")),
    (1 << 5, _("Manage Server")),
    (1 << 28, _("Manage Roles")),
    (1 << 4, _("Manage Channels")),
    (1 << 2, _("Ban Members")),
    (1 << 1, _("Kick Members")),
    (1 << 29, _("Manage Webhooks")),
    (1 << 17, _("Mention @everyone, @here and All Roles")),
)


def dangerous_permissions(permissions: int) -> list[str]:
    """The names (active language) of the dangerous permissions in `permissions`."""
    return [str(label) for bit, label in DANGEROUS_PERMISSIONS if permissions & bit]


class _PermissionNames:
    """Rendered when the refusal is shown, so the member and the log channel each read their own language."""

    def __init__(self, permissions: int) -> None:
        self.permissions = permissions

    def __str__(self) -> str:
        return ", ".join(dangerous_permissions(self.permissions))


def role_refusal(*, name: str, permissions: int, position: int, actor_top_position: int | None = None,
                 actor_is_owner: bool = False) -> NotAllowed | None:
    """Why the bot must not hand out this role (None when it may).

    `actor_top_position`: the position of the invoking admin's highest role, or None when no admin invokes
    (a member verifying, the admin site, where only the permissions are checked).
    """
    if dangerous_permissions(permissions):
        return RoleTooPowerful(role=name, permissions=_PermissionNames(permissions))
    if actor_top_position is not None and not actor_is_owner and position >= actor_top_position:
        return RoleNotBelowActor(role=name)
    return None
