"""Points: a member profile per guild with a denormalised balance, and the append-only ledger behind it."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from botproject.models import Guild, snowflake
from botproject.natural_keys import guild_discord_id


class MemberProfileManager(models.Manager):
    """Profiles by natural key (guild's Discord id, user id), for fixtures."""

    def get_by_natural_key(self, guild_id: int, user_id: int) -> "MemberProfile":
        return self.get(guild__discord_id=guild_id, user_id=user_id)


class MemberProfile(models.Model):
    """A member's standing in one guild: balance (the sum of their ledger) and running stats."""

    # No index of its own on guild: the (guild, user_id) constraint and the leaderboard index begin with it.
    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="member_profiles", db_index=False)
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
    email = models.EmailField(_("email"), blank=True, help_text=_("Set with /email; used for order notices."))
    notifications_enabled = models.BooleanField(
        _("DM notices"), default=True, help_text=_("Send a direct message when the balance changes.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = MemberProfileManager()

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        constraints = [
            models.UniqueConstraint(fields=["guild", "user_id"], name="profile_unique_per_guild"),
            models.CheckConstraint(condition=Q(balance__gte=0) | Q(negative_allowed=True),
                                   name="profile_balance_floor"),
            models.CheckConstraint(condition=Q(earned_total__gte=0) & Q(spent_total__gte=0),
                                   name="profile_totals_positive"),
        ]
        indexes = [
            # Leaderboard pages and "how many are above me" both walk this index.
            models.Index(F("guild"), F("balance").desc(), F("user_id"), name="profile_leaderboard"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name or self.user_id} ({self.balance})"

    def natural_key(self) -> tuple[int, int]:
        return (guild_discord_id(self.guild_id), self.user_id)

    natural_key.dependencies = ["botproject.guild"]


class LedgerEntryManager(models.Manager):
    """Ledger entries by natural key (their idempotency key), for fixtures."""

    def get_by_natural_key(self, idempotency_key: str) -> "LedgerEntry":
        return self.get(idempotency_key=idempotency_key)


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

    # No single-column indexes on guild, member and actor_user: the composite indexes below begin with them (and
    # most entries have no admin-site actor). Every award writes each of the ledger's indexes.
    guild = models.ForeignKey(Guild, on_delete=models.PROTECT, related_name="ledger", db_index=False)
    member = models.ForeignKey(MemberProfile, on_delete=models.PROTECT, related_name="ledger", db_index=False)
    delta = models.BigIntegerField(_("change"))
    balance_after = models.BigIntegerField(_("balance after"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    actor_id = snowflake(_("by (Discord)"), null=True, blank=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("by (admin site)"),
        db_index=False,
    )
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    idempotency_key = models.CharField(
        _("idempotency key"), max_length=200,
        help_text=_("The interaction id or a business key; replaying it changes nothing."),
    )
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by",
        verbose_name=_("reverses"),
    )
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    objects = LedgerEntryManager()

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="ledger_member_recent"),
            models.Index(fields=["guild", "kind", "created_at"], name="ledger_guild_kind_time"),
            # Achievements count a member's claims and tickets helped on every award: an index-only count.
            models.Index(fields=["member", "kind"], condition=Q(delta__gt=0), name="ledger_member_gains"),
            # Deleting an admin-site user clears their entries' actor_user.
            models.Index(fields=["actor_user"], condition=Q(actor_user__isnull=False), name="ledger_admin_actor"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(delta=0) | Q(kind="admin_set") | Q(kind="season_reset"),
                                   name="ledger_delta_nonzero"),
            # A constraint rather than unique=True: on PostgreSQL the field would also get a LIKE index that no
            # query uses, one more index every award writes.
            models.UniqueConstraint(fields=["idempotency_key"], name="ledger_idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.delta:+d} → {self.balance_after} ({self.get_kind_display()})"

    def natural_key(self) -> tuple[str]:
        return (self.idempotency_key,)

    natural_key.dependencies = ["points.memberprofile"]


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


class ImportBatch(models.Model):
    """One order file imported by staff (admin upload or `manage.py import_orders`)."""

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="order_batches")
    filename = models.CharField(_("file name"), max_length=255)
    sha256 = models.CharField(_("file checksum"), max_length=64)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("imported by")
    )
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_created = models.PositiveIntegerField(_("orders created"), default=0)
    rows_skipped = models.PositiveIntegerField(_("rows already imported"), default=0)
    created_at = models.DateTimeField(_("imported at"), auto_now_add=True)

    class Meta:
        verbose_name = _("order import")
        verbose_name_plural = _("order imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.rows_created}/{self.rows_total})"


class Order(models.Model):
    """An order bought outside Discord; its one-time code is redeemed with /claim for points."""

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        CLAIMED = "claimed", _("claimed")
        VOID = "void", _("void")

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="orders")
    order_number = models.CharField(_("order number"), max_length=64)
    email = models.EmailField(_("customer email"), blank=True)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default="USD")
    # Only a hash of the code is kept, so nobody can read codes back from the admin; the last
    # characters help staff recognise a code a member quotes.
    code_hash = models.CharField(_("code hash"), max_length=64)
    code_hint = models.CharField(_("code ends with"), max_length=4)
    status = models.CharField(_("status"), max_length=7, choices=Status.choices, default=Status.OPEN)
    claimed_by_id = snowflake(_("claimed by"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    batch = models.ForeignKey(ImportBatch, on_delete=models.SET_NULL, null=True, blank=True, related_name="orders",
                              verbose_name=_("import"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["guild", "order_number"], name="order_number_unique_per_guild"),
            models.UniqueConstraint(fields=["guild", "code_hash"], name="order_code_unique_per_guild"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="order_amount_positive"),
            models.CheckConstraint(
                condition=(Q(status="claimed") & Q(claimed_by_id__isnull=False) & Q(claimed_at__isnull=False))
                | (~Q(status="claimed") & Q(claimed_by_id__isnull=True)),
                name="order_claimed_has_claimer",
            ),
        ]
        indexes = [models.Index(fields=["guild", "email", "status"], name="order_email_status")]

    def __str__(self) -> str:
        return f"{self.order_number} ({self.amount} {self.currency}, {self.get_status_display()})"


class ClaimAttempt(models.Model):
    """A /claim try, kept to slow down guessing (5 wrong codes in 10 minutes → wait)."""

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="claim_attempts")
    user_id = snowflake(_("user id"))
    succeeded = models.BooleanField(_("succeeded"), default=False)
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("claim attempt")
        verbose_name_plural = _("claim attempts")
        indexes = [
            models.Index(fields=["guild", "user_id", "created_at"], name="claim_attempt_recent"),
            # The guessing limit counts a member's wrong codes in every guild.
            models.Index(fields=["user_id", "created_at"], name="claim_attempt_member_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {'✓' if self.succeeded else '✗'}"


class ClaimGuard(models.Model):
    """One row per member who ever claimed: locked (SELECT ... FOR UPDATE) while a claim counts the member's
    wrong codes and records its own, so parallel guesses queue instead of all passing the same count."""

    user_id = snowflake(_("user id"), primary_key=True)

    class Meta:
        verbose_name = _("claim guard")
        verbose_name_plural = _("claim guards")

    def __str__(self) -> str:
        return str(self.user_id)


class GuildPointsStats(models.Model):
    """Per-guild counters kept in step with the profiles, so ranks never count the whole guild."""

    guild = models.OneToOneField(Guild, on_delete=models.CASCADE, primary_key=True, related_name="points_stats")
    members = models.PositiveBigIntegerField(_("members with a profile"), default=0)

    class Meta:
        verbose_name = _("points statistics")
        verbose_name_plural = _("points statistics")

    def __str__(self) -> str:
        return f"{self.guild}: {self.members}"


class MemberCountShard(models.Model):
    """Members counted by the award that created their profile, spread over SHARDS rows per guild.

    Every newcomer's award updating the one GuildPointsStats row would queue those awards behind each other's
    commits; a shard picked by the member's id spreads them. A guild's member count is its
    GuildPointsStats.members plus the sum of its shards (a recount folds the shards into the former).
    """

    SHARDS = 64

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="+")
    shard = models.PositiveSmallIntegerField(_("shard"))
    members = models.BigIntegerField(_("members counted here"), default=0)

    class Meta:
        verbose_name = _("member count shard")
        verbose_name_plural = _("member count shards")
        constraints = [
            models.UniqueConstraint(fields=["guild", "shard"], name="member_count_shard_unique"),
            models.CheckConstraint(condition=Q(shard__lt=64), name="member_count_shard_range"),
        ]

    def __str__(self) -> str:
        return f"{self.guild} #{self.shard}: {self.members}"


class LegacyImportManager(models.Manager):
    """Legacy imports by natural key (guild's Discord id, content checksum), for fixtures."""

    def get_by_natural_key(self, guild_id: int, key: str) -> "LegacyImport":
        return self.get(guild__discord_id=guild_id, key=key)


class LegacyImport(models.Model):
    """One conversion of the old bots' JSON files (`manage.py convert_legacy`), loaded with `manage.py loaddata`.

    The fixture's header: the same files convert to the same checksum, so loading them again finds this row.
    Balances arrive in LegacyPointsBatch rows and become ledger entries (points.legacy.load).
    """

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="legacy_imports")
    key = models.CharField(_("content checksum"), max_length=64,
                           help_text=_("The same files give the same checksum; loading them again changes nothing."))
    sources = models.JSONField(_("files"), default=list, blank=True)
    figures = models.JSONField(_("figures"), default=dict, blank=True)
    converted_at = models.DateTimeField(_("converted at"))
    loaded_at = models.DateTimeField(_("first loaded at"), null=True, blank=True)

    objects = LegacyImportManager()

    class Meta:
        verbose_name = _("legacy import")
        verbose_name_plural = _("legacy imports")
        ordering = ["-converted_at"]
        constraints = [models.UniqueConstraint(fields=["guild", "key"], name="legacy_import_unique_key")]

    def __str__(self) -> str:
        return f"{self.guild} {self.key[:12]}"

    def natural_key(self) -> tuple[int, str]:
        return (guild_discord_id(self.guild_id), self.key)

    natural_key.dependencies = ["botproject.guild"]


class LegacyPointsBatchManager(models.Manager):
    """Batches by natural key (guild's Discord id, import checksum, number), for fixtures."""

    def get_by_natural_key(self, guild_id: int, key: str, number: int) -> "LegacyPointsBatch":
        return self.get(legacy_import__guild__discord_id=guild_id, legacy_import__key=key, number=number)


class LegacyPointsBatch(models.Model):
    """Up to 1,000 members' old balances as `[user id, service, points]` rows ("" = no service).

    Saving one from a fixture turns its rows into profiles and legacy_import ledger entries
    (points.legacy.load); the rows stay as the record of what the old bot had.
    """

    legacy_import = models.ForeignKey(LegacyImport, on_delete=models.CASCADE, related_name="points_batches")
    number = models.PositiveIntegerField(_("number"))
    rows = models.JSONField(_("rows"), default=list, blank=True)

    objects = LegacyPointsBatchManager()

    class Meta:
        verbose_name = _("legacy points batch")
        verbose_name_plural = _("legacy points batches")
        constraints = [models.UniqueConstraint(fields=["legacy_import", "number"], name="legacy_points_batch_unique")]

    def __str__(self) -> str:
        return f"{self.legacy_import} #{self.number}"

    def natural_key(self) -> tuple[int, str, int]:
        return (*self.legacy_import.natural_key(), self.number)

    natural_key.dependencies = ["points.legacyimport"]
