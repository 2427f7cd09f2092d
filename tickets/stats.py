"""/ticket stats: the figures of `metrics.ticket_stats` as an embed, a page of categories and helpers at a time."""

from __future__ import annotations

import discord
from django.utils.translation import gettext as _

from botproject.bot import pages
from botproject.bot.checks import require
from botproject.bot.db import db_call
from botproject.selectors import Access

from . import metrics


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.0f} %"


def _stars(average: float | None) -> str:
    return "–" if average is None else f"{average:.2f} ⭐"


STATS_ROWS_PER_PAGE = 10
CATEGORY_CHARS = 80


def _listed(embed: discord.Embed, name: str, lines: list[str], page: int) -> None:
    """Add this page's slice of a list under `name` (with "x–y of n"); "–" when the list is empty."""
    if not lines:
        embed.add_field(name=name, value="–", inline=False)
        return
    start = (page - 1) * STATS_ROWS_PER_PAGE
    shown = lines[start:start + STATS_ROWS_PER_PAGE]
    if shown:
        pages.add_fields(embed, f"{name} ({start + 1}–{start + len(shown)} / {len(lines)})", shown)


def stats_embed(s: metrics.TicketStats, page: int = 1) -> discord.Embed:
    """/ticket stats: the figures, and one page (10 rows each) of the categories and of the helpers."""
    embed = discord.Embed(title=_("Ticket metrics, last %(days)s days") % {"days": s.days},
                          colour=discord.Colour.blurple())
    embed.add_field(name=_("Created"), value=str(s.created))
    embed.add_field(name=_("Closed: It works!"), value=str(s.closed_works))
    embed.add_field(name=_("Closed by staff after Need help"), value=str(s.closed_after_help))
    embed.add_field(name=_("Closed by staff directly"), value=str(s.closed_staff))
    embed.add_field(name=_("Closed otherwise"), value=str(s.closed_other))
    embed.add_field(name=_("Still open"), value=str(s.still_open))
    embed.add_field(name=_("Resolution time (average · median)"),
                    value=f"{_duration(s.resolution_avg)} · {_duration(s.resolution_median)}")
    embed.add_field(name=_("First staff response (average · median)"),
                    value=f"{_duration(s.response_avg)} · {_duration(s.response_median)}")
    embed.add_field(name=_("Tickets per member"), value=f"{s.per_member:.2f}")
    embed.add_field(name=_("Average rating · rated"), value=f"{_stars(s.rating_avg)} · {_percent(s.rated_share)}")
    embed.add_field(name=_("Auto-closed"), value=_percent(s.auto_closed_share))
    embed.add_field(name=_("One-touch resolutions"), value=_percent(s.one_touch_share))
    if s.backlog:
        embed.add_field(name=_("Backlog (open at the end of the day)"), value=" · ".join(
            f"{day[5:]}: {n}" for day, n in s.backlog[-7:]), inline=False)
    # A fixed order (ties by name, by id), so every page of a re-run continues where the last one ended.
    _listed(embed, _("Per category"), [
        f"{pages.clean(name, CATEGORY_CHARS) or '–'}: {count}"
        for name, count in sorted(s.per_category, key=lambda row: (-row[1], row[0] or ""))], page)
    # The average rating of each helper's tickets ends the line (with a star: the field's name is kept).
    _listed(embed, _("Helpers (claims · resolved · points)"), [
        f"<@{h.user_id}>: {h.claims} · {h.resolved} · {h.points} · {_stars(h.rating_avg)}"
        for h in sorted(s.helpers, key=lambda h: (-h.claims, -h.closes, h.user_id))], page)
    return embed


def stats_pages(s: metrics.TicketStats) -> int:
    """How many pages /ticket stats has: enough for the longer of the two lists."""
    longest = max(len(s.per_category), len(s.helpers), 1)
    return -(-longest // STATS_ROWS_PER_PAGE)


async def stats_page(interaction: discord.Interaction, days: int, page: int) -> tuple[discord.Embed, int, int]:
    """A page of /ticket stats (the figures are recomputed for every page: they are aggregates)."""
    await require(interaction, Access.STAFF, module="tickets")
    figures = await db_call(metrics.ticket_stats)(guild_id=interaction.guild_id, days=min(max(days, 1), 365))
    count = stats_pages(figures)
    page = min(max(page, 1), count)
    return stats_embed(figures, page), page, count


pages.register("tstats", stats_page)
