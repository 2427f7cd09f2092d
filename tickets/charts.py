"""The admin metrics page's charts (server-side SVG, no script, every label escaped) and its CSV export."""

from __future__ import annotations

import csv
import io

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from .metrics import TicketStats

BAR_HEIGHT, GAP, LABEL_WIDTH, WIDTH = 16, 6, 200, 640
COLOUR = "#417690"


def bar_chart(rows: list[tuple[str, float]], *, title: str, unit: str = "") -> SafeString:
    """Horizontal bars, one per (label, value); labels come from Discord or the database and are escaped."""
    if not rows:
        return mark_safe("<p>–</p>")  # noqa: S308 - a constant
    top = max(value for _label, value in rows) or 1
    height = len(rows) * (BAR_HEIGHT + GAP) + GAP
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}"><title>{escape(title)}</title>']
    for index, (label, value) in enumerate(rows):
        y = GAP + index * (BAR_HEIGHT + GAP)
        length = int((WIDTH - LABEL_WIDTH - 80) * value / top)
        shown = f"{value:.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
        parts.append(f'<text x="0" y="{y + 12}" font-size="12">{escape(str(label)[:32])}</text>'
                     f'<rect x="{LABEL_WIDTH}" y="{y}" width="{max(length, 1)}" height="{BAR_HEIGHT}" '
                     f'fill="{COLOUR}"><title>{escape(str(label))}: {escape(shown)}{escape(unit)}</title></rect>'
                     f'<text x="{LABEL_WIDTH + max(length, 1) + 6}" y="{y + 12}" font-size="12">'
                     f"{escape(shown)}{escape(unit)}</text>")
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def line_chart(points: list[tuple[str, int]], *, title: str) -> SafeString:
    """A line over days (e.g. the backlog), with the first and last day named."""
    if not points:
        return mark_safe("<p>–</p>")  # noqa: S308 - a constant
    height, left, bottom = 160, 30, 20
    top = max(n for _d, n in points) or 1
    step = (WIDTH - left - 10) / max(len(points) - 1, 1)
    coords = [(left + i * step, height - bottom - (height - bottom - 10) * n / top) for i, (_d, n) in
              enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{COLOUR}"><title>{escape(day)}: {n}</title>'
                   f"</circle>" for (x, y), (day, n) in zip(coords, points, strict=True))
    return mark_safe(  # noqa: S308 - every text is escaped
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}"><title>{escape(title)}</title>'
        f'<polyline points="{path}" fill="none" stroke="{COLOUR}" stroke-width="2"/>{dots}'
        f'<text x="0" y="14" font-size="11">{top}</text>'
        f'<text x="{left}" y="{height - 4}" font-size="11">{escape(points[0][0])}</text>'
        f'<text x="{WIDTH - 80}" y="{height - 4}" font-size="11">{escape(points[-1][0])}</text></svg>')


def _cell(value) -> str:
    """A CSV cell that a spreadsheet never reads as a formula (names come from Discord)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def stats_csv(per_guild: list[tuple[object, TicketStats]]) -> str:
    """Every figure of the page, one `guild, section, key, value` row each."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["guild", "section", "key", "value"])
    for guild, s in per_guild:
        name = _cell(str(guild))
        figures = {"created": s.created, "closed": s.closed, "still_open": s.still_open,
                   "closed_works": s.closed_works, "closed_after_help": s.closed_after_help,
                   "closed_staff": s.closed_staff, "closed_other": s.closed_other,
                   "resolution_median_s": s.resolution_median, "first_response_median_s": s.response_median,
                   "rating_avg": s.rating_avg, "rated": s.rated, "rated_share": s.rated_share,
                   "auto_closed_share": s.auto_closed_share, "one_touch_share": s.one_touch_share,
                   "tickets_per_member": s.per_member}
        for key, value in figures.items():
            writer.writerow([name, "figure", key, "" if value is None else value])
        for category, n in s.per_category:
            writer.writerow([name, "category", _cell(category or "–"), n])
        for day, n in s.per_day:
            writer.writerow([name, "created_per_day", day, n])
        for day, n in s.backlog:
            writer.writerow([name, "backlog", day, n])
        for h in s.helpers:
            writer.writerow([name, "helper_tickets", h.user_id, h.claims])
            writer.writerow([name, "helper_rating_avg", h.user_id, "" if h.rating_avg is None else h.rating_avg])
    return out.getvalue()


def charts(s: TicketStats) -> dict[str, SafeString]:
    """The page's SVG charts for one guild."""
    return {
        "rating": bar_chart([(gettext("Average rating"), s.rating_avg or 0.0)] + [
            (f"{h.user_id}", h.rating_avg) for h in s.helpers if h.rating_avg is not None],
            title=gettext("Average rating"), unit=" ⭐"),
        "shares": bar_chart([(gettext("Rated"), 100 * (s.rated_share or 0)),
                             (gettext("Auto-closed"), 100 * (s.auto_closed_share or 0)),
                             (gettext("One-touch resolutions"), 100 * (s.one_touch_share or 0))],
                            title=gettext("Shares of closed tickets"), unit=" %"),
        "backlog": line_chart(list(s.backlog), title=gettext("Backlog (open at the end of the day)")),
        "helpers": bar_chart([(str(h.user_id), h.claims) for h in s.helpers[:20]], title=gettext("Helpers")),
    }
