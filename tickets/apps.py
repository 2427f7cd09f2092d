"""App config for tickets: ticket panels, private ticket channels, helpers, transcripts and metrics."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    """Tickets: ticket panels, private ticket channels, helpers, transcripts and metrics."""

    name = "tickets"
    verbose_name = _("Tickets")

    def ready(self) -> None:
        from botproject.overview import register_card
        from botproject.selectors import HELPER_FIGURES

        from . import selectors
        from .legacy import load  # noqa: F401  (guards for loading the old bot's tickets with loaddata)

        # Takes over the placeholder card the core registered under the same key (keeps its place).
        register_card("open_tickets", _("Open tickets"), selectors.open_tickets_count)
        figures = [(_("Tickets claimed"), selectors.helper_claims),
                   (_("Claimed tickets closed as resolved"), selectors.helper_resolved),
                   (_("Tickets closed as staff"), selectors.helper_closes),
                   (_("Helper points from tickets"), selectors.helper_ticket_points)]
        for label, provider in figures:
            if all(existing is not provider for _label, existing in HELPER_FIGURES):
                HELPER_FIGURES.append((label, provider))
