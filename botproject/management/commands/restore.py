"""`manage.py restore FILE [--yes] [--force]`: put a backup made by `manage.py backup` back into the database.

SQLite: copied into the database file with the online backup API. PostgreSQL: `pg_restore --clean --if-exists
--no-owner --single-transaction` (all or nothing; the client tools must be on PATH, else exit status 2).
Everything in the database is replaced by the backup's contents. Refused (exit status 1) while a bot holds the
database: a runbot process whose heartbeat is under two minutes old; stop it first, or pass --force. On a
terminal it asks for confirmation unless --yes (or --force) is given. Run `manage.py migrate` afterwards when the
code is newer than the backup.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from botproject import backup, heartbeat
from botproject.legacy.progress import Reporter


class Command(BaseCommand):
    help = "Replace the database's contents with a backup; refused while a bot is running unless --force."

    def add_arguments(self, parser):
        parser.add_argument("file", help="a backup file written by manage.py backup (.sqlite3 or .dump)")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        parser.add_argument("--force", action="store_true",
                            help="restore even while a bot is running on this database (implies --yes)")

    def handle(self, *args, file, yes=False, force=False, **options):
        try:
            kind = backup.check_restorable(file)
        except backup.BackupError as error:
            raise CommandError(str(error), returncode=error.exit_code) from error
        bots = heartbeat.live_bots()
        if bots and not force:
            names = ", ".join(f"{bot.instance} (last heartbeat {bot.beat_at:%Y-%m-%d %H:%M:%S} UTC)" for bot in bots)
            raise CommandError(f"a bot is running on this database: {names}. Stop it first (a restore under a "
                               f"running bot mixes old and new data), or pass --force.")
        if not (yes or force) and sys.stdin.isatty():
            database = connections["default"].settings_dict["NAME"]
            answer = input(f"Replace everything in the {kind} database {database} with {file}? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise CommandError("Nothing was restored.")
        unit = "pages copied" if kind == "sqlite" else "tables restored"
        progress = Reporter(unit, self.stderr)
        try:
            seconds = backup.restore_backup(file, progress=progress)
        except backup.BackupError as error:
            raise CommandError(str(error), returncode=error.exit_code) from error
        progress.finish()
        heartbeat.clear_all()  # the heartbeats that came with the backup describe no running process
        connections["default"].close()
        self.stdout.write(f"Restored {file} in {seconds:.1f} s. If the code is newer than the backup, run "
                          f"`python manage.py migrate`.")
