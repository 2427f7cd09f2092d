"""Core models: the guilds the bot serves, their configuration, grants and blocklist."""

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


def snowflake(verbose_name, **kwargs) -> models.BigIntegerField:
    """Return a field for a Discord id (64-bit, never negative)."""
    return models.BigIntegerField(verbose_name, validators=[MinValueValidator(0)], **kwargs)


class Language(models.TextChoices):
    """Languages members and staff can be answered in."""

    EN = "en", _("English")
    VI = "vi", _("Vietnamese")


class Guild(models.Model):
    """A Discord server the bot has joined (kept after it leaves, with `left_at`)."""

    discord_id = snowflake(_("Discord id"), unique=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    owner_id = snowflake(_("owner id"), null=True, blank=True)
    joined_at = models.DateTimeField(_("joined at"), auto_now_add=True)
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)

    class Meta:
        verbose_name = _("guild")
        verbose_name_plural = _("guilds")
        ordering = ["name", "discord_id"]

    def __str__(self) -> str:
        return f"{self.name or _('Guild')} ({self.discord_id})"

    def natural_key(self) -> tuple[int]:
        return (self.discord_id,)


class GuildManager(models.Manager):
    """Look guilds up by their Discord id in fixtures."""

    def get_by_natural_key(self, discord_id: int) -> Guild:
        return self.get(discord_id=discord_id)


Guild.add_to_class("objects", GuildManager())


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
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("guild configuration")
        verbose_name_plural = _("guild configurations")

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
