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

        from .legacy import load  # noqa: F401  (what loaddata does with a legacy fixture's points)
        from .selectors import helper_points

        # What the core shows of this app (botproject.registry): its switch, settings, card and /helper stats figure.
        registry.register_module("points", _("Points"), "points_enabled")
        registry.register_settings("limits", _("Limits"), ("points_max_adjustment", "points_max_balance",
                                                           "points_allow_negative"))
        registry.register_card("points_week", _("Points issued in the last 7 days"), _points_week)
        registry.register_helper_figure(_("Helper points"), helper_points)
