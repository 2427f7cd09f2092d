"""Shared admin building blocks: per-guild scoping, and Discord names shown next to ids.

Who sees what:

- a superuser sees every row of every guild;
- any other staff user sees only rows whose guild lists them in ``Guild.staff_users``, everywhere the
  admin shows or accepts rows: changelists, change/delete/history views (another guild's object by URL
  gets Django's usual "doesn't exist" redirect), actions, foreign-key choices, list filters and
  autocomplete/search results; ``has_view/change/delete_permission(obj)`` is False for other guilds.

Scoping only narrows: a staff user still needs Django's model permissions as usual. The operator sets
this up once in the admin (no migration or command holds data for it):

1. Authentication → Groups → add e.g. "Guild staff" with the "Can view" (and where wanted "Can change")
   permissions of the core models and of each app's models;
2. for each person: a User with "Staff status" on, in that group;
3. Core → Guilds → the guild → "admin site staff": add the user (only superusers can edit this list).

Use it in an app's admin::

    @admin.register(Ticket)
    class TicketAdmin(GuildScopedAdminMixin, admin.ModelAdmin):
        guild_field = "guild"            # or a path such as "ticket__guild"
        list_filter = ("guild", "status")  # the guild filter lists only the user's guilds

The mixin is for ``ModelAdmin`` classes (not inlines: an inline's rows are already limited by its
parent object, which the parent's admin scopes).

Names: ``NamesMixin`` plus ``name_column(field, kind, description)`` columns show "Staff (123…)" from
the DiscordName rows the bot keeps, loading a whole changelist page's names in one query.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Q, QuerySet
from django.utils.translation import gettext

from .models import DiscordName, Guild

_CACHE_ATTR = "_botproject_visible_guild_ids"


def sees_all_guilds(user) -> bool:
    """True for users who are not limited to some guilds (active superusers)."""
    return bool(user.is_active and user.is_superuser)


def visible_guilds(user) -> QuerySet[Guild]:
    """Guilds the admin user may see: all for a superuser, else those listing them as staff."""
    if sees_all_guilds(user):
        return Guild.objects.all()
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return Guild.objects.none()
    return Guild.objects.filter(staff_users=user)


def visible_guild_ids(request) -> frozenset[int] | None:
    """Primary keys of the guilds the request's user may see, cached per request; None means all."""
    if sees_all_guilds(request.user):
        return None
    cached = getattr(request, _CACHE_ATTR, None)
    if cached is None:
        cached = frozenset(visible_guilds(request.user).values_list("pk", flat=True))
        setattr(request, _CACHE_ATTR, cached)
    return cached


class GuildScopedListFilter(admin.RelatedFieldListFilter):
    """A list filter on a guild foreign key that offers only the guilds the user may see."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        ids = visible_guild_ids(request)
        limit = None if ids is None else {"pk__in": ids}
        return field.get_choices(include_blank=False, limit_choices_to=limit, ordering=ordering)


class GuildScopedRelatedListFilter(admin.RelatedFieldListFilter):
    """A list filter on a foreign key to a per-guild model (category, achievement…): only the user's guilds' rows.

    Their names are data typed by staff of every guild, so another guild's must not show in the filter.
    """

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        ids = visible_guild_ids(request)
        limit = None if ids is None else {"guild__in": ids}
        return field.get_choices(include_blank=False, limit_choices_to=limit, ordering=ordering)


def _has_guild_fk(model) -> bool:
    try:
        return model._meta.get_field("guild").related_model is Guild
    except FieldDoesNotExist:
        return False


def unseen_id_error(guild: Guild, kind: str, discord_id: int, channel_types: set[str] | None = None) -> str | None:
    """Why an id typed in the admin cannot be used for `guild` (None when the bot has seen it there).

    Ids must name a live role or channel the bot recorded in the row's own guild: an unknown id (also while
    the bot has recorded no names yet) or one of another guild is refused, never trusted.
    """
    row = DiscordName.objects.filter(guild=guild, kind=kind, discord_id=discord_id, deleted=False).first()
    if row is None:
        if kind == DiscordName.Kind.ROLE:
            message = gettext("The bot has not seen a role with id %(id)s in this server. Use a role of this "
                              "server (start the bot so it records them), or pick it with /setup on Discord.")
        else:
            message = gettext("The bot has not seen a channel with id %(id)s in this server. Use a channel of "
                              "this server (start the bot so it records them), or pick it with /setup on Discord.")
        return message % {"id": discord_id}
    if channel_types and row.channel_type not in channel_types:
        return gettext("%(name)s is not a channel of the right kind here (it is a %(type)s).") % {
            "name": f"{row.name} ({discord_id})", "type": row.channel_type or "?"}
    return None


class GuildScopedAdminMixin:
    """ModelAdmin mixin limiting every view, action, choice and permission to the user's guilds."""

    #: Lookup path from the model to its Guild ("guild", "ticket__guild"; "pk" for Guild itself).
    guild_field = "guild"

    # --- the one rule ----------------------------------------------------------------------------
    def guild_scope_q(self, request) -> Q | None:
        """The filter that limits this model's rows to the user's guilds; None when unlimited."""
        if sees_all_guilds(request.user):
            return None
        # A subquery rather than a join through staff_users: no duplicate rows, no DISTINCT needed.
        return Q(**{f"{self.guild_field}__in": visible_guilds(request.user).values("pk")})

    def scope_queryset(self, request, queryset: QuerySet) -> QuerySet:
        """Apply the guild scope to any queryset of this model."""
        scope = self.guild_scope_q(request)
        return queryset if scope is None else queryset.filter(scope)

    def guild_pk_of(self, obj) -> int | None:
        """The primary key of the guild `obj` belongs to, following `guild_field` (None if it has none)."""
        if self.guild_field == "pk":
            return obj.pk
        *parents, last = self.guild_field.split("__")
        for name in parents:
            obj = getattr(obj, name, None)
            if obj is None:
                return None
        # The attname (guild_id) avoids loading the Guild row.
        field = obj._meta.get_field(last)
        return getattr(obj, field.attname)

    def in_scope(self, request, obj) -> bool:
        """True when the user may see `obj`'s guild."""
        ids = visible_guild_ids(request)
        return ids is None or self.guild_pk_of(obj) in ids

    # --- where rows are read -----------------------------------------------------------------------
    def get_queryset(self, request):
        # Changelists, get_object (change, delete, history views) and actions all start here.
        return self.scope_queryset(request, super().get_queryset(request))

    def get_search_results(self, request, queryset, search_term):
        # Autocomplete passes its own queryset in; scope it again rather than trusting the caller.
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return self.scope_queryset(request, queryset), may_have_duplicates

    def get_list_filter(self, request):
        return [self._scoped_filter(entry) for entry in super().get_list_filter(request)]

    def _scoped_filter(self, entry):
        if not isinstance(entry, str):
            return entry
        try:
            field = get_fields_from_path(self.model, entry)[-1]
        except FieldDoesNotExist:
            return entry
        related = getattr(field, "related_model", None)
        if related is Guild and (field.many_to_one or field.one_to_one):
            return (entry, GuildScopedListFilter)
        if related is not None and (field.many_to_one or field.one_to_one) and _has_guild_fk(related):
            return (entry, GuildScopedRelatedListFilter)
        return entry

    # --- a row stays in its guild ----------------------------------------------------------------
    def get_form(self, request, obj=None, change=False, **kwargs):
        # Once created, the row's guild is fixed: moving it would carry its ids (channels, roles) into another
        # guild. A disabled field ignores what is posted and, unlike a read-only one, keeps the unique checks.
        form = super().get_form(request, obj, change=change, **kwargs)
        first = self.guild_field.partition("__")[0]
        if obj is not None and first in form.base_fields:
            form.base_fields[first].disabled = True
        return form

    # --- where rows are chosen -------------------------------------------------------------------
    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "queryset" not in kwargs and not sees_all_guilds(request.user):
            queryset = self._scoped_choices(db_field, request)
            if queryset is not None:
                kwargs["queryset"] = queryset
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "queryset" not in kwargs and not sees_all_guilds(request.user) and db_field.related_model is Guild:
            kwargs["queryset"] = visible_guilds(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _scoped_choices(self, db_field, request):
        related = db_field.related_model
        if related is Guild:
            return visible_guilds(request.user)
        # The first hop of a longer path ("ticket" of "ticket__guild"): offer only tickets of the user's guilds.
        first, _sep, rest = self.guild_field.partition("__")
        if rest and db_field.name == first:
            return related._default_manager.filter(**{f"{rest}__in": visible_guilds(request.user).values("pk")})
        return None

    # --- what may be done to one row ---------------------------------------------------------------
    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and (obj is None or self.in_scope(request, obj))

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or self.in_scope(request, obj))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or self.in_scope(request, obj))


class ScopedGuildAdmin(GuildScopedAdminMixin, admin.ModelAdmin):
    """Base admin for Guild itself: a staff user sees only the guilds listing them as staff."""

    guild_field = "pk"


# --- Discord names next to ids ---------------------------------------------------------------------
def load_names(objs, fields, guild_attr: str) -> None:
    """Attach the last seen Discord names of every id in `objs` (one query for all of them)."""
    guild_ids, ids = set(), set()
    for obj in objs:
        guild_ids.add(getattr(obj, guild_attr))
        for field in fields:
            ids.update(discord_ids(getattr(obj, field)))
    book = {}
    if ids and guild_ids - {None}:
        rows = DiscordName.objects.filter(guild_id__in=guild_ids - {None}, discord_id__in=ids)
        book = {(g, k, d): (n, dead) for g, k, d, n, dead in rows.values_list("guild_id", "kind", "discord_id",
                                                                             "name", "deleted")}
    for obj in objs:
        obj._discord_names = book


def discord_ids(value) -> list[int]:
    """The Discord ids in a field's value: one id, a list of ids, or none."""
    if value in (None, ""):
        return []
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value if str(v).isdigit()]
    return [int(value)]


def named(kind: str, discord_id, obj, guild_attr: str = "guild_id") -> str:
    """'Name (id)' from the names loaded on `obj`, or the bare id when the bot never saw a name."""
    found = getattr(obj, "_discord_names", {}).get((getattr(obj, guild_attr), kind, discord_id))
    if found is None:
        return str(discord_id)
    name, deleted = found
    if deleted:
        return gettext("%(name)s (%(id)s, deleted on Discord)") % {"name": name, "id": discord_id}
    return gettext("%(name)s (%(id)s)") % {"name": name, "id": discord_id}


def name_column(field: str, kind, description, guild_attr: str = "guild_id"):
    """A list_display/readonly column showing `field`'s id(s) with their names; `kind` may be a callable(obj)."""

    @admin.display(description=description, ordering=None if field == "admin_role_ids" else field)
    def column(obj):
        value = getattr(obj, field)
        if value in (None, "", []):
            return None  # the admin's empty value display
        which = kind(obj) if callable(kind) else kind
        return ", ".join(named(which, i, obj, guild_attr) for i in discord_ids(value))

    column.__name__ = f"{field}_named"
    return column


class NamedChangeList(ChangeList):
    """A changelist that loads the Discord names of the whole page in one query."""

    def get_results(self, request):
        super().get_results(request)
        # list() fills the queryset's cache, so the template iterates these same objects.
        self.model_admin.attach_names(list(self.result_list))


class NamesMixin:
    """ModelAdmin mixin: load the Discord names of the ids in `name_fields` for name_column() columns."""

    name_fields: tuple[str, ...] = ()  # fields holding Discord ids (one id, or a list of ids)
    names_guild_attr = "guild_id"

    def attach_names(self, objs) -> None:
        """Load the names for these objects."""
        load_names(objs, self.name_fields, self.names_guild_attr)

    def get_changelist(self, request, **kwargs):
        return NamedChangeList

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            self.attach_names([obj])
        return obj
