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
        from botproject.overview import register_card
        from botproject.selectors import HELPER_FIGURES

        from .legacy import load  # noqa: F401  (what loaddata does with a legacy fixture's points)
        from .selectors import helper_points

        # Takes over the placeholder card the core registered under the same key (keeps its place).
        register_card("points_week", _("Points issued in the last 7 days"), _points_week)
        if all(provider is not helper_points for _label, provider in HELPER_FIGURES):
            HELPER_FIGURES.append((_("Helper points"), helper_points))
