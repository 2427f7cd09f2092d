"""Domain errors: refusals a member should read, translated at the Discord edge."""

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """Base of every refusal; carries a translatable message and its named parameters."""

    message = _("That cannot be done.")

    def __init__(self, message=None, **params) -> None:
        if message is not None:
            self.message = message
        self.params = params
        super().__init__(str(self.message), params)

    def user_message(self) -> str:
        """Render the message in the active language."""
        text = str(self.message)
        return text % self.params if self.params else text


class NotAllowed(DomainError):
    """The member lacks the access level an action needs."""

    message = _("You are not allowed to do that.")


class InvalidConfigValue(DomainError):
    """A configuration value that does not fit (wrong channel type, unknown kind)."""

    message = _("That value cannot be used here.")
