"""Outputs that fit Discord's limits however big the community grows: pages of an embed, and truncation.

Paging: a list command registers a *renderer* under a short kind (`register("perm", render)`); a renderer
is a read-only `async (interaction, arg, page) -> (embed, page, pages)` that checks access itself. `send`
answers the command with the first page and ◀ ▶ buttons whose custom_id is `page:<kind>:<arg>:<page>:<owner>`
(`PageButton`, a DynamicItem: the buttons work after a restart, nothing is kept in memory). A click re-runs
the renderer for the requested page, only for the member who asked (`owner`), and edits the message.

Fitting: `truncate` cuts a line with "…", `clean` makes a name from Discord safe to show (markdown and
mentions escaped, cut), `join_lines` keeps the lines that fit and ends with "and N more", and `fit` is the
last guard before sending: every limit of an embed, the 6,000 characters over all, enforced.
Lengths are counted in UTF-16 code units (what Discord counts), never less than Python's len().
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable

import discord
from discord.ext import commands
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from botproject.exceptions import DomainError

from .replies import answer
from .ui import SafeDynamicItem

TITLE = 256
DESCRIPTION = 4096
FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR = 256
TOTAL = 6000
LABEL = 80
ELLIPSIS = "…"
NO_MENTIONS = discord.AllowedMentions.none()

# (interaction, arg, page) -> (embed, page shown, pages in all)
Renderer = Callable[[discord.Interaction, int, int], Awaitable[tuple[discord.Embed, int, int]]]
_RENDERERS: dict[str, Renderer] = {}


class NotYourPages(DomainError):
    """Someone clicked the page buttons of a list another member asked for."""

    message = gettext_lazy("Only the member who asked for this list can turn its pages. Run the command yourself.")


class UnknownList(DomainError):
    """A page button of a list this bot does not show (any more)."""

    message = gettext_lazy("This list is no longer available. Run the command again.")


# ---- sizes and cutting ----------------------------------------------------------------------------------


def width(text: str) -> int:
    """Length as Discord counts it (UTF-16 code units); counted in C, as every embed's lines are measured."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2


def truncate(text: str, limit: int) -> str:
    """`text` when it fits in `limit`, else its start and "…" (never over `limit`)."""
    if width(text) <= limit:
        return text
    kept, used = [], 0
    for char in text:
        size = 2 if ord(char) > 0xFFFF else 1
        if used + size > limit - 1:
            break
        kept.append(char)
        used += size
    return "".join(kept).rstrip("\\") + ELLIPSIS  # a cut escape must not escape the ellipsis


def clean(text: str | None, limit: int = 100) -> str:
    """A name or text from Discord shown as data: cut to `limit`, markdown and mentions escaped."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(truncate(text or "", limit), as_needed=True))


def display_name(interaction: discord.Interaction, user_id: int) -> str:
    """A member's name for a title (cleaned): from the cache, else from the command's options, else the id."""
    member = interaction.guild.get_member(user_id) if interaction.guild else None
    if member is None and interaction.type is discord.InteractionType.application_command:
        member = next((value for _name, value in interaction.namespace
                       if isinstance(value, discord.abc.User) and value.id == user_id), None)
    if member is None and interaction.user.id == user_id:
        member = interaction.user
    return clean(member.display_name if member is not None else str(user_id))


def more_text(count: int) -> str:
    """The translated "and N more" line."""
    return "… " + ngettext("and %(count)s more", "and %(count)s more", count) % {"count": count}


def join_lines(lines: Iterable[str], limit: int, *, line_limit: int | None = None, empty: str = "–",
               sep: str = "\n") -> str:
    """The lines joined by `sep` within `limit`; the ones that do not fit become "and N more".

    Each line is first cut to `line_limit` (default: `limit`). `empty` when there are no lines.
    """
    lines = [truncate(line, line_limit or limit) for line in lines]
    if not lines:
        return truncate(empty, limit)
    fitting, used = 0, -width(sep)
    while fitting < len(lines) and used + width(sep) + width(lines[fitting]) <= limit:
        used += width(sep) + width(lines[fitting])
        fitting += 1
    for shown in range(fitting, -1, -1):  # then make room for "and N more" when some are left out
        text = sep.join(lines[:shown])
        hidden = len(lines) - shown
        if hidden:
            text = f"{text}{sep}{more_text(hidden)}" if text else more_text(hidden)
        if width(text) <= limit:
            return text
    return truncate(more_text(len(lines)), limit)


def add_fields(embed: discord.Embed, name: str, lines: list[str], *, empty: str = "–") -> discord.Embed:
    """Add `lines` under `name`, in as many fields as they need (each ≤ 1,024; the next ones unnamed)."""
    chunks: list[list[str]] = [[]]
    for line in (truncate(line, FIELD_VALUE) for line in lines):
        if chunks[-1] and width("\n".join([*chunks[-1], line])) > FIELD_VALUE:
            chunks.append([])
        chunks[-1].append(line)
    for index, chunk in enumerate(chunks):
        embed.add_field(name=truncate(name, FIELD_NAME) if index == 0 else "\u200b",
                        value="\n".join(chunk) or truncate(empty, FIELD_VALUE), inline=False)
    return embed


def embed_size(embed: discord.Embed) -> int:
    """The characters Discord counts towards 6,000: title, description, fields, footer, author."""
    size = width(embed.title or "") + width(embed.description or "")
    size += sum(width(f.name or "") + width(f.value or "") for f in embed.fields)
    size += width(embed.footer.text or "") if embed.footer else 0
    size += width(embed.author.name or "") if embed.author else 0
    return size


def fit(embed: discord.Embed) -> discord.Embed:
    """Enforce every embed limit (the last guard: renderers budget so this rarely cuts anything)."""
    if embed.title:
        embed.title = truncate(embed.title, TITLE)
    if embed.description:
        embed.description = truncate(embed.description, DESCRIPTION)
    if embed.author and embed.author.name:
        embed.set_author(name=truncate(embed.author.name, AUTHOR), url=embed.author.url,
                         icon_url=embed.author.icon_url)
    if embed.footer and embed.footer.text:
        embed.set_footer(text=truncate(embed.footer.text, FOOTER), icon_url=embed.footer.icon_url)
    fields = [(truncate(f.name or "–", FIELD_NAME), truncate(f.value or "–", FIELD_VALUE), f.inline)
              for f in embed.fields]
    if len(fields) > FIELDS:
        hidden = len(fields) - (FIELDS - 1)
        fields = fields[:FIELDS - 1] + [("…", more_text(hidden), False)]
    embed.clear_fields()
    for name, value, inline in fields:
        embed.add_field(name=name, value=value, inline=inline)
    excess = embed_size(embed) - TOTAL
    if excess > 0 and embed.description:
        embed.description = truncate(embed.description, max(1, width(embed.description) - excess))
        excess = embed_size(embed) - TOTAL
    for index in range(len(embed.fields) - 1, -1, -1):
        if excess <= 0:
            break
        field = embed.fields[index]
        value = truncate(field.value, max(1, width(field.value) - excess))
        embed.set_field_at(index, name=field.name, value=value, inline=field.inline)
        excess = embed_size(embed) - TOTAL
    if excess > 0 and embed.footer and embed.footer.text:
        embed.set_footer(text=truncate(embed.footer.text, max(1, width(embed.footer.text) - excess)),
                         icon_url=embed.footer.icon_url)
        excess = embed_size(embed) - TOTAL
    for index in range(len(embed.fields) - 1, -1, -1):  # only long field names are left to cut
        if excess <= 0:
            break
        field = embed.fields[index]
        embed.set_field_at(index, name=truncate(field.name, max(1, width(field.name) - excess)), value=field.value,
                           inline=field.inline)
        excess = embed_size(embed) - TOTAL
    return embed


def page_footer(embed: discord.Embed, page: int, pages: int) -> discord.Embed:
    """Add "Page x of y" to the footer (before any text the renderer put there)."""
    label = _("Page %(page)s of %(pages)s") % {"page": page, "pages": pages}
    text = embed.footer.text if embed.footer and embed.footer.text else ""
    embed.set_footer(text=f"{label} · {text}" if text else label)
    return embed


# ---- paging ------------------------------------------------------------------------------------------------


def register(kind: str, renderer: Renderer) -> None:
    """Make `renderer` the pages of `kind` (a few lowercase letters, part of every button's custom_id)."""
    if not re.fullmatch(r"[a-z]{1,12}", kind):
        raise ValueError(f"page kind {kind!r}: 1-12 lowercase letters")
    _RENDERERS[kind] = renderer


def custom_id(kind: str, arg: int, page: int, owner: int) -> str:
    """The custom_id of a button that shows `page` of `kind` (for `arg`) to `owner`."""
    return f"page:{kind}:{arg}:{page}:{owner}"


class PageButton(SafeDynamicItem, discord.ui.DynamicItem[discord.ui.Button],
                 template=r"page:(?P<kind>[a-z]{1,12}):(?P<arg>\d{1,20}):(?P<page>\d{1,9}):(?P<owner>\d{1,20})"):
    """◀ Previous or Next ▶: re-runs the list's renderer for the page; only the member who asked may page."""

    def __init__(self, kind: str, arg: int, page: int, owner: int, label: str = "", disabled: bool = False) -> None:
        super().__init__(discord.ui.Button(label=truncate(label or "▶", LABEL), style=discord.ButtonStyle.secondary,
                                           custom_id=custom_id(kind, arg, page, owner), disabled=disabled))
        self.kind, self.arg, self.page, self.owner = kind, arg, page, owner

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]):
        return cls(match["kind"], int(match["arg"]), int(match["page"]), int(match["owner"]))

    async def run(self, interaction: discord.Interaction) -> None:
        if interaction.user.id != self.owner:
            raise NotYourPages()
        renderer = _RENDERERS.get(self.kind)
        if renderer is None:
            raise UnknownList()
        embed, view = await _render(interaction, self.kind, self.arg, self.page)
        await interaction.response.edit_message(embed=embed, view=view, allowed_mentions=NO_MENTIONS)


def page_view(kind: str, arg: int, page: int, pages: int, owner: int) -> discord.ui.View | None:
    """◀ ▶ for a page (None when everything fits on one page); the two custom_ids differ by construction."""
    if pages <= 1:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(PageButton(kind, arg, page - 1, owner, "◀ " + _("Previous"), disabled=page <= 1))
    view.add_item(PageButton(kind, arg, page + 1, owner, _("Next") + " ▶", disabled=page >= pages))
    return view


async def _render(interaction: discord.Interaction, kind: str, arg: int,
                  page: int) -> tuple[discord.Embed, discord.ui.View | None]:
    embed, shown, pages = await _RENDERERS[kind](interaction, arg, page)
    if pages > 1:
        page_footer(embed, shown, pages)
    view = page_view(kind, arg, shown, pages, interaction.user.id)
    return fit(embed), view


async def send(interaction: discord.Interaction, kind: str, *, arg: int = 0, page: int = 1) -> None:
    """Answer a command privately with the first page of `kind` (and the buttons when there are more)."""
    embed, view = await _render(interaction, kind, arg, page)
    extra = {"view": view} if view is not None else {}
    await answer(interaction, embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS, **extra)


def install(bot: commands.Bot) -> None:
    """Listen for page buttons (idempotent: every cog with pages calls it)."""
    bot.add_dynamic_items(PageButton)
