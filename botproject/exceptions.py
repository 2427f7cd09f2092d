"""Domain errors: refusals a member should read, translated at the Discord edge."""

from collections.abc import Callable
from datetime import datetime

from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """Base of every refusal; carries a translatable message and its named parameters."""

    message = _("That cannot be done.")

    def __init__(self, message=None, **params) -> None:
        if message is not None:
            self.message = message
        self.params = params
        super().__init__(str(self.message), params)

    def user_message(self, moment: Callable[[datetime], str] | None = None) -> str:
        """Render the message in the active language.

        Parameters that are datetimes are rendered by `moment` (the Discord edge passes one that makes a
        Discord timestamp, which every reader sees in their own time zone), else as local date and time.
        """
        text = str(self.message)
        if not self.params:
            return text
        render = moment or _local_moment
        return text % {key: render(value) if isinstance(value, datetime) else value
                       for key, value in self.params.items()}


def _local_moment(value: datetime) -> str:
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")


class NotAllowed(DomainError):
    """The member lacks the access level an action needs."""

    message = _("You are not allowed to do that.")


class InvalidConfigValue(DomainError):
    """A configuration value that does not fit (wrong channel type, unknown kind)."""

    message = _("That value cannot be used here.")


class AlreadyDone(DomainError):
    """The change is already in place (granted, blocked, helper)."""

    message = _("That is already done.")


class NotFound(DomainError):
    """The thing to change does not exist (no such grant, not blocked)."""

    message = _("Nothing to change: it does not exist.")


class ModuleDisabled(DomainError):
    """The guild switched the module off."""

    message = _("%(module)s is not enabled in this server. An admin can switch it on with /config module.")


class BotMissingPermission(DomainError):
    """The bot lacks a Discord permission it needs for the action."""

    message = _("I am missing the %(permission)s permission%(where)s, so I cannot do that. "
                "Ask an admin to give my role that permission.")


class BotRoleTooLow(DomainError):
    """A role the bot must manage is not below its highest role."""

    message = _("I cannot manage %(role)s: it is not below my highest role (%(mine)s). "
                "Move my role above it in Server Settings → Roles, then try again.")


class RoleTooPowerful(NotAllowed):
    """The role carries a permission the bot must never hand out."""

    message = _("%(role)s cannot be handed out by the bot: it has %(permissions)s. Remove those permissions "
                "from the role in Server Settings → Roles (or pick another role), then try again. Nothing was "
                "changed.")


class RoleNotBelowActor(NotAllowed):
    """The role is not below the invoking admin's highest role."""

    message = _("%(role)s is not below your highest role, so you cannot have the bot hand it out. Pick a lower "
                "role, or ask the server owner. Nothing was changed.")


class DatabaseUnavailable(DomainError):
    """The database did not answer (connections dropped, server away, file locked or read-only) and nothing changed.

    Raised by the bridge (botproject/bot/db.py) after a failure that provably wrote nothing; the member may
    simply try again.
    """

    message = _("The database is not answering right now. Nothing was changed; try again in a moment.")


class DatabaseOutcomeUnknown(DatabaseUnavailable):
    """The connection died while a change was being committed and the database stayed away, so no one can tell yet
    whether the change was saved. Said plainly, so the member checks before repeating it."""

    message = _("The database stopped answering while saving this, so I cannot tell yet whether it was saved. "
                "Check in a moment (for example with /history) before you try again.")
