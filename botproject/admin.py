"""Admin pages for the core: guilds, their configuration, grants and the blocklist."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import BlockEntry, CommandSyncState, Guild, GuildConfig, PermissionGrant

admin.site.site_header = _("Community bot administration")
admin.site.site_title = _("Community bot")
admin.site.index_title = _("Dashboard")


class GuildConfigInline(admin.StackedInline):
    model = GuildConfig
    can_delete = False


@admin.register(Guild)
class GuildAdmin(admin.ModelAdmin):
    list_display = ("name", "discord_id", "owner_id", "joined_at", "left_at")
    list_filter = (("left_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "=discord_id")
    readonly_fields = ("joined_at",)
    inlines = [GuildConfigInline]


@admin.register(GuildConfig)
class GuildConfigAdmin(admin.ModelAdmin):
    list_display = ("guild", "language", "staff_role_id", "helper_role_id", "log_channel_id", "updated_at")
    list_filter = ("language",)
    search_fields = ("guild__name", "=guild__discord_id")
    list_select_related = ("guild",)


@admin.register(PermissionGrant)
class PermissionGrantAdmin(admin.ModelAdmin):
    list_display = ("guild", "kind", "target_id", "granted_by_id", "created_at")
    list_filter = ("kind", "guild")
    search_fields = ("=target_id", "guild__name")
    list_select_related = ("guild",)


@admin.register(BlockEntry)
class BlockEntryAdmin(admin.ModelAdmin):
    list_display = ("guild", "user_id", "reason", "blocked_at", "unblocked_at")
    list_filter = (("unblocked_at", admin.EmptyFieldListFilter), "guild")
    search_fields = ("=user_id", "reason", "guild__name")
    list_select_related = ("guild",)


@admin.register(CommandSyncState)
class CommandSyncStateAdmin(admin.ModelAdmin):
    list_display = ("scope", "digest", "synced_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
