"""Who may open a ticket of a category, and when: required roles, support hours in a time zone, opens per hour.

`check` raises the refusal (which says why and, where it applies, when to try again) or returns whether the
ticket opens outside the support hours with a warning. It is run before the intake form is shown and again in
the opening's transaction (`services.ticket_open`), so what was checked is what holds when the row is written.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext

from .exceptions import CategoryOpensExceeded, MissingRole, OutsideSupportHours

OPEN_WINDOW = timedelta(hours=1)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def within_hours(start: time | None, end: time | None, zone: str, now: datetime) -> bool:
    """Whether `now` is inside the support hours (no hours: always); hours may run over midnight."""
    if start is None or end is None:
        return True
    local = now.astimezone(_zone(zone)).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end


def next_opening(start: time, zone: str, now: datetime) -> timedelta:
    """How long until the support hours next begin."""
    tz = _zone(zone)
    local = now.astimezone(tz)
    candidate = datetime.combine(local.date(), start, tzinfo=tz)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), start, tzinfo=tz)
    return candidate.astimezone(now.tzinfo) - now


def _wait_words(minutes: int) -> str:
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [gettext("%(n)s d") % {"n": days}] if days else []
    if hours:
        parts.append(gettext("%(n)s h") % {"n": hours})
    if minutes or not parts:
        parts.append(gettext("%(n)s min") % {"n": minutes})
    return " ".join(parts)


_lazy_wait_words = lazy(_wait_words, str)


def wait_text(wait: timedelta):
    """A wait as "2 h 5 min" (rounded up to the minute; at least 1 min, 0 min only for none), in the language
    active when it is shown: a lazy string, so a refusal raised in a service reads "2 giờ 5 phút" to a member
    whose Discord is in Vietnamese."""
    seconds = int(wait.total_seconds())
    return _lazy_wait_words(0 if seconds <= 0 else max(1, -(-seconds // 60)))


def hours_text(start: time, end: time, zone: str) -> str:
    """The support hours as "09:00–17:00 (Europe/Berlin)"."""
    return f"{start:%H:%M}–{end:%H:%M} ({zone})"


def check(category, *, role_ids: Collection[int] | None, recent_opens: list[datetime],
          now: datetime | None = None) -> bool:
    """Refuse (MissingRole, CategoryOpensExceeded, OutsideSupportHours) or return whether the ticket opens outside
    the support hours (the category warns instead of refusing).

    `role_ids` None: the member's roles are unknown (an admin-side open); the role check is skipped.
    `recent_opens`: when the member opened tickets of this category in the last hour.
    """
    now = now or timezone.now()
    required = {int(r) for r in category.required_role_ids or ()}
    if required and role_ids is not None and not required & {int(r) for r in role_ids}:
        raise MissingRole(roles=", ".join(f"<@&{r}>" for r in sorted(required)))
    recent = sorted(t for t in recent_opens if t > now - OPEN_WINDOW)
    if len(recent) >= category.opens_per_hour:
        raise CategoryOpensExceeded(count=len(recent), category=category.name,
                                    wait=wait_text(recent[0] + OPEN_WINDOW - now))
    if within_hours(category.hours_start, category.hours_end, category.time_zone, now):
        return False
    if category.outside_hours == "warn":
        return True
    raise OutsideSupportHours(hours=hours_text(category.hours_start, category.hours_end, category.time_zone),
                              wait=wait_text(next_opening(category.hours_start, category.time_zone, now)))
