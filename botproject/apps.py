"""App config for the core (guilds, configuration, grants, blocklist)."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BotprojectConfig(AppConfig):
    """Core app: guild configuration and access control."""

    name = "botproject"
    verbose_name = _("Core")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from . import dbpool
        from .legacy import fixture  # noqa: F401  (connects the guard that keeps fixtures from rewriting guilds)

        connection_created.connect(dbpool.install, dispatch_uid="botproject.dbpool")
