"""Points: a member profile per guild with a denormalised balance, and the append-only ledger behind it."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from botproject.models import Guild, snowflake


class MemberProfile(models.Model):
    """A member's standing in one guild: balance (the sum of their ledger) and running stats."""

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="member_profiles")
    user_id = snowflake(_("user id"))
    display_name = models.CharField(_("name"), max_length=100, blank=True)
    balance = models.BigIntegerField(_("balance"), default=0)
    # Copied from the guild's configuration on every balance write, so the database itself can
    # refuse a negative balance where the guild does not allow one.
    negative_allowed = models.BooleanField(_("negative balance allowed"), default=False)
    earned_total = models.BigIntegerField(_("points earned"), default=0)
    spent_total = models.BigIntegerField(_("points spent or removed"), default=0)
    entries = models.PositiveIntegerField(_("ledger entries"), default=0)
    last_activity_at = models.DateTimeField(_("last activity"), null=True, blank=True)
    notifications_enabled = models.BooleanField(
        _("DM notices"), default=True, help_text=_("Send a direct message when the balance changes.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        constraints = [
            models.UniqueConstraint(fields=["guild", "user_id"], name="profile_unique_per_guild"),
            models.CheckConstraint(condition=Q(balance__gte=0) | Q(negative_allowed=True), name="profile_balance_floor"),
            models.CheckConstraint(condition=Q(earned_total__gte=0) & Q(spent_total__gte=0), name="profile_totals_positive"),
        ]
        indexes = [
            # Leaderboard pages and "how many are above me" both walk this index.
            models.Index(F("guild"), F("balance").desc(), F("user_id"), name="profile_leaderboard"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name or self.user_id} ({self.balance})"


class LedgerEntry(models.Model):
    """One change to one member's balance; never edited or deleted (corrections are reversals)."""

    class Kind(models.TextChoices):
        ADMIN_ADD = "admin_add", _("added by staff")
        ADMIN_REMOVE = "admin_remove", _("removed by staff")
        ADMIN_SET = "admin_set", _("set by staff")
        CLAIM = "claim", _("order code claimed")
        ACHIEVEMENT = "achievement", _("achievement bonus")
        HELPER = "helper", _("helper reward")
        TRANSFER = "transfer", _("transfer")
        REVERSAL = "reversal", _("reversal")
        LEGACY_IMPORT = "legacy_import", _("imported from the old bot")
        SEASON_RESET = "season_reset", _("season reset")

    guild = models.ForeignKey(Guild, on_delete=models.PROTECT, related_name="ledger")
    member = models.ForeignKey(MemberProfile, on_delete=models.PROTECT, related_name="ledger")
    delta = models.BigIntegerField(_("change"))
    balance_after = models.BigIntegerField(_("balance after"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    actor_id = snowflake(_("by (Discord)"), null=True, blank=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("by (admin site)")
    )
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    idempotency_key = models.CharField(
        _("idempotency key"), max_length=200, unique=True,
        help_text=_("The interaction id or a business key; replaying it changes nothing."),
    )
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by",
        verbose_name=_("reverses"),
    )
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="ledger_member_recent"),
            models.Index(fields=["guild", "kind", "created_at"], name="ledger_guild_kind_time"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(delta=0) | Q(kind="admin_set") | Q(kind="season_reset"),
                                   name="ledger_delta_nonzero"),
        ]

    def __str__(self) -> str:
        return f"{self.delta:+d} → {self.balance_after} ({self.get_kind_display()})"


class Achievement(models.Model):
    """A milestone defined by staff; checked after every ledger change, awarded once per member."""

    class Condition(models.TextChoices):
        BALANCE_REACHED = "balance_reached", _("balance reached")
        POINTS_EARNED = "points_earned", _("points earned in total")
        TICKETS_HELPED = "tickets_helped", _("tickets helped")
        CLAIMS_MADE = "claims_made", _("order codes claimed")

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="achievements")
    name = models.CharField(_("name"), max_length=100)
    description = models.CharField(_("description"), max_length=300, blank=True)
    condition = models.CharField(_("condition"), max_length=20, choices=Condition.choices)
    threshold = models.PositiveBigIntegerField(_("threshold"))
    bonus_points = models.PositiveIntegerField(_("bonus points"), default=0)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("achievement")
        verbose_name_plural = _("achievements")
        ordering = ["guild", "threshold", "name"]
        constraints = [
            models.UniqueConstraint(fields=["guild", "name"], name="achievement_name_unique_per_guild"),
            models.CheckConstraint(condition=Q(threshold__gte=1), name="achievement_threshold_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class MemberAchievement(models.Model):
    """An achievement a member earned (once)."""

    achievement = models.ForeignKey(Achievement, on_delete=models.CASCADE, related_name="awards")
    member = models.ForeignKey(MemberProfile, on_delete=models.CASCADE, related_name="achievements")
    bonus_entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, null=True, blank=True)
    awarded_at = models.DateTimeField(_("awarded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("earned achievement")
        verbose_name_plural = _("earned achievements")
        constraints = [models.UniqueConstraint(fields=["achievement", "member"], name="achievement_once_per_member")]

    def __str__(self) -> str:
        return f"{self.achievement} → {self.member}"
