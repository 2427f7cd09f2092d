"""Backups of the database while the bot runs, and putting one back (`manage.py backup` / `manage.py restore`).

    result = take_backup(directory=settings.BACKUP_DIR, keep=settings.BACKUP_KEEP, progress=lambda done, total: ...)
    result.path, result.size, result.removed         # the new file and the older backups pruned
    restore_backup(path, progress=...)              # the caller checks heartbeat.live_bots() first

SQLite is copied with the online backup API from one read transaction (a consistent snapshot: in WAL mode the
bot's writes go on meanwhile), PostgreSQL with `pg_dump --format=custom` (one snapshot as well). The connection
settings come from Django's DATABASES and reach the PostgreSQL tools through the environment (PGPASSWORD etc.),
never their command line. A backup is written under a temporary name (a dot file ending in .partial) and renamed
when complete, so a file under a final name is always whole. Its name says the database kind and the UTC time:
backup-sqlite-20261207T134500Z.sqlite3, backup-postgresql-20261207T134500Z.dump. Pruning keeps the newest `keep`
files of that pattern and kind, and never touches another file.

Progress callbacks get (done, total): pages for SQLite, tables for PostgreSQL (pg_dump and pg_restore name
each table as they copy its data).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db import connections

Progress = Callable[[int, int], None]

PAGES_PER_STEP = 1024  # SQLite pages copied between two progress reports (4 MiB with the usual page size)
SUFFIXES = {"sqlite": ".sqlite3", "postgresql": ".dump"}
NAME = re.compile(r"^backup-(?P<kind>sqlite|postgresql)-(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?"
                  r"\.(?:sqlite3|dump)$")
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
PACKAGE_HINT = "install the PostgreSQL client tools (Debian/Ubuntu: apt install postgresql-client)"
# libpq settings Django's OPTIONS may carry, and the environment variables the tools read them from.
PG_OPTION_ENV = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
                 "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT", "passfile": "PGPASSFILE"}


class BackupError(Exception):
    """A backup or restore could not be done; the message says why. `exit_code` for the commands."""

    exit_code = 1


class ToolMissing(BackupError):
    """pg_dump or pg_restore is not on PATH."""

    exit_code = 2


@dataclass(frozen=True)
class BackupResult:
    path: Path
    kind: str
    size: int
    seconds: float
    removed: list[Path] = field(default_factory=list)


def database_kind(alias: str = "default") -> str:
    """'sqlite' or 'postgresql' (other databases are refused)."""
    vendor = connections[alias].vendor
    if vendor not in SUFFIXES:
        raise BackupError(f"backups support SQLite and PostgreSQL, not {vendor}")
    return vendor


def require_tool(name: str) -> str:
    """The path of a PostgreSQL client program, or ToolMissing naming the package."""
    found = shutil.which(name)
    if found is None:
        raise ToolMissing(f"{name} was not found on PATH: {PACKAGE_HINT}.")
    return found


def backup_name(kind: str, when: datetime, n: int = 1) -> str:
    stamp = when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"backup-{kind}-{stamp}{'' if n == 1 else f'-{n}'}{SUFFIXES[kind]}"


def backup_time(path: Path) -> datetime | None:
    """When a backup of ours was taken (from its name), or None for any other file."""
    match = NAME.match(path.name)
    return datetime.strptime(match["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) if match else None


def own_backups(directory: Path, kind: str) -> list[Path]:
    """Our backups of this database kind in `directory`, oldest first (by the time in the name)."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = NAME.match(path.name)
        if match and match["kind"] == kind and path.name.endswith(SUFFIXES[kind]) and path.is_file():
            found.append((match["stamp"], int(match["n"] or 1), path))
    return [path for _stamp, _n, path in sorted(found)]


def prune(directory: Path, kind: str, keep: int) -> list[Path]:
    """Delete all but the newest `keep` of our backups of this kind (keep <= 0: delete none); returns them."""
    if keep <= 0:
        return []
    removed = own_backups(directory, kind)[:-keep]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def take_backup(*, directory: Path | str, keep: int = 0, progress: Progress | None = None,
                now: datetime | None = None, alias: str = "default") -> BackupResult:
    """Write a consistent copy of the database into `directory`, then keep the newest `keep` backups."""
    kind = database_kind(alias)
    if kind == "postgresql":
        require_tool("pg_dump")  # before anything is created
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    final, temporary = _new_names(directory, kind, now or datetime.now(UTC))
    try:
        if kind == "sqlite":
            _sqlite_backup(connections[alias].settings_dict, temporary, progress)
        else:
            _pg_dump(connections[alias].settings_dict, temporary, progress, _pg_table_count(alias))
        _fsync(temporary)
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    removed = prune(directory, kind, keep)
    return BackupResult(final, kind, final.stat().st_size, time.monotonic() - started, removed)


def _new_names(directory: Path, kind: str, when: datetime) -> tuple[Path, Path]:
    """A final name not taken yet, and its temporary file created empty (owner only: a backup holds all data)."""
    for n in range(1, 1000):
        final = directory / backup_name(kind, when, n)
        temporary = directory / f".{final.name}.partial"
        if final.exists():
            continue
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:  # another backup of the same second is being written
            continue
        return final, temporary
    raise BackupError(f"too many backups named for {when:%Y-%m-%d %H:%M:%S} in {directory}")


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


# --- SQLite --------------------------------------------------------------------------------------------------------
def _sqlite_path(settings_dict: dict[str, Any]) -> Path:
    name = str(settings_dict["NAME"])
    if name == ":memory:" or name.startswith("file:"):
        raise BackupError(f"the SQLite database {name!r} is not a file that can be backed up")
    return Path(name)


def _copy(source: sqlite3.Connection, target: sqlite3.Connection, progress: Progress | None) -> None:
    def step(_status: int, remaining: int, total: int) -> None:
        if progress is not None:
            progress(total - remaining, total)

    source.backup(target, pages=PAGES_PER_STEP, progress=step)


def _sqlite_backup(settings_dict: dict[str, Any], target_path: Path, progress: Progress | None) -> None:
    path = _sqlite_path(settings_dict)
    if not path.is_file():
        raise BackupError(f"the SQLite database {path} does not exist")
    source = sqlite3.connect(path, timeout=30, isolation_level=None)
    target = sqlite3.connect(target_path, isolation_level=None)
    try:
        # One read transaction for the whole copy: every step reads the same snapshot, so the bot's writes (other
        # connections, WAL mode) neither make the copy inconsistent nor restart it.
        source.execute("BEGIN")
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()
        _copy(source, target, progress)
        source.execute("COMMIT")
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    except sqlite3.Error as error:
        raise BackupError(f"SQLite backup failed: {error}") from error
    finally:
        target.close()
        source.close()


def _sqlite_restore(settings_dict: dict[str, Any], backup: Path, progress: Progress | None) -> None:
    path = _sqlite_path(settings_dict)
    source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True, isolation_level=None)
    try:
        problem = source.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise BackupError(f"{backup.name} is damaged: {problem}")
        target = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            _copy(source, target, progress)  # the database keeps its WAL mode; readers see the old or the new
        finally:
            target.close()
    except sqlite3.Error as error:
        raise BackupError(f"SQLite restore failed: {error}") from error
    finally:
        source.close()


# --- PostgreSQL ----------------------------------------------------------------------------------------------------
def pg_environment(settings_dict: dict[str, Any]) -> dict[str, str]:
    """The environment for pg_dump/pg_restore: this process's, with the connection settings as PG* variables."""
    env = dict(os.environ)
    for key, variable in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"),
                          ("PASSWORD", "PGPASSWORD"), ("NAME", "PGDATABASE")):
        if settings_dict.get(key):
            env[variable] = str(settings_dict[key])
    for option, variable in PG_OPTION_ENV.items():
        value = (settings_dict.get("OPTIONS") or {}).get(option)
        if value not in (None, ""):
            env[variable] = str(value)
    return env


def _pg_table_count(alias: str) -> int:
    """How many tables pg_dump will copy the data of (its progress total)."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                       "AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'")
        return int(cursor.fetchone()[0])


def _run_tool(args: list[str], env: dict[str, str], marker: str, total: int, progress: Progress | None) -> None:
    """Run a PostgreSQL tool with --verbose, counting the lines that start a table's data; BackupError on failure
    with its last messages."""
    done = 0
    tail: deque[str] = deque(maxlen=12)
    if progress is not None:
        progress(0, total)
    with subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, errors="replace") as process:
        assert process.stderr is not None
        for line in process.stderr:
            if marker in line:
                done += 1
                if progress is not None:
                    progress(min(done, total), max(total, done))
            else:
                tail.append(line.rstrip())
        code = process.wait()
    if code != 0:
        errors = [line for line in tail if "error" in line.lower()] or list(tail)
        raise BackupError(f"{Path(args[0]).name} failed (exit status {code}): " + " | ".join(errors[-4:]))


def _pg_dump(settings_dict: dict[str, Any], target: Path, progress: Progress | None, tables: int) -> None:
    args = [require_tool("pg_dump"), "--format=custom", "--no-password", "--verbose", f"--file={target}"]
    _run_tool(args, pg_environment(settings_dict), "dumping contents of table", tables, progress)


def _pg_restore(settings_dict: dict[str, Any], backup: Path, progress: Progress | None) -> None:
    tool = require_tool("pg_restore")
    listing = subprocess.run([tool, "--list", str(backup)], capture_output=True, text=True, errors="replace")
    if listing.returncode != 0:
        raise BackupError(f"{backup.name} is not a readable pg_dump archive: {listing.stderr.strip()}")
    tables = sum(1 for line in listing.stdout.splitlines() if " TABLE DATA " in line and not line.startswith(";"))
    # The database comes from PGDATABASE: an empty URI leaves every setting to the environment.
    args = [tool, "--clean", "--if-exists", "--no-owner", "--single-transaction", "--no-password", "--verbose",
            "--dbname=postgresql://", str(backup)]
    _run_tool(args, pg_environment(settings_dict), "processing data for table", tables, progress)


# --- restore -------------------------------------------------------------------------------------------------------
def backup_kind_of(path: Path) -> str:
    """'sqlite' or 'postgresql' by the file's first bytes; BackupError for anything else."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as error:
        raise BackupError(f"cannot read {path}: {error.strerror}") from error
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    raise BackupError(f"{path} is neither an SQLite database nor a pg_dump custom-format archive")


def check_restorable(path: Path | str, alias: str = "default") -> str:
    """Refuse early (before any question is asked) what cannot be restored here; returns the database kind."""
    path = Path(path)
    kind = database_kind(alias)
    found = backup_kind_of(path)
    if found != kind:
        raise BackupError(f"{path.name} is a {found} backup; the configured database is {kind}")
    if kind == "postgresql":
        require_tool("pg_restore")
    return kind


def restore_backup(path: Path | str, *, progress: Progress | None = None, alias: str = "default") -> float:
    """Put the backup at `path` back into the configured database; returns the seconds it took. The caller has
    checked that no bot holds the database (heartbeat.live_bots()) or was told to go on anyway."""
    path = Path(path)
    kind = check_restorable(path, alias)
    started = time.monotonic()
    connections[alias].close()  # nothing of ours holds the database meanwhile
    if kind == "sqlite":
        _sqlite_restore(connections[alias].settings_dict, path, progress)
    else:
        _pg_restore(connections[alias].settings_dict, path, progress)
    return time.monotonic() - started
