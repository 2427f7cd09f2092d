"""Refusals of the tickets app, shown to members in their language."""

from django.utils.translation import gettext_lazy as _

from botproject.exceptions import DomainError


class TicketsError(DomainError):
    """Base of the tickets refusals."""


class NoCategories(TicketsError):
    """The guild has no active ticket category."""

    message = _("There are no ticket categories yet. An admin can add them in the admin site (Tickets → ticket "
                "categories).")


class UnknownCategory(TicketsError):
    """The button's category is gone or switched off."""

    message = _("This kind of ticket is no longer offered. Ask the staff to refresh the panel.")


class UnknownPanel(TicketsError):
    """The panel is no longer recorded."""

    message = _("This panel is no longer in use. Ask the staff for a new one.")


class AtLimit(TicketsError):
    """The member already holds as many open tickets as allowed."""

    message = _("You already have an open ticket: %(channel)s. Finish it before opening another.")


class TooManyOpens(TicketsError):
    """The member opened as many tickets in the last hour as the server allows."""

    message = _("You opened %(count)s tickets in the last hour, the most allowed. Try again in %(minutes)s "
                "minutes.")


class NotATicket(TicketsError):
    """The command was used outside a ticket channel, or the ticket is unknown."""

    message = _("This is not an open ticket channel.")


class TicketClosed(TicketsError):
    """The ticket is already closed."""

    message = _("This ticket is already closed.")


class NotOpener(TicketsError):
    """Only the member who opened the ticket may press this."""

    message = _("Only %(opener)s, who opened this ticket, can do that.")


class StaffOnly(TicketsError):
    """Only staff may do this to a ticket."""

    message = _("Only staff can close this ticket.")


class ClaimRefused(TicketsError):
    """Helpers and staff only may claim."""

    message = _("Only helpers and staff can claim tickets.")


class AlreadyClaimed(TicketsError):
    """The helper holds a slot already."""

    message = _("You already claimed this ticket.")


class SlotsFull(TicketsError):
    """Every helper slot is taken."""

    message = _("All %(slots)s helper slots of this ticket are taken.")


class OwnTicket(TicketsError):
    """A member cannot claim their own ticket."""

    message = _("You cannot claim your own ticket.")


class AddRefused(TicketsError):
    """Only staff and the ticket's claimers manage its members."""

    message = _("Only staff and this ticket's helpers can add or remove members.")


class CannotRemoveOpener(TicketsError):
    """The opener always keeps access."""

    message = _("The opener always keeps access to their ticket.")


class ChannelLimit(TicketsError):
    """The guild reached Discord's channel limit."""

    message = _("This server has reached Discord's limit of 500 channels, so no ticket channel can be created. "
                "Ask an admin to delete some channels.")


class ChannelFailed(TicketsError):
    """Discord refused to create the channel."""

    message = _("Discord did not create the ticket channel (%(error)s). Nothing was kept; try again later.")


# --- tickets that run themselves (issue 16) -----------------------------------------------------------
class MissingRole(TicketsError):
    """The category needs a role the member does not hold."""

    message = _("To open this kind of ticket you need one of these roles: %(roles)s. Ask the staff how to get it.")


class CategoryOpensExceeded(TicketsError):
    """The member opened as many tickets of this category in the last hour as it allows."""

    message = _("You opened %(count)s %(category)s tickets in the last hour, the most allowed. Try again in "
                "%(wait)s.")


class OutsideSupportHours(TicketsError):
    """The category refuses tickets outside its support hours."""

    message = _("Support for this kind of ticket is open %(hours)s. It opens again in %(wait)s; try again then.")


class AnswerMissing(TicketsError):
    """A required intake question was left empty."""

    message = _("Please answer \"%(question)s\": it is required. Nothing was opened; press the button again.")


class AnswerTooLong(TicketsError):
    """An intake answer is longer than its question allows."""

    message = _("Your answer to \"%(question)s\" is %(length)s characters long; at most %(limit)s are allowed. "
                "Nothing was opened; press the button again.")


class FormChanged(TicketsError):
    """The category's questions changed while the member filled the form."""

    message = _("The questions of this form changed while you answered. Nothing was opened; press the button "
                "again.")


class CloseRequestRefused(TicketsError):
    """Only staff and the ticket's claimers may ask the opener to close."""

    message = _("Only staff and this ticket's helpers can ask the opener to close it.")


class CloseRequestPending(TicketsError):
    """A close request already waits for the opener."""

    message = _("A close request already waits for the opener's answer (it closes the ticket at %(when)s).")


class NoCloseRequest(TicketsError):
    """The close request was answered, expired or withdrawn."""

    message = _("This close request is no longer open.")


class NotRater(TicketsError):
    """Only the opener rates their ticket."""

    message = _("Only the member who opened this ticket can rate it.")


class NotRateable(TicketsError):
    """Only closed tickets are rated."""

    message = _("This ticket is not closed yet, so it cannot be rated.")


class RatingFinal(TicketsError):
    """A rating can be changed for a day only."""

    message = _("Your rating of this ticket was given more than 24 hours ago and can no longer be changed.")


class ReopenRefused(TicketsError):
    """Only staff, or the opener within the category's window, may reopen."""

    message = _("Only staff can reopen this ticket now: the opener may reopen it within %(window)s of its close, "
                "and that time ended %(ago)s ago.")


class ReopenNotAllowed(TicketsError):
    """Members other than the opener and staff may not reopen."""

    message = _("Only staff and the member who opened this ticket can reopen it.")


class NotClosed(TicketsError):
    """Only a closed ticket can be reopened."""

    message = _("Ticket #%(number)s is not closed (it is %(status)s), so there is nothing to reopen.")


class UnknownTicketNumber(TicketsError):
    """No ticket has this number in this server."""

    message = _("There is no ticket #%(number)s in this server.")


class BadHours(TicketsError):
    """A close request's hours out of range."""

    message = _("The hours must be between 1 and %(max)s.")


class BadStars(TicketsError):
    """A rating out of range."""

    message = _("A rating is 1 to 5 stars.")


class ReopenInProgress(TicketsError):
    """Another reopen of the ticket is making its channel."""

    message = _("Ticket #%(number)s is being reopened right now; its channel appears in a moment.")
