"""Point this process at the sandbox's own SQLite file (and local-only services) before anything uses them.

The sandbox never touches the deployment's data: whatever DATABASE_URL, REDIS_URL or EMAIL_URL say, the default
database becomes `path`, wake-ups stay in memory and e-mail goes to the console. Called by `runbot --sandbox`
before its first query; django.db.connections reads settings.DATABASES lazily, and any connection made earlier
(system checks) is closed and forgotten here.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from asgiref.local import Local
from django.conf import settings
from django.db import connections

log = logging.getLogger(__name__)

SQLITE_ENGINE = "django.db.backends.sqlite3"


def sqlite_database(path: Path) -> dict:
    """The default connection's settings for an SQLite file, as settings.py makes them for DATABASE_URL=sqlite."""
    return {
        "ENGINE": SQLITE_ENGINE,
        "NAME": str(path),
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": float(os.environ.get("SQLITE_TIMEOUT") or 20),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        },
        "CONN_MAX_AGE": None,
        "CONN_HEALTH_CHECKS": True,
    }


def use_sandbox_database(path: Path) -> None:
    """Make `path` the only database of this process (created by the migrations if missing)."""
    configured = settings.DATABASES.get("default", {})
    if configured.get("NAME") != str(path):
        where = configured.get("HOST") or configured.get("NAME") or "?"
        log.info("sandbox: ignoring the configured database (%s %s); using %s", configured.get("ENGINE"), where, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for connection in connections.all(initialized_only=True):
        connection.close()
    settings.DATABASES = {"default": sqlite_database(path)}
    connections._settings = None  # read settings.DATABASES again (configure_settings, a cached_property)
    connections.__dict__.pop("settings", None)
    connections._connections = Local(connections.thread_critical)
    settings.DB_IS_SQLITE = True
    if not os.environ.get("DB_THREADS"):
        settings.DB_THREADS = 1
    actual = connections["default"].settings_dict
    if actual["ENGINE"] != SQLITE_ENGINE or actual["NAME"] != str(path):
        raise RuntimeError(f"the sandbox could not switch to its own database ({actual['ENGINE']} {actual['NAME']})")


def use_local_services() -> None:
    """No Redis, no real e-mail, no real Discord or Roblox from this process."""
    settings.REDIS_URL = ""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    from channels.layers import channel_layers

    channel_layers.backends = {}
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    settings.DISCORD_SYNC_GUILDS = []


def remove_database(path: Path) -> None:
    """Delete the sandbox database file and its WAL side files (for --sandbox-reset)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
