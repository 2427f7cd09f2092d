"""Reading the old bots' files: size limit, UTF-8, JSON (duplicate keys noticed), and typed field parsers.

A file that cannot be read as a whole (missing, too large, not UTF-8, not JSON, wrong top-level shape) is a
`SourceError`: nothing from it is converted. A record with a bad field is `Invalid` with a reason, and the
converter rejects that record (its JSON path and the reason go to the report).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

DEFAULT_MAX_MB = 32
DISCORD_EPOCH = datetime(2015, 1, 1, tzinfo=UTC)
_DIGITS = re.compile(r"[0-9]{1,19}")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SourceError(Exception):
    """A whole file cannot be used."""


class Invalid(Exception):
    """A field of a record has a value the converter cannot take; the message is the reason."""


class LegacyLoadError(CommandError):
    """Raised while `loaddata` loads a legacy fixture: the load stops, its transaction is rolled back, and
    `manage.py loaddata` prints the message and exits 1 (like any CommandError)."""


class JsonObject(dict):
    """A JSON object that remembers keys written more than once (json keeps only the last value).

    `duplicates` has one item per extra occurrence (a key written three times is in it twice).
    """

    duplicates: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> JsonObject:
    obj = JsonObject(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        obj.duplicates = tuple(k for k, _v in pairs if k in seen or seen.add(k))
    return obj


@dataclass(frozen=True)
class Source:
    """One input file, read once: its bytes (for the backup and the checksum) and its parsed JSON."""

    role: str
    path: Path
    raw: bytes
    data: Any

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


def read_source(role: str, path: str | Path, *, max_mb: float = DEFAULT_MAX_MB) -> Source:
    """Read and parse one file, refusing it whole when it cannot be used."""
    path = Path(path)
    limit = int(max_mb * 1024 * 1024)
    try:
        size = path.stat().st_size
        if size > limit:
            raise SourceError(f"the file is {size / 1048576:.1f} MB, above the {max_mb:g} MB limit "
                              f"(--max-file-mb raises it)")
        with path.open("rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as error:
        raise SourceError(f"cannot read it: {error.strerror or error}") from None
    if len(raw) > limit:
        raise SourceError(f"the file grew above the {max_mb:g} MB limit while being read")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SourceError(f"not UTF-8 text (byte {error.start})") from None
    if not text.strip():
        raise SourceError("the file is empty")
    try:
        data = json.loads(text, object_pairs_hook=_object)
    except json.JSONDecodeError as error:
        raise SourceError(f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise SourceError("not valid JSON: nested too deeply") from None
    return Source(role, path, raw, data)


# --- JSON paths for the report ------------------------------------------------------------------------------
def jpath(*parts: str | int) -> str:
    """`$.tickets["abc123"].user_id` style paths: names as .name, other keys quoted, list indexes [n]."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _KEY.fullmatch(part):
            out += f".{part}"
        else:
            out += "[" + json.dumps(part, ensure_ascii=False) + "]"
    return out


def shown(value: Any, limit: int = 60) -> str:
    """A value as it appears in the file, shortened for a report line."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- field parsers -------------------------------------------------------------------------------------------
def snowflake(value: Any, what: str = "Discord id") -> int:
    """A Discord id given as an integer or a string of digits."""
    if isinstance(value, bool):
        raise Invalid(f"{what} is {shown(value)}, not an id")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    elif isinstance(value, float):
        raise Invalid(f"{what} {shown(value)} is a decimal number; ids must be integers or strings (a decimal "
                      f"cannot hold an 18-digit id exactly)")
    else:
        raise Invalid(f"{what} {shown(value)} is not a Discord id")
    if not 0 < number < 2**63:
        raise Invalid(f"{what} {number} is out of range for a Discord id")
    return number


def optional_snowflake(value: Any, what: str) -> int | None:
    return None if value is None or value == "" else snowflake(value, what)


def whole_points(value: Any, what: str = "points") -> int:
    """A non-negative whole number of points (1500 or 1500.0; not "1500", 1.5 or -3)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(f"{what} {shown(value)} is not a number")
    if isinstance(value, float):
        if not value.is_integer() or abs(value) > 2**53:
            raise Invalid(f"{what} {shown(value)} is not a whole number")
        value = int(value)
    if value < 0:
        raise Invalid(f"negative {what} ({value})")
    if value >= 2**62:
        raise Invalid(f"{what} {value} is too large")
    return value


def timestamp(value: Any, what: str, *, now: datetime) -> datetime:
    """An ISO 8601 time; naive means UTC (as the old bots wrote them). Must lie between 2015 and now."""
    if not isinstance(value, str):
        raise Invalid(f"{what} {shown(value)} is not a date and time")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"{what} {shown(value)} is not an ISO 8601 date and time") from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if not DISCORD_EPOCH <= moment <= now + timedelta(days=1):
        raise Invalid(f"{what} {shown(value)} is not a plausible time (before Discord, or in the future)")
    return moment


def optional_timestamp(value: Any, what: str, *, now: datetime) -> datetime | None:
    return None if value is None or value == "" else timestamp(value, what, now=now)


def text(value: Any, what: str, *, max_length: int) -> str:
    """A string (numbers are taken as their digits), stripped, at most `max_length` characters."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise Invalid(f"{what} {shown(value)} is not text")
    result = str(value).strip()
    if len(result) > max_length:
        raise Invalid(f"{what} is longer than {max_length} characters")
    return result
