"""The durable outbox: Discord messages (and channel deletes, message edits, role removals) that must happen are
rows written with the change that causes them.

Writers call `enqueue_*` inside their transaction; after commit the bot is woken (directly when it
runs in this process, through the channel layer otherwise) and a periodic sweep catches the rest.
The bot claims due rows with a lease, sends them, and records the Discord message id.

Exactly once across a kill (SIGKILL, power loss; tests/test_sigkill_restart.py): the claim commits before the
send, so a row whose sender died stays pending and is taken again when its lease (OUTBOX_LEASE_SECONDS, well
inside Discord's few-minute nonce window) runs out. What the dead sender may already have done is then not
done twice:
- messages and DMs carry the row's nonce with `enforce_nonce`: Discord answers the resend with the message
  it made the first time; a row tried before and older than Discord keeps nonces is first looked for in its
  channel's history (the bot came back after Discord forgot the nonce), see `OutboxCog._sent_before`;
- a channel delete finds the channel gone (done), an edit is the same edit again, a role removal finds the
  member without the role (done);
- e-mail is at-least-once, see `send_email`.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext

from .models import DiscordUser, Guild, OutboxMessage
from .sql import insert_row

log = logging.getLogger(__name__)
CHANNEL = "bot.outbox"
MAX_ATTEMPTS = 8
# Discord deduplicates an enforce_nonce message "for the past few minutes": a resend of an older row may not be.
NONCE_TRUSTED = timedelta(minutes=1)
# A user whose DMs were found closed is not tried again for this long: their DMs go to the log channel at once.
DMS_CLOSED_HONOURED = timedelta(days=1)

_waker: Callable[[], None] | None = None
_waker_lock = threading.Lock()


@dataclass(frozen=True)
class OutboxItem:
    """What the bot needs to deliver one row."""

    id: int
    kind: str
    guild_id: int | None
    target_id: int | None
    content: str
    embed: dict[str, Any] | None
    attempts: int
    email_to: str = ""
    subject: str = ""
    html: str = ""
    message_id: int | None = None
    dms_closed_at: Any = None  # a DM whose user's DMs were found closed less than a day ago: not tried
    created_at: Any = None  # when the row was written: nothing of it can be in Discord from before
    dms_marked: bool = False  # a DM whose user's DMs were once found closed: a DM that goes through clears that

    def nonce_may_be_forgotten(self) -> bool:
        """An earlier attempt may have reached Discord and died before it was recorded, longer ago than Discord
        remembers nonces: the retry must look for that message instead of trusting the nonce."""
        return self.attempts > 1 and self.created_at is not None and self.created_at < timezone.now() - NONCE_TRUSTED

    @property
    def nonce(self) -> str:
        """Stable per row, so a resend after a crash is recognised by Discord (at most 25 characters)."""
        return f"ob{self.id}"


def set_waker(waker: Callable[[], None] | None) -> None:
    """Register the running bot's thread-safe wake-up (None when it stops)."""
    global _waker
    with _waker_lock:
        _waker = waker


def wake() -> None:
    """Tell the bot there is something to deliver."""
    with _waker_lock:
        waker = _waker
    if waker is not None:
        waker()
    elif settings.REDIS_URL:
        # The bot runs in another process: the channel layer carries the wake-up (at most once;
        # the sweep covers a lost one).
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        try:
            async_to_sync(get_channel_layer().send)(CHANNEL, {"type": "outbox.wake"})
        except Exception:  # noqa: BLE001 - the periodic sweep delivers anyway
            log.warning("could not wake the bot through the channel layer", exc_info=True)


def send_email(item: OutboxItem) -> None:
    """Send an email row through Django's email backend (EMAIL_URL); blocking, call off the event loop.

    At-least-once, deliberately. The claim (attempts + 1, lease) is committed before the SMTP session and the
    row is marked sent right after the server's 250, so a bot killed in between sends the mail again after
    its restart. Only a kill in the instant after the server stored the mail and before the bot recorded it
    yields a second copy, and that copy carries the same Message-ID (`<outbox-<row id>@EMAIL_MESSAGE_DOMAIN>`),
    by which many mail stores fold it into the first. At-most-once would lose every receipt whose sending was
    cut anywhere in the session (connect, TLS, login, data): a member's receipt for an order they paid is worth
    more than a rare duplicate, which is also SMTP's own choice for a lost 250 (RFC 1047).
    """
    from django.core.mail import EmailMultiAlternatives

    mail = EmailMultiAlternatives(subject=item.subject, body=item.content, to=[item.email_to],
                                  headers={"Message-ID": f"<outbox-{item.id}@{settings.EMAIL_MESSAGE_DOMAIN}>"})
    if item.html:
        mail.attach_alternative(item.html, "text/html")
    mail.send(fail_silently=False)


def email_failure_is_permanent(error: BaseException) -> bool:
    """Whether an e-mail that failed with `error` can never be sent as it is, so retrying is pointless.

    Permanent: a header with a line break (BadHeaderError) or an address Django cannot use (ValueError), a
    recipient the server refuses for good (5xx), content it rejects for good (5xx after DATA). Everything else
    (connection refused, timeouts, 4xx, the server's own login or sender settings) is retried with backoff.
    """
    import smtplib

    if isinstance(error, ValueError):  # BadHeaderError and UnicodeError are ValueErrors too
        return True
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _text in error.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(error, smtplib.SMTPDataError):
        return 500 <= error.smtp_code < 600
    return False


def _enqueue(*, guild: Guild | int | None, available_at=None, **fields: Any) -> int:
    """Write one pending row (a single INSERT: DM notices ride on every award) and wake the bot after commit."""
    guild_pk = guild.pk if isinstance(guild, Guild) else guild
    row_id = insert_row(OutboxMessage, guild_id=guild_pk, available_at=available_at or timezone.now(), **fields)
    transaction.on_commit(wake)
    return row_id


def enqueue_log(*, guild: Guild, channel_id: int, content: str, embed: dict | None = None,
                dedupe_key: str | None = None) -> int:
    """Queue a note for a guild's log channel."""
    return _enqueue(guild=guild, kind=OutboxMessage.Kind.LOG, target_id=channel_id, content=content[:2000],
                    embed=embed, dedupe_key=dedupe_key)


def enqueue_channel(*, guild: Guild, channel_id: int, content: str, embed: dict | None = None,
                    dedupe_key: str | None = None) -> int:
    """Queue a message for a guild channel."""
    return _enqueue(guild=guild, kind=OutboxMessage.Kind.CHANNEL, target_id=channel_id, content=content[:2000],
                    embed=embed, dedupe_key=dedupe_key)


def enqueue_email(*, guild: Guild | None, to: str, subject: str, text: str, html: str = "",
                  dedupe_key: str | None = None) -> int:
    """Queue an email (sent by the bot process through Django's email backend)."""
    # A subject is one header line: a line break in it (an order number) would make the mail unsendable.
    subject = " ".join(subject.split())
    return _enqueue(guild=guild, kind=OutboxMessage.Kind.EMAIL, email_to=to, subject=subject[:200], content=text,
                    html=html, dedupe_key=dedupe_key)


def enqueue_channel_delete(*, guild: Guild, channel_id: int, at=None, reason: str = "",
                           dedupe_key: str | None = None) -> int:
    """Delete a channel at `at` (default now); the deadline is stored, so it survives a restart."""
    return _enqueue(guild=guild, kind=OutboxMessage.Kind.CHANNEL_DELETE, target_id=channel_id, content=reason[:2000],
                    available_at=at, dedupe_key=dedupe_key)


def enqueue_message_edit(*, guild: Guild, channel_id: int, message_id: int, content: str | None = None,
                         embed: dict | None = None, dedupe_key: str | None = None) -> int:
    """Edit a message the bot posted (e.g. mark an announcement ended), even if the change came from the admin."""
    return _enqueue(guild=guild, kind=OutboxMessage.Kind.MESSAGE_EDIT, target_id=channel_id, message_id=message_id,
                    content=(content or "")[:2000], embed=embed, dedupe_key=dedupe_key)


def enqueue_role_remove(*, guild: Guild, user_id: int, role_id: int, reason: str, nick_to_clear: str | None = None,
                        dedupe_key: str | None = None) -> int:
    """Take `role_id` from member `user_id` (and reset their nickname while it still is `nick_to_clear`).

    Stored as target_id = user id, message_id = role id, content = the reason shown in Discord's audit
    log, embed = {"clear_nick": name} or nothing. Delivery is idempotent: a member without the role, or
    one who left the server, is done.
    """
    return _enqueue(guild=guild, kind=OutboxMessage.Kind.ROLE_REMOVE, target_id=user_id, message_id=role_id,
                    content=reason[:2000], embed={"clear_nick": nick_to_clear} if nick_to_clear else None,
                    dedupe_key=dedupe_key)


def cancel_role_remove(*, guild: Guild, user_id: int, role_id: int, reason: str) -> int:
    """Drop the member's role removals not yet delivered (they were given the role again); return how many."""
    return OutboxMessage.objects.filter(
        guild=guild, kind=OutboxMessage.Kind.ROLE_REMOVE, target_id=user_id, message_id=role_id,
        status=OutboxMessage.Status.PENDING,
    ).update(status=OutboxMessage.Status.SKIPPED, last_error=reason[:500])


def enqueue_dm(*, guild: Guild | int | None, user_id: int, content: str, embed: dict | None = None,
               dedupe_key: str | None = None) -> int:
    """Queue a direct message to a user."""
    return _enqueue(guild=guild, kind=OutboxMessage.Kind.DM, target_id=user_id, content=content[:2000],
                    embed=embed, dedupe_key=dedupe_key)


@dataclass(frozen=True)
class ClaimedBatch:
    """Rows taken for delivery, and when the earliest other pending row is due (None when there is none)."""

    items: list[OutboxItem]
    next_due: Any


def outbox_claim(*, limit: int = 20, shard_count: int | None = None,
                 shard_ids: list[int] | None = None) -> list[OutboxItem]:
    """Take up to `limit` due rows for delivery, leasing them so no other process sends them meanwhile."""
    return outbox_claim_batch(limit=limit, shard_count=shard_count, shard_ids=shard_ids, next_due=False).items


def outbox_claim_batch(*, limit: int = 20, shard_count: int | None = None, shard_ids: list[int] | None = None,
                       next_due: bool = True) -> ClaimedBatch:
    """`outbox_claim`, and (`next_due`) when the earliest pending row it did not take is due, in one transaction:
    the worker learns how long it may sleep without a trip of its own to the database.

    On PostgreSQL one statement (its own transaction: no BEGIN/COMMIT round trips; every delivered row costs a
    claim, and the bot's interactions share the database threads).
    """
    sharded = bool(shard_count and shard_ids is not None and len(set(shard_ids)) < shard_count)
    if connection.vendor == "postgresql":
        return _claim_in_one_statement(limit, shard_count if sharded else None, shard_ids, next_due)
    return _claim(limit, shard_count if sharded else None, shard_ids, next_due)


def _claim_in_one_statement(limit: int, shard_count: int | None, shard_ids: list[int] | None,
                            next_due: bool) -> ClaimedBatch:
    """PostgreSQL: take the due rows (skipping rows another process holds), lease them, and read what delivery
    needs (the guild's Discord id, the user's closed-DMs mark) and the next due time, in one statement."""
    quote = connection.ops.quote_name
    table, guilds, users = (quote(m._meta.db_table) for m in (OutboxMessage, Guild, DiscordUser))
    now = timezone.now()
    params: list[Any] = [OutboxMessage.Status.PENDING.value, now]
    mine = ""
    if shard_count is not None:
        # Only this process's shards' guilds (Discord: shard = (guild_id >> 22) % shard_count); rows without a
        # guild (DMs) belong to the process that runs shard 0.
        shards = sorted(set(shard_ids or ()))
        mine = (f" AND (((g.discord_id >> 22) %% %s) IN ({', '.join(['%s'] * len(shards))})"
                f"{' OR o.guild_id IS NULL' if 0 in shards else ''})")
        params += [shard_count, *shards]
    params += [limit, now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)]
    later = "NULL"
    if next_due:
        later = (f"(SELECT p.available_at FROM {table} p WHERE p.status = %s AND p.id NOT IN (SELECT id FROM due) "
                 f"ORDER BY p.available_at LIMIT 1)")
        params.append(OutboxMessage.Status.PENDING.value)
    params.append(OutboxMessage.Kind.DM.value)
    sql = (
        f"WITH due AS (SELECT o.id, o.available_at AS due_at FROM {table} o LEFT JOIN {guilds} g ON g.id = o.guild_id "
        f"WHERE o.status = %s AND o.available_at <= %s{mine} ORDER BY o.available_at, o.id LIMIT %s "
        f"FOR UPDATE OF o SKIP LOCKED), "
        f"claimed AS (UPDATE {table} o SET attempts = o.attempts + 1, available_at = %s FROM due "
        f"WHERE o.id = due.id RETURNING o.id, o.kind, o.guild_id, o.target_id, o.content, o.embed, o.attempts, "
        f"o.email_to, o.subject, o.html, o.message_id, o.created_at, due.due_at) "
        f"SELECT {later}, c.id, c.kind, g.discord_id, c.target_id, c.content, c.embed, c.attempts, c.email_to, "
        f"c.subject, c.html, c.message_id, c.created_at, u.dms_closed_at "
        f"FROM (SELECT 1) one LEFT JOIN (claimed c LEFT JOIN {guilds} g ON g.id = c.guild_id "
        f"LEFT JOIN {users} u ON c.kind = %s AND u.user_id = c.target_id) ON TRUE ORDER BY c.due_at, c.id")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    embed = OutboxMessage._meta.get_field("embed")
    honoured = now - DMS_CLOSED_HONOURED
    items = []
    for (_later, pk, kind, guild_id, target_id, content, embed_value, attempts, email_to, subject, html, message_id,
         created_at, closed_at) in rows:
        if pk is None:  # nothing was due: the one row that carries the next due time
            continue
        items.append(OutboxItem(
            pk, kind, guild_id, target_id, content, embed.from_db_value(embed_value, None, connection), attempts,
            email_to, subject, html, message_id,
            dms_closed_at=closed_at if closed_at is not None and closed_at > honoured else None,
            created_at=created_at, dms_marked=closed_at is not None))
    return ClaimedBatch(items, rows[0][0] if rows else None)


@transaction.atomic
def _claim(limit: int, shard_count: int | None, shard_ids: list[int] | None, next_due: bool) -> ClaimedBatch:
    """The claim through the ORM, in a transaction (SQLite, whose writes queue for its one writer anyway)."""
    now = timezone.now()
    rows = OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, available_at__lte=now)
    if shard_count is not None:
        # Only this process's shards' guilds (Discord: shard = (guild_id >> 22) % shard_count);
        # rows without a guild (DMs) belong to the process that runs shard 0.
        rows = rows.annotate(_shard=F("guild__discord_id").bitrightshift(22) % shard_count)
        mine = Q(_shard__in=shard_ids)
        if 0 in shard_ids:
            mine |= Q(guild__isnull=True)
        rows = rows.filter(mine)
    rows = rows.select_related("guild").order_by("available_at", "id")
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    claimed = list(rows[:limit])
    ids = [m.pk for m in claimed]
    later = None
    if next_due:
        later = (OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING).exclude(pk__in=ids)
                 .order_by("available_at").values_list("available_at", flat=True).first())
    if not claimed:
        return ClaimedBatch([], later)
    # A claimed row not marked sent when the lease ends is tried again (at-least-once); Discord's
    # enforce_nonce makes the retry of a message that did go out return the first one.
    lease = timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    OutboxMessage.objects.filter(pk__in=ids).update(attempts=F("attempts") + 1, available_at=now + lease)
    dm_users = {m.target_id for m in claimed if m.kind == OutboxMessage.Kind.DM}
    # Users whose DMs were ever found closed: within DMS_CLOSED_HONOURED not tried, else tried and cleared on success.
    marked = dict(DiscordUser.objects.filter(
        user_id__in=dm_users, dms_closed_at__isnull=False,
    ).values_list("user_id", "dms_closed_at")) if dm_users else {}
    honoured = now - DMS_CLOSED_HONOURED
    items = []
    for m in claimed:
        closed_at = marked.get(m.target_id) if m.kind == OutboxMessage.Kind.DM else None
        items.append(OutboxItem(
            m.pk, m.kind, m.guild.discord_id if m.guild else None, m.target_id, m.content, m.embed, m.attempts + 1,
            m.email_to, m.subject, m.html, m.message_id,
            dms_closed_at=closed_at if closed_at is not None and closed_at > honoured else None,
            created_at=m.created_at, dms_marked=closed_at is not None))
    return ClaimedBatch(items, later)


def outbox_message_recorded(*, discord_message_id: int) -> bool:
    """Whether a row already recorded this Discord message as the one it sent."""
    return OutboxMessage.objects.filter(discord_message_id=discord_message_id).exists()


def outbox_next_due() -> Any:
    """When the earliest pending row becomes due (None when nothing is pending)."""
    return (OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING)
            .order_by("available_at").values_list("available_at", flat=True).first())


def outbox_mark_sent(*, message_id: int, discord_message_id: int | None) -> None:
    """Record a delivered row and the id Discord gave the message (one statement: its own transaction; plain SQL,
    as every delivered row runs it)."""
    sent_at = OutboxMessage._meta.get_field("sent_at").get_db_prep_save(timezone.now(), connection)
    with connection.cursor() as cursor:
        cursor.execute(_mark_sent_sql(connection.vendor),
                       [OutboxMessage.Status.SENT.value, sent_at, discord_message_id, message_id])


@functools.cache
def _mark_sent_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    return (f"UPDATE {quote(OutboxMessage._meta.db_table)} SET status = %s, sent_at = %s, discord_message_id = %s, "
            f"last_error = '' WHERE id = %s")


@transaction.atomic
def outbox_mark_failed(*, message_id: int, error: str, permanent: bool, log_note: str = "") -> None:
    """Record a failed attempt: retry later with backoff, or give up (missing access, unknown channel).

    `log_note` (already in the guild's language) goes to the guild's log channel when the row gives up,
    so staff learn about a change the bot could not make.
    """
    message = OutboxMessage.objects.select_for_update().get(pk=message_id)
    message.last_error = error[:500]
    if permanent or message.attempts >= MAX_ATTEMPTS:
        message.status = OutboxMessage.Status.FAILED
    else:
        message.available_at = timezone.now() + timedelta(seconds=min(600, 2 ** message.attempts))
    message.save(update_fields=["last_error", "status", "available_at"])
    if log_note and message.status == OutboxMessage.Status.FAILED and message.guild_id is not None:
        config = getattr(message.guild, "config", None)
        if config is not None and config.log_channel_id:
            enqueue_log(guild=message.guild, channel_id=config.log_channel_id, content=log_note)


@transaction.atomic
def outbox_dm_closed(*, message_id: int, error: str, known: bool = False) -> None:
    """The user's DMs are closed: mark them, and put the notice in their guild's log channel instead.

    `known`: not tried, their DMs were found closed less than DMS_CLOSED_HONOURED ago; the mark is kept as it
    is, so the bot tries again once that time has passed.
    """
    message = OutboxMessage.objects.select_related("guild__config").get(pk=message_id)
    if not known:
        DiscordUser.objects.update_or_create(user_id=message.target_id, defaults={"dms_closed_at": timezone.now()})
    message.status = OutboxMessage.Status.REROUTED
    message.last_error = error[:500]
    message.save(update_fields=["status", "last_error"])
    config = getattr(message.guild, "config", None) if message.guild else None
    if config is not None and config.log_channel_id:
        with translation.override(config.language):
            note = gettext("📪 Could not DM <@%(user)s> (their DMs are closed). The message was: %(text)s") % {
                "user": message.target_id, "text": message.content}
        enqueue_log(guild=message.guild, channel_id=config.log_channel_id, content=note,
                    dedupe_key=f"reroute:{message.pk}")


def outbox_dm_opened(*, user_id: int) -> None:
    """A DM went through: the user's DMs are open (again). One statement: its own transaction."""
    DiscordUser.objects.filter(user_id=user_id, dms_closed_at__isnull=False).update(dms_closed_at=None)


@transaction.atomic
def outbox_skip(*, message_id: int, reason: str) -> None:
    """Record a row that has nowhere to go (the log channel was unset)."""
    OutboxMessage.objects.filter(pk=message_id).update(status=OutboxMessage.Status.SKIPPED, last_error=reason[:500])
