"""Admin pages for the core, scoped per guild (see admin_scoping): guilds, configuration, access, history.

Writes go through the services: the configuration form saves with `config_update`, grants and blocks
change only through their actions. Audit log, outbox, names and command sync are read-only records.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import escape
from django.utils.text import Truncator
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from . import overview, registry, selectors, services
from .admin_scoping import (
    GuildScopedAdminMixin,
    NamesMixin,
    ScopedGuildAdmin,
    discord_ids,
    name_column,
    named,
    sees_all_guilds,
    unseen_id_error,
)
from .exceptions import DomainError
from .login_lockout import LockoutAuthenticationForm
from .models import (
    AuditEntry,
    BlockEntry,
    CommandSyncState,
    DiscordName,
    Guild,
    GuildConfig,
    HelperRecord,
    OutboxMessage,
    PermissionGrant,
)

admin.site.site_header = _("Community bot administration")
admin.site.site_title = _("Community bot")
admin.site.index_title = _("Dashboard")
admin.site.site_url = None  # "/" is the keep-alive JSON status, not a site worth a "View site" link
overview.install(admin.site)
admin.site.login_form = LockoutAuthenticationForm  # repeated failed logins lock the username out for a while

ROLE, CHANNEL, USER = DiscordName.Kind.ROLE, DiscordName.Kind.CHANNEL, DiscordName.Kind.USER


class ReadOnlyMixin:
    """Records written only by the bot and the services: viewable, never added, changed or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Guilds and their configuration ----------------------------------------------------------------
@admin.register(Guild)
class GuildAdmin(NamesMixin, ScopedGuildAdmin):
    """Guilds: a staff user sees only theirs; only superusers choose who is staff of a guild."""

    name_fields = ("owner_id",)
    names_guild_attr = "pk"
    owner_named = name_column("owner_id", USER, _("owner"), guild_attr="pk")
    list_display = ("name", "discord_id", "member_count", owner_named, "joined_at", "left_at")
    list_filter = (("left_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "discord_id__exact")
    fields = ("name", "discord_id", owner_named, "member_count", "joined_at", "left_at", "staff_users")
    filter_horizontal = ("staff_users",)

    def get_readonly_fields(self, request, obj=None):
        # The bot keeps these up to date; staff_users decides who sees what, so only superusers edit it.
        readonly = [field for field in self.fields if field != "staff_users"]
        return readonly if sees_all_guilds(request.user) else [*readonly, "staff_users"]

    def has_add_permission(self, request):
        return False  # guilds appear when the bot joins them

    def has_change_permission(self, request, obj=None):
        # Only staff_users is editable, and only by superusers: everyone else gets the read-only view.
        return sees_all_guilds(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return sees_all_guilds(request.user) and super().has_delete_permission(request, obj)


CONFIG_ROLE_FIELDS = ("staff_role_id", "helper_role_id", "verified_role_id", "admin_role_ids")


def config_names() -> dict[str, str]:
    """The GuildConfig fields holding Discord ids and what each names: the roles, then the registered channels."""
    return {**dict.fromkeys(CONFIG_ROLE_FIELDS, ROLE), **{c.field: CHANNEL for c in registry.channels()}}


def config_channel_types() -> dict[str, set[str]]:
    """Which Discord channel types each configurable channel field accepts (botproject.registry)."""
    return {c.field: set(c.types) for c in registry.channels()}


class ServiceRefused(Exception):
    """config_update refused the form's values; carries the text to show on the form."""


class GuildConfigForm(forms.ModelForm):
    """The configuration form; the values are checked again and saved by config_update."""

    refusal: str | None = None  # set on a re-render after the service refused

    class Meta:
        model = GuildConfig
        # Every setting of the model is editable: a new one needs no change here (issue 15.3).
        exclude = ("guild",)  # noqa: DJ006
        widgets = {"admin_role_ids": forms.Textarea(attrs={"rows": 2, "cols": 60})}

    def _handed_out_role(self, field: str):
        """The helper and verified roles are given by the bot: refuse one it must not hand out (issue 13.3)."""
        value = self.cleaned_data.get(field)
        if value is not None and field in self.changed_data:
            refusal = selectors.recorded_role_refusal(guild_id=self.instance.guild.discord_id, role_id=value)
            if refusal is not None:
                raise ValidationError(refusal.user_message())
        return value

    def clean_helper_role_id(self):
        return self._handed_out_role("helper_role_id")

    def clean_verified_role_id(self):
        return self._handed_out_role("verified_role_id")

    def clean_admin_role_ids(self):
        value = self.cleaned_data.get("admin_role_ids") or []
        if not isinstance(value, list) or not all(isinstance(v, int) and v > 0 for v in value):
            raise ValidationError(_("Enter a list of role ids, e.g. [123456789012345678]."))
        return value

    def clean(self):
        cleaned = super().clean()
        if self.refusal:
            raise ValidationError(self.refusal)
        # Ids typed here must be roles and channels the bot has seen in this guild (never another guild's).
        names, channel_types = config_names(), config_channel_types()
        for field in set(self.changed_data) & set(names):
            types = channel_types.get(field)
            for discord_id in discord_ids(cleaned.get(field)):
                if error := unseen_id_error(self.instance.guild, names[field], discord_id, types):
                    self.add_error(field, error)
                    break
        return cleaned


@admin.register(GuildConfig)
class GuildConfigAdmin(NamesMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """Guild configuration: changes are saved, audited and announced by the config_update service."""

    form = GuildConfigForm
    staff_named = name_column("staff_role_id", ROLE, _("staff role"))
    helper_named = name_column("helper_role_id", ROLE, _("helper role"))
    log_named = name_column("log_channel_id", CHANNEL, _("log channel"))
    list_display = ("guild", "language", staff_named, helper_named, log_named, "updated_at")
    search_fields = ("guild__name", "guild__discord_id__exact")
    list_select_related = ("guild",)
    ordering = ("guild__name", "guild__discord_id")
    readonly_fields = ("guild", "updated_at")

    # The apps register their channels, module switches and settings (botproject.registry) after this module is
    # imported (the admin autodiscovers first), so these are built per request, not as class attributes.
    @property
    def name_fields(self) -> tuple[str, ...]:
        return tuple(config_names())

    @property
    def list_filter(self) -> tuple[str, ...]:
        return ("guild", "language", *(m.enabled_field for m in registry.modules()))

    @property
    def fieldsets(self) -> list:
        sections = [
            (None, ("guild", "language", "prefix", "updated_at")),
            (_("Roles"), CONFIG_ROLE_FIELDS),
            (_("Channels"), tuple(c.field for c in registry.channels())),
            (_("Modules"), tuple(m.enabled_field for m in registry.modules())),
            *registry.settings_sections(),
        ]
        listed = {name for _title, fields in sections for name in fields}
        rest = tuple(f.name for f in GuildConfig._meta.concrete_fields if f.editable and f.name not in listed
                     and f.name != "guild")
        if rest:  # a setting no app placed still shows, at the end
            sections.append((None, rest))
        return [(title, {"fields": fields}) for title, fields in sections if fields]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.refusal = getattr(request, "_config_refusal", None)
        if obj is not None:
            # modelform_factory made fresh fields for this request, so per-object help text is safe here.
            for field, kind in config_names().items():
                value = getattr(obj, field)
                if field in form.base_fields and value not in (None, "", []):
                    # The admin renders help text as HTML and these names come from Discord: escape them.
                    names = ", ".join(named(kind, i, obj) for i in discord_ids(value))
                    form.base_fields[field].help_text = escape(gettext("Now: %(names)s") % {"names": names})
        return form

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as refused:
            # The view's transaction was rolled back; render the same POST again, now with the refusal on the form.
            request._config_refusal = str(refused)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        changes = {field: form.cleaned_data[field] for field in form.changed_data}
        if not changes:
            return
        try:
            services.config_update(guild_id=obj.guild.discord_id, changes=changes, actor_user=request.user)
        except DomainError as error:
            raise ServiceRefused(error.user_message()) from error

    def has_add_permission(self, request):
        return False  # every guild gets its configuration when the bot joins

    def has_delete_permission(self, request, obj=None):
        return False


# --- Access: grants, blocklist, helpers ------------------------------------------------------------
def _run_each(modeladmin, request, queryset, call, done_message) -> None:
    """Call a service for each selected row; report how many changed and any refusals."""
    done = 0
    for obj in modeladmin.scope_queryset(request, queryset).select_related("guild"):
        try:
            call(obj)
            done += 1
        except DomainError as error:
            modeladmin.message_user(request, error.user_message(), messages.WARNING)
    if done:
        modeladmin.message_user(request, done_message(done), messages.SUCCESS)


class ServiceActionMixin:
    """Rows that change only through service actions; those actions need the model's change permission."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # the form stays read-only; see has_service_permission

    def has_delete_permission(self, request, obj=None):
        return False

    def has_service_permission(self, request):
        """Whether the user may run this admin's service actions (the Django change permission)."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


@admin.register(PermissionGrant)
class PermissionGrantAdmin(NamesMixin, ServiceActionMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """Grants of the restricted commands; revoked through grant_revoke."""

    name_fields = ("target_id", "granted_by_id")
    target_named = name_column("target_id", lambda obj: obj.kind, _("role or user"))
    granted_by_named = name_column("granted_by_id", USER, _("granted by"))
    list_display = ("guild", "kind", target_named, granted_by_named, "created_at")
    list_filter = ("guild", "kind")
    search_fields = ("target_id__exact", "guild__name")
    list_select_related = ("guild",)
    fields = ("guild", "kind", target_named, granted_by_named, "created_at")
    readonly_fields = fields
    actions = ["revoke"]

    @admin.action(description=_("Revoke selected grants"), permissions=["service"])
    def revoke(self, request, queryset):
        _run_each(self, request, queryset, lambda g: services.grant_revoke(
            guild_id=g.guild.discord_id, kind=g.kind, target_id=g.target_id, actor_user=request.user),
            lambda n: ngettext("Revoked %(count)d grant.", "Revoked %(count)d grants.", n) % {"count": n})


@admin.register(BlockEntry)
class BlockEntryAdmin(NamesMixin, ServiceActionMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """The blocklist with its history; members are unblocked through block_remove."""

    name_fields = ("user_id", "blocked_by_id", "unblocked_by_id")
    user_named = name_column("user_id", USER, _("member"))
    blocked_by_named = name_column("blocked_by_id", USER, _("blocked by"))
    unblocked_by_named = name_column("unblocked_by_id", USER, _("unblocked by"))
    list_display = ("guild", user_named, "reason", blocked_by_named, "blocked_at", "unblocked_at")
    list_filter = ("guild", ("unblocked_at", admin.EmptyFieldListFilter))
    search_fields = ("user_id__exact", "reason", "guild__name")
    list_select_related = ("guild",)
    fields = ("guild", user_named, "reason", blocked_by_named, "blocked_at", unblocked_by_named, "unblocked_at")
    readonly_fields = fields
    actions = ["unblock"]

    @admin.action(description=_("Unblock selected members"), permissions=["service"])
    def unblock(self, request, queryset):
        _run_each(self, request, queryset.filter(unblocked_at__isnull=True), lambda b: services.block_remove(
            guild_id=b.guild.discord_id, user_id=b.user_id, actor_user=request.user),
            lambda n: ngettext("Unblocked %(count)d member.", "Unblocked %(count)d members.", n) % {"count": n})


@admin.register(HelperRecord)
class HelperRecordAdmin(NamesMixin, ReadOnlyMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """Helpers added and removed through the bot (/helper), with their history."""

    name_fields = ("user_id", "added_by_id", "removed_by_id")
    user_named = name_column("user_id", USER, _("member"))
    added_by_named = name_column("added_by_id", USER, _("added by"))
    removed_by_named = name_column("removed_by_id", USER, _("removed by"))
    list_display = ("guild", user_named, added_by_named, "added_at", "removed_at")
    list_filter = ("guild", ("removed_at", admin.EmptyFieldListFilter))
    search_fields = ("user_id__exact", "guild__name")
    list_select_related = ("guild",)
    fields = ("guild", user_named, added_by_named, "added_at", removed_by_named, "removed_at")
    readonly_fields = fields


# --- Records: audit log, outbox, names, command sync ------------------------------------------------
@admin.register(AuditEntry)
class AuditEntryAdmin(NamesMixin, ReadOnlyMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """The append-only audit log."""

    name_fields = ("actor_id",)
    actor_named = name_column("actor_id", USER, _("Discord actor"))
    list_display = ("created_at", "guild", "action", "target", actor_named, "actor_user", "before", "after")
    list_filter = ("guild", "action")
    search_fields = ("action", "target", "actor_id__exact", "actor_user__username", "guild__name")
    list_select_related = ("guild", "actor_user")
    date_hierarchy = "created_at"
    fields = ("created_at", "guild", "action", "target", actor_named, "actor_user", "before", "after")
    readonly_fields = fields


def _outbox_target_kind(obj) -> str:
    return USER if obj.kind in (OutboxMessage.Kind.DM, OutboxMessage.Kind.ROLE_REMOVE) else CHANNEL


@admin.register(OutboxMessage)
class OutboxMessageAdmin(NamesMixin, ReadOnlyMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """Queued Discord messages and their delivery state (messages without a guild: superusers only)."""

    name_fields = ("target_id",)
    target_named = name_column("target_id", _outbox_target_kind, _("channel or user"))

    @admin.display(description=_("content"))
    def content_start(self, obj):
        return Truncator(obj.content).chars(80)

    list_display = ("created_at", "guild", "kind", target_named, "content_start", "status", "attempts",
                    "available_at", "sent_at", "last_error")
    list_filter = ("status", "kind", "guild")
    search_fields = ("content", "last_error", "dedupe_key", "target_id__exact")
    list_select_related = ("guild",)
    fields = ("guild", "kind", target_named, "content", "embed", "dedupe_key", "status", "attempts", "last_error",
              "discord_message_id", "created_at", "available_at", "sent_at")
    readonly_fields = fields


@admin.register(DiscordName)
class DiscordNameAdmin(ReadOnlyMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """The last names the bot saw for roles, channels and users."""

    list_display = ("name", "kind", "discord_id", "channel_type", "guild", "deleted", "updated_at")
    list_filter = ("kind", "deleted", "guild")
    search_fields = ("name", "discord_id__exact")
    list_select_related = ("guild",)


@admin.register(CommandSyncState)
class CommandSyncStateAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """What command set was last synced where: operator data, superusers only."""

    list_display = ("scope", "digest", "synced_at")

    def has_view_permission(self, request, obj=None):
        return sees_all_guilds(request.user)

    def has_module_permission(self, request):
        return sees_all_guilds(request.user)
