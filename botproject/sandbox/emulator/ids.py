"""Snowflakes, timestamps and the emulator's exception types."""
from __future__ import annotations

import datetime
import itertools
import secrets
import time

DISCORD_EPOCH_MS = 1420070400000
_counter = itertools.count(1)


def snowflake() -> int:
    """Return a new real-shaped snowflake ((ms - epoch) << 22 | n)."""
    ms = int(time.time() * 1000)
    return ((ms - DISCORD_EPOCH_MS) << 22) | (next(_counter) & 0x3FFFFF)


def iso_now() -> str:
    """Return the current UTC time as an ISO-8601 string like Discord sends."""
    return datetime.datetime.now(datetime.UTC).isoformat()


def new_token(prefix: str = "emu") -> str:
    """Return a random opaque token string."""
    return f"{prefix}.{secrets.token_urlsafe(24)}"


def as_int(value) -> int | None:
    """Normalise a snowflake sent as int or str (or None) to int."""
    if value is None or value == "":
        return None
    return int(value)


class EmulatorError(Exception):
    """A test asked the emulator for something impossible (unsynced command, unknown ids...)."""


class OptionRejected(EmulatorError):
    """Discord's client would refuse to send these slash options (missing, wrong type, out of range)."""


class CommandHidden(EmulatorError):
    """The member cannot see the command (default_member_permissions / contexts)."""


class ApiError(Exception):
    """An HTTP error the REST layer returns as Discord-shaped JSON."""

    def __init__(self, status: int, code: int, message: str, errors: dict | None = None):
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def body(self) -> dict:
        """Return the JSON error body."""
        body = {"code": self.code, "message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def missing_permissions() -> ApiError:
    """403 Missing Permissions (50013)."""
    return ApiError(403, 50013, "Missing Permissions")


def unknown(kind: str) -> ApiError:
    """404 for an unknown channel/message/role/member/user/guild/interaction/webhook."""
    codes = {"channel": 10003, "message": 10008, "role": 10011, "member": 10007, "user": 10013,
             "guild": 10004, "interaction": 10062, "webhook": 10015, "command": 10063}
    return ApiError(404, codes[kind], f"Unknown {kind.capitalize()}")


def form_error(path, code: str, message: str) -> dict:
    """The errors object for one failure at a field path ("embeds.0.fields.3.value" or a tuple of parts).

    Discord nests the path: {"embeds": {"0": {"fields": {"3": {"value": {"_errors": [{code, message}]}}}}}}.
    """
    parts = path.split(".") if isinstance(path, str) else [str(p) for p in path]
    tree: dict = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(parts):
        tree = {part: tree}
    return tree


def merge_errors(into: dict, more: dict) -> dict:
    """Merge one nested errors object into another (errors at the same field accumulate)."""
    for key, value in more.items():
        if key == "_errors":
            into.setdefault("_errors", []).extend(value)
        else:
            merge_errors(into.setdefault(key, {}), value)
    return into


def invalid_form(field, code: str, message: str) -> ApiError:
    """400 Invalid Form Body (50035) with an errors object naming the field (a dotted or tuple path nests)."""
    return ApiError(400, 50035, "Invalid Form Body", form_error(field, code, message))
