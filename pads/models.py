"""Pads: training and tryout sessions on pads 1–9; one active session per pad, ended by hand or by time."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from botproject.models import Guild, snowflake

PAD_MIN, PAD_MAX = 1, 9


class PadSession(models.Model):
    """A session a host announced on one pad; active until `ended_at` is set."""

    class Kind(models.TextChoices):
        TRAINING = "training", _("Training")
        TRYOUT = "tryout", _("Tryout")

    class EndReason(models.TextChoices):
        HOST = "host", _("ended by the host")
        STAFF = "staff", _("ended by staff")
        TIMEOUT = "timeout", _("time limit reached")
        ADMIN = "admin", _("ended from the admin site")

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="pad_sessions")
    pad = models.PositiveSmallIntegerField(_("pad"),
                                           validators=[MinValueValidator(PAD_MIN), MaxValueValidator(PAD_MAX)])
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    host_id = snowflake(_("host"))
    host_name = models.CharField(_("host name"), max_length=100, blank=True)
    starts = models.CharField(_("starts"), max_length=200, help_text=_("When it starts, as the host typed it."))
    started_at = models.DateTimeField(_("announced at"), auto_now_add=True)
    ends_at = models.DateTimeField(_("ends at the latest"), db_index=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    ended_by_id = snowflake(_("ended by"), null=True, blank=True)
    end_reason = models.CharField(_("end reason"), max_length=8, choices=EndReason.choices, blank=True)
    channel_id = snowflake(_("announcement channel"), null=True, blank=True)
    message_id = snowflake(_("announcement message"), null=True, blank=True)

    class Meta:
        verbose_name = _("pad session")
        verbose_name_plural = _("pad sessions")
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["guild", "pad"], condition=Q(ended_at__isnull=True),
                                    name="pad_one_active_session"),
            models.CheckConstraint(condition=Q(pad__gte=PAD_MIN) & Q(pad__lte=PAD_MAX), name="pad_in_range"),
            models.CheckConstraint(condition=Q(ended_at__isnull=True) | ~Q(end_reason=""), name="pad_end_has_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pad} ({self.host_name or self.host_id})"
