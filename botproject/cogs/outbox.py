"""Deliver the outbox: log notes, channel messages, DMs, e-mails, channel deletes, message edits and role
removals written by services and the admin."""

from __future__ import annotations

import asyncio
import collections
import logging
from datetime import timedelta

import aiohttp
import discord
from discord.ext import commands
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import outbox
from ..bot.db import db_call
from ..bot.preflight import require_bot_permissions, require_manageable_role
from ..bot.scope import ForeignChannel, guild_channel
from ..exceptions import DatabaseUnavailable, DomainError, NotAllowed

log = logging.getLogger(__name__)
BATCH = 20
# Discord errors that will not get better by retrying: unknown channel/user, missing access, DMs closed, a
# request Discord refuses as it is (invalid form body, e.g. a DM to a user id that does not exist).
PERMANENT_CODES = {10003, 10013, 50001, 50007, 50013, 50035}
DMS_CLOSED = 50007


class OutboxCog(commands.Cog):
    """Sends pending outbox rows when woken (same process or channel layer) and on a periodic sweep."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.wake = asyncio.Event()
        self.delivered = 0
        self.recently_delivered: collections.deque[int] = collections.deque(maxlen=1000)  # outbox row ids
        self._worker: asyncio.Task | None = None
        self._listener: asyncio.Task | None = None
        self._next_due = None  # when the earliest pending row not in the current batch is due (from its claim)
        self._rescheduled = False  # a row of the current batch failed and waits for a retry

    async def cog_load(self) -> None:
        loop = asyncio.get_running_loop()
        outbox.set_waker(lambda: loop.call_soon_threadsafe(self.wake.set))
        self._worker = asyncio.create_task(self._deliver_forever(), name="outbox-worker")
        self._listener = asyncio.create_task(self._listen_to_channel_layer(), name="outbox-channel-layer")

    async def cog_unload(self) -> None:
        outbox.set_waker(None)
        tasks = [t for t in (self._worker, self._listener) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            _done, stuck = await asyncio.wait(tasks, timeout=5)
            if stuck:  # never let the outbox hold up a shutdown; undelivered rows stay pending
                log.warning("outbox tasks did not stop in time: %s", stuck)

    async def _listen_to_channel_layer(self) -> None:
        """Wake-ups from other processes (the admin in a split deployment); only with channels-redis."""
        if not settings.REDIS_URL:
            return
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        while True:
            try:
                await layer.receive(outbox.CHANNEL)
                self.wake.set()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - Redis away: the periodic sweep still delivers
                log.warning("outbox channel layer receive failed; relying on the sweep", exc_info=True)
                return

    async def _deliver_forever(self) -> None:
        await self.bot.wait_until_ready()
        failures = 0
        while True:
            # Clear before claiming: a wake-up that arrives while a batch is being sent stays set,
            # so the next round starts at once instead of at the next sweep.
            self.wake.clear()
            try:
                claimed = await self.deliver_due()
                idle = 0.0 if claimed >= BATCH else await self._idle_seconds()
                failures = 0
            except asyncio.CancelledError:
                raise
            except DatabaseUnavailable:  # never let the worker die; the rows stay pending
                failures += 1
                idle = _backoff(failures)
                log.warning("outbox: the database is not answering; trying again in %.1f s", idle)
            except Exception:  # noqa: BLE001 - never let the worker die; the rows stay pending
                failures += 1
                idle = _backoff(failures)
                log.exception("outbox delivery failed; trying again in %.1f s", idle)
            if idle > 0:
                try:
                    # asyncio.timeout, not wait_for: on Python 3.11 a cancel arriving inside wait_for
                    # could be lost, and the bot's shutdown then waited for this task forever.
                    async with asyncio.timeout(idle):
                        await self.wake.wait()
                except TimeoutError:
                    pass  # the next row is due, the periodic sweep, or the next try after a failure

    async def _idle_seconds(self) -> float:
        """Sleep until the next scheduled row (a ticket channel's delete) is due, at most one sweep.

        The claim said when the earliest row it did not take is due; only when a row of the batch failed (and so
        waits for a retry) is the database asked again.
        """
        next_due = await db_call(outbox.outbox_next_due)() if self._rescheduled else self._next_due
        if next_due is None:
            return settings.OUTBOX_SWEEP_SECONDS
        return min(settings.OUTBOX_SWEEP_SECONDS, max(0.0, (next_due - timezone.now()).total_seconds()))

    async def deliver_due(self) -> int:
        """Claim and send one batch; return how many rows were claimed."""
        self._rescheduled = False
        batch = await db_call(outbox.outbox_claim_batch)(
            limit=BATCH, shard_count=self.bot.shard_count, shard_ids=self.bot.shard_ids
        )
        self._next_due = batch.next_due
        for item in batch.items:
            try:
                await self._deliver(item)
            except (aiohttp.ClientError, TimeoutError) as error:
                # No answer from Discord (the connection dropped): sent or not, nobody knows. A message goes again
                # with the same nonce, which Discord deduplicates; deletes, edits and role removals are idempotent.
                await self._mark_failed(message_id=item.id, error=f"no answer: {error!r}", permanent=False)
        return len(batch.items)

    async def _mark_failed(self, **fields) -> None:
        """outbox_mark_failed; the row may wait for a retry, so the next sleep asks the database when it is due."""
        self._rescheduled = True
        await db_call(outbox.outbox_mark_failed)(**fields)

    async def _deliver(self, item: outbox.OutboxItem) -> None:
        if item.kind == "email":
            await self._deliver_email(item)
            return
        if item.kind in ("chan_del", "msg_edit"):
            await self._deliver_change(item)
            return
        if item.kind == "role_del":
            await self._deliver_role_remove(item)
            return
        if item.kind == "dm" and item.dms_closed_at is not None:
            # Their DMs were found closed less than a day ago: no DM is opened, the notice goes to the log channel.
            until = item.dms_closed_at + outbox.DMS_CLOSED_HONOURED
            await db_call(outbox.outbox_dm_closed)(
                message_id=item.id, known=True,
                error=f"not tried: DMs found closed at {item.dms_closed_at.isoformat()}, tried again after "
                      f"{until.isoformat()}")
            return
        try:
            destination = await self._destination(item)
            if destination is None:
                await db_call(outbox.outbox_skip)(message_id=item.id, reason="no destination")
                return
        except ForeignChannel as foreign:
            await self._refuse_foreign(item, foreign)
            return
        except discord.HTTPException as error:  # e.g. a DM to a user that does not exist (10013): never retried
            await self._send_failed(item, error)
            return
        try:
            embed = discord.Embed.from_dict(item.embed) if item.embed else None
            message = None
            if item.nonce_may_be_forgotten():
                message = await self._sent_before(destination, item, embed)
            if message is None:
                # Outbox text carries member-written parts (reasons, DM text from the admin): it pings nobody.
                message = await destination.send(
                    item.content or None, embed=embed, nonce=item.nonce,
                    allowed_mentions=discord.AllowedMentions.none(),
                )
        except discord.HTTPException as error:
            await self._send_failed(item, error)
            return
        await db_call(outbox.outbox_mark_sent)(message_id=item.id, discord_message_id=message.id)
        if item.kind == "dm" and item.dms_marked:  # their DMs were found closed once: open again
            await db_call(outbox.outbox_dm_opened)(user_id=item.target_id)
        self.delivered += 1
        self.recently_delivered.append(item.id)

    async def _sent_before(self, destination: discord.abc.Messageable, item: outbox.OutboxItem,
                           embed: discord.Embed | None) -> discord.Message | None:
        """The message an earlier attempt of `item` made, if Discord has it; None to send (again).

        An attempt killed after Discord made the message left the row pending. The nonce makes Discord return
        that message only for a few minutes; a bot back later finds it here: the bot's message with the row's
        text and embed, written after the row, that no other row recorded as its own.
        """
        after = discord.Object(id=discord.utils.time_snowflake(item.created_at - timedelta(seconds=1)))
        title, description = (embed.title, embed.description) if embed is not None else (None, None)
        try:
            async for message in destination.history(limit=100, after=after):
                if message.author.id != self.bot.user.id or message.content != (item.content or ""):
                    continue
                first = message.embeds[0] if message.embeds else None
                shown = (first.title, first.description) if first is not None else (None, None)
                if shown != (title, description):
                    continue
                if not await db_call(outbox.outbox_message_recorded)(discord_message_id=message.id):
                    return message
        except discord.Forbidden:  # no history to read there: the nonce is all there is
            return None
        return None

    async def _send_failed(self, item: outbox.OutboxItem, error: discord.HTTPException) -> None:
        """A message Discord refused: closed DMs go to the log channel; what can never be sent fails for good."""
        text = f"{error.status} {error.code}: {error.text}"
        if item.kind == "dm" and error.code == DMS_CLOSED:
            await db_call(outbox.outbox_dm_closed)(message_id=item.id, error=text)
            return
        await self._mark_failed(message_id=item.id, error=text, permanent=error.code in PERMANENT_CODES)

    async def _deliver_change(self, item: outbox.OutboxItem) -> None:
        """Delete a channel or edit a message; 'already gone' counts as done (the goal is reached)."""
        try:
            # Only a channel of the row's own guild is deleted or edited in (never a raw id of any guild).
            channel = await guild_channel(self.bot, item.guild_id, item.target_id)
        except ForeignChannel as foreign:
            await self._refuse_foreign(item, foreign)
            return
        except discord.HTTPException as error:
            await self._mark_failed(message_id=item.id, error=f"{error.status} {error.code}: {error.text}",
                                    permanent=error.code in PERMANENT_CODES)
            return
        if channel is None:  # gone already: the goal is reached (a delete), or nothing is left to edit
            await self._done(item, None)
            return
        try:
            if item.kind == "chan_del":
                await channel.delete(reason=item.content or None)
                discord_id = item.target_id
            else:
                if not isinstance(channel, discord.abc.Messageable):
                    await self._refuse_foreign(item, ForeignChannel(item.guild_id, item.target_id))
                    return
                embed = discord.Embed.from_dict(item.embed) if item.embed else None
                # An edit from the outbox closes the matter (a session ended): drop the buttons too.
                edited = await channel.get_partial_message(item.message_id).edit(
                    content=item.content or None, embed=embed, view=None,
                    allowed_mentions=discord.AllowedMentions.none())
                discord_id = edited.id
        except discord.NotFound:
            discord_id = None
        except discord.HTTPException as error:
            await self._mark_failed(message_id=item.id, error=f"{error.status} {error.code}: {error.text}",
                                    permanent=error.code in PERMANENT_CODES)
            return
        await self._done(item, discord_id)

    async def _done(self, item: outbox.OutboxItem, discord_id: int | None) -> None:
        await db_call(outbox.outbox_mark_sent)(message_id=item.id, discord_message_id=discord_id)
        self.delivered += 1
        self.recently_delivered.append(item.id)

    async def _deliver_role_remove(self, item: outbox.OutboxItem) -> None:
        """Take a role from a member and reset the nickname the bot gave them; idempotent (done is done).

        A member who left, or who no longer has the role, needs nothing. When Discord does not let the bot
        (Manage Roles or Manage Nicknames missing, its role too low), the row fails at once and the log
        channel is told what is left to do by hand.
        """
        guild = self.bot.get_guild(item.guild_id) if item.guild_id else None
        if guild is None:
            await db_call(outbox.outbox_skip)(message_id=item.id, reason="the bot is not in that server")
            return
        config = await self.bot.guild_config(guild.id)
        reason = (item.content or "")[:512] or None  # Discord's limit for an audit-log reason
        nick = (item.embed or {}).get("clear_nick")
        role = guild.get_role(item.message_id) if item.message_id else None
        refusals: list[tuple[str, DomainError | discord.HTTPException]] = []
        step = "member"
        with translation.override(config.language):  # refusals are rendered for the guild's staff
            try:
                member = guild.get_member(item.target_id) or await guild.fetch_member(item.target_id)
                step = "role"
                if role is not None and member.get_role(role.id) is not None:
                    try:
                        require_manageable_role(guild, role)
                        await member.remove_roles(role, reason=reason)
                    except (DomainError, discord.Forbidden) as problem:
                        refusals.append(("role", problem))
                step = "nick"
                if nick and member.nick == nick:
                    try:
                        _require_nickname_change(guild, member)
                        await member.edit(nick=None, reason=reason)
                    except (DomainError, discord.Forbidden) as problem:
                        refusals.append(("nick", problem))
            except discord.NotFound:
                if step == "member":
                    await db_call(outbox.outbox_skip)(message_id=item.id, reason="the member left the server")
                    return
                # They left (or the role was deleted) meanwhile: nothing is left to take.
            except discord.HTTPException as error:  # Discord failing: retried with backoff
                note = _role_note(item, role, "nick" if step == "nick" else "role", error)
                await self._mark_failed(
                    message_id=item.id, error=f"{error.status} {error.code}: {error.text}",
                    permanent=error.code in PERMANENT_CODES, log_note=note)
                return
            note = "\n".join(_role_note(item, role, what, problem) for what, problem in refusals)
        if refusals:
            with translation.override("en"):
                error = "; ".join(_role_note(item, role, what, problem, plain=True) for what, problem in refusals)
            await self._mark_failed(message_id=item.id, error=error, permanent=True, log_note=note)
            return
        await db_call(outbox.outbox_mark_sent)(message_id=item.id, discord_message_id=None)
        self.delivered += 1
        self.recently_delivered.append(item.id)

    async def _deliver_email(self, item: outbox.OutboxItem) -> None:
        # SMTP is slow, blocking network I/O, not database work: a worker thread, not the DB bridge.
        try:
            await asyncio.to_thread(outbox.send_email, item)
        except Exception as error:  # noqa: BLE001 - a transient SMTP failure is retried with backoff
            await self._mark_failed(message_id=item.id, error=repr(error),
                                    permanent=outbox.email_failure_is_permanent(error))
            return
        await db_call(outbox.outbox_mark_sent)(message_id=item.id, discord_message_id=None)
        self.delivered += 1
        self.recently_delivered.append(item.id)

    async def _destination(self, item: outbox.OutboxItem) -> discord.abc.Messageable | None:
        if item.target_id is None:
            return None
        if item.kind == "dm":
            user = self.bot.get_user(item.target_id) or await self.bot.fetch_user(item.target_id)
            return user
        # A log note or channel message goes only to a channel of the row's own guild.
        channel = await guild_channel(self.bot, item.guild_id, item.target_id)
        if channel is None:
            return None
        if not isinstance(channel, discord.abc.Messageable):
            raise ForeignChannel(item.guild_id, item.target_id)
        return channel

    async def _refuse_foreign(self, item: outbox.OutboxItem, foreign: ForeignChannel) -> None:
        """The row's channel is not one of its guild's: fail it for good, touching nothing."""
        log.warning("outbox row %s (%s): %s; not delivered", item.id, item.kind, foreign)
        await self._mark_failed(
            message_id=item.id, permanent=True,
            error=f"channel {item.target_id} is not a channel of this row's server ({item.guild_id}): not touched")


def _backoff(failures: int) -> float:
    """Seconds before the next round after `failures` failed rounds in a row: 0.5, 1, 2, 4... up to one sweep."""
    return min(settings.OUTBOX_SWEEP_SECONDS, 0.5 * 2 ** min(failures - 1, 10))


def _require_nickname_change(guild: discord.Guild, member: discord.Member) -> None:
    """Discord lets no bot rename the owner, nor a member whose top role is not below the bot's."""
    require_bot_permissions(guild, "manage_nicknames")
    if member.id == guild.owner_id or member.top_role >= guild.me.top_role:
        raise NotAllowed(gettext_lazy("their highest role is not below mine (or they own the server), and Discord "
                                      "does not let me change such nicknames."))


def _role_note(item: outbox.OutboxItem, role: discord.Role | None, what: str,
               problem: DomainError | discord.HTTPException, *, plain: bool = False) -> str:
    """What the bot could not do for a role removal, in the active language (`plain`: for last_error)."""
    if isinstance(problem, DomainError):
        reason = problem.user_message()
    elif isinstance(problem, discord.Forbidden):
        reason = _("Discord refused: I am missing a permission for that. Ask an admin to check my role.")
    else:
        reason = _("Discord kept failing (%(error)s).") % {"error": f"{problem.status} {problem.code}"}
    values = {"user": item.target_id, "role": role.name if role is not None else item.message_id, "problem": reason}
    if what == "nick":
        text = _("I could not reset the nickname of <@%(user)s>: %(problem)s") % values
    else:
        text = _("I could not take the %(role)s role away from <@%(user)s>: %(problem)s") % values
    if plain:
        return f"{text} [{problem.status} {problem.code}]" if isinstance(problem, discord.HTTPException) else text
    return "⚠️ " + text
