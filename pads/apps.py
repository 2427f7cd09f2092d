"""App config for pads: training and tryout sessions on pads 1-9."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _active_pads(guild) -> int:
    from .selectors import active_sessions_count

    return active_sessions_count(guild_id=guild.discord_id)


class PadsConfig(AppConfig):
    """Pads: training and tryout sessions on pads 1-9."""

    name = "pads"
    verbose_name = _("Pads")

    def ready(self) -> None:
        from botproject import registry

        from .selectors import active_sessions_count

        # What the core shows of this app (botproject.registry): its switch, channel, settings and card.
        registry.register_module("pads", _("Pads"), "pads_enabled")
        registry.register_channel("pads", _("Pads channel"), _("pads channel"), "pads_channel_id", ("text", "news"))
        registry.register_settings("limits", _("Limits"), ("pads_max_duration_minutes",))
        registry.register_card("active_pads", _("Active pads"), _active_pads)
        registry.register_metric_gauge("active_pad_sessions", "Pad sessions running now (not ended) in all guilds.",
                                       active_sessions_count)
