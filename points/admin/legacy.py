"""Admin page of legacy imports (convert_legacy + loaddata): read-only, scoped per guild."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from botproject.admin import ReadOnlyMixin
from botproject.admin_scoping import GuildScopedAdminMixin

from ..models import LegacyImport

FIGURES = {
    "members": _("members"), "points": _("points"), "ledger_entries": _("ledger entries"),
    "tickets": _("tickets"), "tickets_open": _("open tickets"), "tickets_need_help": _("tickets needing help"),
    "tickets_closed": _("closed tickets"), "claims": _("claims"), "panels": _("panels"),
    "ticket_counter": _("last ticket number"), "rejected": _("records left out"),
}


@admin.register(LegacyImport)
class LegacyImportAdmin(ReadOnlyMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """What each import of the old bots' files brought (the report stays next to the fixture)."""

    list_display = ("converted_at", "guild", "loaded_at", "brought", "checksum")
    list_filter = ("guild",)
    fields = ("guild", "key", "converted_at", "loaded_at", "brought", "sources")
    readonly_fields = fields

    @admin.display(description=_("brought"))
    def brought(self, obj: LegacyImport) -> str:
        figures = obj.figures or {}  # in FIGURES' order: PostgreSQL's jsonb does not keep the keys' order
        names = [name for name in FIGURES if name in figures] + sorted(set(figures) - set(FIGURES))
        return ", ".join(f"{FIGURES.get(name, name)}: {figures[name]:,}" for name in names)

    @admin.display(description=_("content checksum"))
    def checksum(self, obj: LegacyImport) -> str:
        return obj.key[:12]
