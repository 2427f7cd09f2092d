"""Ticket metrics (reads): created, closed by path, still open, resolution and first-response times,
per category, per member, helper activity (with their tickets' average rating), ratings, auto-closed and one-touch
shares, and the backlog per day; for /ticket stats and the admin's metrics page (charts and CSV)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Avg, Count, Q, Sum
from django.utils import timezone

from .models import OPEN_STATUSES, Ticket, TicketClaim, TicketRating, TranscriptMessage


@dataclass(frozen=True)
class HelperFigures:
    """One helper's activity in the period."""

    user_id: int
    claims: int
    resolved: int
    closes: int
    points: int
    rating_avg: float | None = None
    rated: int = 0


@dataclass(frozen=True)
class TicketStats:
    """The figures of one guild over the last `days` days."""

    days: int
    created: int
    closed_works: int
    closed_after_help: int
    closed_staff: int
    closed_other: int
    still_open: int
    resolution_avg: float | None
    resolution_median: float | None
    response_avg: float | None
    response_median: float | None
    per_category: tuple[tuple[str, int], ...]
    per_member: float
    helpers: tuple[HelperFigures, ...]
    per_day: tuple[tuple[str, int], ...]
    admin_closers: tuple[tuple[str, int], ...] = ()  # (admin site user's name, closes) for closes on the admin site
    closed: int = 0
    rated: int = 0
    rating_avg: float | None = None
    rated_share: float | None = None  # of the closed tickets
    auto_closed_share: float | None = None  # of the closed tickets
    one_touch_share: float | None = None  # of the resolved tickets staff answered: one staff or helper message
    backlog: tuple[tuple[str, int], ...] = ()  # (day, tickets open at its end)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _backlog(guild_id: int, since, now) -> tuple[tuple[str, int], ...]:
    """Tickets open at the end of each day of the period (opened before it ends, not closed by then)."""
    rows = list(Ticket.objects.filter(guild__discord_id=guild_id, created_at__lt=now).exclude(status="failed")
                .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=since)).values_list("created_at", "closed_at"))
    days, day = [], since.date()
    while day <= now.date():
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        days.append((day.isoformat(), sum(1 for opened, closed in rows if opened < end and (closed is None
                                                                                          or closed >= end))))
        day += timedelta(days=1)
    return tuple(days)


def _second_wave(tickets, closed, guild_id: int, since, now) -> dict:
    """Ratings, auto-closed and one-touch shares, the backlog per day."""
    closed_count = closed.count()
    ratings = TicketRating.objects.filter(ticket__in=closed).aggregate(n=Count("pk"), avg=Avg("stars"))
    # One-touch: of the tickets staff answered and that were resolved (not auto-closed for silence, not closed
    # because the opener left), those answered with one staff or helper message.
    resolved = closed.exclude(close_path__in=[Ticket.ClosePath.AUTO, Ticket.ClosePath.OPENER_LEFT])
    staff_messages = dict(TranscriptMessage.objects.filter(ticket__in=resolved, from_staff=True).values_list(
        "ticket_id").annotate(n=Count("id")))
    return {"closed": closed_count, "rated": ratings["n"], "rating_avg": ratings["avg"],
            "rated_share": _share(ratings["n"], closed_count),
            "auto_closed_share": _share(closed.filter(close_path="auto").count(), closed_count),
            "one_touch_share": _share(sum(1 for n in staff_messages.values() if n == 1), len(staff_messages)),
            "backlog": _backlog(guild_id, since, now)}


def _avg_median(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return sum(values) / len(values), statistics.median(values)


def ticket_stats(*, guild_id: int, days: int = 30) -> TicketStats:
    """Figures for tickets created in the last `days` days (durations in seconds)."""
    now = timezone.now()
    since = now - timedelta(days=days)
    tickets = Ticket.objects.filter(guild__discord_id=guild_id, created_at__gte=since).exclude(status="failed")
    paths = dict(tickets.filter(status="closed").values_list("close_path").annotate(n=Count("id")))
    closed = tickets.filter(status="closed", closed_at__isnull=False)
    resolution = [(c - o).total_seconds() for o, c in closed.values_list("created_at", "closed_at")]
    response = [(r - o).total_seconds() for o, r in tickets.filter(first_response_at__isnull=False)
                .values_list("created_at", "first_response_at")]
    per_category = tuple(tickets.values_list("category_name").annotate(n=Count("id")).order_by("-n"))
    members = list(tickets.values_list("opener_id").annotate(n=Count("id")).order_by("-n"))
    claims = TicketClaim.objects.filter(ticket__in=tickets)
    helper_rows = claims.values("user_id").annotate(
        claims=Count("id"), resolved=Count("id", filter=Q(ticket__resolved=True)), points=Sum("points_awarded"),
        rating_avg=Avg("ticket__rating__stars"), rated=Count("ticket__rating"))
    closes = dict(closed.exclude(close_path__in=["works", "opener"]).values_list("closed_by_id")
                  .annotate(n=Count("id")))
    helpers = sorted((HelperFigures(r["user_id"], r["claims"], r["resolved"], closes.pop(r["user_id"], 0),
                                    r["points"] or 0, r["rating_avg"], r["rated"]) for r in helper_rows),
                     key=lambda h: (-h.claims, h.user_id))
    helpers += [HelperFigures(user, 0, 0, n, 0) for user, n in closes.items() if user]
    day_counts: dict[str, int] = {}
    for created in tickets.values_list("created_at", flat=True):
        key = created.date().isoformat()
        day_counts[key] = day_counts.get(key, 0) + 1
    admin_closers = tuple((name or "–", n) for name, n in closed.filter(close_path="admin").values_list(
        "closed_by_admin__username").annotate(n=Count("id")).order_by("-n", "closed_by_admin__username"))
    works = paths.get("works", 0)
    after_help, staff = paths.get("staff_after_help", 0), paths.get("staff", 0)
    return TicketStats(
        days=days, created=tickets.count(), closed_works=works, closed_after_help=after_help, closed_staff=staff,
        closed_other=sum(paths.values()) - works - after_help - staff,
        still_open=tickets.filter(status__in=OPEN_STATUSES).count(),
        resolution_avg=_avg_median(resolution)[0], resolution_median=_avg_median(resolution)[1],
        response_avg=_avg_median(response)[0], response_median=_avg_median(response)[1],
        per_category=per_category, per_member=(sum(n for _u, n in members) / len(members)) if members else 0.0,
        helpers=tuple(helpers), per_day=tuple(sorted(day_counts.items())),
        admin_closers=admin_closers, **_second_wave(tickets, closed, guild_id, since, now))
