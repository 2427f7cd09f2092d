"""Admin page of members: their profiles and balances, scoped per guild (see botproject.admin_scoping).

Balances change only through the ledger services: the member page shows the figures read-only, and the
"Adjust points" action calls `points_award` / `points_deduct` per member (one transaction each; a refusal is
shown and changes nothing for that member). "Send a direct message" queues one outbox row per member;
"Check balances against the ledger" compares each balance with the sum of its entries.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from botproject.admin_scoping import GuildScopedAdminMixin
from botproject.exceptions import DomainError

from .. import selectors, services
from ..models import MemberProfile
from .common import MAX_ADJUST, action_form_page, may_change_balances, member_label

MAX_MISMATCHES_SHOWN = 20


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
        members = [member_label(p) + f" — {p.guild}: {p.balance}" for p in queryset.select_related("guild")[:50]]
        if count > len(members):
            members.append(gettext("… and %(count)s more") % {"count": count - len(members)})
        return action_form_page(
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
                    "member": member_label(profile), "refusal": error.user_message()}, messages.WARNING)
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
        members = [member_label(p) for p in queryset.select_related("guild")[:50]]
        return action_form_page(self, request, queryset, form=form, title=gettext("Send a direct message"),
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
