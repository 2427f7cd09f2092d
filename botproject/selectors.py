"""Reads of core data: configuration snapshots, access levels, database size."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from django.db import connection

from .models import BlockEntry, CommandSyncState, GuildConfig, PermissionGrant


class Access(enum.IntEnum):
    """Who a member is to the bot, from least to most trusted (blocked is separate)."""

    MEMBER = 0
    GRANTED = 1
    HELPER = 2
    STAFF = 3
    ADMIN = 4
    OWNER = 5


@dataclass(frozen=True)
class ConfigSnapshot:
    """An immutable copy of a guild's configuration, safe to hand to async code."""

    guild_id: int
    language: str = "en"
    prefix: str = "!"
    staff_role_id: int | None = None
    helper_role_id: int | None = None
    verified_role_id: int | None = None
    admin_role_ids: tuple[int, ...] = field(default_factory=tuple)
    log_channel_id: int | None = None
    tickets_category_id: int | None = None
    pads_channel_id: int | None = None

    @classmethod
    def from_model(cls, config: GuildConfig) -> ConfigSnapshot:
        """Copy a GuildConfig row."""
        return cls(
            guild_id=config.guild.discord_id,
            language=config.language,
            prefix=config.prefix,
            staff_role_id=config.staff_role_id,
            helper_role_id=config.helper_role_id,
            verified_role_id=config.verified_role_id,
            admin_role_ids=tuple(int(r) for r in config.admin_role_ids),
            log_channel_id=config.log_channel_id,
            tickets_category_id=config.tickets_category_id,
            pads_channel_id=config.pads_channel_id,
        )


def config_get(*, guild_id: int) -> ConfigSnapshot:
    """Return the guild's configuration, or the defaults when the guild has none yet."""
    config = GuildConfig.objects.select_related("guild").filter(guild__discord_id=guild_id).first()
    return ConfigSnapshot.from_model(config) if config else ConfigSnapshot(guild_id=guild_id)


@dataclass(frozen=True)
class MemberAccess:
    """The access decision for one member at one moment."""

    level: Access
    blocked: bool
    config: ConfigSnapshot

    def at_least(self, level: Access) -> bool:
        """True when the member has `level` or more."""
        return self.level >= level


def member_access(
    *, guild_id: int, user_id: int, role_ids: list[int], is_owner: bool, can_manage_guild: bool
) -> MemberAccess:
    """Decide a member's access level from the guild configuration and their current roles."""
    config = config_get(guild_id=guild_id)
    roles = set(role_ids)
    if is_owner:
        level = Access.OWNER
    elif can_manage_guild or roles.intersection(config.admin_role_ids):
        level = Access.ADMIN
    elif config.staff_role_id in roles:
        level = Access.STAFF
    elif config.helper_role_id in roles:
        level = Access.HELPER
    elif _is_granted(guild_id=guild_id, user_id=user_id, role_ids=roles):
        level = Access.GRANTED
    else:
        level = Access.MEMBER
    blocked = BlockEntry.objects.filter(
        guild__discord_id=guild_id, user_id=user_id, unblocked_at__isnull=True
    ).exists()
    return MemberAccess(level=level, blocked=blocked, config=config)


def _is_granted(*, guild_id: int, user_id: int, role_ids: set[int]) -> bool:
    grants = PermissionGrant.objects.filter(guild__discord_id=guild_id)
    return grants.filter(kind=PermissionGrant.Kind.USER, target_id=user_id).exists() or (
        bool(role_ids) and grants.filter(kind=PermissionGrant.Kind.ROLE, target_id__in=role_ids).exists()
    )


def command_sync_digest(*, scope: int) -> str | None:
    """Return the digest of the command set last synced to `scope` (0 = global)."""
    return CommandSyncState.objects.filter(scope=scope).values_list("digest", flat=True).first()


def database_size() -> int | None:
    """Return the database's size in bytes, or None when the backend cannot tell."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA page_count")
            pages = cursor.fetchone()[0]
            cursor.execute("PRAGMA page_size")
            return pages * cursor.fetchone()[0]
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_database_size(current_database())")
            return cursor.fetchone()[0]
    return None


def database_ping() -> bool:
    """Return True when the database answers a trivial query."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0] == 1
