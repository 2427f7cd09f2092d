"""Discord UI of a ticket's later life: close requests (Accept/Deny), ratings (1-5 stars, then a comment),
Reopen. DynamicItems with short custom_ids; every click authorises by reloading the ticket (the ids only say which
row). Rating and Reopen buttons also work in DMs (after the channel is gone): there the service's opener check is
the whole authorisation.
"""

from __future__ import annotations

import re

import discord
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from botproject import metrics
from botproject.bot import errors
from botproject.bot.checks import Blocked, module_label, require
from botproject.bot.db import db_call
from botproject.bot.i18n import activate_for
from botproject.bot.replies import answer
from botproject.bot.ui import SafeDynamicItem
from botproject.exceptions import ModuleDisabled
from botproject.selectors import Access, member_access

from . import flows, selectors, services
from .exceptions import NotATicket

STAR_STYLE = discord.ButtonStyle.secondary


def close_request_view(ticket_id: int) -> discord.ui.View:
    """Accept · Deny (the opener only)."""
    view = discord.ui.View(timeout=None)
    view.add_item(CloseAcceptButton(ticket_id))
    view.add_item(CloseDenyButton(ticket_id))
    return view


def close_request_embed(request: services.CloseRequestView) -> discord.Embed:
    """The public close request (in the guild's language: activate it before calling)."""
    embed = discord.Embed(title=_("🔒 Close this ticket?"), colour=discord.Colour.gold(), description=_(
        "%(staff)s asks <@%(opener)s> whether this ticket can be closed. Without an answer it closes "
        "automatically %(when)s.") % {"staff": f"<@{request.requested_by_id}>", "opener": request.ticket.opener_id,
                                      "when": discord.utils.format_dt(request.due_at, "R")})
    if request.reason:
        embed.add_field(name=_("Reason"), value=request.reason[:1024])
    return embed


class _ByTicket:
    """`ticket:<action>:<ticket id>` and the way back from it."""

    action: str
    label: str
    emoji: str
    style: discord.ButtonStyle

    def __init__(self, ticket_id: int) -> None:
        super().__init__(discord.ui.Button(label=_(self.label), emoji=self.emoji, style=self.style,  # type: ignore[call-arg]
                                           custom_id=f"ticket:{self.action}:{ticket_id}"))
        self.ticket_id = ticket_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]):
        return cls(int(match["id"]))


async def _answer_request(interaction: discord.Interaction, ticket_id: int, accept: bool) -> None:
    await require(interaction, Access.MEMBER, module="tickets")
    result = await db_call(services.close_request_answer)(guild_id=interaction.guild_id, ticket_id=ticket_id,
                                                          actor_id=interaction.user.id, accept=accept)
    if result.close is not None:
        await flows.announce_close(interaction, result.close)
        return
    request = result.request
    with translation.override(request.ticket.language):
        text = _("<@%(opener)s> wants to keep this ticket open, %(staff)s.") % {
            "opener": request.ticket.opener_id, "staff": f"<@{request.requested_by_id}>"}
    await answer(interaction, text, allowed_mentions=discord.AllowedMentions(
        users=[discord.Object(request.requested_by_id)]))


class CloseAcceptButton(_ByTicket, SafeDynamicItem, discord.ui.DynamicItem[discord.ui.Button],
                        template=r"ticket:closeaccept:(?P<id>\d+)"):
    """Accept: the opener agrees to the close."""

    action, label, emoji, style = "closeaccept", gettext_noop("Accept"), "✅", discord.ButtonStyle.success

    async def run(self, interaction: discord.Interaction) -> None:
        await _answer_request(interaction, self.ticket_id, True)


class CloseDenyButton(_ByTicket, SafeDynamicItem, discord.ui.DynamicItem[discord.ui.Button],
                      template=r"ticket:closedeny:(?P<id>\d+)"):
    """Deny: the opener keeps the ticket open (and the staff who asked are told)."""

    action, label, emoji, style = "closedeny", gettext_noop("Deny"), "✖️", discord.ButtonStyle.secondary

    async def run(self, interaction: discord.Interaction) -> None:
        await _answer_request(interaction, self.ticket_id, False)


# --- ratings ---------------------------------------------------------------------------------------------
def rating_embed(ticket: selectors.TicketView) -> discord.Embed:
    """The rating request (in the guild's language: activate it before calling)."""
    return discord.Embed(title=_("⭐ How did we do?"), colour=discord.Colour.gold(), description=_(
        "<@%(opener)s>, please rate ticket #%(number)s (%(category)s) from 1 to 5 stars.") % {
        "opener": ticket.opener_id, "number": ticket.number, "category": ticket.category_name})


def rating_view(ticket_id: int) -> discord.ui.View:
    """Five buttons `ticket:rate:<pk>:<1-5>`."""
    view = discord.ui.View(timeout=None)
    for stars in range(1, 6):
        view.add_item(RateButton(ticket_id, stars))
    return view


class RateButton(SafeDynamicItem, discord.ui.DynamicItem[discord.ui.Button],
                 template=r"ticket:rate:(?P<id>\d+):(?P<stars>[1-5])"):
    """1-5 stars: the opener rates, then may add a comment in a modal."""

    def __init__(self, ticket_id: int, stars: int) -> None:
        super().__init__(discord.ui.Button(label=str(stars), emoji="⭐", style=STAR_STYLE,
                                           custom_id=f"ticket:rate:{ticket_id}:{stars}"))
        self.ticket_id, self.stars = ticket_id, stars

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]):
        return cls(int(match["id"]), int(match["stars"]))

    async def run(self, interaction: discord.Interaction) -> None:
        await db_call(services.rating_set)(ticket_id=self.ticket_id, actor_id=interaction.user.id, stars=self.stars)
        form = RatingCommentModal(self.ticket_id, self.stars)
        form.stop()  # answered from its custom_id (`submit_comment`): a restart does not lose it
        await interaction.response.send_modal(form)


class RatingCommentModal(discord.ui.Modal):
    """The optional comment after the stars (`ticket:ratenote:<pk>`; the stars are saved already)."""

    def __init__(self, ticket_id: int, stars: int) -> None:
        super().__init__(title=_("Thanks! %(stars)s stars") % {"stars": stars},
                         custom_id=f"ticket:ratenote:{ticket_id}", timeout=None)
        self.add_item(discord.ui.TextInput(label=_("Anything to add? (optional)"), custom_id="comment",
                                           style=discord.TextStyle.paragraph, required=False,
                                           max_length=services.ratings.COMMENT_CHARS))


COMMENT_FORM = re.compile(r"ticket:ratenote:(\d+)")


async def submit_comment(interaction: discord.Interaction) -> bool:
    """A rating comment's submit (also of a form shown before a restart); False when it is not one."""
    data = interaction.data or {}
    match = COMMENT_FORM.fullmatch(str(data.get("custom_id", "")))
    if match is None:
        return False
    comment = next((str(item.get("value") or "") for row in data.get("components", [])
                    for item in (row.get("components") or [row.get("component") or {}])
                    if item.get("custom_id") == "comment"), "")
    try:
        await activate_for(interaction)
        stars = await db_call(services.rating_comment)(ticket_id=int(match[1]), actor_id=interaction.user.id,
                                                       comment=comment)
        await interaction.response.send_message(_("Thank you: your rating (%(stars)s ⭐) is saved. You can change it "
                                                  "within 24 hours.") % {"stars": stars}, ephemeral=True)
        metrics.interaction_finished(interaction)
    except Exception as error:  # noqa: BLE001 - the edge decides how to show it
        await errors.report(interaction, error)
    return True


# --- reopen ----------------------------------------------------------------------------------------------
class ReopenButton(_ByTicket, SafeDynamicItem, discord.ui.DynamicItem[discord.ui.Button],
                   template=r"ticket:reopen:(?P<id>\d+)"):
    """Reopen: staff at any time, the opener within the category's window (also from the transcript DM)."""

    action, label, emoji, style = "reopen", gettext_noop("Reopen"), "🔓", discord.ButtonStyle.secondary

    async def run(self, interaction: discord.Interaction) -> None:
        await flows_reopen(interaction, ticket_id=self.ticket_id)


async def flows_reopen(interaction: discord.Interaction, *, ticket_id: int | None = None,
                       number: int | None = None) -> None:
    """Reopen from a button (in the server or a DM) or /ticket reopen."""
    if interaction.guild_id is not None:
        access = await require(interaction, Access.MEMBER, refuse_blocked=True, module="tickets")
        guild_id = interaction.guild_id
        staff = access.at_least(Access.STAFF)
        if not staff and ticket_id is not None:
            found = await db_call(selectors.ticket_get)(guild_id=guild_id, ticket_id=ticket_id)
            staff = bool(found) and flows.is_ticket_staff(access, interaction.user, found)
    else:
        found = await db_call(selectors.ticket_any)(ticket_id=ticket_id or 0)
        if found is None:
            raise NotATicket()
        guild_id, staff = found.guild_id, False
        # A DM carries no member: the server's switch and blocklist are read from the database (as in the server,
        # a blocked member cannot reopen, which would open a ticket again).
        access = await db_call(member_access)(guild_id=guild_id, user_id=interaction.user.id, role_ids=[],
                                              is_owner=False, can_manage_guild=False)
        if not access.config.module_enabled("tickets"):
            raise ModuleDisabled(module=module_label("tickets"))
        if access.blocked:
            raise Blocked()
    await flows.reopen_ticket(interaction, guild_id=guild_id, is_staff=staff, ticket_id=ticket_id, number=number,
                              welcome=_reopened_welcome)


def _reopened_welcome(ticket: selectors.TicketView, earlier: int, actor_id: int):
    from .ui import ticket_view  # noqa: PLC0415 - ui imports this module's items for its DYNAMIC_ITEMS

    embed = discord.Embed(title=_("🔓 Ticket reopened"), colour=discord.Colour.blurple(), description=_(
        "Ticket #%(number)s (%(category)s) of <@%(opener)s> was reopened by <@%(actor)s>. Its %(count)s earlier "
        "messages are in the transcript (the admin site, and the next close note).") % {
        "number": ticket.number, "category": ticket.category_name, "opener": ticket.opener_id, "actor": actor_id,
        "count": earlier})
    return embed, ticket_view(ticket.id)


DYNAMIC_ITEMS = (CloseAcceptButton, CloseDenyButton, RateButton, ReopenButton)
