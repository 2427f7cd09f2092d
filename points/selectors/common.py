"""What the points reads share: quoted table names and datetimes read through a raw cursor."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime


def table_sql(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def aware(value) -> datetime | None:
    """A DateTimeField value as read through a raw cursor (SQLite gives text) as an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value if value is None or timezone.is_aware(value) else timezone.make_aware(value, UTC)
    parsed = parse_datetime(value)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)
