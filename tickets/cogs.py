"""Tickets commands: /ticket panel|add|remove|close|stats, /sendticket; transcript listeners; panel refreshes."""

from __future__ import annotations

import logging
from datetime import timedelta

import discord
from discord import app_commands
from discord.ext import commands, tasks
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext_lazy

from botproject.bot import pages
from botproject.bot.checks import require
from botproject.bot.db import db_call
from botproject.bot.preflight import require_bot_permissions
from botproject.bot.replies import answer, defer
from botproject.bot.scope import ForeignChannel, guild_channel
from botproject.exceptions import DatabaseUnavailable
from botproject.selectors import Access

from . import channels, flows, selectors, services, stats, timers, ui, ui_after  # noqa: F401 (stats: its pages)
from .exceptions import NotATicket

log = logging.getLogger(__name__)
NAMES = (
    pgettext_lazy("discord command name", "ticket"),
    pgettext_lazy("discord command name", "panel"),
    pgettext_lazy("discord command name", "sendticket"),
    pgettext_lazy("discord command name", "channel"),
    pgettext_lazy("discord command name", "title"),
    pgettext_lazy("discord command name", "add"),
    pgettext_lazy("discord command name", "remove"),
    pgettext_lazy("discord command name", "member"),
    pgettext_lazy("discord command name", "close"),
    pgettext_lazy("discord command name", "reason"),
    pgettext_lazy("discord command name", "stats"),
    pgettext_lazy("discord command name", "days"),
    pgettext_lazy("discord command name", "closerequest"),
    pgettext_lazy("discord command name", "hours"),
    pgettext_lazy("discord command name", "reopen"),
)
SWEEP_SECONDS = 5
# An open ticket without a recorded welcome this long after its click, that no running process is welcoming.
WELCOME_GRACE = timedelta(minutes=2)


async def post_panel(interaction: discord.Interaction, channel: discord.abc.GuildChannel | None, title: str | None):
    """/ticket panel and /sendticket: post a public panel and record it."""
    await require(interaction, Access.ADMIN, module="tickets")
    target = channel or interaction.channel
    require_bot_permissions(interaction.guild, "view_channel", "send_messages", "embed_links", channel=target)
    panel = await db_call(services.panel_create)(guild_id=interaction.guild_id, channel_id=target.id,
                                                 title=title or "", actor_id=interaction.user.id)
    await defer(interaction, ephemeral=True)
    with translation.override(panel.language):
        embed, view = ui.panel_embed(panel), ui.panel_view(panel)
    # The nonce: discord.py's retry of a post whose reply was lost returns the first panel instead of a second.
    message = await target.send(embed=embed, view=view, nonce=f"tp{panel.id}")
    await db_call(services.panel_record_message)(panel_id=panel.id, message_id=message.id)
    await answer(interaction, _("The ticket panel is posted in %(channel)s.") % {"channel": target.mention},
                 ephemeral=True)


async def _here(interaction: discord.Interaction):
    ticket = await db_call(selectors.ticket_by_channel)(channel_id=interaction.channel_id)
    if ticket is None or ticket.guild_id != interaction.guild_id or not ticket.is_open:
        raise NotATicket()
    return ticket


class TicketGroup(app_commands.Group):
    """/ticket: the panel, members of a ticket, closing, metrics."""

    def __init__(self) -> None:
        super().__init__(name="ticket", description=gettext_noop("Tickets: panel, members, closing, metrics"),
                         guild_only=True)

    @app_commands.command(name="panel", description=gettext_noop("Post the public ticket panel"))
    @app_commands.describe(channel=gettext_noop("Where to post it (default: here)"),
                           title=gettext_noop("The panel's title"))
    async def panel(self, interaction: discord.Interaction, channel: discord.TextChannel | None = None,
                    title: app_commands.Range[str, 1, 200] | None = None) -> None:
        await post_panel(interaction, channel, title)

    async def _members(self, interaction: discord.Interaction, member: discord.Member, present: bool) -> None:
        access = await require(interaction, Access.MEMBER, module="tickets")
        ticket = await _here(interaction)
        ticket = await db_call(services.ticket_member_set)(
            guild_id=interaction.guild_id, ticket_id=ticket.id, actor_id=interaction.user.id,
            is_staff=flows.is_ticket_staff(access, interaction.user, ticket), member_id=member.id, present=present)
        await defer(interaction, ephemeral=True)
        await channels.set_member_access(interaction.channel, member, present)
        text = _("%(member)s can now see this ticket.") if present else _("%(member)s no longer sees this ticket.")
        await answer(interaction, text % {"member": member.mention}, ephemeral=True)

    @app_commands.command(name="add", description=gettext_noop("Give a member access to this ticket"))
    @app_commands.describe(member=gettext_noop("The member"))
    async def add(self, interaction: discord.Interaction, member: discord.Member) -> None:
        await self._members(interaction, member, True)

    @app_commands.command(name="remove", description=gettext_noop("Take a member's access to this ticket away"))
    @app_commands.describe(member=gettext_noop("The member"))
    async def remove(self, interaction: discord.Interaction, member: discord.Member) -> None:
        await self._members(interaction, member, False)

    @app_commands.command(name="close", description=gettext_noop("Close this ticket"))
    @app_commands.describe(reason=gettext_noop("Why (kept with the ticket)"))
    async def close(self, interaction: discord.Interaction,
                    reason: app_commands.Range[str, 1, 500] | None = None) -> None:
        access = await require(interaction, Access.MEMBER, module="tickets")
        ticket = await _here(interaction)
        await flows.close_ticket(interaction, access, ticket, reason=reason or "", opener_may=True)

    @app_commands.command(name="closerequest", description=gettext_noop("Ask the opener to confirm the close"))
    @app_commands.describe(reason=gettext_noop("Why (kept with the ticket)"),
                           hours=gettext_noop("Hours until it closes without an answer (default 24)"))
    async def closerequest(self, interaction: discord.Interaction,
                           reason: app_commands.Range[str, 1, 500] | None = None,
                           hours: app_commands.Range[int, 1, 8784] = 24) -> None:
        access = await require(interaction, Access.MEMBER, module="tickets")
        ticket = await _here(interaction)
        request = await db_call(services.close_request_create)(
            guild_id=interaction.guild_id, ticket_id=ticket.id, actor_id=interaction.user.id,
            is_staff=flows.is_ticket_staff(access, interaction.user, ticket), reason=reason or "", hours=hours)
        with translation.override(request.ticket.language):
            embed, view = ui_after.close_request_embed(request), ui_after.close_request_view(ticket.id)
        opener = discord.Object(ticket.opener_id)
        await answer(interaction, f"<@{ticket.opener_id}>", embed=embed, view=view,
                     allowed_mentions=discord.AllowedMentions(users=[opener]))
        message = await interaction.original_response()
        await db_call(services.close_request_posted)(request_id=request.id, message_id=message.id)

    @app_commands.command(name="reopen", description=gettext_noop("Reopen a closed ticket"))
    @app_commands.describe(ticket=gettext_noop("The ticket's number"))
    async def reopen(self, interaction: discord.Interaction, ticket: app_commands.Range[int, 1, 10**9]) -> None:
        await ui_after.flows_reopen(interaction, number=ticket)

    @app_commands.command(name="stats", description=gettext_noop("Ticket metrics"))
    @app_commands.describe(days=gettext_noop("How many days back (default 30)"))
    async def stats(self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 365] = 30) -> None:
        await pages.send(interaction, "tstats", arg=days)




class TicketsCog(commands.Cog):
    """Ticket commands, the transcript listeners and the panel refresh loop."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.loaded_at = timezone.now()
        self.left_checked = False

    async def cog_load(self) -> None:
        channels.TICKET_CHANNELS.update(await db_call(selectors.open_ticket_channels)())
        self.sweep.start()
        self.deadlines = timers.DeadlineLoop(self.bot)
        self.deadlines.start()

    async def cog_unload(self) -> None:
        self.sweep.cancel()
        self.deadlines.stop()

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Intake forms are answered here (not from discord.py's modal store), so a restart does not lose them."""
        if interaction.type == discord.InteractionType.modal_submit:
            await ui.submit_intake(interaction) or await ui_after.submit_comment(interaction)

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """The opener left: their open tickets close ("opener left"), the notice and delete go through the outbox."""
        try:
            for result in await db_call(services.ticket_opener_left)(guild_id=payload.guild_id,
                                                                      user_id=payload.user.id):
                await flows.post_transcript(self.bot, result)
        except Exception:  # noqa: BLE001 - the close is in the database or not; nothing else depends on it
            log.exception("could not close the tickets of %s who left %s", payload.user.id, payload.guild_id)

    @app_commands.command(name="sendticket", description=gettext_noop("Post the public ticket panel"))
    @app_commands.describe(channel=gettext_noop("Where to post it (default: here)"),
                           title=gettext_noop("The panel's title"))
    @app_commands.guild_only()
    async def sendticket(self, interaction: discord.Interaction, channel: discord.TextChannel | None = None,
                         title: app_commands.Range[str, 1, 200] | None = None) -> None:
        await post_panel(interaction, channel, title)

    # --- the transcript ------------------------------------------------------------------------------
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        ticket_id = channels.ticket_of_channel(message.channel.id, message.guild.id if message.guild else None)
        if ticket_id is None:
            return
        embeds = [{"title": e.title or "", "text": "\n".join(filter(None, [e.description or "", *(
            f"{f.name}: {f.value}" for f in e.fields)]))} for e in message.embeds]
        attachments = [{"filename": a.filename, "url": a.url} for a in message.attachments]
        async with channels.archive_lock(message.channel.id):
            await self._archive(ticket_id, message, embeds, attachments)

    async def _archive(self, ticket_id: int, message: discord.Message, embeds: list, attachments: list) -> None:
        try:
            await db_call(services.transcript_message)(
                ticket_id=ticket_id, message_id=message.id, author_id=message.author.id,
                author_name=message.author.display_name, is_bot=message.author.bot, content=message.content,
                embeds=embeds, attachments=attachments, created_at=message.created_at, **_author_roles(message))
        except Exception:  # noqa: BLE001 - a lost transcript line must not break anything else
            log.exception("could not archive message %s", message.id)

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        if "content" in payload.data and channels.ticket_of_channel(payload.channel_id, payload.guild_id):
            async with channels.archive_lock(payload.channel_id):
                await db_call(services.transcript_edit)(message_id=payload.message_id, content=payload.data["content"])

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if channels.ticket_of_channel(payload.channel_id, payload.guild_id):
            async with channels.archive_lock(payload.channel_id):
                await db_call(services.transcript_delete)(message_id=payload.message_id)

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        channels.TICKET_CHANNELS.pop(channel.id, None)
        channels.ARCHIVE_LOCKS.pop(channel.id, None)

    # --- panels the admin asked for, and tickets left pending by a stop ---------------------------
    @tasks.loop(seconds=SWEEP_SECONDS)
    async def sweep(self) -> None:
        try:
            for panel, repost in await db_call(selectors.panels_due)():
                await self._refresh_panel(panel, repost)
            for ticket in await db_call(selectors.pending_stale)():
                await self._settle_pending(ticket)
            cutoff = max(self.loaded_at, timezone.now() - WELCOME_GRACE)
            for ticket in await db_call(selectors.open_without_welcome)(created_before=cutoff):
                await self._settle_welcome(ticket)
            for ticket_id in await db_call(selectors.closed_without_transcript)():
                await db_call(services.transcript_store)(ticket_id=ticket_id)
            if not self.left_checked:
                await self._openers_who_left()
        except DatabaseUnavailable:  # an outage: the next round tries again
            log.warning("tickets sweep: the database is not answering")
        except Exception:  # noqa: BLE001 - the next round tries again
            log.exception("tickets sweep failed")

    @sweep.before_loop
    async def _ready(self) -> None:
        await self.bot.wait_until_ready()

    async def _openers_who_left(self) -> None:
        """Once per start, when every guild's members are known: close the tickets of openers who left while no
        bot ran (the gateway's leave event reached nobody)."""
        if not all(guild.chunked for guild in self.bot.guilds):
            return
        self.left_checked = True
        for guild in self.bot.guilds:
            openers = await db_call(selectors.open_ticket_openers)(guild_id=guild.id)
            for user_id in sorted(openers - {member.id for member in guild.members}):
                for result in await db_call(services.ticket_opener_left)(guild_id=guild.id, user_id=user_id):
                    await flows.post_transcript(self.bot, result)

    async def _refresh_panel(self, panel: selectors.PanelView, repost: bool) -> None:
        try:  # only a channel of the panel's own guild, never a raw id of any guild
            channel = await guild_channel(self.bot, panel.guild_id, panel.channel_id)
        except ForeignChannel:
            log.warning("panel %s: channel %s is not in guild %s; not posted", panel.id, panel.channel_id,
                        panel.guild_id)
            await db_call(services.panel_request_done)(panel_id=panel.id, error="channel not in this server")
            return
        if not isinstance(channel, discord.abc.Messageable):
            await db_call(services.panel_request_done)(panel_id=panel.id, error="channel gone")
            return
        with translation.override(panel.language):
            embed, view = ui.panel_embed(panel), ui.panel_view(panel)
        # One nonce per panel message it replaces: a post a killed process made but never recorded is returned
        # by Discord instead of a second panel; the next request (after this one is recorded) posts anew.
        nonce = f"tp{_base36(panel.id)}m{_base36(panel.message_id or 0)}"
        try:
            if repost or not panel.message_id:
                message = await channel.send(embed=embed, view=view, nonce=nonce)
            else:
                message = await channel.get_partial_message(panel.message_id).edit(embed=embed, view=view)
        except discord.NotFound:
            message = await channel.send(embed=embed, view=view, nonce=nonce)
        except discord.HTTPException as error:
            await db_call(services.panel_request_done)(panel_id=panel.id, error=str(error))
            return
        await db_call(services.panel_record_message)(panel_id=panel.id, message_id=message.id)

    async def _settle_pending(self, ticket: selectors.TicketView) -> None:
        """A ticket whose channel creation was interrupted: adopt its channel if Discord made it, else fail it."""
        guild = self.bot.get_guild(ticket.guild_id)
        if guild is None:
            return
        channel = discord.utils.get(guild.text_channels, name=ticket.channel_name)
        if channel is None:
            await db_call(services.ticket_fail)(ticket_id=ticket.id, error="interrupted before the channel existed")
            return
        await db_call(services.ticket_channel_created)(guild_id=ticket.guild_id, ticket_id=ticket.id,
                                                       channel_id=channel.id)
        channels.TICKET_CHANNELS[channel.id] = (ticket.id, ticket.guild_id)


    async def _settle_welcome(self, ticket: selectors.TicketView) -> None:
        """An open ticket whose welcome (with its buttons) a stopped process never recorded: find it, else post it.

        The welcome carries the ticket's Close button (`ticket:close:<id>`), which identifies it in the channel;
        posted again it has the nonce of the first post, so Discord returns that one if it still remembers it.
        """
        guild = self.bot.get_guild(ticket.guild_id)
        channel = guild.get_channel(ticket.channel_id) if guild is not None else None
        if not isinstance(channel, discord.TextChannel):
            return  # a guild of another process's shards, or the channel is gone (the day's window drops it)
        close_id = f"ticket:close:{ticket.id}"
        welcome = None
        try:
            async for message in channel.history(limit=50, oldest_first=True):
                if message.author.id == self.bot.user.id and any(
                        getattr(item, "custom_id", None) == close_id for row in message.components
                        for item in getattr(row, "children", ())):
                    welcome = message
                    break
            if welcome is None:
                opener = discord.Object(id=ticket.opener_id)
                with translation.override(ticket.language):
                    embed, view = ui.welcome_message(ticket)
                welcome = await channel.send(f"<@{ticket.opener_id}>", embed=embed, view=view, nonce=f"tw{ticket.id}",
                                             allowed_mentions=discord.AllowedMentions(users=[opener]))
        except discord.HTTPException:
            log.warning("ticket %s: could not settle its welcome; next round", ticket.id, exc_info=True)
            return
        await db_call(services.ticket_welcome_sent)(ticket_id=ticket.id, message_id=welcome.id)


def _author_roles(message: discord.Message) -> dict:
    """What the transcript needs to tell whether the author is the ticket's staff (the service applies the rule)."""
    member = message.author
    if not isinstance(member, discord.Member):
        return {}
    return {"author_role_ids": [role.id for role in member.roles],
            "author_manages_guild": member.guild_permissions.manage_guild,
            "author_is_owner": member.guild.owner_id == member.id}


def _base36(number: int) -> str:
    """A number in base 36: a snowflake in 13 characters at most (a nonce has at most 25)."""
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
        if not number:
            return digits


async def setup(bot: commands.Bot) -> None:
    """Register the tickets commands, buttons and listeners."""
    cog = TicketsCog(bot)
    await bot.add_cog(cog)
    bot.tree.add_command(TicketGroup())
    bot.add_dynamic_items(*ui.DYNAMIC_ITEMS, *ui_after.DYNAMIC_ITEMS)
    pages.install(bot)


async def teardown(bot: commands.Bot) -> None:
    """Remove the /ticket group."""
    bot.tree.remove_command("ticket")
