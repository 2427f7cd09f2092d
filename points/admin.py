"""Admin pages of points, scoped per guild (see botproject.admin_scoping).

Balances change only through the ledger services: the member page shows the figures read-only, and the
"Adjust points" and "Reverse selected entries" actions call `points_award` / `points_deduct` /
`points_reverse` per row (one transaction each; a refusal is shown and changes nothing for that row).
The ledger is read-only and exports to CSV as a stream (batches by primary key, never the whole table in
memory). Achievements are edited freely by the staff of their guild.
"""

from __future__ import annotations

import csv
import uuid

from asgiref.sync import sync_to_async
from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.handlers.asgi import ASGIRequest
from django.db.models import Count
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from botproject.admin import ReadOnlyMixin
from botproject.admin_scoping import GuildScopedAdminMixin, NamesMixin, name_column
from botproject.exceptions import DomainError
from botproject.models import DiscordName

from . import selectors, services
from .models import Achievement, LedgerEntry, MemberAchievement, MemberProfile

USER = DiscordName.Kind.USER
# One admin request adjusts at most this many members (each is its own transaction); larger
# selections are refused rather than left half done by a request timeout.
MAX_ADJUST = 500
MAX_MISMATCHES_SHOWN = 20
CSV_BATCH = 2000


def may_change_balances(request) -> bool:
    """Adjusting and reversing need the change permission on members (Django's model permission)."""
    return request.user.has_perm("points.change_memberprofile")


def _member_label(profile: MemberProfile) -> str:
    if profile.display_name:
        return f"{profile.display_name} ({profile.user_id})"
    return str(profile.user_id)


def _intermediate(modeladmin, request, queryset, *, form, title, intro, objects, submit_label):
    """The confirmation page of an action: the rows, the form, and the action's hidden fields."""
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "objects": objects,
        "form": form,
        "submit_label": submit_label,
        "action_name": request.POST.get("action", ""),
        "select_across": request.POST.get("select_across", "0"),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "opts": opts,
        "app_label": opts.app_label,
        "media": modeladmin.media + form.media,
        "cancel_url": request.get_full_path(),
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/points/action_form.html", context)


# --- Members ------------------------------------------------------------------------------------
class DirectMessageForm(forms.Form):
    """The intermediate form of "Send a direct message"."""

    message = forms.CharField(label=_("message"), max_length=2000, widget=forms.Textarea(attrs={"rows": 4}))
    token = forms.UUIDField(widget=forms.HiddenInput)


class ProfileCreateForm(forms.ModelForm):
    """Create a member's profile by hand: the guild, their Discord id, a name and an e-mail."""

    class Meta:
        model = MemberProfile
        fields = ("guild", "user_id", "display_name", "email")

    def validate_unique(self):
        pass  # the service refuses duplicates with a clear message

    def clean(self):
        cleaned = super().clean()
        guild, user_id = cleaned.get("guild"), cleaned.get("user_id")
        if guild and user_id and MemberProfile.objects.filter(guild=guild, user_id=user_id).exists():
            raise ValidationError(_("That member already has a profile in this server."))
        return cleaned

class AdjustPointsForm(forms.Form):
    """The intermediate form of "Adjust points"; `token` makes one submission one idempotency key per member."""

    amount = forms.IntegerField(label=_("amount"), help_text=_("Positive to add points, negative to remove them."))
    reason = forms.CharField(label=_("reason"), max_length=500,
                             help_text=_("Shown to the member and kept in the ledger."))
    notify = forms.BooleanField(label=_("notify by direct message"), required=False, initial=True)
    token = forms.UUIDField(widget=forms.HiddenInput)

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise ValidationError(_("The amount cannot be 0."))
        return amount


@admin.register(MemberProfile)
class MemberProfileAdmin(GuildScopedAdminMixin, admin.ModelAdmin):
    """Members and their balances; balances change only through the ledger (actions below)."""

    list_display = ("guild", "display_name", "user_id", "balance", "earned_total", "spent_total", "entries",
                    "last_activity_at", "notifications_enabled")
    list_display_links = ("display_name", "user_id")
    list_filter = ("guild", "notifications_enabled", "last_activity_at", "negative_allowed")
    search_fields = ("display_name", "=user_id", "email")
    list_select_related = ("guild",)
    # Walks the (guild, -balance, user_id) leaderboard index.
    ordering = ("guild_id", "-balance", "user_id")
    show_full_result_count = False  # no second COUNT(*) over a million members on every search
    actions = ["adjust_points", "send_direct_message", "check_balances"]
    fieldsets = (
        (None, {"fields": ("guild", "user_id", "display_name", "email", "notifications_enabled", "created_at")}),
        (_("Points"), {
            "fields": ("balance", "rank", "earned_total", "spent_total", "entries", "last_activity_at",
                       "achievements_earned", "ledger_link"),
            "description": _("Balances change only through the ledger: use the \"Adjust points\" action on the "
                             "member list."),
        }),
    )
    readonly_fields = ("guild", "user_id", "display_name", "email", "created_at", "balance", "rank", "earned_total",
                       "spent_total", "entries", "last_activity_at", "achievements_earned", "ledger_link")

    @admin.display(description=_("rank"))
    def rank(self, obj):
        return selectors.rank_of(guild_id=obj.guild.discord_id, balance=obj.balance)

    @admin.display(description=_("achievements"))
    def achievements_earned(self, obj):
        return obj.achievements.count()

    @admin.display(description=_("ledger"))
    def ledger_link(self, obj):
        url = reverse("admin:points_ledgerentry_changelist") + "?" + urlencode({"member__id__exact": obj.pk})
        return format_html('<a href="{}">{}</a>', url, gettext("%(count)s entries") % {"count": obj.entries})

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:  # built by the admin, so the guild choices stay scoped to the user's guilds
            kwargs.update(form=ProfileCreateForm, fields=["guild", "user_id", "display_name", "email"])
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": ("guild", "user_id", "display_name", "email")}),)
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields


    def has_delete_permission(self, request, obj=None):
        return False  # the ledger keeps them (and deleting would hide points history)

    def has_adjust_permission(self, request):
        return may_change_balances(request)

    def save_model(self, request, obj, form, change):
        if not change:  # created by hand, through the service
            created = services.profile_create(guild_id=form.cleaned_data["guild"].discord_id,
                                              user_id=form.cleaned_data["user_id"],
                                              display_name=form.cleaned_data.get("display_name", ""),
                                              email=form.cleaned_data.get("email", ""))
            obj.pk, obj.guild_id = created.pk, created.guild_id
            return
        # Only the DM setting is editable here; it goes through its service like the bot's command.
        if "notifications_enabled" in form.changed_data:
            services.notifications_set(guild_id=obj.guild.discord_id, user_id=obj.user_id,
                                       enabled=form.cleaned_data["notifications_enabled"])

    # --- actions --------------------------------------------------------------------------------
    @admin.action(description=_("Adjust points"), permissions=["adjust"])
    def adjust_points(self, request, queryset):
        count = queryset.count()
        if not count:
            self.message_user(request, gettext("None of the selected members can be changed by you."),
                              messages.WARNING)
            return None
        if count > MAX_ADJUST:
            self.message_user(request, gettext("Select at most %(max)s members to adjust at once (you selected "
                                               "%(count)s).") % {"max": MAX_ADJUST, "count": count}, messages.ERROR)
            return None
        if "apply" in request.POST:
            form = AdjustPointsForm(request.POST)
            if form.is_valid():
                self._apply_adjustment(request, queryset, form.cleaned_data)
                return None
        else:
            form = AdjustPointsForm(initial={"token": uuid.uuid4(), "notify": True})
        members = [_member_label(p) + f" — {p.guild}: {p.balance}" for p in queryset.select_related("guild")[:50]]
        if count > len(members):
            members.append(gettext("… and %(count)s more") % {"count": count - len(members)})
        return _intermediate(
            self, request, queryset, form=form, title=gettext("Adjust points"),
            intro=ngettext("The change applies to this member (one ledger entry each):",
                           "The change applies to these %(count)s members (one ledger entry each):", count)
            % {"count": count},
            objects=members, submit_label=gettext("Adjust points"),
        )

    def _apply_adjustment(self, request, queryset, data) -> None:
        amount, token = data["amount"], data["token"]
        service = services.points_award if amount > 0 else services.points_deduct
        done = replayed = 0
        for profile in queryset.select_related("guild").order_by("pk"):
            try:
                result = service(
                    guild_id=profile.guild.discord_id, user_id=profile.user_id, amount=abs(amount),
                    reason=data["reason"], idempotency_key=f"admin:{token}:{profile.pk}",
                    actor_user=request.user, notify=data["notify"],
                )
            except DomainError as error:
                self.message_user(request, gettext("%(member)s: %(refusal)s") % {
                    "member": _member_label(profile), "refusal": error.user_message()}, messages.WARNING)
                continue
            if result.replayed:
                replayed += 1
            else:
                done += 1
        if done:
            self.message_user(request, ngettext(
                "Adjusted the balance of %(count)d member by %(amount)+d.",
                "Adjusted the balances of %(count)d members by %(amount)+d.", done) % {"count": done, "amount": amount},
                messages.SUCCESS)
        if replayed:
            self.message_user(request, ngettext(
                "%(count)d member was already adjusted by this form (it was submitted twice); nothing changed.",
                "%(count)d members were already adjusted by this form (it was submitted twice); nothing changed.",
                replayed) % {"count": replayed}, messages.INFO)

    @admin.action(description=_("Send a direct message"), permissions=["change"])
    def send_direct_message(self, request, queryset):
        count = queryset.count()
        if not count:
            return None
        if "apply" in request.POST:
            form = DirectMessageForm(request.POST)
            if form.is_valid():
                try:
                    queued = services.members_direct_message(
                        profile_ids=list(queryset.values_list("pk", flat=True)), text=form.cleaned_data["message"],
                        token=str(form.cleaned_data["token"]))
                except DomainError as refusal:  # the guild's hourly cap: nothing was queued
                    self.message_user(request, refusal.user_message(), messages.ERROR)
                    return None
                outbox_url = reverse("admin:botproject_outboxmessage_changelist") + "?kind__exact=dm"
                self.message_user(request, format_html(
                    '{} <a href="{}">{}</a>',
                    ngettext("Queued %(count)d direct message.", "Queued %(count)d direct messages.", queued)
                    % {"count": queued}, outbox_url, gettext("See their delivery in the outbox.")), messages.SUCCESS)
                return None
        else:
            form = DirectMessageForm(initial={"token": uuid.uuid4()})
        members = [_member_label(p) for p in queryset.select_related("guild")[:50]]
        return _intermediate(self, request, queryset, form=form, title=gettext("Send a direct message"),
                             intro=gettext("The bot will send this message to:"), objects=members,
                             submit_label=gettext("Send"))

    @admin.action(description=_("Check balances against the ledger"), permissions=["view"])
    def check_balances(self, request, queryset):
        checked = queryset.count()
        found = []
        for guild_id in queryset.values_list("guild__discord_id", flat=True).distinct().order_by():
            mismatches = selectors.ledger_mismatches(guild_id=guild_id)
            if mismatches:
                # Only the selected members (mismatches are few, so this is one small query per guild).
                selected = set(queryset.filter(guild__discord_id=guild_id,
                                               user_id__in=[m.user_id for m in mismatches])
                               .values_list("user_id", flat=True))
                found.extend(m for m in mismatches if m.user_id in selected)
        if not found:
            self.message_user(request, ngettext(
                "The balance of the %(count)d checked member matches the ledger.",
                "The balances of all %(count)d checked members match the ledger.", checked) % {"count": checked},
                messages.SUCCESS)
            return
        for mismatch in found[:MAX_MISMATCHES_SHOWN]:
            self.message_user(request, gettext(
                "Guild %(guild)s, member %(user)s: balance %(balance)s, ledger sum %(sum)s.") % {
                "guild": mismatch.guild_id, "user": mismatch.user_id, "balance": mismatch.balance,
                "sum": mismatch.ledger_sum}, messages.ERROR)
        self.message_user(request, ngettext(
            "%(count)d of %(checked)d checked members has a balance that differs from the ledger.",
            "%(count)d of %(checked)d checked members have a balance that differs from the ledger.",
            len(found)) % {"count": len(found), "checked": checked}, messages.ERROR)


# --- Ledger ---------------------------------------------------------------------------------------
CSV_COLUMNS = ("id", "guild_id", "user_id", "name", "delta", "balance_after", "kind", "reason", "actor_id",
               "actor_user", "idempotency_key", "reverses_id", "created_at")
_CSV_VALUES = ("pk", "guild__discord_id", "member__user_id", "member__display_name", "delta", "balance_after",
               "kind", "reason", "actor_id", "actor_user__username", "idempotency_key", "reverses_id", "created_at")
_TEXT_COLUMNS = {3, 7, 9, 10}  # text a member or staff typed (names, reasons, keys)


class _Echo:
    """A file-like object whose write() hands the CSV line back instead of storing it."""

    def write(self, value):
        return value


def _csv_safe(value: str) -> str:
    # A spreadsheet runs a cell that starts with these as a formula; names and reasons come from members.
    return "'" + value if value and value[0] in "=+-@\t\r" else value


def _csv_row(row) -> list:
    out = list(row)
    for index in _TEXT_COLUMNS:
        out[index] = _csv_safe(out[index] or "")
    out[12] = out[12].isoformat()
    return out


def _csv_batch(queryset, before_pk):
    """The next batch of rows, newest first, below `before_pk` (keyset pagination: no OFFSET, no open cursor)."""
    qs = queryset.order_by("-pk")
    if before_pk is not None:
        qs = qs.filter(pk__lt=before_pk)
    return list(qs.values_list(*_CSV_VALUES)[:CSV_BATCH])


def _csv_lines(queryset):
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    before = None
    while True:
        rows = _csv_batch(queryset, before)
        if not rows:
            return
        yield "".join(writer.writerow(_csv_row(row)) for row in rows)
        before = rows[-1][0]


async def _csv_lines_async(queryset):
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    before = None
    while True:
        rows = await sync_to_async(_csv_batch)(queryset, before)
        if not rows:
            return
        yield "".join(writer.writerow(_csv_row(row)) for row in rows)
        before = rows[-1][0]


def ledger_csv_response(request, queryset) -> StreamingHttpResponse:
    """Stream `queryset` as CSV; under ASGI as an async iterator (a sync one would be read whole into memory)."""
    queryset = queryset.order_by()
    lines = _csv_lines_async(queryset) if isinstance(request, ASGIRequest) else _csv_lines(queryset)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="ledger-{stamp}.csv"'
    return response


class ReverseForm(forms.Form):
    """The confirmation of "Reverse selected entries"."""

    reason = forms.CharField(label=_("reason"), max_length=500, required=False,
                             help_text=_("Optional; by default \"reversal of entry N\"."))


@admin.register(LedgerEntry)
class LedgerEntryAdmin(NamesMixin, ReadOnlyMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """The append-only ledger: read-only, exportable; mistakes are undone by reversal entries."""

    name_fields = ("actor_id",)
    actor_named = name_column("actor_id", USER, _("by (Discord)"))

    @admin.display(description=_("member"), ordering="member__user_id")
    def member_named(self, obj):
        return _member_label(obj.member)

    list_display = ("created_at", "guild", "member_named", "delta", "balance_after", "kind", "reason", actor_named,
                    "actor_user", "reverses")
    list_filter = ("guild", "kind", "created_at")
    search_fields = ("member__display_name", "=member__user_id", "reason")
    list_select_related = ("guild", "member", "actor_user", "reverses")
    show_full_result_count = False
    fields = ("created_at", "guild", "member_named", "delta", "balance_after", "kind", "reason", actor_named,
              "actor_user", "idempotency_key", "reverses", "reversed_by_link")
    readonly_fields = fields
    actions = ["export_csv", "reverse_entries"]

    @admin.display(description=_("reversed by"))
    def reversed_by_link(self, obj):
        entry = LedgerEntry.objects.filter(reverses=obj).first()
        if entry is None:
            return None
        url = reverse("admin:points_ledgerentry_change", args=[entry.pk])
        return format_html('<a href="{}">{}</a>', url, str(entry))

    def get_urls(self):
        export = path("export/", self.admin_site.admin_view(self.export_view), name="points_ledgerentry_export")
        return [export, *super().get_urls()]

    def export_view(self, request):
        """The current changelist (its filters and search) as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            cl = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(reverse("admin:points_ledgerentry_changelist"))
        return ledger_csv_response(request, cl.get_queryset(request))

    def has_reverse_permission(self, request):
        return may_change_balances(request)

    @admin.action(description=_("Export selected as CSV"), permissions=["view"])
    def export_csv(self, request, queryset):
        return ledger_csv_response(request, queryset)

    @admin.action(description=_("Reverse selected entries"), permissions=["reverse"])
    def reverse_entries(self, request, queryset):
        entries = list(queryset.select_related("guild", "member")[:MAX_ADJUST + 1])
        if not entries:
            self.message_user(request, gettext("None of the selected entries can be changed by you."),
                              messages.WARNING)
            return None
        if len(entries) > MAX_ADJUST:
            self.message_user(request, gettext("Select at most %(max)s entries to reverse at once.")
                              % {"max": MAX_ADJUST}, messages.ERROR)
            return None
        if "apply" in request.POST:
            form = ReverseForm(request.POST)
            if form.is_valid():
                self._apply_reversal(request, entries, form.cleaned_data["reason"])
                return None
        else:
            form = ReverseForm()
        return _intermediate(
            self, request, queryset, form=form, title=gettext("Reverse selected entries"),
            intro=gettext("Each entry gets a compensating entry; the originals stay in the ledger:"),
            objects=[f"#{e.pk} {e.guild} — {_member_label(e.member)}: {e}" for e in entries],
            submit_label=gettext("Reverse"),
        )

    def _apply_reversal(self, request, entries, reason: str) -> None:
        done = 0
        for entry in entries:
            try:
                result = services.points_reverse(guild_id=entry.guild.discord_id, entry_id=entry.pk, reason=reason,
                                                 actor_user=request.user)
            except DomainError as error:
                self.message_user(request, gettext("Entry %(id)s: %(refusal)s") % {
                    "id": entry.pk, "refusal": error.user_message()}, messages.WARNING)
                continue
            if result.replayed:
                # The service answers a second reversal with the first one (same key): nothing changed.
                self.message_user(request, gettext("Entry %(id)s was already reversed (entry %(reversal)s); nothing "
                                                   "changed.") % {"id": entry.pk, "reversal": result.entry_id},
                                  messages.INFO)
                continue
            done += 1
        if done:
            self.message_user(request, ngettext("Reversed %(count)d entry.", "Reversed %(count)d entries.", done)
                              % {"count": done}, messages.SUCCESS)


# --- Achievements ----------------------------------------------------------------------------------
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
        return _member_label(obj.member)

    def get_list_filter(self, request):
        # The achievement filter lists only the user's guilds' achievements.
        filters = super().get_list_filter(request)
        return [(f, _ScopedAchievementFilter) if f == "achievement" else f for f in filters]


class _ScopedAchievementFilter(admin.RelatedFieldListFilter):
    def field_choices(self, field, request, model_admin):
        from botproject.admin_scoping import visible_guild_ids

        ids = visible_guild_ids(request)
        limit = None if ids is None else {"guild_id__in": ids}
        return field.get_choices(include_blank=False, limit_choices_to=limit)
from . import admin_legacy, admin_orders  # noqa: F401,E402
