"""points.json of the old helper-points bot → LegacyPointsBatch fixture rows.

Accepted shapes, per member (they may be mixed in one file):

- `{"<user id>": 150}`: a plain balance (service "");
- `{"<user id>": {"<service>": 40, ..., "total": 55}}`: points per service (seed 000's helper points). The
  services are the truth: `total` is dropped (its value is derived), a total that disagrees is a warning.

Every member becomes a profile; every non-zero (member, service) a legacy_import ledger entry with the
deterministic key `legacy_key()` and the service's name as its reason. A member's old points are imported
once: a later file must contain what an earlier import brought (same services, same points); anything else
is a conflict, rejected here and refused again on load (points.legacy.load).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from botproject.legacy.progress import Bar
from botproject.legacy.report import Note, Report
from botproject.legacy.source import (
    Invalid,
    JsonObject,
    Source,
    SourceError,
    jpath,
    shown,
    snowflake,
    text,
    whole_points,
)
from botproject.models import GuildConfig

from ..models import LedgerEntry

BATCH_MEMBERS = 1000
FLAT = ""  # the service of a plain balance
SERVICE_MAX = 200
TOTAL = "total"

# Earlier legacy entries of a member: idempotency key → (points, service).
Entries = dict[str, tuple[int, str]]


def legacy_key(guild_id: int, user_id: int, service: str) -> str:
    """The ledger idempotency key of a member's old points (per service): the same for every conversion."""
    base = f"legacy:{guild_id}:points:{user_id}"
    if service == FLAT:
        return base
    return f"{base}:{hashlib.sha256(service.encode('utf-8')).hexdigest()[:20]}"


def conflicts(have: Entries, want: Entries) -> list[str]:
    """Why `want` (this file) cannot follow `have` (imported before); empty when it can (nothing or more)."""
    problems = []
    for key, (points, service) in have.items():
        label = f"service {service!r}" if service else "the balance"
        if key not in want:
            problems.append(f"{label} (+{points}) was imported before and is not in this file")
        elif want[key][0] != points:
            problems.append(f"{label} was imported before as +{points}; this file says +{want[key][0]}")
    return problems


def imported_entries(guild_id: int) -> dict[int, Entries]:
    """The guild's legacy ledger entries so far, per user."""
    rows = LedgerEntry.objects.filter(guild__discord_id=guild_id, kind=LedgerEntry.Kind.LEGACY_IMPORT).values_list(
        "member__user_id", "idempotency_key", "delta", "reason")
    found: dict[int, Entries] = {}
    for user_id, key, delta, reason in rows.iterator(chunk_size=5000):
        found.setdefault(user_id, {})[key] = (delta, reason)
    return found


def largest_balance(guild_id: int) -> int:
    config = GuildConfig.objects.filter(guild__discord_id=guild_id).values_list("points_max_balance", flat=True)
    return config.first() or GuildConfig._meta.get_field("points_max_balance").default


@dataclass
class PointsPlan:
    """The converted members: `[user id, service, points]` rows, a member's rows together."""

    rows: list[list] = field(default_factory=list)
    members: int = 0
    points: int = 0
    entries: int = 0

    def batches(self) -> list[list[list]]:
        out: list[list[list]] = []
        members, current, last = 0, [], None
        for row in self.rows:
            if row[0] != last:
                if members == BATCH_MEMBERS:
                    out.append(current)
                    members, current = 0, []
                members, last = members + 1, row[0]
            current.append(row)
        if current:
            out.append(current)
        return out


def records(source: Source) -> int:
    """How many records the file holds (for the progress bar); refuses a file of the wrong shape."""
    if not isinstance(source.data, dict):
        raise SourceError(f"expected an object {{\"<user id>\": points, ...}}, found {type(source.data).__name__}")
    return len(source.data) + len(source.data.duplicates)


def convert(source: Source, guild_id: int, report: Report, bar: Bar) -> PointsPlan:
    """Validate every member of points.json into a plan; problems go to the report."""
    role = source.role
    counts = report.file(role, source.name)
    data: JsonObject = source.data
    counts.records += len(data) + len(data.duplicates)
    before = imported_entries(guild_id)
    cap = largest_balance(guild_id)
    plan = PointsPlan()
    seen: dict[int, str] = {}
    for key in dict.fromkeys(data.duplicates):
        extra = data.duplicates.count(key)
        report.reject(role, jpath(key), f"the user appears {extra + 1} times in the file (which value is meant?)",
                      records=extra + 1)
        bar.advance(extra)
    for key, value in data.items():
        bar.advance()
        path = jpath(key)
        if key in data.duplicates:
            continue
        try:
            user_id = snowflake(key, "user id")
            if user_id in seen:
                raise Invalid(f"the user is also listed as {shown(seen[user_id])}")
            seen[user_id] = key
            services, notes = _services(value, path)
            total = sum(services.values())
            if total > cap:
                raise Invalid(f"{total} points are above the guild's largest balance ({cap})")
            want = {legacy_key(guild_id, user_id, s): (p, s) for s, p in services.items() if p}
            problems = conflicts(before.get(user_id, {}), want)
            if problems:
                raise Invalid("; ".join(problems) + " (a member's old points are imported once; fix by hand)")
        except Invalid as error:
            report.reject(role, path, str(error))
            continue
        for note in notes:
            note.emit(role, report)
        nonzero = [(s, p) for s, p in services.items() if p]
        plan.rows += [[user_id, s, p] for s, p in nonzero] or [[user_id, FLAT, 0]]
        plan.members += 1
        plan.points += total
        plan.entries += len(nonzero)
        counts.converted += 1
    return plan


def _services(value, path: str) -> tuple[dict[str, int], list[Note]]:
    """A member's points per service ({"": n} for a plain balance), and what to report if it is converted."""
    notes: list[Note] = []
    if not isinstance(value, dict):
        return {FLAT: whole_points(value)}, notes
    if value.duplicates:
        raise Invalid(f"service {shown(value.duplicates[0])} is written more than once (which value is meant?)")
    services: dict[str, int] = {}
    for name, points in value.items():
        if name == TOTAL:
            continue
        service = text(name, "service name", max_length=SERVICE_MAX)
        if not service:
            raise Invalid("a service has an empty name")
        if service in services:
            raise Invalid(f"service {shown(service)} is written more than once")
        services[service] = whole_points(points, f"points for {shown(service)}")
    for service, points in services.items():
        if not points:
            notes.append(Note(f"{path}[{shown(service)}]", "0 points: nothing to record (the member's profile is kept)",
                              "<service>: 0"))
    if TOTAL in value:
        total, computed = value[TOTAL], sum(services.values())
        agrees = not isinstance(total, bool) and isinstance(total, (int, float)) and total == computed
        if not agrees:
            notes.append(Note(f"{path}.total", f"total {shown(total)} disagrees with the services' sum {computed}: "
                                               f"the services are kept"))
        notes.append(Note(f"{path}.total", "derived: the sum of the services is kept as the balance", TOTAL))
    if not services:
        notes.append(Note(path, "no services: the member gets a profile with 0 points"))
    return services, notes


def header_object(guild_id: int, key: str, *, sources: list[dict], figures: dict, converted_at: str) -> dict:
    """The fixture's LegacyImport row (loaded first: it prepares the guild and the load's progress bar)."""
    return {"model": "points.legacyimport", "fields": {
        "guild": [guild_id], "key": key, "sources": sources, "figures": figures, "converted_at": converted_at}}


def batch_objects(guild_id: int, key: str, plan: PointsPlan) -> list[dict]:
    """The fixture's LegacyPointsBatch rows."""
    return [{"model": "points.legacypointsbatch", "fields": {
        "legacy_import": [guild_id, key], "number": number, "rows": rows}}
        for number, rows in enumerate(plan.batches(), start=1)]
