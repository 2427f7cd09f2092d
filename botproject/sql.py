"""The hottest statements: one-statement inserts, and a cursor whose statements PostgreSQL prepares.

`Model.objects.create()` spends ~0.4 ms in Python per row (query compilation, model instances, signals);
on the award path that is more than the database's own work. `insert_row` builds the INSERT once per
model and database vendor and only converts the values on each call. It sends no signals: use it only
for models nothing listens to (ledger entries, outbox rows), inside the caller's transaction.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.utils import timezone

_PLAIN = (int, str, bool)


@cache
def _template(model: type[models.Model], vendor: str) -> tuple[str, tuple[models.Field, ...]]:
    fields = tuple(f for f in model._meta.concrete_fields if not f.primary_key)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = (f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders}) "
           f"RETURNING {quote(model._meta.pk.column)}")
    return sql, fields


def insert_row(model: type[models.Model], **values: Any) -> int:
    """Insert one row of `model` with `values` (by attname, e.g. `guild_id`) and field defaults; return its pk."""
    db = connections[DEFAULT_DB_ALIAS]  # once: every `connection.x` is a thread-local lookup
    sql, fields = _template(model, db.vendor)
    now = None
    params = []
    for field in fields:
        if field.attname in values:
            value = values.pop(field.attname)
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            now = now or timezone.now()
            value = now
        else:
            value = field.get_default()
        # Plain ints, strings and booleans go to the driver as they are; the rest (datetimes, JSON,
        # lazy strings) through the field's own conversion.
        params.append(value if value is None or type(value) in _PLAIN else field.get_db_prep_save(value, db))
    if values:
        raise TypeError(f"{model.__name__} has no column(s) {sorted(values)}")
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def prepared_cursor():
    """A cursor for the hottest statements, which PostgreSQL then parses and plans once per connection.

    Django's cursors bind parameters on the client (the statement's text changes with every value), so PostgreSQL
    plans each execution anew: for the award's one statement, planning cost the server as much as running it. This
    cursor binds on the server, so psycopg prepares a statement it has run a few times on the connection
    (`prepare_threshold`) and later executions send only the values. One statement per `execute` (no "a; b").
    Elsewhere (SQLite) it is Django's usual cursor. Django's wrapper stays: errors, execute wrappers, query logs.
    """
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql":
        return db.cursor()
    import psycopg
    from django.db.backends.postgresql.psycopg_any import register_tzloader

    db.close_if_health_check_failed()
    db.ensure_connection()
    with db.wrap_database_errors:
        cursor = psycopg.Cursor(db.connection)
        loader = db.connection.adapters.get_loader(psycopg.postgres.types["timestamptz"].oid,
                                                   psycopg.pq.Format.TEXT)
        if db.timezone != loader.timezone:  # as Django's own cursors
            register_tzloader(db.timezone, cursor)
        return db._prepare_cursor(cursor)

