"""manage.py convert_legacy: the old bots' JSON files → a fixture for `manage.py loaddata`.

    python manage.py convert_legacy --guild ID [--<file option> FILE ...] --out legacy.json [--allow-partial]
        [--max-file-mb 32]

(`--help` lists the file options the installed apps registered.)

The files and how each is converted come from the apps (botproject.registry.register_legacy_source, in each
app's ready()). Checks every record of the given files (see botproject.legacy), then writes next
to --out: a byte-for-byte backup of each input (`<out>.<role>-backup.json`) and the report
(`<out>.report.txt`, `<out>.report.json`: records read, converted, rejected with JSON path and reason,
skipped (another guild's), warnings, dropped fields); and the fixture itself only when no record was
rejected, or with --allow-partial (the rejected records are then left out and listed).

Exit status: 0 when the fixture was written; 1 when a record was rejected (without --allow-partial) or a file
could not be read (too large, not JSON, wrong shape): no fixture is written then, and an earlier fixture at
--out is removed so that it cannot be loaded by mistake; 2 for wrong arguments. A progress bar goes to stderr.
The database is only read (the guild's earlier imports, ticket numbers and limits); loaddata writes.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from botproject import registry
from botproject.legacy.fixture import backup_path, iso, write_backup, write_fixture
from botproject.legacy.progress import Bar
from botproject.legacy.report import Report
from botproject.legacy.source import DEFAULT_MAX_MB, Invalid, SourceError, read_source, snowflake

SHOWN_ISSUES = 50


class Command(BaseCommand):
    help = "Convert the old bots' JSON files (one option each, as the apps register them) into a fixture for loaddata."

    def add_arguments(self, parser):
        parser.add_argument("--guild", required=True, metavar="ID", help="the guild's Discord id")
        for file in _files():
            parser.add_argument(file.option, dest=file.role, metavar="FILE", help=file.help)
        parser.add_argument("--out", required=True, metavar="FIXTURE", help="the fixture to write (a .json file)")
        parser.add_argument("--allow-partial", action="store_true",
                            help="write the fixture without the rejected records (they stay in the report)")
        parser.add_argument("--max-file-mb", type=float, default=DEFAULT_MAX_MB, metavar="MB",
                            help=f"refuse larger input files (default {DEFAULT_MAX_MB})")

    def handle(self, *args, guild, out, allow_partial, max_file_mb, **options):
        try:
            guild_id = snowflake(guild, "--guild")
        except Invalid as error:
            raise CommandError(str(error), returncode=2) from None
        files = _files()
        inputs = [(file.role, options[file.role]) for file in files if options.get(file.role)]
        if not inputs:
            names = [file.option for file in files]
            listed = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else "".join(names)
            raise CommandError(f"Give at least one file: {listed}.", returncode=2)
        out = Path(out)
        if out.suffix != ".json" or not out.parent.is_dir():
            raise CommandError(f"--out {out}: give a .json file in an existing folder.", returncode=2)
        if any(Path(path).resolve() in (out.resolve(), backup_path(out, role).resolve()) for role, path in inputs):
            raise CommandError("--out would overwrite an input file; choose another name.", returncode=2)

        started, now = time.perf_counter(), timezone.now()
        report = Report(guild_id)
        counters = {file.role: file.count for file in files}
        sources, total = {}, 0
        for role, path in inputs:
            try:
                source = read_source(role, path, max_mb=max_file_mb)
                sources[role] = source
                total += counters[role](source)
            except SourceError as error:
                report.fatal(role, Path(path).name, str(error))
        backups = [write_backup(out, source) for source in sources.values()]
        if report.has_fatal:
            self._fail(report, out, "A file could not be used")

        bar = Bar(total, "records checked", self.stderr)
        parts = []
        for converter in registry.legacy_sources():
            given = {file.role: sources[file.role] for file in converter.files if file.role in sources}
            try:
                parts.append(converter.convert(given, guild_id, report, bar, now))
            except SourceError as error:  # a file readable as JSON that turned out unusable as a whole
                role = list(given)[-1]
                report.fatal(role, given[role].name, str(error))
                self._fail(report, out, "A file could not be used")
        bar.finish()

        report.figures = {name: value for part in parts for name, value in part.figures.items()}
        if report.rejected and not allow_partial:
            self._fail(report, out, f"{sum(f.rejected for f in report.files.values())} records were rejected",
                       hint=" Fix them, or run again with --allow-partial to leave them out.")

        payload = [part.payload for part in parts]
        key = hashlib.sha256(json.dumps([guild_id, payload], sort_keys=True).encode()).hexdigest()
        figures = {**report.figures, "rejected": sum(f.rejected for f in report.files.values())}
        record = registry.legacy_record()
        header = [record(guild_id, key, converted_at=iso(now), figures=figures, sources=[
            {"role": s.role, "file": str(s.path), "bytes": len(s.raw), "sha256": s.sha256,
             "records": report.files[s.role].records, "converted": report.files[s.role].converted,
             "rejected": report.files[s.role].rejected} for s in sources.values()])] if record else []
        objects = [{"model": "botproject.guild", "fields": {"discord_id": guild_id, "joined_at": iso(now)}}, *header,
                   *(row for part in parts for row in part.objects(key))]
        count = write_fixture(out, objects)
        text_path, json_path = report.write(out.with_suffix(""))
        self.stdout.write(report.text(limit=SHOWN_ISSUES))
        self.stdout.write(f"Fixture: {out} ({count} objects, {out.stat().st_size / 1048576:.1f} MB, checksum "
                          f"{key[:12]}) in {time.perf_counter() - started:.1f} s.")
        self.stdout.write(f"Report: {text_path}, {json_path}. Backups: {', '.join(str(p) for p in backups)}.")
        self.stdout.write(f"Load it with: python manage.py loaddata {out}")

    def _fail(self, report: Report, out: Path, what: str, hint: str = "") -> None:
        text_path, _json_path = report.write(out.with_suffix(""))
        self.stdout.write(report.text(limit=SHOWN_ISSUES))
        removed = ""
        if out.exists():
            out.unlink()
            removed = f" The earlier {out} was removed so that it cannot be loaded by mistake."
        raise CommandError(f"{what}: no fixture was written.{removed}{hint} Report: {text_path}", returncode=1)


def _files() -> list[registry.LegacyFile]:
    """Every file an app converts, in registration order."""
    return [file for converter in registry.legacy_sources() for file in converter.files]
