"""The ticket channel's archive as messages arrive, are edited and deleted; the posted close note."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from botproject import outbox

from ..models import Ticket, TranscriptMessage


# --- the transcript -------------------------------------------------------------------------------
@transaction.atomic
def transcript_message(*, ticket_id: int, message_id: int, author_id: int, author_name: str, is_bot: bool,
                       content: str, embeds: list, attachments: list, staff: bool = False,
                       created_at: datetime | None = None) -> None:
    """Archive a message of a ticket channel as it arrives (and note the first staff response)."""
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None:
        return
    TranscriptMessage.objects.get_or_create(message_id=message_id, defaults={
        "ticket": ticket, "author_id": author_id, "author_name": author_name[:100], "author_is_bot": is_bot,
        "content": content, "embeds": embeds, "attachments": attachments, "created_at": created_at or timezone.now()})
    if staff and not is_bot and author_id != ticket.opener_id and ticket.first_response_at is None:
        Ticket.objects.filter(pk=ticket.pk, first_response_at__isnull=True).update(
            first_response_at=created_at or timezone.now(), first_responder_id=author_id)


@transaction.atomic
def transcript_edit(*, message_id: int, content: str) -> None:
    """Archive an edit: the earlier version is kept."""
    message = TranscriptMessage.objects.select_for_update().filter(message_id=message_id).first()
    if message is None or message.content == content:
        return
    message.edits = [*message.edits, {"content": message.content, "until": timezone.now().isoformat()}]
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
