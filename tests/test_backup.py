"""Issue 17.5/17.6: `manage.py backup` and `manage.py restore`, the heartbeat that makes restore refuse, the
scheduled backups of runbot, and their progress output (SQLite and PostgreSQL).

Restores go into a throw-away database of their own (a file, or a PostgreSQL database created and dropped here),
never into the test database other tests use.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import sqlite3
import stat
import subprocess
import threading
from datetime import timedelta

import psycopg
import pytest
from django.core.management import call_command
from django.db import close_old_connections, connection
from django.utils import timezone

from botproject import backup, heartbeat
from botproject.bot.backups import BackupSchedule
from botproject.legacy.progress import Reporter
from botproject.models import BotHeartbeat
from points import services
from points.models import LedgerEntry, MemberProfile
from tests.conftest import database_url, eventually, manage, start_runner, stop_runner

pytestmark = pytest.mark.django_db(transaction=True)

G = 5151
WRITERS = 4


def kind() -> str:
    return "sqlite" if connection.vendor == "sqlite" else "postgresql"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python manage.py ...` in a child process (the test database unless env says otherwise)."""
    process = manage(*args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


class Scratch:
    """A throw-away database: its DATABASE_URL and a raw query on it."""

    def __init__(self, url: str, query):
        self.url, self.query = url, query

    @property
    def env(self) -> dict[str, str]:
        return {"DATABASE_URL": self.url}


@pytest.fixture
def scratch(tmp_path):
    if connection.vendor == "sqlite":
        path = tmp_path / "scratch.sqlite3"

        def query(sql: str):
            with sqlite3.connect(path) as db:
                return db.execute(sql).fetchall()

        yield Scratch(f"sqlite:///{path}", query)
        return
    settings = connection.settings_dict
    name = f"{settings['NAME']}_scratch_{os.getpid()}"
    params = {"host": settings.get("HOST") or "127.0.0.1", "port": settings.get("PORT") or 5432,
              "user": settings.get("USER") or "postgres", "password": settings.get("PASSWORD") or None}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')

    def query(sql: str):
        with psycopg.connect(dbname=name, **params) as db:
            return db.execute(sql).fetchall()

    url = database_url().rsplit("/", 1)[0] + f"/{name}"
    try:
        yield Scratch(url, query)
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def award(user_id: int, amount: int, key: str) -> None:
    services.points_award(guild_id=G, user_id=user_id, amount=amount, reason="load", idempotency_key=key, notify=False)


# --- a backup during writes ---------------------------------------------------------------------------------------
def test_a_backup_taken_during_awards_restores_to_a_database_whose_ledger_checks_out(tmp_path, scratch):
    for user in range(10):
        award(1000 + user, 5, f"seed:{user}")
    stop, errors = threading.Event(), []

    def writer(n: int) -> None:
        i = 0
        try:
            while not stop.is_set():
                award(1000 + (i + n) % 10, 1 + i % 7, f"w{n}:{i}")
                close_old_connections()
                i += 1
        except BaseException as error:  # noqa: BLE001 - asserted below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    try:
        eventually(lambda: LedgerEntry.objects.count() >= 100, timeout=30)
        before = LedgerEntry.objects.count()
        made = run("backup", "--dir", str(tmp_path / "backups"))
        after = LedgerEntry.objects.count()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == [] and made.returncode == 0, (errors[:2], made.stderr)
    assert after > before, "the awards went on while the backup was taken"
    [path] = backup.own_backups(tmp_path / "backups", kind())
    assert f"Backup written: {path}" in made.stdout
    unit = "pages copied" if kind() == "sqlite" else "tables dumped"
    assert "100% " in made.stderr and unit in made.stderr and "\r" not in made.stderr  # plain lines off a terminal
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left

    restored = run("restore", str(path), "--yes", env=scratch.env)
    assert restored.returncode == 0, restored.stderr
    assert f"Restored {path}" in restored.stdout and "100% " in restored.stderr
    checked = run("check_ledger", env=scratch.env)
    assert checked.returncode == 0 and "OK: all 10 members match their ledger." in checked.stdout, checked.stdout
    [(count,)] = scratch.query(f"SELECT count(*) FROM {LedgerEntry._meta.db_table}")
    assert before <= count <= after


# --- pruning --------------------------------------------------------------------------------------------------------
def test_keep_prunes_only_its_own_backups_of_this_database_kind(tmp_path):
    own, other = kind(), {"sqlite": "postgresql", "postgresql": "sqlite"}[kind()]
    folder = tmp_path / "backups"
    folder.mkdir()
    foreign = ["notes.txt", f"backup-{own}-latest{backup.SUFFIXES[own]}", f"my-backup-{own}-20200101T000000Z.x",
               f"backup-{other}-20190101T000000Z{backup.SUFFIXES[other]}", f"backup-{own}-20190101T000000Z.txt"]
    old = [f"backup-{own}-{year}0101T000000Z{backup.SUFFIXES[own]}" for year in (2020, 2021)]
    for name in foreign + old:
        (folder / name).write_text("x")
    out, err = io.StringIO(), io.StringIO()
    call_command("backup", "--dir", str(folder), "--keep", "2", stdout=out, stderr=err)
    mine = backup.own_backups(folder, own)
    assert [p.name for p in mine[:1]] == [old[1]] and len(mine) == 2
    assert f"Removed the older backup {old[0]}." in out.getvalue()
    assert sorted(p.name for p in folder.iterdir()) == sorted(foreign + [old[1], mine[1].name])

    call_command("backup", "--dir", str(folder), "--keep", "0", stdout=io.StringIO(), stderr=io.StringIO())
    assert len(backup.own_backups(folder, own)) == 3  # 0 keeps all


# --- refusing while a bot runs --------------------------------------------------------------------------------------
def test_a_fresh_heartbeat_counts_as_a_bot_and_an_old_one_does_not():
    heartbeat.beat("gone:1", now=timezone.now() - timedelta(seconds=heartbeat.STALE_SECONDS + 5))
    assert heartbeat.live_bots() == []
    heartbeat.beat("here:2")
    assert [bot.instance for bot in heartbeat.live_bots()] == ["here:2"]
    heartbeat.clear("here:2")
    assert heartbeat.live_bots() == [] and BotHeartbeat.objects.count() == 1


def test_restore_refuses_while_a_bot_holds_the_database_and_goes_on_with_force(tmp_path, scratch):
    award(1, 10, "one")
    call_command("backup", "--dir", str(tmp_path), stdout=io.StringIO(), stderr=io.StringIO())
    [path] = backup.own_backups(tmp_path, kind())
    assert run("restore", str(path), "--yes", env=scratch.env).returncode == 0
    beat = run("shell", "-c", "from botproject import heartbeat; heartbeat.beat('elsewhere:42')", env=scratch.env)
    assert beat.returncode == 0, beat.stderr

    refused = run("restore", str(path), "--yes", env=scratch.env)
    assert refused.returncode == 1
    assert "a bot is running on this database: elsewhere:42" in refused.stderr and "--force" in refused.stderr
    assert scratch.query(f"SELECT instance FROM {BotHeartbeat._meta.db_table}") == [("elsewhere:42",)]

    forced = run("restore", str(path), "--force", env=scratch.env)
    assert forced.returncode == 0, forced.stderr
    assert scratch.query(f"SELECT count(*) FROM {BotHeartbeat._meta.db_table}") == [(0,)]
    assert run("check_ledger", env=scratch.env).returncode == 0


def test_restore_refuses_a_file_that_is_no_backup_of_this_database_kind(tmp_path):
    junk = tmp_path / "junk.dump"
    junk.write_bytes(b"hello")
    refused = run("restore", str(junk), "--yes")
    assert refused.returncode == 1 and "neither an SQLite database nor a pg_dump" in refused.stderr
    other = tmp_path / "other"
    other.write_bytes(backup.PG_DUMP_MAGIC if kind() == "sqlite" else backup.SQLITE_MAGIC)
    refused = run("restore", str(other), "--yes")
    assert refused.returncode == 1 and f"the configured database is {kind()}" in refused.stderr


# --- no PostgreSQL client tools ---------------------------------------------------------------------------------------
def test_without_pg_dump_on_path_backup_and_restore_say_which_package_and_exit_2(tmp_path):
    url = database_url() if kind() == "postgresql" else "postgres://postgres@127.0.0.1:5432/never_connected"
    env = {"DATABASE_URL": url, "PATH": ""}
    made = run("backup", "--dir", str(tmp_path / "b"), env=env)
    assert made.returncode == 2
    assert "pg_dump was not found on PATH" in made.stderr and "postgresql-client" in made.stderr
    assert not (tmp_path / "b").exists()
    dump = tmp_path / "backup-postgresql-20260101T000000Z.dump"
    dump.write_bytes(backup.PG_DUMP_MAGIC + b"...")
    restored = run("restore", str(dump), "--yes", env=env)
    assert restored.returncode == 2 and "pg_restore was not found on PATH" in restored.stderr
    assert "postgresql-client" in restored.stderr


# --- runbot: heartbeat and scheduled backups -------------------------------------------------------------------------
def test_runbot_beats_takes_backups_on_schedule_in_the_tests_time_and_clears_its_heartbeat(
        own_emulator, settings, tmp_path):
    settings.BACKUP_EVERY_HOURS, settings.BACKUP_DIR, settings.BACKUP_KEEP = 1, tmp_path, 2
    now = [1_900_000_000.0]  # 2030-03-17 17:46:40 UTC
    runner = start_runner(own_emulator, backup_clock=lambda: now[0])
    try:
        eventually(lambda: BotHeartbeat.objects.filter(instance=runner.instance).exists())
        assert [bot.instance for bot in heartbeat.live_bots()] == [runner.instance]
        # None in the folder: the first one is due at start.
        eventually(lambda: len(backup.own_backups(tmp_path, kind())) == 1, timeout=30)
        assert own_emulator.run(runner.backups.run_if_due()) is None
        now[0] += 3599
        assert own_emulator.run(runner.backups.run_if_due()) is None
        now[0] += 1
        second = own_emulator.run(runner.backups.run_if_due(), timeout=60)
        assert second is not None and second.path.name == f"backup-{kind()}-20300317T184640Z{backup.SUFFIXES[kind()]}"
        now[0] += 3600
        third = own_emulator.run(runner.backups.run_if_due(), timeout=60)
        assert [p.name for p in backup.own_backups(tmp_path, kind())] == [second.path.name, third.path.name]
        assert [p.name for p in third.removed] == [f"backup-{kind()}-20300317T174640Z{backup.SUFFIXES[kind()]}"]
    finally:
        stop_runner(own_emulator, runner)
    assert not BotHeartbeat.objects.filter(instance=runner.instance).exists()


def test_a_restarted_schedule_waits_for_the_newest_backup_to_age_and_a_failure_never_raises(tmp_path, caplog):
    clock = [1_900_000_000.0]
    schedule = BackupSchedule(2, tmp_path, 5, clock=lambda: clock[0])
    first = asyncio.run(schedule.run_if_due())
    assert first is not None
    restarted = BackupSchedule(2, tmp_path, 5, clock=lambda: clock[0] + 3600)
    assert asyncio.run(restarted.run_if_due()) is None  # the newest backup is an hour old: due in another hour
    assert restarted.next_due == clock[0] + 7200

    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    failing = BackupSchedule(1, blocked, 5, clock=lambda: clock[0])
    with caplog.at_level(logging.ERROR, logger="botproject.bot.backups"):
        assert asyncio.run(failing.run_if_due()) is None
    assert "scheduled backup into" in caplog.text and failing.next_due == clock[0] + 3600


# --- the confirmation on a terminal, and the progress bar's two forms ------------------------------------------------
def test_restore_asks_on_a_terminal_and_does_nothing_without_a_yes(tmp_path, scratch):
    award(1, 10, "one")
    call_command("backup", "--dir", str(tmp_path), stdout=io.StringIO(), stderr=io.StringIO())
    [path] = backup.own_backups(tmp_path, kind())
    for answer, code in ((b"n\n", 1), (b"y\n", 0)):
        terminal, keyboard = os.openpty()
        process = manage("restore", str(path), env=scratch.env, stdin=keyboard, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
        os.close(keyboard)
        os.write(terminal, answer)
        out, err = process.communicate(timeout=120)
        os.close(terminal)
        assert "Replace everything in the" in out and str(path) in out
        assert process.returncode == code, err
        if code:
            assert "Nothing was restored." in err
    assert scratch.query(f"SELECT balance FROM {MemberProfile._meta.db_table}") == [(10,)]


class Terminal(io.StringIO):
    """A stream that says it is a terminal (what a person running the command sees)."""

    def isatty(self) -> bool:
        return True


def test_the_bar_redraws_in_place_on_a_terminal_and_prints_a_line_every_tenth_elsewhere():
    terminal, log = Terminal(), io.StringIO()
    for stream in (terminal, log):
        report = Reporter("pages copied", stream)
        for done in range(0, 5001, 7):
            report(done, 5000)
        report(5000, 5000)
        report.finish()
    drawn = terminal.getvalue()
    assert drawn.startswith("\r[") and drawn.count("\n") == 1
    assert re.search(r"100% 5,000/5,000 pages copied \d+\.\d s\n$", drawn)
    assert drawn.count("\r") == 101  # 0 % to 100 %, once each
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 11
    assert lines[0].startswith("[" + "." * 30 + "]   0% 0/5,000") and " 50% 2,506/5,000" in lines[5]
    assert lines[-1].startswith("[" + "#" * 30 + "] 100% 5,000/5,000 pages copied")
