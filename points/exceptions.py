"""Refusals of the points app, shown to members in their language."""

from django.utils.translation import gettext_lazy as _

from botproject.exceptions import DomainError


class PointsError(DomainError):
    """Base of the points refusals."""


class InvalidAmount(PointsError):
    """Zero, negative where a positive amount is needed, or not a whole number."""

    message = _("The amount must be a whole number above 0.")


class AboveLimit(PointsError):
    """A single adjustment larger than the guild allows."""

    message = _("At most %(limit)s points can be changed at once in this server.")


class InsufficientPoints(PointsError):
    """A deduction that would take the balance below zero."""

    message = _("%(member)s has only %(balance)s points; %(amount)s cannot be removed.")


class BalanceCapReached(PointsError):
    """An award that would take the balance above the guild's maximum."""

    message = _("That would take %(member)s above the largest balance this server allows (%(limit)s).")


class UnknownEntry(PointsError):
    """No such ledger entry in this guild."""

    message = _("There is no ledger entry %(id)s in this server.")


class AlreadyReversed(PointsError):
    """A ledger entry can be reversed once."""

    message = _("Ledger entry %(id)s was already reversed.")


class ConfirmationRequired(PointsError):
    """A season reset needs the guild's name typed as confirmation."""

    message = _("Type the server's name exactly to confirm the season reset.")
