"""Refusals of the pads app, shown to members in their language."""

from django.utils.translation import gettext_lazy as _

from botproject.exceptions import DomainError


class PadsError(DomainError):
    """Base of the pads refusals."""


class InvalidPad(PadsError):
    """Not a pad number from 1 to 9."""

    message = _("Pick a pad from 1 to 9.")


class InvalidStarts(PadsError):
    """The start text is empty or too long."""

    message = _("Say when it starts in 1 to 200 characters.")


class PadBusy(PadsError):
    """Someone already holds the pad."""

    message = _("Pad %(pad)s is taken: %(kind)s by %(host)s, starts %(starts)s.")


class NoSessionOnPad(PadsError):
    """Nothing runs on that pad."""

    message = _("Nothing is running on pad %(pad)s.")


class NotYourSession(PadsError):
    """Only the host or staff may end a session."""

    message = _("Only the host (%(host)s) or staff can end this session.")
