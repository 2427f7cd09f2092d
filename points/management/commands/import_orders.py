"""manage.py import_orders FILE --guild ID [--dry-run]: import an order file from the shell.

Checks the whole file first (the same checks as the admin's import page) and prints the row errors; imports
only a file without errors, in one transaction, with a progress bar on stderr (plain lines when stderr is not a
terminal). When codes were generated, the codes of all new orders are written next to the input as
FILE.codes.csv (readable by the owner only; an existing codes file is never overwritten: FILE.codes-2.csv …),
before the import commits: the codes exist nowhere else. Exit status 1 on any refusal or row error.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext

from botproject.legacy.progress import Reporter
from points.exceptions import HasRowErrors, ImportRefused
from points.services import order_file, order_import

MAX_ERRORS_PRINTED = 200


class Command(BaseCommand):
    help = "Import a CSV file of shop orders into a guild (each order gets a one-time code for /claim)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV file (UTF-8, header line: order, email, amount[, currency, code])")
        parser.add_argument("--guild", type=int, required=True, help="the guild's Discord id")
        parser.add_argument("--dry-run", action="store_true", help="check the file and print the summary only")

    def handle(self, *args, file, guild, dry_run, **options):
        source = Path(file)
        try:
            order_import.check_size(source.stat().st_size)
            data = source.read_bytes()
        except OSError as error:
            message = gettext("Cannot read %(file)s: %(error)s") % {"file": file, "error": error.strerror}
            raise CommandError(message) from error
        except ImportRefused as error:
            raise CommandError(error.user_message()) from error
        started = time.perf_counter()
        try:
            preview = order_import.parse_orders(data, guild)
        except ImportRefused as error:
            raise CommandError(error.user_message()) from error
        self.stdout.write(gettext(
            "%(file)s: %(total)d orders; %(new)d new (%(generated)d codes to generate), %(skipped)d already "
            "imported, %(errors)d rows with errors (checked in %(seconds).1f s).") % {
            "file": source.name, "total": preview.rows_total, "new": len(preview.rows),
            "generated": preview.generated_count, "skipped": len(preview.skipped), "errors": preview.error_lines,
            "seconds": time.perf_counter() - started})
        if preview.ignored_columns:
            self.stdout.write(gettext("Ignored columns: %(columns)s") % {"columns": ", ".join(preview.ignored_columns)})
        if preview.errors:
            for error in preview.errors[:MAX_ERRORS_PRINTED]:
                column = f" [{error.column_label}]" if error.column else ""
                value = f" ({error.value})" if error.value else ""
                self.stderr.write(gettext("line %(line)s%(column)s: %(message)s%(value)s") % {
                    "line": error.line, "column": column, "message": error.message, "value": value})
            if len(preview.errors) > MAX_ERRORS_PRINTED:
                self.stderr.write(gettext("… and %(count)d more errors.") % {
                    "count": len(preview.errors) - MAX_ERRORS_PRINTED})
            raise CommandError(HasRowErrors(count=preview.error_lines).user_message())
        if dry_run:
            self.stdout.write(gettext("Dry run: nothing was written."))
            return
        if not preview.rows:
            self.stdout.write(gettext("Nothing to import: all %(count)d orders were already imported.")
                              % {"count": len(preview.skipped)})
            return

        codes_path = self._write_codes(source, preview) if preview.generated_count else None
        planned = len(preview.rows)
        started = time.perf_counter()
        progress = Reporter(gettext("orders imported"), self.stderr, number=str)
        try:
            result = order_import.orders_import(guild_id=guild, source=preview, filename=source.name,
                                                progress=progress)
        except ImportRefused as error:
            if codes_path:
                codes_path.unlink(missing_ok=True)
            raise CommandError(error.user_message()) from error
        except BaseException:
            if codes_path:
                codes_path.unlink(missing_ok=True)
            raise
        progress.finish()
        if codes_path and len(result.codes) != planned:
            # Some rows were imported by someone else meanwhile (skipped): keep only the codes now in force.
            if result.generated_count:
                codes_path.write_text(order_file.codes_csv(result.codes), encoding="utf-8")
            else:
                codes_path.unlink(missing_ok=True)
                codes_path = None
        self.stdout.write(gettext("%(summary)s Batch %(batch)s, %(seconds).1f s.") % {
            "summary": order_import.summary(result), "batch": result.batch.pk if result.batch else "-",
            "seconds": time.perf_counter() - started})
        if codes_path:
            self.stdout.write(gettext("Codes written to %(path)s (%(count)d codes, %(generated)d generated). They are "
                                  "stored nowhere else: keep the file safe.") % {
                "path": codes_path, "count": len(result.codes), "generated": result.generated_count})

    def _write_codes(self, source: Path, preview: order_import.Preview) -> Path:
        """The codes file, created exclusively and readable only by its owner, before anything is imported."""
        text = order_file.codes_csv([
            order_file.IssuedCode(r.order_number, r.email, r.amount, r.currency, r.code, r.generated)
            for r in preview.rows])
        for n in range(1, 1000):
            target = source.with_name(source.name + (".codes.csv" if n == 1 else f".codes-{n}.csv"))
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
            return target
        raise CommandError(gettext("Too many codes files next to %(file)s.") % {"file": source})
