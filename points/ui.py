"""Discord UI of points: balance, leaderboard, history and achievement embeds, and the leaderboard's paging buttons.

The ◀ ▶ buttons are DynamicItems (`points:lb:<page>`), so they keep working after a restart; the guild
comes from the interaction and the page is reloaded from the database on every click.
"""

from __future__ import annotations

import re
from datetime import datetime

import discord
from discord.utils import TimestampStyle, format_dt
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from botproject.bot import pages
from botproject.bot.checks import require
from botproject.bot.db import db_call
from botproject.bot.ui import BaseModal, SafeDynamicItem
from botproject.selectors import Access

from . import selectors, services
from .selectors import AchievementRow, HistoryRow, LeaderboardPage, MemberStanding

COLOUR = discord.Colour.gold()
LEADERBOARD_ID = "points:lb:{page}"


def number(value: int) -> str:
    """A point amount with thousands separators."""
    return f"{value:,}"


def when(moment: datetime | None, style: TimestampStyle = "R") -> str:
    """A Discord timestamp (shown in each reader's own time zone), or a dash."""
    return format_dt(moment, style) if moment else "–"


def rank_text(standing: MemberStanding) -> str:
    """'#3 of 120', or a note that the member has no rank yet."""
    if standing.rank is None:
        return _("not ranked yet")
    return _("#%(rank)s of %(members)s") % {"rank": standing.rank, "members": standing.members}


def balance_embed(name: str, standing: MemberStanding) -> discord.Embed:
    """A member's balance, rank and running stats."""
    embed = discord.Embed(title=_("Points: %(name)s") % {"name": name}, colour=COLOUR)
    embed.add_field(name=_("Balance"), value=number(standing.balance))
    embed.add_field(name=_("Rank"), value=rank_text(standing))
    embed.add_field(name=_("Earned"), value=number(standing.earned_total))
    embed.add_field(name=_("Spent or removed"), value=number(standing.spent_total))
    embed.add_field(name=_("Ledger entries"), value=str(standing.entries))
    embed.add_field(name=_("Last activity"), value=when(standing.last_activity_at))
    embed.add_field(name=_("Achievements"), value=str(standing.achievements))
    return embed


def leaderboard_embed(board: LeaderboardPage, viewer_name: str, viewer: MemberStanding) -> discord.Embed:
    """One page of the leaderboard; the footer shows the viewer's own rank and balance."""
    lines = [
        _("**#%(rank)s** <@%(user)s> · %(balance)s points") % {
            "rank": row.rank, "user": row.user_id, "balance": number(row.balance)}
        for row in board.rows
    ]
    embed = discord.Embed(
        title=_("Leaderboard · page %(page)s of %(pages)s") % {"page": board.page, "pages": board.pages},
        description="\n".join(lines) or _("Nobody has points yet."),
        colour=COLOUR,
    )
    if viewer.rank is None:
        footer = _("%(name)s: no points yet") % {"name": viewer_name}
    else:
        footer = _("%(name)s: #%(rank)s of %(members)s · %(balance)s points") % {
            "name": viewer_name, "rank": viewer.rank, "members": viewer.members, "balance": number(viewer.balance)}
    embed.set_footer(text=footer)
    return embed


class LeaderboardButton(SafeDynamicItem, discord.ui.DynamicItem[discord.ui.Button],
                        template=r"points:lb:(?P<page>\d{1,9})"):
    """◀ or ▶ on a leaderboard: anyone may page; the message is edited in place."""

    def __init__(self, page: int, label: str = "▶", disabled: bool = False) -> None:
        super().__init__(discord.ui.Button(label=label, style=discord.ButtonStyle.secondary,
                                           custom_id=LEADERBOARD_ID.format(page=page), disabled=disabled))
        self.page = page

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]):
        return cls(int(match["page"]))

    async def run(self, interaction: discord.Interaction) -> None:
        await require(interaction, Access.MEMBER, module="points")
        embed, view = await leaderboard_message(interaction.guild_id, interaction.user, self.page)
        await interaction.response.edit_message(embed=embed, view=view, allowed_mentions=discord.AllowedMentions.none())


def leaderboard_view(board: LeaderboardPage) -> discord.ui.View:
    """◀ ▶ for a page (custom ids differ by construction: page - 1 and page + 1)."""
    view = discord.ui.View(timeout=None)
    view.add_item(LeaderboardButton(board.page - 1, "◀", disabled=board.page <= 1))
    view.add_item(LeaderboardButton(board.page + 1, "▶", disabled=board.page >= board.pages))
    return view


def _leaderboard_and_standing(guild_id: int, user_id: int, page: int):
    return selectors.leaderboard(guild_id=guild_id, page=page), selectors.standing(guild_id=guild_id, user_id=user_id)


async def leaderboard_message(guild_id: int, viewer: discord.abc.User,
                              page: int) -> tuple[discord.Embed, discord.ui.View]:
    """Load a page (clamped to the pages there are) and the viewer's standing; build the embed and buttons."""
    board, standing = await db_call(_leaderboard_and_standing)(guild_id, viewer.id, page)
    return leaderboard_embed(board, viewer.display_name, standing), leaderboard_view(board)


HISTORY_PER_PAGE = 10
ACHIEVEMENTS_PER_PAGE = 8
REASON_CHARS = 150
DESCRIPTION_CHARS = 150


def history_embed(name: str, rows: list[HistoryRow]) -> discord.Embed:
    """A page of a member's ledger entries, reasons cut to 150 characters (`name` as given: clean it first)."""
    embed = discord.Embed(title=_("Points history: %(name)s") % {"name": name}, colour=COLOUR)
    lines = []
    for row in rows:
        line = _("%(when)s · **%(delta)s** → %(balance)s · %(kind)s") % {
            "when": when(row.created_at, "f"), "delta": f"{row.delta:+,}", "balance": number(row.balance_after),
            "kind": row.kind_label}
        if row.reason:
            line += f" · {pages.clean(row.reason, REASON_CHARS)}"
        if row.actor_id:
            line += " · " + _("by %(actor)s") % {"actor": f"<@{row.actor_id}>"}
        lines.append(line)
    # Each line gets its share of the description, so a page never hides an entry.
    embed.description = pages.join_lines(lines, 4000, line_limit=4000 // HISTORY_PER_PAGE - 1,
                                         empty=_("No ledger entries yet."))
    return embed


def achievements_embed(name: str, rows: list[AchievementRow], *, page: int = 1, pages_: int = 1,
                       earned_total: int | None = None, total: int | None = None) -> discord.Embed:
    """A page of achievements: earned ones (with their date), then open ones (`name` as given: clean it first)."""
    embed = discord.Embed(title=_("Achievements: %(name)s") % {"name": name}, colour=COLOUR)
    earned = [
        _("🏆 **%(name)s** · %(when)s") % {"name": pages.clean(row.name), "when": when(row.earned_at, "D")}
        for row in rows if row.earned_at is not None
    ]
    open_ = []
    for row in rows:
        if row.earned_at is not None:
            continue
        line = _("**%(name)s** · %(condition)s: %(threshold)s") % {
            "name": pages.clean(row.name), "condition": row.condition_label, "threshold": number(row.threshold)}
        if row.bonus_points:
            line += " · " + _("bonus %(bonus)s points") % {"bonus": number(row.bonus_points)}
        if row.description:
            line += "\n" + pages.clean(row.description, DESCRIPTION_CHARS)
        open_.append(pages.truncate(line, 600))
    earned_total = len(earned) if earned_total is None else earned_total
    total = len(rows) if total is None else total
    # Earned ones come first (then open ones), so "none yet" belongs on the first page and "none" on the last.
    if earned or (page == 1 and not earned_total):
        pages.add_fields(embed, _("Earned"), [pages.truncate(line, 600) for line in earned], empty=_("none yet"))
    if open_ or (page == pages_ and earned_total == total):
        pages.add_fields(embed, _("Open"), open_, empty=_("none"))
    if pages_ > 1:
        embed.set_footer(text=_("%(earned)s of %(total)s earned") % {"earned": earned_total, "total": total})
    return embed


class EmailModal(BaseModal):
    """/email: one field, stored on the member's profile for order notices."""

    def __init__(self) -> None:
        super().__init__(title=_("Your e-mail address"), custom_id="points:email")
        self.email = discord.ui.TextInput(label=_("E-mail"), custom_id="email", placeholder="name@example.com",
                                          min_length=3, max_length=254)
        self.add_item(self.email)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await require(interaction, Access.MEMBER, module="points")
        address = self.email.value.strip()
        matches = await db_call(services.profile_set_email)(
            guild_id=interaction.guild_id, user_id=interaction.user.id, email=address,
            display_name=interaction.user.display_name)
        text = _("Saved. Order notices will go to %(email)s.") % {"email": address}
        if matches:
            text += " " + ngettext(
                "%(count)s unclaimed order carries this address: claim it with /claim and the code from its e-mail.",
                "%(count)s unclaimed orders carry this address: claim them with /claim and the codes from their "
                "e-mails.", matches) % {"count": matches}
        await interaction.response.send_message(text, ephemeral=True)
