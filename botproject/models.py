"""Core models: the guilds the bot serves, their configuration, grants and blocklist."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .natural_keys import remembered


def snowflake(verbose_name, **kwargs) -> models.BigIntegerField:
    """Return a field for a Discord id (64-bit, never negative)."""
    return models.BigIntegerField(verbose_name, validators=[MinValueValidator(0)], **kwargs)


class Language(models.TextChoices):
    """Languages members and staff can be answered in."""

    EN = "en", _("English")
    VI = "vi", _("Vietnamese")


class GuildManager(models.Manager):
    """Look guilds up by their Discord id in fixtures (remembered while a legacy fixture loads)."""

    def get_by_natural_key(self, discord_id: int) -> "Guild":
        table = remembered("guilds", dict) if self._db in (None, "default") else None
        if table is not None and discord_id in table:
            return table[discord_id]
        guild = self.get(discord_id=discord_id)
        if table is not None:
            table[discord_id] = guild
        return guild


class Guild(models.Model):
    """A Discord server the bot has joined (kept after it leaves, with `left_at`)."""

    discord_id = snowflake(_("Discord id"), unique=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    owner_id = snowflake(_("owner id"), null=True, blank=True)
    member_count = models.PositiveIntegerField(_("members"), null=True, blank=True)
    staff_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="managed_guilds",
        verbose_name=_("admin site staff"),
        help_text=_("Staff users of this admin site who may see and edit this guild's data."),
    )
    joined_at = models.DateTimeField(_("joined at"), auto_now_add=True)
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)

    # In the class body: a manager added after the class was built would not be its default manager,
    # and fixtures use the default manager's get_by_natural_key.
    objects = GuildManager()

    class Meta:
        verbose_name = _("guild")
        verbose_name_plural = _("guilds")
        ordering = ["name", "discord_id"]

    def __str__(self) -> str:
        return f"{self.name or _('Guild')} ({self.discord_id})"

    def natural_key(self) -> tuple[int]:
        return (self.discord_id,)


class GuildConfig(models.Model):
    """Per-guild settings chosen by the guild's admins with /setup, /config or the admin."""

    guild = models.OneToOneField(Guild, on_delete=models.CASCADE, primary_key=True, related_name="config")
    language = models.CharField(_("language"), max_length=5, choices=Language.choices, default=Language.EN)
    prefix = models.CharField(_("prefix"), max_length=5, default="!", help_text=_("Prefix for text commands."))
    staff_role_id = snowflake(_("staff role"), null=True, blank=True)
    helper_role_id = snowflake(_("helper role"), null=True, blank=True)
    verified_role_id = snowflake(_("verified role"), null=True, blank=True)
    admin_role_ids = models.JSONField(
        _("admin roles"), default=list, blank=True, help_text=_("Role ids whose members count as admins.")
    )
    log_channel_id = snowflake(_("log channel"), null=True, blank=True)
    tickets_category_id = snowflake(_("tickets category"), null=True, blank=True)
    pads_channel_id = snowflake(_("pads channel"), null=True, blank=True)
    # Modules: a module that is off answers its commands with "not enabled here".
    points_enabled = models.BooleanField(_("points enabled"), default=True)
    tickets_enabled = models.BooleanField(_("tickets enabled"), default=True)
    pads_enabled = models.BooleanField(_("pads enabled"), default=True)
    verification_enabled = models.BooleanField(_("verification enabled"), default=True)
    # Points limits.
    points_max_adjustment = models.PositiveIntegerField(
        _("largest single adjustment"), default=100_000, validators=[MinValueValidator(1)]
    )
    points_max_balance = models.BigIntegerField(
        _("largest balance"), default=1_000_000_000, validators=[MinValueValidator(1)]
    )
    points_allow_negative = models.BooleanField(_("allow negative balances"), default=False)
    # Ticket and pad defaults.
    tickets_max_open_per_member = models.PositiveSmallIntegerField(
        _("open tickets per member"), default=1, validators=[MinValueValidator(1), MaxValueValidator(25)]
    )
    tickets_delete_delay_seconds = models.PositiveSmallIntegerField(
        _("seconds before a closed ticket's channel is deleted"), default=5, validators=[MaxValueValidator(3600)]
    )
    pads_max_duration_minutes = models.PositiveSmallIntegerField(
        _("longest pad session (minutes)"), default=120, validators=[MinValueValidator(5), MaxValueValidator(1440)]
    )
    # Verification.
    verification_set_nickname = models.BooleanField(
        _("set nicknames to Roblox names"), default=False,
        help_text=_("When a member verifies, the bot changes their server nickname to their Roblox username."),
    )
    verification_allow_shared_accounts = models.BooleanField(
        _("allow shared Roblox accounts"), default=False,
        help_text=_("Let one Roblox account be linked to several members of this server."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("guild configuration")
        verbose_name_plural = _("guild configurations")
        constraints = [
            models.CheckConstraint(condition=Q(points_max_balance__gte=1), name="config_max_balance_positive"),
            models.CheckConstraint(
                condition=Q(tickets_max_open_per_member__gte=1), name="config_open_tickets_at_least_one"
            ),
        ]

    def __str__(self) -> str:
        return str(_("Configuration of %(guild)s") % {"guild": self.guild})


class PermissionGrant(models.Model):
    """A role or a single user granted the restricted commands (such as the pads)."""

    class Kind(models.TextChoices):
        ROLE = "role", _("role")
        USER = "user", _("user")

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="grants")
    kind = models.CharField(_("kind"), max_length=4, choices=Kind.choices)
    target_id = snowflake(_("role or user id"))
    granted_by_id = snowflake(_("granted by"), null=True, blank=True)
    created_at = models.DateTimeField(_("granted at"), auto_now_add=True)

    class Meta:
        verbose_name = _("permission grant")
        verbose_name_plural = _("permission grants")
        constraints = [
            models.UniqueConstraint(fields=["guild", "kind", "target_id"], name="grant_unique_per_target"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.target_id}"


class BlockEntry(models.Model):
    """A member blocked from member-facing actions; unblocking keeps the row as history."""

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="blocks")
    user_id = snowflake(_("user id"))
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    blocked_by_id = snowflake(_("blocked by"), null=True, blank=True)
    blocked_at = models.DateTimeField(_("blocked at"), auto_now_add=True)
    unblocked_by_id = snowflake(_("unblocked by"), null=True, blank=True)
    unblocked_at = models.DateTimeField(_("unblocked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("block")
        verbose_name_plural = _("blocklist")
        ordering = ["-blocked_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["guild", "user_id"], condition=Q(unblocked_at__isnull=True), name="block_one_active_per_user"
            ),
            models.CheckConstraint(
                condition=Q(unblocked_at__isnull=True) | Q(unblocked_at__gte=models.F("blocked_at")),
                name="block_unblocked_after_blocked",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.guild_id}"


class CommandSyncState(models.Model):
    """What command set was last synced to Discord, so a restart syncs only when it changed."""

    scope = snowflake(_("scope"), unique=True, help_text=_("0 for global commands, else a guild id."))
    digest = models.CharField(_("digest"), max_length=64)
    synced_at = models.DateTimeField(_("synced at"), auto_now=True)

    class Meta:
        verbose_name = _("command sync state")
        verbose_name_plural = _("command sync states")

    def __str__(self) -> str:
        return f"{self.scope}: {self.digest[:12]}"


class DiscordName(models.Model):
    """The last name seen on Discord for a role, channel or user, so the admin shows names, not ids."""

    class Kind(models.TextChoices):
        ROLE = "role", _("role")
        CHANNEL = "channel", _("channel")
        USER = "user", _("user")

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="names")
    kind = models.CharField(_("kind"), max_length=7, choices=Kind.choices)
    discord_id = snowflake(_("Discord id"))
    name = models.CharField(_("name"), max_length=100)
    channel_type = models.CharField(_("channel type"), max_length=20, blank=True)
    # Roles only: what Discord last showed, so the admin can refuse a role the bot must not hand out.
    permissions = models.BigIntegerField(_("role permissions"), null=True, blank=True)
    position = models.IntegerField(_("role position"), null=True, blank=True)
    deleted = models.BooleanField(_("deleted on Discord"), default=False)
    updated_at = models.DateTimeField(_("seen at"), auto_now=True)

    class Meta:
        verbose_name = _("Discord name")
        verbose_name_plural = _("Discord names")
        constraints = [models.UniqueConstraint(fields=["guild", "kind", "discord_id"], name="name_unique_per_object")]
        indexes = [models.Index(fields=["discord_id"], name="name_discord_id")]

    def __str__(self) -> str:
        return f"{self.name} ({self.discord_id})"


class HelperRecord(models.Model):
    """A member made a helper (the helper role given through the bot); removal keeps the row."""

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="helpers")
    user_id = snowflake(_("user id"))
    added_by_id = snowflake(_("added by"), null=True, blank=True)
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)
    removed_by_id = snowflake(_("removed by"), null=True, blank=True)
    removed_at = models.DateTimeField(_("removed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("helper")
        verbose_name_plural = _("helpers")
        ordering = ["-added_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["guild", "user_id"], condition=Q(removed_at__isnull=True), name="helper_one_active_per_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.guild_id}"


class AuditEntry(models.Model):
    """Who changed which setting or grant, from what to what (append-only)."""

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="audit_entries")
    actor_id = snowflake(_("Discord actor"), null=True, blank=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("admin site actor")
    )
    action = models.CharField(_("action"), max_length=50)
    target = models.CharField(_("target"), max_length=100, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    created_at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.target}".strip()


class OutboxMessage(models.Model):
    """A Discord message that must be delivered (log notes, DMs), written in the same transaction as the change.

    The bot delivers pending rows at least once and records the Discord message id, so a restart
    after delivery never sends it again.
    """

    class Kind(models.TextChoices):
        CHANNEL = "channel", _("channel message")
        DM = "dm", _("direct message")
        LOG = "log", _("log channel note")
        EMAIL = "email", _("email")
        CHANNEL_DELETE = "chan_del", _("channel deletion")
        MESSAGE_EDIT = "msg_edit", _("message edit")
        # Take a role from a member: target_id = user id, message_id = role id, content = audit-log reason,
        # embed = {"clear_nick": name} to also reset the nickname while it still is that name.
        ROLE_REMOVE = "role_del", _("role removal")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        SKIPPED = "skipped", _("skipped")
        REROUTED = "rerouted", _("sent to the log channel instead")

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, null=True, blank=True, related_name="outbox")
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    target_id = snowflake(_("channel or user id"), null=True, blank=True)
    message_id = snowflake(_("message to edit"), null=True, blank=True)
    content = models.TextField(_("content"), max_length=2000, blank=True)
    embed = models.JSONField(_("embed"), null=True, blank=True)
    email_to = models.EmailField(_("email address"), blank=True)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    html = models.TextField(_("HTML body"), blank=True)
    dedupe_key = models.CharField(_("deduplication key"), max_length=150, unique=True, null=True, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    discord_message_id = snowflake(_("Discord message id"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    available_at = models.DateTimeField(_("next attempt at"))  # read with the status: the outbox_due index
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "available_at"], name="outbox_due")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False), name="outbox_sent_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.target_id or '-'} ({self.get_status_display()})"


class DiscordUser(models.Model):
    """Facts about a Discord user that hold across guilds (their DMs being closed to the bot)."""

    user_id = snowflake(_("user id"), unique=True)
    dms_closed_at = models.DateTimeField(_("DMs closed since"), null=True, blank=True)

    class Meta:
        verbose_name = _("Discord user")
        verbose_name_plural = _("Discord users")

    def __str__(self) -> str:
        return str(self.user_id)


class LoginFailure(models.Model):
    """A failed admin login, kept for the lockout window (see botproject/login_lockout.py)."""

    username = models.CharField(_("username"), max_length=150)
    ip = models.CharField(_("address"), max_length=45, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("failed login")
        verbose_name_plural = _("failed logins")
        indexes = [models.Index(fields=["username", "ip", "at"], name="login_failure_key_at"),
                   models.Index(fields=["at"], name="login_failure_at")]

    def __str__(self) -> str:
        return f"{self.username} from {self.ip or '?'} at {self.at:%Y-%m-%d %H:%M:%S}"


class BotHeartbeat(models.Model):
    """A running bot process, beating every minute or so (runbot writes it; a clean stop removes it).

    `manage.py restore` refuses while a heartbeat is fresh (see botproject/heartbeat.py).
    """

    instance = models.CharField(_("process"), max_length=200, unique=True)
    started_at = models.DateTimeField(_("started at"))
    beat_at = models.DateTimeField(_("last heartbeat"))

    class Meta:
        verbose_name = _("bot heartbeat")
        verbose_name_plural = _("bot heartbeats")

    def __str__(self) -> str:
        return f"{self.instance} ({self.beat_at:%Y-%m-%d %H:%M:%S})"
