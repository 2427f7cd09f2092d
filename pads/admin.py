"""Admin for pad sessions: filters, history per host, and ending an active session (the bot updates Discord)."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from botproject.admin_scoping import GuildScopedAdminMixin, NamesMixin, name_column
from botproject.models import DiscordName

from . import services
from .models import PadSession


class ActiveFilter(admin.SimpleListFilter):
    """Active or ended sessions."""

    title = _("state")
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return (("yes", _("active")), ("no", _("ended")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(ended_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(ended_at__isnull=False)
        return queryset


@admin.register(PadSession)
class PadSessionAdmin(NamesMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """Sessions are created on Discord; here staff look them up and can end an active one."""

    name_fields = ("host_id",)
    host_named = name_column("host_id", DiscordName.Kind.USER, _("host"))
    list_display = ("guild", "pad", "kind", host_named, "starts", "started_at", "ends_at", "ended_at", "end_reason")
    list_filter = ("guild", ActiveFilter, "pad", "kind", "end_reason", "started_at")
    search_fields = ("=host_id", "host_name", "starts")
    list_select_related = ("guild",)
    date_hierarchy = "started_at"
    actions = ["end_sessions"]
    readonly_fields = [f.name for f in PadSession._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("End the selected active sessions"), permissions=["change"])
    def end_sessions(self, request, queryset):
        ended = 0
        for session_id in queryset.filter(ended_at__isnull=True).values_list("pk", flat=True):
            services.session_end_from_admin(session_id=session_id)
            ended += 1
        self.message_user(request, ngettext("Ended %(count)d session; the bot updates its announcement.",
                                            "Ended %(count)d sessions; the bot updates their announcements.",
                                            ended) % {"count": ended}, messages.SUCCESS)


