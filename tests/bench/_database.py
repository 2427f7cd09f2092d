"""A throw-away database for a benchmark: a temporary SQLite file, or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def _pg_admin(url: str):
    import psycopg

    parts = urlsplit(url)
    dsn = urlunsplit(("postgresql", parts.netloc, parts.path or "/postgres", parts.query, ""))
    try:
        return psycopg.connect(dsn, autocommit=True)
    except psycopg.OperationalError:
        # The URL's database need not exist: the server's maintenance database serves to create ours.
        return psycopg.connect(urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, "")), autocommit=True)


def prepare_database(url: str | None, name: str) -> tuple[str, Callable[[], None]]:
    """The URL to run against and a cleanup function.

    None: a temporary SQLite file; a SQLite URL: that file (it must not exist yet; it is removed after);
    a PostgreSQL URL: a new database `bench_<name>_<pid>` on that server, dropped after.
    """
    if url is None or url.startswith("sqlite"):
        if url is None:
            workdir = tempfile.mkdtemp(prefix=f"bench-{name}-")
            path = Path(workdir) / "bench.sqlite3"
        else:
            path = Path(urlsplit(url).path)
            if path.exists():
                sys.exit(f"{path} exists; give a new file (the bench deletes it afterwards).")
            workdir = None

        def cleanup() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            if workdir:
                shutil.rmtree(workdir, ignore_errors=True)

        return f"sqlite:///{path}", cleanup

    database = f"bench_{name}_{os.getpid()}"
    with _pg_admin(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
        conn.execute(f'CREATE DATABASE "{database}"')
    parts = urlsplit(url)

    def drop() -> None:
        with _pg_admin(url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, "")), drop
