"""App config for points: per-guild balances on an append-only ledger, leaderboard, achievements, order codes."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _points_week(guild) -> int:
    from .selectors import points_issued

    return points_issued(guild_id=guild.discord_id, days=7)


class PointsConfig(AppConfig):
    """Points: per-guild balances on an append-only ledger, leaderboard, achievements, order codes."""

    name = "points"
    verbose_name = _("Points")

    def ready(self) -> None:
        from botproject import registry

        from .legacy import convert as legacy_convert
        from .legacy import load  # noqa: F401  (what loaddata does with a legacy fixture's points)
        from .legacy import part as legacy_part
        from .selectors import helper_points

        # What the core shows of this app (botproject.registry): switch, settings, card, helper figure, legacy files.
        registry.register_module("points", _("Points"), "points_enabled")
        registry.register_settings("limits", _("Limits"), ("points_max_adjustment", "points_max_balance",
                                                           "points_allow_negative"))
        registry.register_card("points_week", _("Points issued in the last 7 days"), _points_week)
        registry.register_helper_figure(_("Helper points"), helper_points)
        # manage.py convert_legacy: points.json, and the LegacyImport row that records every legacy import.
        registry.register_legacy_source("points", legacy_part.FILES, legacy_part.convert)
        registry.register_legacy_record(legacy_convert.header_object)
