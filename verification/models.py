"""Verification: members prove they own a Roblox account; links keep their whole history.

- `VerificationAttempt`: a /verify or /reverify in progress: the account, the word code, 15 minutes.
- `RobloxLink`: a member linked to a Roblox account in a guild; unlinking sets `unlinked_at` (never deleted).
  An unlink on the admin site writes a `role_del` outbox row (botproject.outbox) for the bot to take the role.
- `LinkEvent`: append-only history: who linked, reverified or unlinked which account, when and how.
"""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from botproject.models import Guild, snowflake

ATTEMPT_MINUTES = 15


def roblox_id_field(verbose_name, **kwargs) -> models.BigIntegerField:
    """A Roblox user id (64-bit, positive)."""
    return models.BigIntegerField(verbose_name, validators=[MinValueValidator(1)], **kwargs)


class Purpose(models.TextChoices):
    """Why a member started an attempt."""

    VERIFY = "verify", _("verify")
    REVERIFY = "reverify", _("reverify")


class VerificationAttempt(models.Model):
    """A pending proof of ownership: the member puts `code` in the Roblox profile, then presses Verify."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        VERIFIED = "verified", _("verified")
        REPLACED = "replaced", _("replaced by a newer attempt")
        CANCELLED = "cancelled", _("cancelled")

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="verification_attempts")
    user_id = snowflake(_("member"))
    purpose = models.CharField(_("purpose"), max_length=8, choices=Purpose.choices, default=Purpose.VERIFY)
    roblox_id = roblox_id_field(_("Roblox id"))
    roblox_name = models.CharField(_("Roblox username"), max_length=20)
    roblox_display_name = models.CharField(_("Roblox display name"), max_length=50, blank=True)
    code = models.CharField(_("code"), max_length=120, help_text=_("The words to put in the profile description."))
    status = models.CharField(_("status"), max_length=9, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(_("started at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("verification attempt")
        verbose_name_plural = _("verification attempts")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["guild", "user_id"], condition=Q(status="pending"),
                                    name="verify_one_pending_attempt_per_member"),
            models.CheckConstraint(condition=Q(status="pending") | Q(closed_at__isnull=False),
                                   name="verify_closed_attempt_has_time"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.roblox_name} ({self.get_status_display()})"

    @property
    def expired(self) -> bool:
        """A pending attempt past its 15 minutes (it stays 'pending' until replaced; nothing can complete it)."""
        return self.status == self.Status.PENDING and self.expires_at <= timezone.now()


class RobloxLink(models.Model):
    """A member linked to a Roblox account in one guild; active while `unlinked_at` is empty."""

    class UnlinkReason(models.TextChoices):
        REVERIFY = "reverify", _("replaced by /reverify")
        UNVERIFY = "unverify", _("unlinked by the member")
        STAFF = "staff", _("unlinked by staff")
        ADMIN = "admin", _("unlinked from the admin site")

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="roblox_links")
    user_id = snowflake(_("member"))
    roblox_id = roblox_id_field(_("Roblox id"))
    roblox_name = models.CharField(_("Roblox username"), max_length=20)
    roblox_display_name = models.CharField(_("Roblox display name"), max_length=50, blank=True)
    shared = models.BooleanField(
        _("shared account allowed"), default=False,
        help_text=_("Linked while the server allowed shared accounts; such links do not count against the "
                    "one-member-per-account rule."),
    )
    attempt = models.OneToOneField(VerificationAttempt, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="link", verbose_name=_("proved by"))
    linked_at = models.DateTimeField(_("linked at"), auto_now_add=True)
    unlinked_at = models.DateTimeField(_("unlinked at"), null=True, blank=True)
    unlinked_by_id = snowflake(_("unlinked by"), null=True, blank=True)
    unlinked_by_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                         related_name="+", verbose_name=_("unlinked by (admin site)"))
    unlink_reason = models.CharField(_("unlink reason"), max_length=8, choices=UnlinkReason.choices, blank=True)

    class Meta:
        verbose_name = _("Roblox link")
        verbose_name_plural = _("Roblox links")
        ordering = ["-linked_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["guild", "user_id"], condition=Q(unlinked_at__isnull=True),
                                    name="verify_one_active_link_per_member"),
            models.UniqueConstraint(fields=["guild", "roblox_id"], condition=Q(unlinked_at__isnull=True, shared=False),
                                    name="verify_one_member_per_account"),
            models.CheckConstraint(condition=Q(unlinked_at__isnull=True) | ~Q(unlink_reason=""),
                                   name="verify_unlink_has_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.roblox_name} ({self.roblox_id})"

    @property
    def active(self) -> bool:
        """Whether the link holds now."""
        return self.unlinked_at is None


class LinkEvent(models.Model):
    """One change of a member's link (append-only): verify, reverify, or an unlink and by whom."""

    class Action(models.TextChoices):
        VERIFY = "verify", _("verified")
        REVERIFY = "reverify", _("reverified")
        UNVERIFY = "unverify", _("unverified themselves")
        STAFF = "staff", _("unlinked by staff")
        ADMIN = "admin", _("unlinked from the admin site")

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="roblox_link_events")
    user_id = snowflake(_("member"))
    action = models.CharField(_("action"), max_length=8, choices=Action.choices)
    link = models.ForeignKey(RobloxLink, on_delete=models.PROTECT, related_name="events", verbose_name=_("link"))
    previous_link = models.ForeignKey(RobloxLink, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                      verbose_name=_("replaced link"))
    roblox_id = roblox_id_field(_("Roblox id"))
    roblox_name = models.CharField(_("Roblox username"), max_length=20)
    actor_id = snowflake(_("Discord actor"), null=True, blank=True)
    actor_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("admin site actor"))
    created_at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("link history entry")
        verbose_name_plural = _("link history")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["guild", "user_id", "-created_at"], name="verify_event_member")]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.user_id} → {self.roblox_name}"
