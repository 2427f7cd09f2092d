"""Discord UI of tickets: the panel, the welcome embed and the ticket buttons (DynamicItems: they survive restarts).

Every item authorises by reloading the ticket, panel or category from the database; the id in a
custom_id only says which row to load.
"""

from __future__ import annotations

import re

import discord
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from botproject import metrics
from botproject.bot import errors, pages
from botproject.bot.checks import require
from botproject.bot.db import db_call
from botproject.bot.i18n import activate_for
from botproject.bot.ui import SafeDynamicItem
from botproject.selectors import Access

from . import flows, selectors, services
from .exceptions import NotATicket
from .selectors import CategoryView, PanelView, TicketView

WELCOME_COLOUR = discord.Colour(5814783)
MAX_BUTTONS = 5


def _emoji(category: CategoryView) -> str | None:
    return category.emoji or None


def panel_embed(panel: PanelView) -> discord.Embed:
    """The public panel: what each category is for."""
    embed = discord.Embed(title=panel.title or _("Open a ticket"), colour=WELCOME_COLOUR,
                          description=_("Pick what you need help with. A private channel opens for you and the staff."))
    for category in panel.categories[:25]:
        embed.add_field(name=f"{category.emoji} {category.name}".strip(),
                        value=category.description or category.response_time or "\u200b", inline=False)
    return pages.fit(embed)  # 25 long descriptions go over the 6,000 characters Discord allows an embed


def panel_view(panel: PanelView) -> discord.ui.View:
    """One button per category, or a select above five categories."""
    view = discord.ui.View(timeout=None)
    if len(panel.categories) <= MAX_BUTTONS:
        for category in panel.categories:
            view.add_item(TicketOpenButton(category))
    else:
        view.add_item(TicketPickSelect(panel))
    return view


class TicketOpenButton(SafeDynamicItem, discord.ui.DynamicItem[discord.ui.Button], template=r"ticket:open:(?P<id>\d+)"):
    """Open a ticket of one category (anyone not blocked)."""

    def __init__(self, category: CategoryView | int) -> None:
        category_id = category if isinstance(category, int) else category.id
        label = _("Open ticket") if isinstance(category, int) else category.name[:80]
        super().__init__(discord.ui.Button(label=label, style=discord.ButtonStyle.primary,
                                           emoji=None if isinstance(category, int) else _emoji(category),
                                           custom_id=f"ticket:open:{category_id}"))
        self.category_id = category_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]):
        return cls(int(match["id"]))

    async def run(self, interaction: discord.Interaction) -> None:
        await open_or_ask(interaction, self.category_id)


class TicketPickSelect(SafeDynamicItem, discord.ui.DynamicItem[discord.ui.Select], template=r"ticket:pick:(?P<id>\d+)"):
    """Open a ticket by picking its category (panels with more than five categories)."""

    def __init__(self, panel: PanelView | int) -> None:
        panel_id = panel if isinstance(panel, int) else panel.id
        options = [discord.SelectOption(label=c.name[:100], value=str(c.id), emoji=_emoji(c),
                                        description=(c.description or c.response_time)[:100] or None)
                   for c in ([] if isinstance(panel, int) else panel.categories[:25])]
        super().__init__(discord.ui.Select(custom_id=f"ticket:pick:{panel_id}", placeholder=_("Pick a category"),
                                           options=options or [discord.SelectOption(label="-", value="0")]))
        self.panel_id = panel_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Select, match: re.Match[str]):
        return cls(int(match["id"]))

    async def run(self, interaction: discord.Interaction) -> None:
        value = self.item.values[0] if self.item.values else "0"
        await open_or_ask(interaction, int(value), self.panel_id)


async def open_or_ask(interaction: discord.Interaction, category_id: int, panel_id: int | None = None) -> None:
    """Open a ticket at once, or first show the category's intake form (gating checked before and on submit)."""
    if not await db_call(selectors.has_questions)(category_id=category_id):
        await flows.open_ticket(interaction, category_id=category_id, panel_id=panel_id, welcome=welcome_message)
        return
    questions = await flows.intake_form(interaction, category_id=category_id, panel_id=panel_id)
    if not questions:  # removed meanwhile
        await flows.open_ticket(interaction, category_id=category_id, panel_id=panel_id, welcome=welcome_message)
        return
    form = IntakeModal(category_id, questions, str(interaction.locale))
    # Not kept in discord.py's modal store: the submit is handled from its custom_id (`submit_intake`), so a form
    # shown before a restart still opens the ticket after it.
    form.stop()
    await interaction.response.send_modal(form)


class IntakeModal(discord.ui.Modal):
    """The category's intake form (`ticket:form:<category_pk>`, fields `q<position>`): the ticket opens on submit."""

    def __init__(self, category_id: int, questions: list[selectors.QuestionView], locale: str) -> None:
        super().__init__(title=_("Open a ticket"), custom_id=f"ticket:form:{category_id}", timeout=None)
        for question in questions[:selectors.MAX_QUESTIONS]:
            self.add_item(discord.ui.TextInput(
                label=question.label_for(locale)[:45], custom_id=f"q{question.position}",
                style=discord.TextStyle.paragraph if question.paragraph else discord.TextStyle.short,
                required=question.required, max_length=question.max_length))


FORM_ID = re.compile(r"ticket:form:(\d+)")
FIELD_ID = re.compile(r"q([1-5])")


def _form_values(components: list) -> list[tuple[int, str]]:
    """(position, text) of every `q<position>` field of a submitted form (rows or labels)."""
    found = []
    for component in components or []:
        inner = component.get("components") or ([component["component"]] if "component" in component else [])
        for item in inner:
            match = FIELD_ID.fullmatch(str(item.get("custom_id", "")))
            if match:
                found.append((int(match[1]), str(item.get("value") or "")))
    return found


async def submit_intake(interaction: discord.Interaction) -> bool:
    """An intake form's submit, whenever it was shown (also before a restart); False when it is not one."""
    data = interaction.data or {}
    match = FORM_ID.fullmatch(str(data.get("custom_id", "")))
    if interaction.type != discord.InteractionType.modal_submit or match is None:
        return False
    try:
        await activate_for(interaction)
        if not getattr(interaction.client, "accepting_interactions", True):
            await errors.send_ephemeral(interaction, _("The bot is restarting. Try again in a minute."))
            return True
        await flows.open_ticket(interaction, category_id=int(match[1]), welcome=welcome_message,
                                answers=_form_values(data.get("components", [])))
        metrics.interaction_finished(interaction)
    except Exception as error:  # noqa: BLE001 - the edge decides how to show it
        await errors.report(interaction, error)
    return True


def welcome_embed(ticket: TicketView) -> discord.Embed:
    """The welcome message of a ticket (in the guild's language: activate it before calling)."""
    embed = discord.Embed(title=_("🎫 Welcome to your ticket"), description=f"<@{ticket.opener_id}>",
                          colour=WELCOME_COLOUR)
    category = ticket.category
    embed.add_field(name=_("📋 Category"), value=ticket.category_name or "–", inline=True)
    embed.add_field(name=_("⏱️ Response time"), value=(category.response_time if category else "") or
                    _("Minutes to hours"), inline=True)
    embed.add_field(name=_("📖 Instructions"), value=_(
        "1. Describe your problem and add screenshots.\n2. Wait for a helper or staff member.\n"
        "3. Solved? Press **It works!**. Still stuck? Press **Need help** to call the staff."), inline=False)
    if ticket.opened_outside_hours and category and category.hours_start:
        embed.add_field(name=_("⏰ Outside support hours"), value=flows.outside_hours_text(category), inline=False)
    embed.set_footer(text=_("Ticket #%(number)s · Discord Ticket Bot") % {"number": ticket.number})
    return embed


def welcome_message(ticket: TicketView) -> tuple[discord.Embed, discord.ui.View]:
    """The welcome embed and the ticket's buttons (in the guild's language: activate it before calling)."""
    return welcome_embed(ticket), ticket_view(ticket.id)


def ticket_view(ticket_id: int) -> discord.ui.View:
    """It works! · Need help · Close · Claim."""
    view = discord.ui.View(timeout=None)
    for item in (WorksButton(ticket_id), HelpButton(ticket_id), CloseButton(ticket_id), ClaimButton(ticket_id)):
        view.add_item(item)
    return view


async def _ticket(interaction: discord.Interaction, ticket_id: int) -> tuple:
    access = await require(interaction, Access.MEMBER, module="tickets")
    ticket = await db_call(selectors.ticket_get)(guild_id=interaction.guild_id, ticket_id=ticket_id)
    if ticket is None:
        raise NotATicket()
    return access, ticket


class _TicketButton:
    """What the four buttons of a ticket share: `ticket:<action>:<ticket id>` and the way back from it."""

    action: str
    label: str  # a msgid, translated when the button is built
    emoji: str
    style: discord.ButtonStyle

    def __init__(self, ticket_id: int) -> None:
        super().__init__(discord.ui.Button(label=_(self.label), emoji=self.emoji, style=self.style,  # type: ignore[call-arg]
                                           custom_id=f"ticket:{self.action}:{ticket_id}"))
        self.ticket_id = ticket_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]):
        return cls(int(match["id"]))


class WorksButton(_TicketButton, SafeDynamicItem, discord.ui.DynamicItem[discord.ui.Button],
                  template=r"ticket:works:(?P<id>\d+)"):
    """It works!: the opener closes the ticket as resolved."""

    action, label, emoji, style = "works", gettext_noop("It works!"), "✅", discord.ButtonStyle.success

    async def run(self, interaction: discord.Interaction) -> None:
        _access, ticket = await _ticket(interaction, self.ticket_id)
        await flows.close_works(interaction, ticket)


class HelpButton(_TicketButton, SafeDynamicItem, discord.ui.DynamicItem[discord.ui.Button],
                 template=r"ticket:help:(?P<id>\d+)"):
    """Need help: the opener calls the staff (pinged at most once per 10 minutes)."""

    action, label, emoji, style = "help", gettext_noop("Need help"), "🆘", discord.ButtonStyle.secondary

    async def run(self, interaction: discord.Interaction) -> None:
        await _ticket(interaction, self.ticket_id)
        result = await db_call(services.ticket_need_help)(guild_id=interaction.guild_id, ticket_id=self.ticket_id,
                                                          actor_id=interaction.user.id)
        ticket = result.ticket
        with translation.override(ticket.language):
            embed = discord.Embed(title=_("🆘 Help requested"), colour=discord.Colour.orange(),
                                  description=_("%(user)s needs more help. The staff will join soon.") % {
                                      "user": interaction.user.mention})
            if not result.ping:
                embed.set_footer(text=_("The staff were already called less than 10 minutes ago."))
        role_id = ticket.staff_role_id if result.ping else None
        ping = f"<@&{role_id}>" if role_id else None
        # Exactly the staff role (never a user or @everyone, whatever else the message holds).
        mentions = (discord.AllowedMentions(roles=[discord.Object(role_id)]) if role_id
                    else discord.AllowedMentions.none())
        await interaction.response.send_message(ping, embed=embed, allowed_mentions=mentions)


class CloseButton(_TicketButton, SafeDynamicItem, discord.ui.DynamicItem[discord.ui.Button],
                  template=r"ticket:close:(?P<id>\d+)"):
    """Close: staff close the ticket."""

    action, label, emoji, style = "close", gettext_noop("Close"), "🔒", discord.ButtonStyle.danger

    async def run(self, interaction: discord.Interaction) -> None:
        access, ticket = await _ticket(interaction, self.ticket_id)
        await flows.close_ticket(interaction, access, ticket)


class ClaimButton(_TicketButton, SafeDynamicItem, discord.ui.DynamicItem[discord.ui.Button],
                  template=r"ticket:claim:(?P<id>\d+)"):
    """Claim: a helper or staff member takes one of the helper slots."""

    action, label, emoji, style = "claim", gettext_noop("Claim"), "🙋", discord.ButtonStyle.primary

    async def run(self, interaction: discord.Interaction) -> None:
        access, ticket = await _ticket(interaction, self.ticket_id)
        may = access.at_least(Access.HELPER) or flows.is_ticket_staff(access, interaction.user, ticket)
        ticket = await db_call(services.ticket_claim)(
            guild_id=interaction.guild_id, ticket_id=self.ticket_id, actor_id=interaction.user.id,
            may_claim=may and not access.blocked)
        slots = ticket.category.helper_slots if ticket.category else 1
        with translation.override(ticket.language):
            text = _("🙋 %(user)s claimed this ticket (%(taken)s/%(slots)s helpers).") % {
                "user": interaction.user.mention, "taken": len(ticket.claimers), "slots": slots}
        await interaction.response.send_message(text, allowed_mentions=discord.AllowedMentions.none())


DYNAMIC_ITEMS = (TicketOpenButton, TicketPickSelect, WorksButton, HelpButton, CloseButton, ClaimButton)
