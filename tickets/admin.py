"""Admin pages of tickets, scoped per guild (see botproject.admin_scoping).

Categories are edited freely by their guild's staff. Tickets are written by the bot: read-only here,
with a "Close" action (through the service; the bot deletes the channel through the outbox), the stored
HTML transcript (a scoped view: only staff of that guild), and a metrics page with plain HTML/CSS bars.
Panels can be refreshed or re-posted: the request is stored and the bot carries it out with the buttons
(an outbox message cannot carry buttons, and an outbox edit removes them).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from botproject.admin import ReadOnlyMixin
from botproject.admin_scoping import GuildScopedAdminMixin, NamesMixin, name_column, unseen_id_error, visible_guilds
from botproject.exceptions import DomainError
from botproject.models import DiscordName

from . import charts, metrics, services
from .models import (
    MAX_QUESTIONS,
    Ticket,
    TicketAnswer,
    TicketCategory,
    TicketClaim,
    TicketClose,
    TicketCloseRequest,
    TicketDeadline,
    TicketPanel,
    TicketQuestion,
    TicketRating,
    TicketTranscript,
)
from .transcripts import admin_closer_text

USER = DiscordName.Kind.USER


def _form_guild(form):
    """The guild the form's row belongs to: the chosen one on add, the row's own on change."""
    return form.cleaned_data.get("guild") or (form.instance.guild if form.instance.guild_id else None)


class TicketCategoryForm(forms.ModelForm):
    """A category; its staff role override must be a role the bot has seen in the category's guild."""

    def clean(self):
        cleaned = super().clean()
        role_id, guild = cleaned.get("staff_role_id"), _form_guild(self)
        if role_id and guild and (error := unseen_id_error(guild, DiscordName.Kind.ROLE, role_id)):
            self.add_error("staff_role_id", error)
        required = cleaned.get("required_role_ids")
        if isinstance(required, list) and guild:
            for value in required:
                if not str(value).isdigit():
                    self.add_error("required_role_ids", gettext("A list of role ids, e.g. [123456789012345678]."))
                    break
                if error := unseen_id_error(guild, DiscordName.Kind.ROLE, int(value)):
                    self.add_error("required_role_ids", error)
                    break
        return cleaned


class QuestionInline(admin.TabularInline):
    """A category's intake form: at most 5 questions (the database holds positions 1..5, one each)."""

    model = TicketQuestion
    extra = 0
    max_num = MAX_QUESTIONS
    fields = ("position", "label", "label_vi", "style", "required", "max_length")


class TicketPanelForm(forms.ModelForm):
    """A panel: its channel is a text channel the bot has seen in the panel's guild, its categories that guild's."""

    def clean(self):
        cleaned = super().clean()
        guild = _form_guild(self)
        if guild is None:
            return cleaned
        channel_id = cleaned.get("channel_id")
        if channel_id and (error := unseen_id_error(guild, DiscordName.Kind.CHANNEL, channel_id, PANEL_CHANNEL_TYPES)):
            self.add_error("channel_id", error)
        foreign = [c for c in cleaned.get("categories") or [] if c.guild_id != guild.pk]
        if foreign:
            self.add_error("categories", gettext("These categories belong to another server: %(names)s.") % {
                "names": ", ".join(str(c) for c in foreign)})
        return cleaned


PANEL_CHANNEL_TYPES = {"text", "news"}


@admin.register(TicketCategory)
class TicketCategoryAdmin(GuildScopedAdminMixin, admin.ModelAdmin):
    """Services members open tickets for."""

    form = TicketCategoryForm
    list_display = ("__str__", "guild", "helper_points", "helper_slots", "max_open_per_member", "position", "active")
    list_filter = ("guild", "active")
    list_editable = ("position", "active")
    search_fields = ("name", "description")
    inlines = (QuestionInline,)
    fieldsets = (
        (None, {"fields": ("guild", "name", "description", "emoji", "response_time", "position", "active")}),
        (_("Helpers"), {"fields": ("helper_points", "helper_slots", "staff_role_id", "rating_bonus")}),
        (_("Who may open, and when"), {"fields": ("max_open_per_member", "opens_per_hour", "required_role_ids",
                                                  "hours_start", "hours_end", "time_zone", "outside_hours")}),
        (_("Timers"), {"description": _("Durations as \"DD HH:MM:SS\": \"12:00:00\" is 12 hours, \"2 00:00:00\" two "
                                        "days. Timers run as database rows: restarts do not lose them."),
                       "fields": ("remind_after", "autoclose_after", "alert_after", "reopen_window", "rating_wait")}),
        (_("After the close"), {"fields": ("transcript_dm",)}),
    )


@admin.register(TicketPanel)
class TicketPanelAdmin(GuildScopedAdminMixin, admin.ModelAdmin):
    """Posted panels; refresh or re-post them from here (both need the change permission: the bot acts)."""

    form = TicketPanelForm
    list_display = ("__str__", "guild", "channel_id", "message_id", "created_at", "refreshed_at")
    list_filter = ("guild",)
    readonly_fields = ("message_id", "legacy_id", "created_by_id", "created_at", "refresh_requested_at",
                       "repost_requested_at", "refreshed_at")
    filter_horizontal = ("categories",)
    actions = ("refresh", "repost")

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "categories":
            kwargs["queryset"] = TicketCategory.objects.filter(guild__in=visible_guilds(request.user))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.action(description=_("Refresh the panel message (buttons from the current categories)"),
                  permissions=["change"])
    def refresh(self, request, queryset):
        for panel in queryset:
            services.panel_request(panel_id=panel.pk, repost=False)
        self.message_user(request, gettext("The bot refreshes %(count)s panel(s) within seconds.") % {
            "count": queryset.count()}, messages.SUCCESS)

    @admin.action(description=_("Post the panel again"), permissions=["change"])
    def repost(self, request, queryset):
        for panel in queryset:
            services.panel_request(panel_id=panel.pk, repost=True)
        self.message_user(request, gettext("The bot posts %(count)s panel(s) again within seconds.") % {
            "count": queryset.count()}, messages.SUCCESS)


class ClaimInline(admin.TabularInline):
    """The helpers of a ticket."""

    model = TicketClaim
    extra = 0
    can_delete = False
    readonly_fields = ("user_id", "slot", "claimed_at", "points_awarded")

    def has_add_permission(self, request, obj=None):
        return False


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AnswerInline(_ReadOnlyInline):
    """The intake answers (the member's text: the admin escapes it)."""

    model = TicketAnswer
    fields = readonly_fields = ("position", "label", "value")


class CloseInline(_ReadOnlyInline):
    """Every close of the ticket (a reopened ticket keeps its earlier ones)."""

    model = TicketClose
    fields = readonly_fields = ("closed_at", "closed_by_id", "close_path", "close_reason", "reopened_at",
                                "reopened_by_id")


class RatingInline(_ReadOnlyInline):
    """The opener's rating (the comment is the member's text: escaped)."""

    model = TicketRating
    fields = readonly_fields = ("stars", "comment", "rated_at", "changed_at")


class CloseRequestInline(_ReadOnlyInline):
    """Close requests and how they ended."""

    model = TicketCloseRequest
    fields = readonly_fields = ("requested_by_id", "reason", "hours", "created_at", "due_at", "outcome",
                                "answered_at")


@admin.register(Ticket)
class TicketAdmin(ReadOnlyMixin, NamesMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """Tickets (read-only; closed with the action), with their transcripts."""

    opener_named = name_column("opener_id", USER, _("opener"))
    closer_named = staticmethod(name_column("closed_by_id", USER, _("closed by")))
    list_display = ("number", "code", "guild", "category_name", opener_named, "status", "created_at", "closed_at",
                    "close_path", "closer", "transcript_link")
    list_filter = ("guild", "status", "close_path", "category")
    search_fields = ("code", "=opener_id", "=number", "=channel_id")
    inlines = (AnswerInline, ClaimInline, RatingInline, CloseRequestInline, CloseInline)
    name_fields = ("opener_id", "closed_by_id", "member_ids")
    actions = ("close_tickets",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    @admin.display(description=_("closed by"))
    def closer(self, obj):
        """The Discord member who closed the ticket, or the admin site user when it was closed here."""
        if obj.closed_by_id:
            return self.closer_named(obj)
        if obj.close_path == Ticket.ClosePath.ADMIN:
            return admin_closer_text(obj.closed_by_admin, markdown=False)
        return None

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("closed_by_admin")

    @admin.display(description=_("transcript"))
    def transcript_link(self, obj):
        if not TicketTranscript.objects.filter(pk=obj.pk).exists():
            return "–"
        return format_html('<a href="{}">{}</a>', reverse("admin:tickets_ticket_transcript", args=[obj.pk]),
                           gettext("view"))

    def has_service_permission(self, request):
        """Closing needs the model's change permission (the ticket form itself stays read-only)."""
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    @admin.action(description=_("Close the selected tickets"), permissions=["service"])
    def close_tickets(self, request, queryset):
        done = 0
        for ticket in queryset:
            try:
                services.ticket_close_from_admin(ticket_id=ticket.pk, actor_user=request.user)
                done += 1
            except DomainError as error:
                self.message_user(request, f"#{ticket.number}: {error.user_message()}", messages.WARNING)
        self.message_user(request, gettext("%(count)s ticket(s) closed.") % {"count": done}, messages.SUCCESS)

    def get_urls(self):
        extra = [
            path("<int:pk>/transcript/", self.admin_site.admin_view(self.transcript_view),
                 name="tickets_ticket_transcript"),
            path("metrics/", self.admin_site.admin_view(self.metrics_view), name="tickets_ticket_metrics"),
        ]
        return extra + super().get_urls()

    def transcript_view(self, request, pk: int):
        """The stored HTML transcript, only for users who may view this guild's tickets."""
        ticket = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_view_permission(request, ticket):
            raise Http404
        transcript = get_object_or_404(TicketTranscript, pk=ticket.pk)
        response = HttpResponse(transcript.html, content_type="text/html; charset=utf-8")
        # The stored page is inert: no scripts, no external loads.
        response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
        return response

    def metrics_view(self, request):
        """Figures and charts per guild (HTML/CSS bars and server-side SVG); `?format=csv` exports them."""
        if not self.has_view_permission(request):
            raise Http404
        try:
            days = max(1, min(365, int(request.GET.get("days", 30))))
        except ValueError:
            days = 30
        guilds, per_guild = [], []
        for guild in visible_guilds(request.user).filter(left_at__isnull=True)[:20]:
            stats = metrics.ticket_stats(guild_id=guild.discord_id, days=days)
            per_guild.append((guild, stats))
            if request.GET.get("format") == "csv":
                continue
            paths = [(gettext("It works!"), stats.closed_works), (gettext("Staff after Need help"),
                     stats.closed_after_help), (gettext("Staff directly"), stats.closed_staff),
                     (gettext("Other"), stats.closed_other), (gettext("Still open"), stats.still_open)]
            top = max([n for _l, n in paths] + [n for _c, n in stats.per_category] + [n for _d, n in stats.per_day]
                      + [1])
            guilds.append({"guild": guild, "stats": stats, "top": top,
                           "paths": [(label, n, 100 * n // top) for label, n in paths],
                           "categories": [(name, n, 100 * n // top) for name, n in stats.per_category],
                           "days": [(day, n, 100 * n // top) for day, n in stats.per_day],
                           "charts": charts.charts(stats),
                           "shares": [(label, "–" if v is None else f"{100 * v:.0f} %") for label, v in (
                               (gettext("Rated"), stats.rated_share),
                               (gettext("Auto-closed"), stats.auto_closed_share),
                               (gettext("One-touch resolutions"), stats.one_touch_share))]})
        if request.GET.get("format") == "csv":
            response = HttpResponse(charts.stats_csv(per_guild), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="ticket-metrics-{days}d.csv"'
            return response
        context = {**self.admin_site.each_context(request), "title": gettext("Ticket metrics"), "guilds": guilds,
                   "days": days, "opts": self.model._meta}
        return TemplateResponse(request, "admin/tickets/metrics.html", context)

    def changelist_view(self, request, extra_context=None):
        extra = {"metrics_url": reverse("admin:tickets_ticket_metrics"), **(extra_context or {})}
        return super().changelist_view(request, extra)



class _PendingFilter(admin.SimpleListFilter):
    """Pending timers (not fired, not cancelled) or done ones."""

    title = _("state")
    parameter_name = "pending"

    def lookups(self, request, model_admin):
        return (("yes", _("pending")), ("no", _("done")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(done_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(done_at__isnull=False)
        return queryset


def _ticket_link(obj):
    return format_html('<a href="{}">{}</a>', reverse("admin:tickets_ticket_change", args=[obj.ticket_id]),
                       str(obj.ticket))


@admin.register(TicketDeadline)
class TicketDeadlineAdmin(ReadOnlyMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """The tickets' timers (reminders, auto-closes, alerts, close requests, rating and transcript DMs), read-only:
    the bot writes, moves and cancels them; staff see what is pending and when it fires."""

    guild_field = "ticket__guild"
    list_display = ("due_at", "kind", "ticket_link", "state", "attempts", "lease_until")
    list_filter = (_PendingFilter, "kind", "outcome", "ticket__guild")
    search_fields = ("=ticket__number", "ticket__code")
    list_select_related = ("ticket",)
    date_hierarchy = "due_at"
    fields = ("ticket_link", "kind", "due_at", "state", "done_at", "attempts", "lease_until", "created_at")
    readonly_fields = fields

    @admin.display(description=_("ticket"), ordering="ticket__number")
    def ticket_link(self, obj):
        return _ticket_link(obj)

    @admin.display(description=_("state"), ordering="done_at")
    def state(self, obj):
        return obj.get_outcome_display() if obj.done_at else gettext("pending")


@admin.register(TicketRating)
class TicketRatingAdmin(ReadOnlyMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """The openers' ratings, read-only (the comment is the member's text: the admin escapes it)."""

    guild_field = "ticket__guild"
    list_display = ("rated_at", "ticket_link", "stars", "comment", "changed_at")
    list_filter = ("stars", "ticket__guild", "ticket__category")
    search_fields = ("=ticket__number", "ticket__code", "comment")
    list_select_related = ("ticket",)
    fields = ("ticket_link", "stars", "comment", "rated_at", "changed_at")
    readonly_fields = fields

    @admin.display(description=_("ticket"), ordering="ticket__number")
    def ticket_link(self, obj):
        return _ticket_link(obj)
