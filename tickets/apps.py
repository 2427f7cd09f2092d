"""App config for tickets: ticket panels, private ticket channels, helpers, transcripts and metrics."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    """Tickets: ticket panels, private ticket channels, helpers, transcripts and metrics."""

    name = "tickets"
    verbose_name = _("Tickets")

    def ready(self) -> None:
        from botproject import registry

        from . import selectors
        from .legacy import load  # noqa: F401  (guards for loading the old bot's tickets with loaddata)
        from .legacy import part as legacy_part

        # What the core shows of this app (botproject.registry): its switch, channel, settings, card, helper figures.
        registry.register_module("tickets", _("Tickets"), "tickets_enabled")
        registry.register_channel("tickets", _("Tickets category"), _("tickets category"), "tickets_category_id",
                                  ("category",))
        registry.register_settings("limits", _("Limits"), ("tickets_max_open_per_member",
                                                           "tickets_delete_delay_seconds"))
        registry.register_card("open_tickets", _("Open tickets"), selectors.open_tickets_count)
        registry.register_metric_gauge("open_tickets", "Open tickets (pending, open or needing help) in all guilds.",
                                       selectors.open_tickets_count)
        registry.register_helper_figure(_("Tickets claimed"), selectors.helper_claims)
        registry.register_helper_figure(_("Claimed tickets closed as resolved"), selectors.helper_resolved)
        registry.register_helper_figure(_("Tickets closed as staff"), selectors.helper_closes)
        registry.register_helper_figure(_("Helper points from tickets"), selectors.helper_ticket_points)
        registry.register_helper_figure(_("Rating of claimed tickets"), selectors.helper_rating)
        # manage.py convert_legacy: ticket_numbers.json and data/tickets.json.
        registry.register_legacy_source("tickets", legacy_part.FILES, legacy_part.convert)
