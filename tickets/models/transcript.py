"""A ticket channel's archive (each message with its edits and deletion) and the stored HTML transcript."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from botproject.models import snowflake

from .core import Ticket


class TranscriptMessage(models.Model):
    """One message of a ticket channel as it arrived, with its edits and deletion."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    message_id = snowflake(_("message id"), unique=True)
    author_id = snowflake(_("author"))
    author_name = models.CharField(_("author name"), max_length=100, blank=True)
    author_is_bot = models.BooleanField(_("bot"), default=False)
    from_staff = models.BooleanField(_("from staff or a helper"), default=False,
                                     help_text=_("Written by the ticket's staff or one of its helpers."))
    content = models.TextField(_("content"), blank=True)
    embeds = models.JSONField(_("embeds (title and text)"), default=list, blank=True)
    attachments = models.JSONField(_("attachments"), default=list, blank=True)
    edits = models.JSONField(_("earlier versions"), default=list, blank=True)
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)
    edited_at = models.DateTimeField(_("edited at"), null=True, blank=True)
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("transcript message")
        verbose_name_plural = _("transcript messages")
        ordering = ["ticket", "created_at", "message_id"]

    def __str__(self) -> str:
        return f"{self.author_name or self.author_id}: {self.content[:40]}"


class TicketTranscript(models.Model):
    """The self-contained HTML transcript stored when the ticket closed."""

    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, primary_key=True, related_name="transcript")
    html = models.TextField(_("HTML"))
    message_count = models.PositiveIntegerField(_("messages"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    log_outbox_id = models.BigIntegerField(_("log note (outbox row)"), null=True, blank=True)

    class Meta:
        verbose_name = _("transcript")
        verbose_name_plural = _("transcripts")

    def __str__(self) -> str:
        return str(self.ticket)
