"""The bot's side of the ticket timers: a loop that claims due `TicketDeadline` rows and carries them out.

The rows live in the database (services/deadlines.py), so nothing is lost across restarts and any number of
processes may run this loop: each row is claimed by one of them, with a lease. What a row posts carries the row's
nonce (`td<id>`), so a process that died after posting and before recording is not repeated by the next one.
Closed DMs are not retried: a note goes to the log channel.
"""

from __future__ import annotations

import asyncio
import io
import logging

import discord
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from botproject.bot.db import db_call
from botproject.bot.scope import guild_messageable
from botproject.exceptions import DatabaseUnavailable

from . import flows, services, ui_after
from .services.automation import Fired

log = logging.getLogger(__name__)
POLL_SECONDS = 2.0  # other processes' rows (and moved clocks) are found within this
DMS_CLOSED = 50007


class DeadlineLoop:
    """Claims due rows and fires them; woken at once when a row due now is written in this process."""

    def __init__(self, bot: discord.Client) -> None:
        self.bot = bot
        self.wakeup = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.fired = 0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        services.set_waker(lambda: loop.call_soon_threadsafe(self.wakeup.set))
        self.task = asyncio.create_task(self._forever(), name="tickets-deadlines")

    def stop(self) -> None:
        services.set_waker(None)
        if self.task is not None:
            self.task.cancel()

    async def _forever(self) -> None:
        await self.bot.wait_until_ready()
        while True:
            try:
                while await self.run_due():
                    pass
                wait = POLL_SECONDS
                due = await db_call(services.deadlines_next_due)()
                if due is not None:
                    wait = min(POLL_SECONDS, max(0.0, (due - timezone.now()).total_seconds()))
            except DatabaseUnavailable:
                log.warning("ticket deadlines: the database is not answering")
                wait = POLL_SECONDS
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("ticket deadlines round failed")
                wait = POLL_SECONDS
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout=wait)
            except TimeoutError:
                pass
            self.wakeup.clear()

    async def run_due(self) -> int:
        """Claim one batch of due rows and fire each; return how many were claimed."""
        items = await db_call(services.deadlines_claim)(shard_count=self.bot.shard_count,
                                                        shard_ids=self.bot.shard_ids)
        for item in items:
            try:
                fired = await db_call(services.deadline_fire)(deadline_id=item.id)
                if fired is None:
                    continue
                if fired.close is not None:
                    await flows.announce_auto_close(self.bot, fired.close)
                else:
                    await HANDLERS[fired.kind](self, fired)
                self.fired += 1
            except DatabaseUnavailable:
                raise
            except Exception:  # noqa: BLE001 - this row is tried again after a pause
                log.exception("ticket deadline %s (%s) failed; tried again later", item.id, item.kind)
                await db_call(services.deadline_release)(deadline_id=item.id)
        return len(items)

    async def _done(self, fired: Fired) -> None:
        await db_call(services.deadline_done)(deadline_id=fired.deadline_id)

    async def _channel(self, fired: Fired):
        return await guild_messageable(self.bot, fired.ticket.guild_id, fired.ticket.channel_id)

    async def remind(self, fired: Fired) -> None:
        """Ping the opener: the staff wait on them; without an answer the ticket closes."""
        ticket = fired.ticket
        channel = await self._channel(fired)
        if channel is None:
            await db_call(services.deadline_done)(deadline_id=fired.deadline_id, cancelled=True)
            return
        with translation.override(ticket.language):
            embed = discord.Embed(title=_("⏰ Still there?"), colour=discord.Colour.gold(), description=_(
                "The staff are waiting for your answer. Without one this ticket closes automatically."))
        opener = discord.Object(ticket.opener_id)
        await channel.send(f"<@{ticket.opener_id}>", embed=embed, nonce=fired.nonce,
                           allowed_mentions=discord.AllowedMentions(users=[opener], roles=False, everyone=False))
        await self._done(fired)

    async def alert(self, fired: Fired) -> None:
        """No staff or helper answer yet: ping the staff role once (the log channel when set, else the ticket)."""
        ticket = fired.ticket
        channel = None
        if fired.log_channel_id:
            channel = await guild_messageable(self.bot, ticket.guild_id, fired.log_channel_id)
        channel = channel or await self._channel(fired)
        if channel is None:
            await db_call(services.deadline_done)(deadline_id=fired.deadline_id, cancelled=True)
            return
        with translation.override(ticket.language):
            text = _("⏱️ Ticket #%(number)s (%(category)s) of <@%(opener)s> has no answer from staff or a helper "
                     "yet: %(channel)s") % {"number": ticket.number, "category": ticket.category_name,
                                            "opener": ticket.opener_id, "channel": f"<#{ticket.channel_id}>"}
        role = ticket.staff_role_id
        mentions = (discord.AllowedMentions(roles=[discord.Object(role)], users=False, everyone=False) if role
                    else discord.AllowedMentions.none())
        await channel.send(f"<@&{role}> {text}" if role else text, nonce=fired.nonce, allowed_mentions=mentions)
        await self._done(fired)

    async def rate_prompt(self, fired: Fired) -> None:
        """The rating request in the ticket while its channel waits (by DM when the channel is already gone)."""
        channel = await self._channel(fired)
        if channel is None:
            await self.rate_dm(fired)
            return
        with translation.override(fired.ticket.language):
            embed, view = ui_after.rating_embed(fired.ticket), ui_after.rating_view(fired.ticket.id)
        await channel.send(f"<@{fired.ticket.opener_id}>", embed=embed, view=view, nonce=fired.nonce,
                           allowed_mentions=discord.AllowedMentions(users=[discord.Object(fired.ticket.opener_id)]))
        await self._done(fired)

    async def rate_dm(self, fired: Fired) -> None:
        """The rating request by DM (the channel is gone and the opener has not rated)."""
        with translation.override(fired.ticket.language):
            embed, view = ui_after.rating_embed(fired.ticket), ui_after.rating_view(fired.ticket.id)
        await self._dm(fired, embed=embed, view=view)

    async def transcript_dm(self, fired: Fired) -> None:
        """The HTML transcript to the opener, with a Reopen button."""
        ticket = fired.ticket
        with translation.override(ticket.language):
            text = _("🎫 Your ticket #%(number)s (%(category)s) is closed. Its transcript is attached.") % {
                "number": ticket.number, "category": ticket.category_name}
            view = discord.ui.View(timeout=None)
            view.add_item(ui_after.ReopenButton(ticket.id))
        name = f"ticket-{ticket.number}-{ticket.code}.html"
        await self._dm(fired, content=text, view=view,
                       file=discord.File(io.BytesIO(fired.transcript.encode()), filename=name))

    async def _dm(self, fired: Fired, **message) -> None:
        try:
            user = self.bot.get_user(fired.ticket.opener_id) or await self.bot.fetch_user(fired.ticket.opener_id)
            await user.send(nonce=fired.nonce, allowed_mentions=discord.AllowedMentions.none(), **message)
        except discord.Forbidden as error:
            if error.code == DMS_CLOSED:
                await db_call(services.deadline_dms_closed)(deadline_id=fired.deadline_id)
                return
            raise
        except discord.NotFound:  # no such user any more
            await db_call(services.deadline_done)(deadline_id=fired.deadline_id, cancelled=True)
            return
        await self._done(fired)


HANDLERS = {
    "remind": DeadlineLoop.remind,
    "alert": DeadlineLoop.alert,
    "rate": DeadlineLoop.rate_prompt,
    "rate_dm": DeadlineLoop.rate_dm,
    "transcript": DeadlineLoop.transcript_dm,
}
