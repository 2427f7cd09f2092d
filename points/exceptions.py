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


class InvalidCode(PointsError):
    """Not something that can be an order code."""

    message = _("That does not look like an order code. Codes have 8 to 32 letters and digits.")


class UnknownCode(PointsError):
    """No order in this server has that code."""

    message = _("No order in this server has that code. Check it and try again.")


class VoidCode(PointsError):
    """The order was voided by staff."""

    message = _("That order was cancelled, so its code cannot be claimed. Ask the staff if this is a mistake.")


class AlreadyClaimed(PointsError):
    """Someone (possibly the member) claimed the code before."""

    message = _("That code was already claimed.")


class AlreadyClaimedByYou(PointsError):
    """The member claimed this code before."""

    message = _("You already claimed that code on %(when)s.")


class TooManyAttempts(PointsError):
    """Too many wrong codes in a short time."""

    message = _("Too many wrong codes. Wait %(minutes)s minutes before trying again.")


class InvalidEmail(PointsError):
    """Not an email address."""

    message = _("%(email)s is not a valid email address.")


class TooManyDirectMessages(PointsError):
    """The guild sent as many direct messages from the admin in the last hour as allowed (ADMIN_DMS_PER_HOUR)."""

    message = _("%(guild)s has sent %(sent)s direct messages from the admin in the last hour, the most allowed "
                "(%(limit)s an hour). Try again in %(minutes)s minutes.")


class TooManyDirectMessagesAtOnce(PointsError):
    """More members selected than the guild may message in an hour."""

    message = _("%(guild)s may send at most %(limit)s direct messages an hour from the admin: select fewer members.")


# --- order files (points.services.order_import) ---------------------------------------------------------
class ImportRefused(DomainError):
    """The order file cannot be imported as it is; nothing was written."""

    message = _("The file cannot be imported.")


class FileTooLarge(ImportRefused):
    message = _("The file is %(size)s; at most %(limit)s can be imported at once. Split it into smaller files.")


class TooManyRows(ImportRefused):
    message = _("The file has more than %(limit)s orders; at most %(limit)s can be imported at once. "
                "Split it into smaller files.")


class EmptyFile(ImportRefused):
    message = _("The file is empty: it needs a header line and one line per order.")


class NoOrders(ImportRefused):
    message = _("The file has a header line but no orders.")


class BadEncoding(ImportRefused):
    message = _("The file is not UTF-8 text: line %(line)s has a byte that cannot be read (byte %(byte)s at "
                "offset %(offset)s). Save it as \"CSV UTF-8\" and upload it again.")


class MalformedCsv(ImportRefused):
    message = _("Line %(line)s cannot be read as CSV: %(detail)s")


class BadHeaders(ImportRefused):
    message = _("The header line does not name the needed columns. %(problems)s Expected: %(expected)s.")


class HasRowErrors(ImportRefused):
    message = _("%(count)s rows have errors, so nothing was imported. Fix them and try again.")


class UnknownGuild(ImportRefused):
    message = _("There is no server with the id %(guild)s.")


class ImportConflict(ImportRefused):
    message = _("This server's orders changed since the file was checked (another import?); nothing was "
                "imported. Check the file again.")
