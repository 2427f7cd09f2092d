"""Writing the fixture, the backups of the inputs, and the guards every legacy fixture relies on.

The fixture is plain Django JSON (`manage.py loaddata` reads it), written to a temporary name and renamed,
one object per line and ASCII only (loaddata opens fixtures in the locale's encoding).

Guards (model signals on raw saves, i.e. fixture loads): a row found by its natural key is already in the
database, and loaddata would overwrite every field with the fixture's. For rows the bot owns that must not
happen: `keep_stored` copies the stored values onto the instance so the save rewrites them unchanged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from django.db import models
from django.db.models.signals import pre_save
from django.dispatch import receiver

from botproject.models import Guild

from .source import Source


def iso(moment: datetime) -> str:
    """A time as the fixture writes it (UTC, ISO 8601)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def write_fixture(path: Path, objects: Iterable[dict]) -> int:
    """Write the objects as a JSON fixture (atomically); returns how many."""
    temporary = path.with_name(path.name + ".partial")
    count = 0
    with temporary.open("w", encoding="ascii") as handle:
        handle.write("[")
        for obj in objects:
            handle.write(",\n" if count else "\n")
            handle.write(json.dumps(obj, ensure_ascii=True, separators=(",", ":")))
            count += 1
        handle.write("\n]\n")
    os.replace(temporary, path)
    return count


def backup_path(out: Path, role: str) -> Path:
    """Where the backup of an input goes: next to the fixture, named after it and the input's role."""
    return out.with_name(f"{out.stem}.{role}-backup.json")


def write_backup(out: Path, source: Source) -> Path:
    """A byte-for-byte copy of the input as it was read (the checksum in the report is of these bytes)."""
    target = backup_path(out, source.role)
    target.write_bytes(source.raw)
    return target


# --- guards ------------------------------------------------------------------------------------------------
def keep_stored(instance: models.Model) -> dict | None:
    """If `instance`'s row exists, copy its stored values onto `instance` (the save then changes nothing).

    Returns the stored values (None when the row does not exist).
    """
    if instance.pk is None:
        return None
    names = [f.attname for f in instance._meta.concrete_fields if not f.primary_key]
    stored = type(instance)._base_manager.filter(pk=instance.pk).values(*names).first()
    for name, value in (stored or {}).items():
        setattr(instance, name, value)
    return stored


@receiver(pre_save, sender=Guild, dispatch_uid="botproject.legacy.keep_stored_guild")
def keep_stored_guild(sender, instance: Guild, raw: bool = False, **kwargs) -> None:
    """A fixture may add a guild but never rewrites one: its name, owner and dates are the bot's to keep."""
    if raw:
        keep_stored(instance)
