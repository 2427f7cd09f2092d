"""App config for the core (guilds, configuration, grants, blocklist)."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _member_count(guild) -> int | None:
    return guild.member_count


class BotprojectConfig(AppConfig):
    """Core app: guild configuration and access control."""

    name = "botproject"
    verbose_name = _("Core")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from . import dbpool, registry
        from .legacy import fixture  # noqa: F401  (connects the guard that keeps fixtures from rewriting guilds)

        connection_created.connect(dbpool.install, dispatch_uid="botproject.dbpool")
        # What the core shows of its own; each app registers the rest from its ready() (botproject.registry).
        registry.register_channel("log", _("Log channel"), _("log channel"), "log_channel_id", ("text", "news"))
        registry.register_card("members", _("Members"), _member_count)
