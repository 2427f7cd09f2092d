"""Many rows of one model in a few statements, for loading legacy data in bulk.

`bulk_create` prepares every field of every row through the ORM (~70 µs a row here), which dominated the
load of 100,000 members. These rows have a handful of varying columns (ids, amounts, keys) and the rest are
the same for every row, so the constants are prepared once by their fields and the rows go out with COPY
(PostgreSQL) or `executemany` (SQLite). Every concrete field is written (a value from `fixed`, else the
field's default), so a column added to the model later is not forgotten.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models

CHUNK = 1000


def insert_rows(model: type[models.Model], varying: Sequence[str], rows: Sequence[Sequence[Any]],
                fixed: dict[str, Any] | None = None) -> None:
    """INSERT `rows` (values of the `varying` columns, already plain ints and strings) into `model`'s table."""
    if not rows:
        return
    fixed = fixed or {}
    by_name = {f.attname: f for f in model._meta.concrete_fields if not f.primary_key}
    unknown = set(varying) - set(by_name) or set(fixed) - set(by_name)
    if unknown:
        raise ValueError(f"{model.__name__} has no column {sorted(unknown)}")
    constants = {}
    for name, field in by_name.items():
        if name in varying:
            continue
        value = fixed[name] if name in fixed else field.get_default()
        if value is None and not field.null:
            raise ValueError(f"{model.__name__}.{name} needs a value")
        constants[field.column] = field.get_db_prep_save(value, connection)
    quote = connection.ops.quote_name
    columns = [by_name[name].column for name in varying] + list(constants)
    sql = (f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
           f"VALUES ({', '.join(['%s'] * len(columns))})")
    tail = tuple(constants.values())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # COPY: one stream instead of a statement a row
            names = ", ".join(quote(c) for c in columns)
            with cursor.cursor.copy(f"COPY {quote(model._meta.db_table)} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((*row, *tail))
            return
        for start in range(0, len(rows), CHUNK):
            cursor.executemany(sql, [(*row, *tail) for row in rows[start:start + CHUNK]])
