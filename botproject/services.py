"""Writes to core data: guild lifecycle and configuration. Plain, synchronous, one transaction each."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .exceptions import InvalidConfigValue
from .models import CommandSyncState, Guild, GuildConfig, Language
from .selectors import ConfigSnapshot

ROLE_KINDS = ("staff", "helper", "admin", "verified")
# Which Discord channel types each configurable channel accepts.
CHANNEL_KINDS = {"log": {"text", "news"}, "tickets": {"category"}, "pads": {"text", "news"}}
CHANNEL_LABELS = {"log": _("log channel"), "tickets": _("tickets category"), "pads": _("pads channel")}
CHANNEL_TYPE_LABELS = {
    "text": _("a text channel"),
    "news": _("an announcement channel"),
    "voice": _("a voice channel"),
    "stage_voice": _("a stage channel"),
    "category": _("a category"),
    "forum": _("a forum"),
    "media": _("a media channel"),
}
MAX_ADMIN_ROLES = 25


def _ensure(guild_id: int, name: str | None = None, owner_id: int | None = None) -> GuildConfig:
    guild, created = Guild.objects.get_or_create(
        discord_id=guild_id, defaults={"name": name or "", "owner_id": owner_id}
    )
    changed = []
    if name is not None and guild.name != name:
        guild.name = name
        changed.append("name")
    if owner_id is not None and guild.owner_id != owner_id:
        guild.owner_id = owner_id
        changed.append("owner_id")
    if guild.left_at is not None:
        guild.left_at = None
        changed.append("left_at")
    if changed:
        guild.save(update_fields=changed)
    config, _created = GuildConfig.objects.get_or_create(guild=guild)
    return config


@transaction.atomic
def guild_ensure(*, guild_id: int, name: str | None = None, owner_id: int | None = None) -> ConfigSnapshot:
    """Record a guild the bot is in (joined, or seen again at start) and give it a configuration."""
    return ConfigSnapshot.from_model(_ensure(guild_id, name, owner_id))


@transaction.atomic
def guild_mark_left(*, guild_id: int) -> None:
    """Note that the bot left a guild; its data is kept."""
    Guild.objects.filter(discord_id=guild_id, left_at__isnull=True).update(left_at=timezone.now())


@transaction.atomic
def config_set_role(*, guild_id: int, kind: str, role_id: int) -> ConfigSnapshot:
    """Set the staff, helper or verified role, or add an admin role."""
    if kind not in ROLE_KINDS:
        raise InvalidConfigValue(_("Unknown role kind: %(kind)s."), kind=kind)
    if role_id == guild_id:
        raise InvalidConfigValue(_("@everyone cannot be used as a configured role."))
    config = _ensure(guild_id)
    if kind == "admin":
        roles = [int(r) for r in config.admin_role_ids]
        if role_id not in roles:
            if len(roles) >= MAX_ADMIN_ROLES:
                raise InvalidConfigValue(_("A guild can have at most %(max)s admin roles."), max=MAX_ADMIN_ROLES)
            roles.append(role_id)
        config.admin_role_ids = roles
        config.save(update_fields=["admin_role_ids", "updated_at"])
    else:
        setattr(config, f"{kind}_role_id", role_id)
        config.save(update_fields=[f"{kind}_role_id", "updated_at"])
    return ConfigSnapshot.from_model(config)


@transaction.atomic
def config_set_admin_roles(*, guild_id: int, role_ids: list[int]) -> ConfigSnapshot:
    """Replace the admin roles with exactly `role_ids`."""
    unique = list(dict.fromkeys(int(r) for r in role_ids))
    if guild_id in unique:
        raise InvalidConfigValue(_("@everyone cannot be used as a configured role."))
    if len(unique) > MAX_ADMIN_ROLES:
        raise InvalidConfigValue(_("A guild can have at most %(max)s admin roles."), max=MAX_ADMIN_ROLES)
    config = _ensure(guild_id)
    config.admin_role_ids = unique
    config.save(update_fields=["admin_role_ids", "updated_at"])
    return ConfigSnapshot.from_model(config)


@transaction.atomic
def config_set_channel(*, guild_id: int, kind: str, channel_id: int, channel_type: str) -> ConfigSnapshot:
    """Set the log channel, the tickets category or the pads channel, checking the channel's type."""
    allowed = CHANNEL_KINDS.get(kind)
    if allowed is None:
        raise InvalidConfigValue(_("Unknown channel kind: %(kind)s."), kind=kind)
    if channel_type not in allowed:
        raise InvalidConfigValue(
            _("The %(kind)s must be %(expected)s, and that channel is %(actual)s. Nothing was changed."),
            kind=CHANNEL_LABELS[kind],
            expected=_("a category") if allowed == {"category"} else _("a text channel"),
            actual=CHANNEL_TYPE_LABELS.get(channel_type, channel_type),
        )
    config = _ensure(guild_id)
    field = {"log": "log_channel_id", "tickets": "tickets_category_id", "pads": "pads_channel_id"}[kind]
    setattr(config, field, channel_id)
    config.save(update_fields=[field, "updated_at"])
    return ConfigSnapshot.from_model(config)


@transaction.atomic
def config_set_language(*, guild_id: int, language: str) -> ConfigSnapshot:
    """Set the guild's default language."""
    if language not in Language.values:
        raise InvalidConfigValue(_("Unknown language: %(language)s."), language=language)
    config = _ensure(guild_id)
    config.language = language
    config.save(update_fields=["language", "updated_at"])
    return ConfigSnapshot.from_model(config)


@transaction.atomic
def command_sync_record(*, scope: int, digest: str) -> None:
    """Remember the command set just synced to `scope` (0 = global)."""
    CommandSyncState.objects.update_or_create(scope=scope, defaults={"digest": digest})
