"""Tickets that run themselves: intake questions and answers, deadlines, close requests, ratings, close history.

Invariants in the database:

- a category has at most 5 questions: their `position` is 1..5 and unique per category;
- every timer is a `TicketDeadline` row (kind, due_at, done_at): at most one pending row per ticket and kind, so
  re-arming a timer moves its row, and a row is claimed with a lease so one process fires it;
- a ticket has at most one rating (one row per ticket, stars 1..5) and at most one pending close request;
- every close of a ticket is a `TicketClose` row (the ticket's history survives a reopen).
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from botproject.models import snowflake

from .core import Ticket, TicketCategory

MAX_QUESTIONS = 5
LABEL_CHARS = 45  # Discord: a text input's label
ANSWER_CHARS = 4000  # Discord: a text input's longest value


class TicketQuestion(models.Model):
    """One question of a category's intake form (shown in a modal before the ticket opens)."""

    class Style(models.TextChoices):
        SHORT = "short", _("short (one line)")
        PARAGRAPH = "paragraph", _("paragraph")

    category = models.ForeignKey(TicketCategory, on_delete=models.CASCADE, related_name="questions",
                                 verbose_name=_("category"))
    position = models.PositiveSmallIntegerField(_("position"), validators=[MinValueValidator(1),
                                                                           MaxValueValidator(MAX_QUESTIONS)],
                                                help_text=_("1 to 5: a form has at most 5 questions."))
    label = models.CharField(_("question"), max_length=LABEL_CHARS)
    label_vi = models.CharField(_("question (Vietnamese)"), max_length=LABEL_CHARS, blank=True,
                                help_text=_("Shown to members whose Discord is in Vietnamese; empty: the question."))
    style = models.CharField(_("style"), max_length=9, choices=Style.choices, default=Style.SHORT)
    required = models.BooleanField(_("required"), default=True)
    max_length = models.PositiveSmallIntegerField(_("longest answer"), default=1000, validators=[
        MinValueValidator(1), MaxValueValidator(ANSWER_CHARS)], help_text=_("Characters, 1 to 4,000."))

    class Meta:
        verbose_name = _("intake question")
        verbose_name_plural = _("intake questions")
        ordering = ["category", "position"]
        constraints = [
            models.UniqueConstraint(fields=["category", "position"], name="ticket_question_position_unique"),
            models.CheckConstraint(condition=Q(position__gte=1) & Q(position__lte=MAX_QUESTIONS),
                                   name="ticket_question_at_most_five"),
            models.CheckConstraint(condition=Q(max_length__gte=1) & Q(max_length__lte=ANSWER_CHARS),
                                   name="ticket_question_max_length_range"),
            models.CheckConstraint(condition=Q(style__in=["short", "paragraph"]), name="ticket_question_style"),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.label}"

    def label_for(self, language: str) -> str:
        """The label in `language` (Vietnamese when given), else the default one."""
        return self.label_vi if language.startswith("vi") and self.label_vi else self.label


class TicketAnswer(models.Model):
    """The opener's answer to one intake question (the question's label as it was asked)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="answers")
    position = models.PositiveSmallIntegerField(_("position"))
    label = models.CharField(_("question"), max_length=LABEL_CHARS)
    value = models.TextField(_("answer"), max_length=ANSWER_CHARS, blank=True)

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")
        ordering = ["ticket", "position"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "position"], name="ticket_answer_once_per_question"),
            models.CheckConstraint(condition=Q(position__gte=1) & Q(position__lte=MAX_QUESTIONS),
                                   name="ticket_answer_position_range"),
        ]

    def __str__(self) -> str:
        return f"{self.label}: {self.value[:40]}"


class TicketDeadline(models.Model):
    """A timer of a ticket, as a row: it fires once at `due_at` (claimed with a lease), or is cancelled."""

    class Kind(models.TextChoices):
        REMIND = "remind", _("remind the opener")
        AUTOCLOSE = "autoclose", _("auto-close (no answer from the opener)")
        ALERT = "alert", _("first-response alert")
        CLOSE_REQUEST = "closereq", _("close request expires")
        RATE_PROMPT = "rate", _("ask the opener for a rating")
        RATE_DM = "rate_dm", _("ask for a rating by DM")
        TRANSCRIPT_DM = "transcript", _("transcript to the opener")

    class Outcome(models.TextChoices):
        FIRED = "fired", _("fired")
        CANCELLED = "cancelled", _("cancelled")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="deadlines")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    due_at = models.DateTimeField(_("due at"))
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=9, choices=Outcome.choices, blank=True)
    lease_until = models.DateTimeField(_("taken until"), null=True, blank=True,
                                       help_text=_("A process is firing it; another takes it after this time."))
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("ticket deadline")
        verbose_name_plural = _("ticket deadlines")
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "kind"], condition=Q(done_at__isnull=True),
                                    name="ticket_deadline_one_pending_per_kind"),
            models.CheckConstraint(condition=Q(done_at__isnull=True, outcome="") | Q(
                done_at__isnull=False, outcome__in=["fired", "cancelled"]), name="ticket_deadline_done_has_outcome"),
        ]
        indexes = [models.Index(fields=["due_at"], condition=Q(done_at__isnull=True), name="ticket_deadline_pending")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.ticket} · {self.due_at:%Y-%m-%d %H:%M}"


class TicketCloseRequest(models.Model):
    """/ticket closerequest: staff or a claimer asks the opener to confirm the close."""

    class Outcome(models.TextChoices):
        PENDING = "pending", _("waiting for the opener")
        ACCEPTED = "accepted", _("accepted")
        DENIED = "denied", _("denied")
        EXPIRED = "expired", _("no answer: auto-closed")
        CANCELLED = "cancelled", _("the ticket closed otherwise")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="close_requests")
    requested_by_id = snowflake(_("asked by"))
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    hours = models.PositiveIntegerField(_("hours to answer"), validators=[MinValueValidator(1)])
    created_at = models.DateTimeField(_("asked at"), default=timezone.now)
    due_at = models.DateTimeField(_("closes at"))
    message_id = snowflake(_("message"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=9, choices=Outcome.choices, default=Outcome.PENDING)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("close request")
        verbose_name_plural = _("close requests")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["ticket"], condition=Q(outcome="pending"),
                                    name="ticket_close_request_one_pending"),
            models.CheckConstraint(condition=Q(hours__gte=1), name="ticket_close_request_hours_positive"),
            models.CheckConstraint(condition=Q(outcome="pending", answered_at__isnull=True) | (
                ~Q(outcome="pending") & Q(answered_at__isnull=False)), name="ticket_close_request_answered"),
        ]

    def __str__(self) -> str:
        return f"{self.ticket}: {self.get_outcome_display()}"


class TicketRating(models.Model):
    """The opener's rating of a closed ticket: one per ticket, changeable for a day."""

    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, primary_key=True, related_name="rating")
    stars = models.PositiveSmallIntegerField(_("stars"), validators=[MinValueValidator(1), MaxValueValidator(5)])
    comment = models.TextField(_("comment"), max_length=1000, blank=True)
    rated_at = models.DateTimeField(_("rated at"), default=timezone.now)
    changed_at = models.DateTimeField(_("last changed at"), default=timezone.now)

    class Meta:
        verbose_name = _("rating")
        verbose_name_plural = _("ratings")
        ordering = ["-rated_at"]
        constraints = [models.CheckConstraint(condition=Q(stars__gte=1) & Q(stars__lte=5), name="ticket_rating_stars")]

    def __str__(self) -> str:
        return f"{self.ticket}: {'★' * self.stars}"


class TicketClose(models.Model):
    """One close of a ticket (a reopened ticket keeps its earlier closes here)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="closes")
    closed_at = models.DateTimeField(_("closed at"))
    closed_by_id = snowflake(_("closed by"), null=True, blank=True)
    close_path = models.CharField(_("closed how"), max_length=16, choices=Ticket.ClosePath.choices)
    close_reason = models.CharField(_("close reason"), max_length=500, blank=True)
    channel_id = snowflake(_("channel"), null=True, blank=True)
    reopened_at = models.DateTimeField(_("reopened at"), null=True, blank=True)
    reopened_by_id = snowflake(_("reopened by"), null=True, blank=True)

    class Meta:
        verbose_name = _("close")
        verbose_name_plural = _("close history")
        ordering = ["ticket", "closed_at"]
        constraints = [
            models.CheckConstraint(condition=Q(reopened_at__isnull=True) | Q(reopened_at__gte=models.F("closed_at")),
                                   name="ticket_close_reopened_after"),
        ]

    def __str__(self) -> str:
        return f"{self.ticket} · {self.closed_at:%Y-%m-%d %H:%M}"
