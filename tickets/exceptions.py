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
