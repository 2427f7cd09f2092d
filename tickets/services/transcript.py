"""The ticket channel's archive as messages arrive, are edited and deleted; the posted close note."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from botproject import outbox
from botproject.models import OutboxMessage
from botproject.selectors import Access, member_access

from ..models import Ticket, TicketAnswer, TicketClaim, TicketClose, TicketTranscript, TranscriptMessage
from ..selectors import is_ticket_staff
from ..transcripts import render_transcript
from . import deadlines

log = logging.getLogger(__name__)

# A message's archive stays bounded however often it is edited: its last versions, each capped.
MAX_EDITS_KEPT = 10
MAX_VERSION_CHARS = 4000  # Discord's longest message (Nitro); anything longer is cut


# --- the transcript -------------------------------------------------------------------------------
@transaction.atomic
def transcript_message(*, ticket_id: int, message_id: int, author_id: int, author_name: str, is_bot: bool,
                       content: str, embeds: list, attachments: list, author_role_ids: Collection[int] = (),
                       author_manages_guild: bool = False, author_is_owner: bool = False,
                       created_at: datetime | None = None) -> None:
    """Archive a message of a ticket channel as it arrives (and note the first staff response).

    Whether the author is the ticket's staff is decided by the one rule (`selectors.is_ticket_staff`: admins, the
    category's staff role when it has one, else the server's staff), read only while no staff has answered yet.
    """
    ticket = Ticket.objects.select_related("guild", "category").filter(pk=ticket_id).first()
    if ticket is None:
        return
    at = created_at or timezone.now()
    message, created = TranscriptMessage.objects.get_or_create(message_id=message_id, defaults={
        "ticket": ticket, "author_id": author_id, "author_name": author_name[:100], "author_is_bot": is_bot,
        "content": content[:MAX_VERSION_CHARS], "embeds": embeds, "attachments": attachments, "created_at": at})
    if is_bot or not created:
        return
    from_staff = False
    if author_id != ticket.opener_id:
        access = member_access(guild_id=ticket.guild.discord_id, user_id=author_id, role_ids=list(author_role_ids),
                               is_owner=author_is_owner, can_manage_guild=author_manages_guild)
        category_role = ticket.category.staff_role_id if ticket.category_id else None
        staff = is_ticket_staff(access=access, role_ids=author_role_ids, category_staff_role_id=category_role)
        if staff and ticket.first_response_at is None:
            Ticket.objects.filter(pk=ticket.pk, first_response_at__isnull=True).update(
                first_response_at=at, first_responder_id=author_id)
        from_staff = staff or access.at_least(Access.HELPER) or TicketClaim.objects.filter(
            ticket=ticket, user_id=author_id).exists()
        if from_staff:
            TranscriptMessage.objects.filter(pk=message.pk).update(from_staff=True)
    deadlines.message_arrived(ticket, author_id=author_id, from_staff=from_staff, at=at)


@transaction.atomic
def transcript_edit(*, message_id: int, content: str) -> None:
    """Archive an edit: the earlier version is kept (the last MAX_EDITS_KEPT versions, each capped)."""
    content = content[:MAX_VERSION_CHARS]
    message = TranscriptMessage.objects.select_for_update().filter(message_id=message_id).first()
    if message is None or message.content == content:
        return
    earlier = {"content": message.content[:MAX_VERSION_CHARS], "until": timezone.now().isoformat()}
    message.edits = [*message.edits, earlier][-MAX_EDITS_KEPT:]
    message.content, message.edited_at = content, timezone.now()
    message.save(update_fields=["edits", "content", "edited_at"])


@transaction.atomic
def transcript_delete(*, message_id: int) -> None:
    """Archive a deletion (the message stays in the transcript, marked deleted)."""
    TranscriptMessage.objects.filter(message_id=message_id, deleted_at__isnull=True).update(deleted_at=timezone.now())


@transaction.atomic
def ticket_log_posted(*, outbox_id: int, discord_message_id: int) -> None:
    """The bot posted the close note with the transcript: the outbox must not send it again."""
    outbox.outbox_mark_sent(message_id=outbox_id, discord_message_id=discord_message_id)


# --- the stored transcript ------------------------------------------------------------------------
@transaction.atomic
def transcript_store(*, ticket_id: int) -> str:
    """Render and store a closed ticket's HTML transcript (once; later calls return the stored page).

    Runs after the close committed, in a short transaction of its own: rendering a long channel never holds
    the close's row locks. The close note's outbox row is linked so the admin shows where the note went.
    """
    stored = TicketTranscript.objects.filter(pk=ticket_id).values_list("html", flat=True).first()
    if stored is not None:
        return stored
    ticket = Ticket.objects.select_related("guild__config", "closed_by_admin").get(
        pk=ticket_id, status=Ticket.Status.CLOSED)
    messages = list(TranscriptMessage.objects.filter(ticket=ticket).order_by("created_at", "message_id"))
    claims = list(TicketClaim.objects.filter(ticket=ticket).order_by("slot"))
    html = render_transcript(ticket, messages, claims, answers=list(TicketAnswer.objects.filter(ticket=ticket)),
                             closes=list(TicketClose.objects.filter(ticket=ticket).order_by("closed_at")))
    key = f"ticket:{ticket.pk}:closed" + (f":{ticket.reopen_count}" if ticket.reopen_count else "")
    log_id = OutboxMessage.objects.filter(dedupe_key=key).values_list("pk", flat=True).first()
    try:
        with transaction.atomic():
            TicketTranscript.objects.create(ticket=ticket, html=html, message_count=len(messages), log_outbox_id=log_id)
    except IntegrityError:  # stored meanwhile by another caller (the sweep, the bot)
        return TicketTranscript.objects.values_list("html", flat=True).get(pk=ticket_id)
    return html


def transcript_store_after_close(ticket_id: int) -> None:
    """on_commit hook of a close: store the transcript; a failure is left to the tickets sweep."""
    try:
        transcript_store(ticket_id=ticket_id)
    except Exception:  # noqa: BLE001 - the close is committed; the sweep stores the transcript later
        log.exception("could not store the transcript of ticket %s; the sweep retries", ticket_id)
