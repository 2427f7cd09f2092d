"""Admin pages of orders and order imports, scoped per guild (see botproject.admin_scoping).

Orders are read-only here: they arrive by import (the "Import orders" page, or `manage.py import_orders`) and
change only through the services (/claim, the "Void selected open orders" action → `order_void`). Codes are
stored as hashes: the only place a code is ever shown is the result page of the import that created it
(with a CSV download embedded in that same response); afterwards only the last 4 characters are visible.

The import page: upload → preview (row-level errors, nothing written; the file is kept in the session,
sealed with a one-time key that only the preview page's form holds, so the session store never has a code
in clear) → "Import" → one transaction (`points.services.order_import.orders_import`) → the codes, once.
Importing needs the "Can add order" permission and a guild the user may see.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import zlib

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import patch_cache_control
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from botproject.admin import ReadOnlyMixin
from botproject.admin_scoping import GuildScopedAdminMixin, NamesMixin, name_column, visible_guild_ids, visible_guilds
from botproject.models import DiscordName

from ..exceptions import ImportRefused
from ..models import ImportBatch, Order
from ..services import code_hash, normalize_code, order_file, order_import, order_void
from ..services.orders import CODE_RE

SESSION_KEY = "points_order_import"


def _seal(data: bytes, key: str) -> str:
    """The file, compressed and encrypted with a keystream from `key` (SHAKE-256), for the session."""
    packed = zlib.compress(data, 6)
    return base64.b64encode(_xor(packed, key)).decode("ascii")


def _unseal(sealed: str, key: str) -> bytes | None:
    """The file back, or None when `key` is not the one it was sealed with."""
    try:
        return zlib.decompress(_xor(base64.b64decode(sealed), key))
    except zlib.error:
        return None


def _xor(data: bytes, key: str) -> bytes:
    stream = hashlib.shake_256(b"points-order-import:" + key.encode()).digest(len(data))
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


MAX_ERRORS_SHOWN = 200
MAX_ROWS_SHOWN = 20
MAX_CODE_SEARCH_GUILDS = 1000


class _ScopedBatchFilter(admin.RelatedFieldListFilter):
    """The import filter of the order list: only imports of the user's guilds (their file names are data too)."""

    def field_choices(self, field, request, model_admin):
        ids = visible_guild_ids(request)
        limit = None if ids is None else {"guild_id__in": ids}
        return field.get_choices(include_blank=False, limit_choices_to=limit, ordering=("-created_at",))


def may_import(request) -> bool:
    return request.user.has_perm("points.add_order")


# --- Orders -------------------------------------------------------------------------------------------
@admin.register(Order)
class OrderAdmin(NamesMixin, ReadOnlyMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """Orders and their status; read-only except voiding. The code hash is never shown."""

    name_fields = ("claimed_by_id",)
    claimed_named = name_column("claimed_by_id", DiscordName.Kind.USER, _("claimed by"))

    @admin.display(description=_("code ends with"), ordering="code_hint")
    def code_end(self, obj):
        return f"…{obj.code_hint}"

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj):
        return f"{obj.amount} {obj.currency}"

    list_display = ("order_number", "guild", "email", "amount_display", "status", "code_end", claimed_named,
                    "claimed_at", "batch", "created_at")
    list_filter = ("guild", "status", ("batch", _ScopedBatchFilter), "created_at")
    search_fields = ("order_number", "email", "code_hint")
    list_select_related = ("guild", "batch")
    show_full_result_count = False
    fields = ("guild", "order_number", "email", "amount", "currency", "status", "code_end", claimed_named,
              "claimed_at", "batch", "created_at")
    readonly_fields = fields
    actions = ["void_orders"]

    def get_urls(self):
        view = path("import/", self.admin_site.admin_view(self.import_view), name="points_order_import")
        return [view, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import_orders": may_import(request)}
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        # A whole code (as a member quotes it) finds its order: hash it for each guild the user may see.
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        normalized = normalize_code(search_term)
        if CODE_RE.match(normalized):
            guild_ids = visible_guilds(request.user).values_list("discord_id", flat=True)[:MAX_CODE_SEARCH_GUILDS]
            hashes = [code_hash(g, normalized) for g in guild_ids]
            found = found | self.scope_queryset(request, queryset.filter(code_hash__in=hashes))
        return found, may_have_duplicates

    # --- void --------------------------------------------------------------------------------------
    def has_void_permission(self, request):
        return request.user.has_perm("points.change_order")

    @admin.action(description=_("Void selected open orders"), permissions=["void"])
    def void_orders(self, request, queryset):
        selected = queryset.count()
        open_orders = list(queryset.filter(status=Order.Status.OPEN).values_list("pk", "guild__discord_id",
                                                                                 "order_number"))
        voided = [pk for pk, guild_id, number in open_orders if order_void(guild_id=guild_id, order_number=number)]
        if voided:
            LogEntry.objects.log_actions(request.user.pk, Order.objects.filter(pk__in=voided), CHANGE,
                                         change_message=[{"changed": {"fields": ["status"]}}], single_object=False)
            self.message_user(request, ngettext("Voided %(count)d order: its code can no longer be claimed.",
                                                "Voided %(count)d orders: their codes can no longer be claimed.",
                                                len(voided)) % {"count": len(voided)}, messages.SUCCESS)
        left = selected - len(voided)
        if left:
            self.message_user(request, ngettext(
                "%(count)d selected order was not open (claimed or already void) and was left as it is.",
                "%(count)d selected orders were not open (claimed or already void) and were left as they are.",
                left) % {"count": left}, messages.WARNING)

    # --- import ------------------------------------------------------------------------------------
    def import_view(self, request):
        """Upload → preview → import → codes shown once."""
        if not (self.has_view_permission(request) and may_import(request)):
            raise PermissionDenied
        if request.method == "POST" and "token" in request.POST:
            return self._import_confirmed(request)
        form = ImportOrdersForm(request.POST or None, request.FILES or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            guild, upload = form.cleaned_data["guild"], form.cleaned_data["file"]
            data = upload.read()
            try:
                preview = order_import.parse_orders(data, guild.discord_id)
            except ImportRefused as error:
                form.add_error("file", error.user_message())
            else:
                token = None
                if preview.ok and preview.rows:
                    # The token (in the preview's form only) is also the file's key: the session keeps its
                    # hash and the sealed file, never a code in clear.
                    token = secrets.token_urlsafe(32)
                    request.session[SESSION_KEY] = {
                        "token_hash": _token_hash(token), "guild": guild.pk, "filename": upload.name,
                        "sha256": preview.sha256, "sealed": _seal(data, token),
                    }
                else:
                    request.session.pop(SESSION_KEY, None)
                return self._render(request, "preview", guild=guild, preview=preview, token=token,
                                    filename=upload.name, errors=preview.errors[:MAX_ERRORS_SHOWN],
                                    more_errors=max(0, len(preview.errors) - MAX_ERRORS_SHOWN),
                                    sample=preview.rows[:MAX_ROWS_SHOWN],
                                    more_rows=max(0, len(preview.rows) - MAX_ROWS_SHOWN))
        return self._render(request, "form", form=form, max_size=order_import.size_text(order_import.MAX_BYTES),
                            max_rows=order_import.MAX_ROWS)

    def _import_confirmed(self, request):
        stash = request.session.get(SESSION_KEY)
        token = request.POST.get("token", "")
        data = None
        if stash and "token_hash" in stash and secrets.compare_digest(stash["token_hash"], _token_hash(token)):
            data = _unseal(stash["sealed"], token)
        if data is None or hashlib.sha256(data).hexdigest() != stash["sha256"]:
            # Already imported (a second submit, the back button) or the session changed: never import twice.
            self.message_user(request, gettext("This import was already done or has expired; upload the file "
                                               "again to check it."), messages.WARNING)
            return self._render(request, "form", form=ImportOrdersForm(user=request.user),
                                max_size=order_import.size_text(order_import.MAX_BYTES), max_rows=order_import.MAX_ROWS)
        del request.session[SESSION_KEY]
        guild = visible_guilds(request.user).filter(pk=stash["guild"]).first()
        if guild is None:
            raise PermissionDenied
        started = time.perf_counter()
        try:
            result = order_import.orders_import(guild_id=guild.discord_id, source=data,
                                                filename=stash["filename"], imported_by=request.user)
        except ImportRefused as error:
            self.message_user(request, error.user_message(), messages.ERROR)
            return self._render(request, "form", form=ImportOrdersForm(user=request.user, initial={"guild": guild}),
                                max_size=order_import.size_text(order_import.MAX_BYTES), max_rows=order_import.MAX_ROWS)
        seconds = time.perf_counter() - started
        if result.batch is not None:
            LogEntry.objects.log_actions(request.user.pk, [result.batch], ADDITION,
                                         change_message=order_import.summary(result))
        codes_name = f"{stash['filename']}.codes.csv"
        codes_href = "data:text/csv;charset=utf-8;base64," + base64.b64encode(
            order_file.codes_csv(result.codes).encode("utf-8")).decode("ascii")
        response = self._render(request, "done", guild=guild, result=result, summary=order_import.summary(result),
                                seconds=f"{seconds:.1f}", codes=result.codes, codes_name=codes_name,
                                codes_href=codes_href, filename=stash["filename"],
                                batch_url=reverse("admin:points_order_changelist") + "?" + urlencode(
                                    {"batch__id__exact": result.batch.pk}) if result.batch else None)
        # The codes are in this page only: no cache may keep it (the back button must not show them again).
        patch_cache_control(response, no_store=True, no_cache=True, private=True)
        return response

    def _render(self, request, step, **context):
        opts = self.model._meta
        titles = {"form": gettext("Import orders"), "preview": gettext("Check the order file"),
                  "done": gettext("Orders imported")}
        context = {**self.admin_site.each_context(request), "title": titles[step], "step": step, "opts": opts,
                   "app_label": opts.app_label, **context}
        if "form" in context:
            context["media"] = self.media + context["form"].media
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/points/order/import.html", context)


class ImportOrdersForm(forms.Form):
    """The upload: a guild the user may see, and the CSV file."""

    guild = forms.ModelChoiceField(queryset=None, label=_("server"))
    file = forms.FileField(label=_("order file (CSV)"), help_text=_(
        "UTF-8 CSV with a header line: order number (order id / order_id / order), email (e-mail / customer "
        "email), amount (total / price), and optionally currency (default USD) and code (generated when empty)."))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        guilds = visible_guilds(user)
        self.fields["guild"].queryset = guilds
        if "guild" not in self.initial and len(choices := list(guilds[:2])) == 1:
            self.initial["guild"] = choices[0]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        try:
            order_import.check_size(upload.size)
        except ImportRefused as error:
            raise ValidationError(error.user_message()) from None
        return upload


# --- Imports ------------------------------------------------------------------------------------------
@admin.register(ImportBatch)
class ImportBatchAdmin(ReadOnlyMixin, GuildScopedAdminMixin, admin.ModelAdmin):
    """Who imported which file when, and what it created; the codes are not kept anywhere."""

    list_display = ("created_at", "guild", "filename", "rows_total", "rows_created", "rows_skipped", "imported_by",
                    "orders_link")
    list_filter = ("guild", "created_at")
    search_fields = ("filename", "=sha256")
    list_select_related = ("guild", "imported_by")
    fields = ("guild", "filename", "sha256", "rows_total", "rows_created", "rows_skipped", "imported_by",
              "created_at", "orders_link")
    readonly_fields = fields

    @admin.display(description=_("orders"))
    def orders_link(self, obj):
        url = reverse("admin:points_order_changelist") + "?" + urlencode({"batch__id__exact": obj.pk})
        return format_html('<a href="{}">{}</a>', url, gettext("orders of this import"))
