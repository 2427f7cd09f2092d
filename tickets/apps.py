"""App config for tickets: ticket panels, private ticket channels, helpers, transcripts and metrics."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    """Tickets: ticket panels, private ticket channels, helpers, transcripts and metrics."""

    name = "tickets"
    verbose_name = _("Tickets")
