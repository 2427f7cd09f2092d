"""`manage.py backup [--keep N] [--dir D]`: a consistent copy of the database while the bot runs.

SQLite through the online backup API, PostgreSQL with `pg_dump --format=custom` (the PostgreSQL client tools must be
on PATH: exit status 2 and the package to install when they are not). The file is named by the UTC time
(backup-sqlite-20261207T134500Z.sqlite3, backup-postgresql-20261207T134500Z.dump) and appears only when complete;
then only the newest N backups of that kind are kept (other files in the folder are never touched). Defaults:
BACKUP_DIR and BACKUP_KEEP. A progress bar goes to stderr (plain lines when it is not a terminal).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from botproject import backup
from botproject.legacy.progress import Reporter


def size_text(size: int) -> str:
    """1,234,567 -> '1.2 MiB'."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size:,} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


class Command(BaseCommand):
    help = "Write a consistent backup of the database (safe while the bot runs) and keep the newest N."

    def add_arguments(self, parser):
        parser.add_argument("--keep", type=int, default=None, metavar="N",
                            help=f"backups of this database kind to keep, the new one included; 0 keeps all "
                                 f"(default BACKUP_KEEP: {settings.BACKUP_KEEP})")
        parser.add_argument("--dir", default=None, metavar="D",
                            help=f"folder for the backups (default BACKUP_DIR: {settings.BACKUP_DIR})")

    def handle(self, *args, keep=None, dir=None, **options):
        keep = settings.BACKUP_KEEP if keep is None else keep
        if keep < 0:
            raise CommandError("--keep must be 0 (keep all) or more")
        directory = Path(dir) if dir else Path(settings.BACKUP_DIR)
        unit = "pages copied" if backup.database_kind() == "sqlite" else "tables dumped"
        progress = Reporter(unit, self.stderr)
        try:
            result = backup.take_backup(directory=directory, keep=keep, progress=progress)
        except backup.BackupError as error:
            raise CommandError(str(error), returncode=error.exit_code) from error
        except OSError as error:
            raise CommandError(f"cannot write the backup in {directory}: {error.strerror}") from error
        progress.finish()
        self.stdout.write(f"Backup written: {result.path} ({size_text(result.size)}, {result.seconds:.1f} s).")
        for path in result.removed:
            self.stdout.write(f"Removed the older backup {path.name}.")
