"""App config for points: per-guild balances on an append-only ledger, leaderboard, achievements, order codes."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PointsConfig(AppConfig):
    """Points: per-guild balances on an append-only ledger, leaderboard, achievements, order codes."""

    name = "points"
    verbose_name = _("Points")
