"""The `runbot --sandbox` command body: its own database, the demo data, a superuser, then everything running."""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from . import isolation

log = logging.getLogger(__name__)
SUPERUSER = "sandbox"


def default_path() -> Path:
    return Path(settings.BASE_DIR) / "var" / "sandbox.sqlite3"


def _secret_key(folder: Path) -> str:
    """A key of the sandbox's own, kept beside its database (admin sessions survive a restart)."""
    key_file = folder / "sandbox-secret-key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _superuser(write) -> None:
    from django.contrib.auth import get_user_model

    users = get_user_model()
    if users.objects.filter(username=SUPERUSER).exists():
        write(f"Admin user '{SUPERUSER}' exists (its password was printed when it was made; "
              "--sandbox-reset makes a new one).")
        return
    password = secrets.token_urlsafe(12)
    users.objects.create_superuser(SUPERUSER, email="", password=password)
    write(f"Admin user '{SUPERUSER}' created with password: {password}  (shown once)")


def run_sandbox(command, *, path: Path | None, reset: bool, port: int | None) -> None:
    """Prepare the sandbox database and run the sandbox until Ctrl-C."""
    from . import demo, run

    path = (path or default_path()).resolve()
    write = command.stdout.write
    if reset:
        isolation.remove_database(path)
    isolation.use_sandbox_database(path)
    isolation.use_local_services()
    write(f"Sandbox database: {path} (DATABASE_URL is not used by the sandbox)")
    settings.SANDBOX = True
    settings.ROOT_URLCONF = "botproject.sandbox.urls_root"
    settings.SECRET_KEY = _secret_key(path.parent)
    call_command("migrate", interactive=False, verbosity=0)
    if demo.seed_database():
        write(f"Demo server '{demo.GUILD_NAME}' recorded.")
    _superuser(write)

    def print_line(text: str) -> None:
        write(text)
        command.stdout.flush()

    try:
        asyncio.run(run.run(port=settings.PORT if port is None else port, print_line=print_line))
    except OSError as exc:
        raise CommandError(f"the sandbox could not start: {exc}") from exc
