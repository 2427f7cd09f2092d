"""Admin for verification, scoped per guild: links (with an unlink action), their history, and attempts.

Everything here is written by the bot and the services: rows are read-only; the only change is the
"Unlink" action, which goes through `link_unlink_from_admin` (history row, log note, and an outbox row
with which the bot takes the verified role away as soon as it is woken: at once when it runs, else at
its next start).
"""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from botproject.admin import ReadOnlyMixin
from botproject.admin_scoping import GuildScopedAdminMixin, NamesMixin, name_column
from botproject.exceptions import DomainError
from botproject.models import DiscordName, OutboxMessage

from . import services
from .models import LinkEvent, RobloxLink, VerificationAttempt
from .selectors import profile_url

USER = DiscordName.Kind.USER


class ActiveLinkFilter(admin.SimpleListFilter):
    """Active or ended links."""

    title = _("state")
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return (("yes", _("active")), ("no", _("unlinked")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(unlinked_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(unlinked_at__isnull=False)
        return queryset


@admin.display(description=_("Roblox profile"))
def roblox_profile(obj) -> str:
    """The account's public profile address."""
    return profile_url(obj.roblox_id)


@admin.display(description=_("Discord role removal"))
def role_removal(obj) -> str:
    """How the bot is getting on with taking the verified role away after an unlink on the admin site."""
    row = OutboxMessage.objects.filter(dedupe_key=f"verify:unlink:{obj.pk}").first()
    if row is None:
        return "–"
    status = row.get_status_display()
    return f"{status}: {row.last_error}" if row.last_error else status


class LinkEventInline(admin.TabularInline):
    """The history rows that mention a link (read-only)."""

    model = LinkEvent
    fk_name = "link"
    extra = 0
    can_delete = False
    fields = ("created_at", "action", "roblox_name", "actor_id", "actor_user")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RobloxLink)
class RobloxLinkAdmin(NamesMixin, ReadOnlyMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """Members' Roblox links, active and ended; staff may unlink (the bot then takes the role away)."""

    name_fields = ("user_id", "unlinked_by_id")
    member_named = name_column("user_id", USER, _("member"))
    unlinked_by_named = name_column("unlinked_by_id", USER, _("unlinked by"))
    list_display = ("guild", member_named, "roblox_name", "roblox_id", "linked_at", "unlinked_at", "unlink_reason")
    list_filter = ("guild", ActiveLinkFilter, "unlink_reason", "shared", "linked_at")
    search_fields = ("=user_id", "roblox_name", "=roblox_id", "guild__name")
    list_select_related = ("guild",)
    date_hierarchy = "linked_at"
    fields = ("guild", member_named, "roblox_id", "roblox_name", "roblox_display_name", roblox_profile, "shared",
              "attempt", "linked_at", "unlinked_at", unlinked_by_named, "unlinked_by_user", "unlink_reason",
              role_removal)
    readonly_fields = fields
    inlines = [LinkEventInline]
    actions = ["unlink"]

    def has_service_permission(self, request):
        """Unlinking needs the model's change permission (the form itself stays read-only)."""
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    @admin.action(description=_("Unlink the selected members (the bot takes the verified role away)"),
                  permissions=["service"])
    def unlink(self, request, queryset):
        done = 0
        for link_id in self.scope_queryset(request, queryset).filter(unlinked_at__isnull=True).values_list(
                "pk", flat=True):
            try:
                services.link_unlink_from_admin(link_id=link_id, actor_user=request.user)
                done += 1
            except DomainError as error:
                self.message_user(request, error.user_message(), messages.WARNING)
        self.message_user(request, ngettext(
            "Unlinked %(count)d member; the bot takes the verified role away at once (or when it next starts).",
            "Unlinked %(count)d members; the bot takes the verified role away at once (or when it next starts).",
            done) % {"count": done}, messages.SUCCESS if done else messages.INFO)


@admin.register(LinkEvent)
class LinkEventAdmin(NamesMixin, ReadOnlyMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """The link history: every verify, reverify and unlink, who did it and when (append-only)."""

    name_fields = ("user_id", "actor_id")
    member_named = name_column("user_id", USER, _("member"))
    actor_named = name_column("actor_id", USER, _("Discord actor"))
    list_display = ("created_at", "guild", member_named, "action", "roblox_name", "roblox_id", actor_named,
                    "actor_user")
    list_filter = ("guild", "action", "created_at")
    search_fields = ("=user_id", "roblox_name", "=roblox_id", "=actor_id", "actor_user__username")
    list_select_related = ("guild", "actor_user")
    date_hierarchy = "created_at"
    fields = ("created_at", "guild", member_named, "action", "roblox_id", "roblox_name", "link", "previous_link",
              actor_named, "actor_user")
    readonly_fields = fields


@admin.register(VerificationAttempt)
class VerificationAttemptAdmin(NamesMixin, ReadOnlyMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """Attempts, to help a member who cannot get verified (which account, which code, what became of it)."""

    name_fields = ("user_id",)
    member_named = name_column("user_id", USER, _("member"))

    @admin.display(description=_("state"))
    def state(self, obj):
        return _("expired") if obj.expired else obj.get_status_display()

    list_display = ("created_at", "guild", member_named, "purpose", "roblox_name", "roblox_id", "state",
                    "expires_at")
    list_filter = ("guild", "status", "purpose", "created_at")
    search_fields = ("=user_id", "roblox_name", "=roblox_id")
    list_select_related = ("guild",)
    date_hierarchy = "created_at"
    fields = ("guild", member_named, "purpose", "roblox_id", "roblox_name", "roblox_display_name", "code", "state",
              "created_at", "expires_at", "closed_at")
    readonly_fields = fields
