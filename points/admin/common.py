"""What the points admin pages share: who may change balances, a member's label, an action's confirmation page."""

from __future__ import annotations

from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from ..models import MemberProfile

# One admin request adjusts (or reverses) at most this many rows (each is its own transaction); larger
# selections are refused rather than left half done by a request timeout.
MAX_ADJUST = 500


def may_change_balances(request) -> bool:
    """Adjusting and reversing need the change permission on members (Django's model permission)."""
    return request.user.has_perm("points.change_memberprofile")


def member_label(profile: MemberProfile) -> str:
    if profile.display_name:
        return f"{profile.display_name} ({profile.user_id})"
    return str(profile.user_id)


def action_form_page(modeladmin, request, queryset, *, form, title, intro, objects, submit_label):
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
