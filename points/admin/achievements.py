"""Admin pages of achievements, scoped per guild (see botproject.admin_scoping).

Achievements are edited freely by the staff of their guild; who earned which is read-only.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from botproject.admin import ReadOnlyMixin
from botproject.admin_scoping import GuildScopedAdminMixin, visible_guild_ids

from ..models import Achievement, MemberAchievement
from .common import member_label


@admin.register(Achievement)
class AchievementAdmin(GuildScopedAdminMixin, admin.ModelAdmin):
    """Milestones per guild, edited by that guild's staff; members earn each once."""

    list_display = ("name", "guild", "condition", "threshold", "bonus_points", "active", "times_earned")
    list_filter = ("guild", "condition", "active")
    search_fields = ("name", "description")
    list_select_related = ("guild",)
    fields = ("guild", "name", "description", "condition", "threshold", "bonus_points", "active")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(times_earned=Count("awards"))

    @admin.display(description=_("earned by"), ordering="times_earned")
    def times_earned(self, obj):
        return obj.times_earned

    def has_delete_permission(self, request, obj=None):
        # Once earned, an achievement is history (members' records, bonus entries): switch it off instead.
        return super().has_delete_permission(request, obj) and (obj is None or not obj.awards.exists())

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if "active" in form.base_fields:
            form.base_fields["active"].help_text = _("Inactive achievements are no longer awarded. An achievement "
                                                     "members have earned cannot be deleted; switch it off instead.")
        return form


class _ScopedAchievementFilter(admin.RelatedFieldListFilter):
    """The achievement filter of the list: only achievements of the user's guilds."""

    def field_choices(self, field, request, model_admin):
        ids = visible_guild_ids(request)
        limit = None if ids is None else {"guild_id__in": ids}
        return field.get_choices(include_blank=False, limit_choices_to=limit)


@admin.register(MemberAchievement)
class MemberAchievementAdmin(ReadOnlyMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """Who earned which achievement, and the bonus entry it paid."""

    guild_field = "member__guild"
    list_display = ("awarded_at", "achievement", "member_named", "bonus_entry")
    list_filter = ("member__guild", "achievement")
    search_fields = ("achievement__name", "member__display_name", "=member__user_id")
    list_select_related = ("achievement", "member", "bonus_entry")
    fields = ("achievement", "member_named", "bonus_entry", "awarded_at")
    readonly_fields = fields

    @admin.display(description=_("member"), ordering="member__user_id")
    def member_named(self, obj):
        return member_label(obj.member)

    def get_list_filter(self, request):
        # The achievement filter lists only the user's guilds' achievements.
        filters = super().get_list_filter(request)
        return [(f, _ScopedAchievementFilter) if f == "achievement" else f for f in filters]
