"""Writes to core data: guilds, configuration, grants, blocklist, helpers. Plain, synchronous, one transaction each.

Every configuration change and grant is audited (actor, before, after) and announced in the guild's
log channel through the outbox, in the same transaction.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import outbox, registry
from .exceptions import AlreadyDone, DomainError, InvalidConfigValue, NotFound
from .models import (
    AuditEntry,
    BlockEntry,
    CommandSyncState,
    DiscordName,
    Guild,
    GuildConfig,
    HelperRecord,
    Language,
    PermissionGrant,
)
from .selectors import ConfigSnapshot

ROLE_KINDS = ("staff", "helper", "admin", "verified")
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


def editable_fields() -> set[str]:
    """The settings config_update may change: every editable GuildConfig field but the guild link."""
    return {f.name for f in GuildConfig._meta.concrete_fields if f.editable and f.name != "guild"}


def _ensure(guild_id: int, name: str | None = None, owner_id: int | None = None,
            member_count: int | None = None) -> GuildConfig:
    guild, _created = Guild.objects.get_or_create(
        discord_id=guild_id, defaults={"name": name or "", "owner_id": owner_id, "member_count": member_count}
    )
    changed = []
    for field, value in (("name", name), ("owner_id", owner_id), ("member_count", member_count)):
        if value is not None and getattr(guild, field) != value:
            setattr(guild, field, value)
            changed.append(field)
    if guild.left_at is not None:
        guild.left_at = None
        changed.append("left_at")
    if changed:
        guild.save(update_fields=changed)
    config, _created = GuildConfig.objects.select_related("guild").get_or_create(guild=guild)
    return config


def config_row(guild_id: int) -> GuildConfig:
    """The guild's configuration row (created if needed), for other apps' services inside their transaction."""
    config = GuildConfig.objects.select_related("guild").filter(guild__discord_id=guild_id).first()
    return config if config is not None else _ensure(guild_id)


def _actor_text(actor_id: int | None, actor_user) -> str:
    if actor_id:
        return f"<@{actor_id}>"
    if actor_user is not None:
        return gettext("%(user)s (admin site)") % {"user": actor_user.get_username()}
    return gettext("the bot")


def _audit(config: GuildConfig, *, action: str, target: str = "", before: Any = None, after: Any = None,
           actor_id: int | None = None, actor_user=None, note: str | None = None) -> AuditEntry:
    """Record a change and announce it in the guild's log channel (in the guild's language)."""
    entry = AuditEntry.objects.create(
        guild=config.guild, actor_id=actor_id, actor_user=actor_user, action=action, target=target,
        before=before, after=after,
    )
    if config.log_channel_id:
        with translation.override(config.language):
            text = gettext("🛠️ %(actor)s: %(what)s") % {"actor": _actor_text(actor_id, actor_user),
                                                        "what": note or action}
        outbox.enqueue_log(guild=config.guild, channel_id=config.log_channel_id, content=text)
    return entry


def _describe(field: str, value: Any) -> str:
    if value in (None, "", []):
        return gettext("not set")
    if field.endswith("_role_id"):
        return f"<@&{value}>"
    if field == "admin_role_ids":
        return ", ".join(f"<@&{v}>" for v in value)
    if field.endswith(("_channel_id", "_category_id")):
        return f"<#{value}>"
    if isinstance(value, bool):
        return gettext("on") if value else gettext("off")
    if field == "language" and value in Language.values:
        return str(Language(value).label)
    return str(value)


ROLE_FIELDS = ("staff_role_id", "helper_role_id", "verified_role_id")


def _wrong_channel_type(setting: registry.ChannelSetting, actual: str) -> InvalidConfigValue:
    return InvalidConfigValue(
        _("The %(kind)s must be %(expected)s, and that channel is %(actual)s. Nothing was changed."),
        kind=setting.noun,
        expected=_("a category") if setting.types == ("category",) else _("a text channel"),
        actual=CHANNEL_TYPE_LABELS.get(actual, actual),
    )


def _check_references(config: GuildConfig, changes: dict[str, Any]) -> None:
    """Refuse role and channel ids the bot has not seen in this guild, and channels of the wrong type.

    Only once the bot has recorded the guild's roles/channels: before its first start nothing is known.
    """
    known = {
        (row.kind, row.discord_id): row
        for row in DiscordName.objects.filter(guild=config.guild, deleted=False).exclude(kind=DiscordName.Kind.USER)
    }
    kinds_known = {kind for kind, _id in known}
    channel_of_field = {setting.field: setting for setting in registry.channels()}
    for field, value in changes.items():
        ids = value if field == "admin_role_ids" else [value]
        if field in ROLE_FIELDS or field == "admin_role_ids":
            if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids if i is not None):
                raise InvalidConfigValue(_("Enter a list of role ids, e.g. [123456789012345678]."))
            if config.guild.discord_id in ids:
                raise InvalidConfigValue(_("@everyone cannot be used as a configured role."))
            if len(ids) > MAX_ADMIN_ROLES:
                raise InvalidConfigValue(_("A guild can have at most %(max)s admin roles."), max=MAX_ADMIN_ROLES)
            for role_id in ids:
                role_known = (DiscordName.Kind.ROLE, role_id) in known
                if role_id is not None and DiscordName.Kind.ROLE in kinds_known and not role_known:
                    raise InvalidConfigValue(_("There is no role with id %(id)s in this server. Nothing was changed."),
                                             id=role_id)
        elif field in channel_of_field and value is not None:
            row = known.get((DiscordName.Kind.CHANNEL, value))
            if DiscordName.Kind.CHANNEL in kinds_known and row is None:
                raise InvalidConfigValue(_("There is no channel with id %(id)s in this server. Nothing was changed."),
                                         id=value)
            setting = channel_of_field[field]
            if row is not None and row.channel_type and row.channel_type not in setting.types:
                raise _wrong_channel_type(setting, row.channel_type)


def _apply(config: GuildConfig, changes: dict[str, Any], *, actor_id: int | None, actor_user) -> ConfigSnapshot:
    editable = editable_fields()
    unknown = set(changes) - editable
    if unknown:
        raise InvalidConfigValue(_("Unknown setting: %(name)s."), name=", ".join(sorted(unknown)))
    before = {field: getattr(config, field) for field in changes}
    for field, value in changes.items():
        setattr(config, field, value)
    try:
        config.full_clean(exclude=["guild"])
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        label = GuildConfig._meta.get_field(field).verbose_name if field in editable else field
        raise InvalidConfigValue(
            _("%(setting)s: %(problem)s Nothing was changed."), setting=label, problem=" ".join(messages)
        ) from None
    changed = [field for field in changes if before[field] != getattr(config, field)]
    if changed:
        config.save(update_fields=[*changed, "updated_at"])
    with translation.override(config.language):
        for field in changed:
            label = GuildConfig._meta.get_field(field).verbose_name
            note = gettext("%(setting)s changed from %(before)s to %(after)s") % {
                "setting": label, "before": _describe(field, before[field]),
                "after": _describe(field, getattr(config, field)),
            }
            _audit(config, action="config.change", target=field, before=before[field], after=getattr(config, field),
                   actor_id=actor_id, actor_user=actor_user, note=note)
    return ConfigSnapshot.from_model(config)


@transaction.atomic
def guild_ensure(*, guild_id: int, name: str | None = None, owner_id: int | None = None,
                 member_count: int | None = None) -> ConfigSnapshot:
    """Record a guild the bot is in (joined, or seen again at start) and give it a configuration."""
    return ConfigSnapshot.from_model(_ensure(guild_id, name, owner_id, member_count))


@transaction.atomic
def guild_mark_left(*, guild_id: int) -> None:
    """Note that the bot left a guild; its data is kept."""
    Guild.objects.filter(discord_id=guild_id, left_at__isnull=True).update(left_at=timezone.now())


@transaction.atomic
def names_seen(*, guild_id: int, roles: dict[int, str | tuple[str, int, int]] | None = None,
               channels: dict[int, tuple[str, str]] | None = None, users: dict[int, str] | None = None,
               deleted: bool = False) -> None:
    """Remember the names Discord shows for roles (name, or (name, permission bits, position)), channels
    ((name, type)) and users (for the admin, which also checks a role's permissions before it is configured)."""
    guild = _ensure(guild_id).guild
    rows = []
    for role_id, seen in (roles or {}).items():
        name, permissions, position = seen if isinstance(seen, tuple) else (seen, None, None)
        rows.append(DiscordName(guild=guild, kind=DiscordName.Kind.ROLE, discord_id=role_id, name=name[:100],
                                deleted=deleted, permissions=permissions, position=position))
    rows += [DiscordName(guild=guild, kind=DiscordName.Kind.CHANNEL, discord_id=i, name=n[:100], channel_type=t,
                         deleted=deleted) for i, (n, t) in (channels or {}).items()]
    rows += [DiscordName(guild=guild, kind=DiscordName.Kind.USER, discord_id=i, name=n[:100], deleted=deleted)
             for i, n in (users or {}).items()]
    if rows:
        DiscordName.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["guild", "kind", "discord_id"],
            update_fields=["name", "channel_type", "deleted", "updated_at",
                           *(["permissions", "position"] if roles else [])],
        )


ROLE_KIND_LABELS = {"helper": _("helper"), "verified": _("verified"), "staff": _("staff"), "admin": _("admin")}


@transaction.atomic
def role_refusal_note(*, guild_id: int, refusal: DomainError, role_id: int, kind: str, actor_id: int | None = None,
                      member_id: int | None = None) -> None:
    """Tell the guild's log channel the bot refused to configure or hand out a role; nothing else is written."""
    config = GuildConfig.objects.select_related("guild").filter(guild__discord_id=guild_id).first()
    if config is None or not config.log_channel_id:
        return
    with translation.override(config.language):
        values = {"actor": _actor_text(actor_id, None), "role": f"<@&{role_id}>", "member": f"<@{member_id}>",
                  "kind": ROLE_KIND_LABELS.get(kind, kind), "reason": refusal.user_message()}
        if member_id is not None:
            text = gettext("⛔ Refused to give %(role)s to %(member)s (asked by %(actor)s): %(reason)s") % values
        else:
            text = gettext("⛔ Refused to make %(role)s the %(kind)s role (asked by %(actor)s): %(reason)s") % values
    outbox.enqueue_log(guild=config.guild, channel_id=config.log_channel_id, content=text)


@transaction.atomic
def config_update(*, guild_id: int, changes: dict[str, Any], actor_id: int | None = None,
                  actor_user=None) -> ConfigSnapshot:
    """Change any editable settings at once (the admin form, limits); audited.

    Ids typed by hand are checked against the roles and channels the bot has seen in the guild;
    the Discord commands need no such check, Discord resolved the role or channel itself.
    """
    config = _ensure(guild_id)
    _check_references(config, changes)
    return _apply(config, dict(changes), actor_id=actor_id, actor_user=actor_user)


@transaction.atomic
def config_set_role(*, guild_id: int, kind: str, role_id: int, actor_id: int | None = None) -> ConfigSnapshot:
    """Set the staff, helper or verified role, or add an admin role."""
    if kind not in ROLE_KINDS:
        raise InvalidConfigValue(_("Unknown role kind: %(kind)s."), kind=kind)
    if role_id == guild_id:
        raise InvalidConfigValue(_("@everyone cannot be used as a configured role."))
    config = _ensure(guild_id)
    if kind == "admin":
        roles = [int(r) for r in config.admin_role_ids]
        if role_id in roles:
            return ConfigSnapshot.from_model(config)
        if len(roles) >= MAX_ADMIN_ROLES:
            raise InvalidConfigValue(_("A guild can have at most %(max)s admin roles."), max=MAX_ADMIN_ROLES)
        return _apply(config, {"admin_role_ids": [*roles, role_id]}, actor_id=actor_id, actor_user=None)
    return _apply(config, {f"{kind}_role_id": role_id}, actor_id=actor_id, actor_user=None)


@transaction.atomic
def config_set_admin_roles(*, guild_id: int, role_ids: list[int], actor_id: int | None = None) -> ConfigSnapshot:
    """Replace the admin roles with exactly `role_ids`."""
    unique = list(dict.fromkeys(int(r) for r in role_ids))
    if guild_id in unique:
        raise InvalidConfigValue(_("@everyone cannot be used as a configured role."))
    if len(unique) > MAX_ADMIN_ROLES:
        raise InvalidConfigValue(_("A guild can have at most %(max)s admin roles."), max=MAX_ADMIN_ROLES)
    return _apply(_ensure(guild_id), {"admin_role_ids": unique}, actor_id=actor_id, actor_user=None)


@transaction.atomic
def config_set_channel(*, guild_id: int, kind: str, channel_id: int, channel_type: str,
                       actor_id: int | None = None) -> ConfigSnapshot:
    """Set one of the configurable channels (the log channel, and those the apps registered), checking its type."""
    setting = registry.channel(kind)
    if setting is None:
        raise InvalidConfigValue(_("Unknown channel kind: %(kind)s."), kind=kind)
    if channel_type not in setting.types:
        raise _wrong_channel_type(setting, channel_type)
    return _apply(_ensure(guild_id), {setting.field: channel_id}, actor_id=actor_id, actor_user=None)


@transaction.atomic
def config_set_language(*, guild_id: int, language: str, actor_id: int | None = None) -> ConfigSnapshot:
    """Set the guild's default language."""
    if language not in Language.values:
        raise InvalidConfigValue(_("Unknown language: %(language)s."), language=language)
    return _apply(_ensure(guild_id), {"language": language}, actor_id=actor_id, actor_user=None)


@transaction.atomic
def config_set_module(*, guild_id: int, module: str, enabled: bool, actor_id: int | None = None) -> ConfigSnapshot:
    """Switch a module (as the apps registered them, botproject.registry) on or off for the guild."""
    registered = registry.module(module)
    if registered is None:
        raise InvalidConfigValue(_("Unknown module: %(module)s."), module=module)
    return _apply(_ensure(guild_id), {registered.enabled_field: enabled}, actor_id=actor_id, actor_user=None)


@transaction.atomic
def grant_add(*, guild_id: int, kind: str, target_id: int, actor_id: int | None = None) -> PermissionGrant:
    """Grant a role or a user the restricted commands."""
    if kind not in PermissionGrant.Kind.values:
        raise InvalidConfigValue(_("Unknown grant kind: %(kind)s."), kind=kind)
    if kind == PermissionGrant.Kind.ROLE and target_id == guild_id:
        raise InvalidConfigValue(_("Grant roles one by one; @everyone cannot be granted."))
    config = _ensure(guild_id)
    mention = f"<@&{target_id}>" if kind == PermissionGrant.Kind.ROLE else f"<@{target_id}>"
    try:
        with transaction.atomic():
            grant = PermissionGrant.objects.create(
                guild=config.guild, kind=kind, target_id=target_id, granted_by_id=actor_id
            )
    except IntegrityError:
        raise AlreadyDone(_("%(target)s already has access."), target=mention) from None
    with translation.override(config.language):
        note = gettext("granted access to %(target)s") % {"target": mention}
    _audit(config, action="grant.add", target=f"{kind}:{target_id}", after={"kind": kind, "target_id": target_id},
           actor_id=actor_id, note=note)
    return grant


@transaction.atomic
def grant_revoke(*, guild_id: int, kind: str, target_id: int, actor_id: int | None = None, actor_user=None) -> None:
    """Take a grant back."""
    config = _ensure(guild_id)
    mention = f"<@&{target_id}>" if kind == PermissionGrant.Kind.ROLE else f"<@{target_id}>"
    deleted, _rows = PermissionGrant.objects.filter(guild=config.guild, kind=kind, target_id=target_id).delete()
    if not deleted:
        raise NotFound(_("%(target)s has no grant to revoke."), target=mention)
    with translation.override(config.language):
        note = gettext("revoked the access of %(target)s") % {"target": mention}
    _audit(config, action="grant.revoke", target=f"{kind}:{target_id}", before={"kind": kind, "target_id": target_id},
           actor_id=actor_id, actor_user=actor_user, note=note)


@transaction.atomic
def block_add(*, guild_id: int, user_id: int, reason: str, actor_id: int | None = None) -> BlockEntry:
    """Block a member from member-facing actions; the row stays as history after an unblock."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidConfigValue(_("Give a reason for the block."))
    if len(reason) > 500:
        raise InvalidConfigValue(_("The reason is too long (at most %(max)s characters)."), max=500)
    config = _ensure(guild_id)
    try:
        with transaction.atomic():
            entry = BlockEntry.objects.create(guild=config.guild, user_id=user_id, reason=reason,
                                              blocked_by_id=actor_id)
    except IntegrityError:
        raise AlreadyDone(_("<@%(user)s> is already blocked."), user=user_id) from None
    with translation.override(config.language):
        note = gettext("blocked <@%(user)s>: %(reason)s") % {"user": user_id, "reason": reason}
    _audit(config, action="block.add", target=f"user:{user_id}", after={"reason": reason}, actor_id=actor_id, note=note)
    return entry


@transaction.atomic
def block_remove(*, guild_id: int, user_id: int, actor_id: int | None = None, actor_user=None) -> BlockEntry:
    """Lift a block; the entry keeps who unblocked and when."""
    config = _ensure(guild_id)
    entry = BlockEntry.objects.select_for_update().filter(
        guild=config.guild, user_id=user_id, unblocked_at__isnull=True
    ).first()
    if entry is None:
        raise NotFound(_("<@%(user)s> is not blocked."), user=user_id)
    entry.unblocked_at = timezone.now()
    entry.unblocked_by_id = actor_id
    entry.save(update_fields=["unblocked_at", "unblocked_by_id"])
    with translation.override(config.language):
        note = gettext("unblocked <@%(user)s>") % {"user": user_id}
    _audit(config, action="block.remove", target=f"user:{user_id}", before={"reason": entry.reason},
           actor_id=actor_id, actor_user=actor_user, note=note)
    return entry


@transaction.atomic
def helper_add(*, guild_id: int, user_id: int, actor_id: int | None = None) -> HelperRecord:
    """Record that a member was made a helper (the cog gives the helper role on Discord first)."""
    config = _ensure(guild_id)
    try:
        with transaction.atomic():
            record = HelperRecord.objects.create(guild=config.guild, user_id=user_id, added_by_id=actor_id)
    except IntegrityError:
        raise AlreadyDone(_("<@%(user)s> is already a helper."), user=user_id) from None
    with translation.override(config.language):
        note = gettext("made <@%(user)s> a helper") % {"user": user_id}
    _audit(config, action="helper.add", target=f"user:{user_id}", actor_id=actor_id, note=note)
    return record


@transaction.atomic
def helper_remove(*, guild_id: int, user_id: int, actor_id: int | None = None) -> HelperRecord | None:
    """Record that a member stopped being a helper (None when they had the role without a record)."""
    config = _ensure(guild_id)
    record = HelperRecord.objects.select_for_update().filter(
        guild=config.guild, user_id=user_id, removed_at__isnull=True
    ).first()
    if record is not None:
        record.removed_at = timezone.now()
        record.removed_by_id = actor_id
        record.save(update_fields=["removed_at", "removed_by_id"])
    with translation.override(config.language):
        note = gettext("removed <@%(user)s> from the helpers") % {"user": user_id}
    _audit(config, action="helper.remove", target=f"user:{user_id}", actor_id=actor_id, note=note)
    return record


@transaction.atomic
def command_sync_record(*, scope: int, digest: str) -> None:
    """Remember the command set just synced to `scope` (0 = global)."""
    CommandSyncState.objects.update_or_create(scope=scope, defaults={"digest": digest})
