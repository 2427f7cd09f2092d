"""Admin page of the ledger: append-only and read-only, scoped per guild (see botproject.admin_scoping).

Mistakes are undone by reversal entries: "Reverse selected entries" calls `points_reverse` per row (one
transaction each). The ledger exports to CSV as a stream (batches by primary key, never the whole table in
memory), from the changelist's "Export" link (its filters and search) or the "Export selected as CSV" action.
"""

from __future__ import annotations

import csv

from asgiref.sync import sync_to_async
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from botproject.admin import ReadOnlyMixin
from botproject.admin_scoping import GuildScopedAdminMixin, NamesMixin, name_column
from botproject.exceptions import DomainError
from botproject.models import DiscordName

from .. import services
from ..models import LedgerEntry
from .common import MAX_ADJUST, action_form_page, may_change_balances, member_label

CSV_BATCH = 2000
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
    actor_named = name_column("actor_id", DiscordName.Kind.USER, _("by (Discord)"))

    @admin.display(description=_("member"), ordering="member__user_id")
    def member_named(self, obj):
        return member_label(obj.member)

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
        return action_form_page(
            self, request, queryset, form=form, title=gettext("Reverse selected entries"),
            intro=gettext("Each entry gets a compensating entry; the originals stay in the ledger:"),
            objects=[f"#{e.pk} {e.guild} — {member_label(e.member)}: {e}" for e in entries],
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
