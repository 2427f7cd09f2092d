"""Reads of core data: configuration snapshots, access levels, database size."""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from dataclasses import dataclass, make_dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from . import registry
from .exceptions import DomainError, NotAllowed
from .models import (
    BlockEntry,
    CommandSyncState,
    DiscordName,
    Guild,
    GuildConfig,
    HelperRecord,
    OutboxMessage,
    PermissionGrant,
)
from .paging import Page, paginate
from .roles import role_refusal

R = TypeVar("R")


class Access(enum.IntEnum):
    """Who a member is to the bot, from least to most trusted.

    GRANTED is not a rung of the ladder: it is a grant (/addrole, /allowusers) that staff and above
    have anyway; helpers do not. Being blocked is separate too.
    """

    MEMBER = 0
    HELPER = 2
    STAFF = 3
    ADMIN = 4
    OWNER = 5
    GRANTED = 10


def _snapshot_fields() -> list:
    """GuildConfig's settings: every concrete field but the guild link and the bookkeeping (not editable)."""
    return [f for f in GuildConfig._meta.concrete_fields if f.name != "guild" and f.editable]


def _snapshot_value(value: Any) -> Any:
    """A field's value as a snapshot holds it: lists become tuples of ints (the admin role ids, immutable)."""
    if isinstance(value, list):
        return tuple(int(v) for v in value)
    if isinstance(value, enum.Enum):  # a choices default (Language.EN): the stored value
        return value.value
    return value


def _module_enabled(self, module: str) -> bool:
    """Whether the guild has the module (as apps registered them, botproject.registry) switched on."""
    registered = registry.module(module)
    return bool(getattr(self, registered.enabled_field if registered else f"{module}_enabled"))


def _from_model(cls, config: GuildConfig):
    """Copy a GuildConfig row."""
    return cls(guild_id=config.guild.discord_id,
               **{f.name: _snapshot_value(getattr(config, f.attname)) for f in _snapshot_fields()})


# An immutable copy of a guild's configuration, safe to hand to async code: `guild_id` and one attribute per
# GuildConfig setting, with the model's defaults (the defaults when the guild has no configuration yet). Built
# from the model, so a setting added to GuildConfig appears here without naming it.
ConfigSnapshot = make_dataclass(
    "ConfigSnapshot",
    [("guild_id", int),
     *((f.name, Any, dataclass_field(default=_snapshot_value(f.get_default()))) for f in _snapshot_fields())],
    frozen=True,
    namespace={"module_enabled": _module_enabled, "from_model": classmethod(_from_model),
               "__doc__": "An immutable copy of a guild's configuration, safe to hand to async code.",
               "__module__": __name__},
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
    granted: bool = False

    def at_least(self, level: Access) -> bool:
        """True when the member may act at `level` (for GRANTED: granted, or staff and above)."""
        if level is Access.GRANTED:
            return self.granted or self.level >= Access.STAFF
        return self.level >= level


def member_access(
    *, guild_id: int, user_id: int, role_ids: list[int], is_owner: bool, can_manage_guild: bool
) -> MemberAccess:
    """Decide a member's access level from the guild configuration and their current roles.

    Every command asks this first, so it is one statement: the configuration row, whether the member is
    blocked and whether a grant names them or one of their roles, all read now (nothing cached).
    """
    roles = set(role_ids)
    db = connections[DEFAULT_DB_ALIAS]  # once: every `connection.x` is a thread-local lookup
    sql, params = _access_statement(db, guild_id, user_id, roles)
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return _access_of(db, row, guild_id, roles, is_owner, can_manage_guild)


def member_access_along(
    read: Callable[[], R], *, guild_id: int, user_id: int, role_ids: list[int], is_owner: bool,
    can_manage_guild: bool,
) -> tuple[MemberAccess, Callable[[], R]]:
    """`member_access` and `read`, a read that does not depend on it: on PostgreSQL the access check's statement
    goes to the server with the first statement `read` runs, in one round trip (the commands members use most
    pay one trip to the database instead of two).

    `read` runs before the access is decided, so it must only read; the caller decides, then takes `read`'s result
    from the returned function (which raises what `read` raised). Elsewhere the two run one after the other.
    """
    roles = set(role_ids)
    db = connections[DEFAULT_DB_ALIAS]
    sql, params = _access_statement(db, guild_id, user_id, roles)
    rows: list = []  # the access check's row once it has been read

    def along(execute: Callable[..., Any], statement: Any, statement_params: Any, many: bool, context: dict) -> Any:
        if rows or many or not isinstance(statement_params, list | tuple) or not isinstance(statement, str):
            return execute(statement, statement_params, many, context)
        result = execute(f"{sql}; {statement}", [*params, *statement_params], many, context)
        raw = context["cursor"].cursor
        with db.wrap_database_errors:
            rows.append(raw.fetchone())
            raw.nextset()  # the caller reads its own statement's rows
        return result

    try:
        if db.vendor == "postgresql":
            with db.execute_wrapper(along):
                value = read()
        else:
            value = read()
    except Exception as error:  # noqa: BLE001 - given back once the access is decided
        failure: Exception | None = error
    else:
        failure = None
    if not rows:  # `read` sent no statement it could go with (or failed before): on its own
        if isinstance(failure, DatabaseError):
            raise failure  # the database failed (an outage, or a bug in the read): that is the answer
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            rows.append(cursor.fetchone())
    access = _access_of(db, rows[0], guild_id, roles, is_owner, can_manage_guild)

    def result() -> R:
        if failure is not None:
            raise failure
        return value

    return access, result


def _access_of(db: Any, row: tuple | None, guild_id: int, roles: set[int], is_owner: bool,
               can_manage_guild: bool) -> MemberAccess:
    config, blocked, is_granted = _access_row(db, row, guild_id)
    if is_owner:
        level = Access.OWNER
    elif can_manage_guild or roles.intersection(config.admin_role_ids):
        level = Access.ADMIN
    elif config.staff_role_id in roles:
        level = Access.STAFF
    elif config.helper_role_id in roles:
        level = Access.HELPER
    else:
        level = Access.MEMBER
    granted = level < Access.STAFF and is_granted
    return MemberAccess(level=level, blocked=blocked, config=config, granted=granted)


def _access_statement(db: Any, guild_id: int, user_id: int, roles: set[int]) -> tuple[str, list]:
    """The access check's one statement: the configuration row, blocked, granted (per number of roles, built once)."""
    role_list = sorted(roles)
    params: list = [user_id, PermissionGrant.Kind.USER.value, user_id]
    if role_list:
        params += [PermissionGrant.Kind.ROLE.value, *role_list]
    params.append(guild_id)
    return _access_sql(db.vendor, len(role_list)), params


def _access_row(db: Any, row: tuple | None, guild_id: int) -> tuple[ConfigSnapshot, bool, bool]:
    """(configuration, blocked, granted) from the statement's row; the defaults when the guild has no configuration."""
    if row is None:  # no guild row: no configuration, no blocks, no grants
        return ConfigSnapshot(guild_id=guild_id), False, False
    config_pk, *values, blocked, granted = row
    if config_pk is None:
        return ConfigSnapshot(guild_id=guild_id), bool(blocked), bool(granted)
    data = {name: read(value, db) for (name, read), value in zip(_readers(), values, strict=True)}
    return ConfigSnapshot(guild_id=guild_id, **data), bool(blocked), bool(granted)


@functools.cache
def _access_sql(vendor: str, roles: int) -> str:
    quote = connection.ops.quote_name
    role_clause = f" OR (p.kind = %s AND p.target_id IN ({', '.join(['%s'] * roles)}))" if roles else ""
    return (f"SELECT c.guild_id, {', '.join('c.' + quote(f.column) for f in _snapshot_fields())}, "
            f"EXISTS (SELECT 1 FROM {quote(BlockEntry._meta.db_table)} b WHERE b.guild_id = g.id AND b.user_id = %s "
            f"AND b.unblocked_at IS NULL), "
            f"EXISTS (SELECT 1 FROM {quote(PermissionGrant._meta.db_table)} p WHERE p.guild_id = g.id "
            f"AND ((p.kind = %s AND p.target_id = %s){role_clause})) "
            f"FROM {quote(Guild._meta.db_table)} g LEFT JOIN {quote(GuildConfig._meta.db_table)} c "
            f"ON c.guild_id = g.id WHERE g.discord_id = %s")


@functools.cache
def _readers() -> tuple[tuple[str, Callable[[Any, Any], Any]], ...]:
    """(setting, how to read its column from a raw row) for each configuration setting, in the statement's order."""
    def reader(field_) -> Callable[[Any, Any], Any]:
        if hasattr(field_, "from_db_value"):  # JSON columns come back as text
            return lambda value, db: _snapshot_value(field_.from_db_value(value, None, db))
        if field_.get_internal_type() == "BooleanField":
            return lambda value, db: bool(value)
        return lambda value, db: _snapshot_value(value)

    return tuple((field_.name, reader(field_)) for field_ in _snapshot_fields())


@dataclass(frozen=True)
class GrantRow:
    """One grant, for /permissions list."""

    kind: str
    target_id: int
    granted_by_id: int | None
    created_at: datetime


def grants_list(*, guild_id: int) -> list[GrantRow]:
    """The guild's grants, roles first."""
    return [
        GrantRow(g.kind, g.target_id, g.granted_by_id, g.created_at)
        for g in PermissionGrant.objects.filter(guild__discord_id=guild_id).order_by("kind", "created_at")
    ]


def grants_page(*, guild_id: int, page: int = 1, per_page: int = 20) -> Page[GrantRow]:
    """One page of the guild's grants, roles first, oldest first (for /permissions list)."""
    grants = PermissionGrant.objects.filter(guild__discord_id=guild_id).order_by("kind", "created_at", "id")
    result = paginate(grants, page, per_page)
    rows = [GrantRow(g.kind, g.target_id, g.granted_by_id, g.created_at) for g in result.rows]
    return Page(rows, result.number, result.pages, result.total, per_page)


@dataclass(frozen=True)
class BlockRow:
    """One block, active or lifted."""

    user_id: int
    reason: str
    blocked_by_id: int | None
    blocked_at: datetime
    unblocked_by_id: int | None
    unblocked_at: datetime | None


def blocklist(*, guild_id: int, history: int = 10) -> tuple[list[BlockRow], list[BlockRow]]:
    """The active blocks, and the `history` most recently lifted ones."""
    rows = BlockEntry.objects.filter(guild__discord_id=guild_id)

    def as_rows(queryset) -> list[BlockRow]:
        return [BlockRow(b.user_id, b.reason, b.blocked_by_id, b.blocked_at, b.unblocked_by_id, b.unblocked_at)
                for b in queryset]

    active = as_rows(rows.filter(unblocked_at__isnull=True).order_by("-blocked_at"))
    lifted = as_rows(rows.filter(unblocked_at__isnull=False).order_by("-unblocked_at")[:history])
    return active, lifted


def blocklist_page(*, guild_id: int, page: int = 1, per_page: int = 10,
                   history: int = 10) -> tuple[Page[BlockRow], list[BlockRow]]:
    """One page of the active blocks (newest first), and the `history` most recently lifted ones."""
    rows = BlockEntry.objects.filter(guild__discord_id=guild_id)
    active = paginate(rows.filter(unblocked_at__isnull=True).order_by("-blocked_at", "-id"), page, per_page)

    def as_row(b: BlockEntry) -> BlockRow:
        return BlockRow(b.user_id, b.reason, b.blocked_by_id, b.blocked_at, b.unblocked_by_id, b.unblocked_at)

    lifted = [as_row(b) for b in rows.filter(unblocked_at__isnull=False).order_by("-unblocked_at", "-id")[:history]]
    return Page([as_row(b) for b in active.rows], active.number, active.pages, active.total, per_page), lifted


@dataclass(frozen=True)
class HelperRow:
    """A current helper as recorded by /helper add."""

    user_id: int
    added_by_id: int | None
    added_at: datetime


def helpers_list(*, guild_id: int) -> list[HelperRow]:
    """Helpers added through the bot and not removed."""
    return [
        HelperRow(h.user_id, h.added_by_id, h.added_at)
        for h in HelperRecord.objects.filter(guild__discord_id=guild_id, removed_at__isnull=True).order_by("added_at")
    ]


@dataclass(frozen=True)
class HelperLine:
    """A helper on /helper list: recorded by /helper add, holding the helper role, or both."""

    user_id: int
    record: HelperRow | None
    has_role: bool


def helpers_page(*, guild_id: int, with_role: list[int], page: int = 1, per_page: int = 20) -> Page[HelperLine]:
    """One page of the helpers: members holding the role (ids from Discord) and those recorded, by user id."""
    recorded = HelperRecord.objects.filter(guild__discord_id=guild_id, removed_at__isnull=True)
    role = set(with_role)
    ids = sorted(role | set(recorded.values_list("user_id", flat=True)))
    result = paginate(ids, page, per_page)
    records = {h.user_id: HelperRow(h.user_id, h.added_by_id, h.added_at)
               for h in recorded.filter(user_id__in=result.rows)}
    rows = [HelperLine(user_id, records.get(user_id), user_id in role) for user_id in result.rows]
    return Page(rows, result.number, result.pages, result.total, per_page)


@dataclass(frozen=True)
class HelperStats:
    """What is known about a helper's work, with the figures the installed apps measure."""

    user_id: int
    helper_since: datetime | None
    added_by_id: int | None
    times_added: int
    figures: dict[str, int]


def helper_stats(*, guild_id: int, user_id: int) -> HelperStats:
    """A helper's record and whatever figures the installed apps measure."""
    records = HelperRecord.objects.filter(guild__discord_id=guild_id, user_id=user_id)
    current = records.filter(removed_at__isnull=True).first()
    figures = {str(f.label): f.provider(guild_id, user_id) for f in registry.helper_figures()}
    return HelperStats(user_id, current.added_at if current else None, current.added_by_id if current else None,
                       records.count(), figures)


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


OUTBOX_BACKLOG_KINDS = tuple(OutboxMessage.Kind.values)
OUTBOX_BACKLOG_STATUSES = (OutboxMessage.Status.PENDING.value, OutboxMessage.Status.FAILED.value)


def outbox_backlog() -> dict[tuple[str, str], int]:
    """Undelivered outbox messages: (kind, status) -> how many, for pending and failed (GET /metrics; one statement)."""
    rows = (OutboxMessage.objects.filter(status__in=OUTBOX_BACKLOG_STATUSES).order_by()
            .values_list("kind", "status").annotate(count=Count("pk")))
    return {(kind, status): count for kind, status, count in rows}


def database_ping() -> bool:
    """Return True when the database answers a trivial query."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0] == 1


def recorded_role_refusal(*, guild_id: int, role_id: int) -> DomainError | None:
    """Why the admin site must not make `role_id` a role the bot hands out, from what the bot recorded.

    None when the recorded role is safe, or when the bot has not seen the role at all (the admin form refuses
    unseen ids itself). A role recorded before permissions were recorded is refused until the bot sees it again.
    """
    row = DiscordName.objects.filter(guild__discord_id=guild_id, kind=DiscordName.Kind.ROLE, discord_id=role_id,
                                     deleted=False).first()
    if row is None:
        return None
    if row.permissions is None:
        return NotAllowed(_("The bot has not recorded the permissions of %(role)s yet. Start the bot (it records "
                            "them), or pick the role with /setup on Discord."), role=row.name)
    return role_refusal(name=row.name, permissions=row.permissions, position=row.position or 0)
