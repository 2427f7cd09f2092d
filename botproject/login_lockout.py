"""Brute-force protection of the admin login: too many failures for a username from one address lock it out.

`ADMIN_LOGIN_MAX_FAILURES` failed logins for a username from one address within
`ADMIN_LOGIN_LOCKOUT_SECONDS` refuse that username from that address, the right password included, until
the oldest of those failures is a window old. A successful login forgets the failures. Failures are rows
in the database, so every web process (and a restart) sees the same count. The checks live in
`LockoutAuthenticationForm`, the admin site's login form (botproject/admin.py installs it).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import ngettext

from .models import LoginFailure

# Rows older than this many windows are removed when a new failure is written (the table stays small).
KEEP_WINDOWS = 4


def _window() -> timedelta:
    return timedelta(seconds=settings.ADMIN_LOGIN_LOCKOUT_SECONDS)


def _key(username: str) -> str:
    return (username or "").strip().lower()[:150]


def locked_until(*, username: str, ip: str) -> datetime | None:
    """When the lock on `username` from `ip` ends, or None when logging in may be tried now."""
    limit = settings.ADMIN_LOGIN_MAX_FAILURES
    if limit <= 0:
        return None
    since = timezone.now() - _window()
    recent = (LoginFailure.objects.filter(username=_key(username), ip=ip, at__gte=since)
              .order_by("-at").values_list("at", flat=True)[:limit])
    recent = list(recent)
    if len(recent) < limit:
        return None
    return recent[-1] + _window()  # the oldest of the last `limit` failures ages out of the window


@transaction.atomic
def failure_record(*, username: str, ip: str) -> None:
    """Record a failed login (and drop failures far older than the window)."""
    now = timezone.now()
    LoginFailure.objects.create(username=_key(username), ip=ip, at=now)
    LoginFailure.objects.filter(at__lt=now - KEEP_WINDOWS * _window()).delete()


@transaction.atomic
def failures_clear(*, username: str, ip: str) -> None:
    """Forget the failures of `username` from `ip` after a successful login."""
    LoginFailure.objects.filter(username=_key(username), ip=ip).delete()


def client_ip(request) -> str:
    """The address the request came from (REMOTE_ADDR: put the proxy's real-IP handling in front of Django)."""
    return (request.META.get("REMOTE_ADDR") or "")[:45] if request is not None else ""


class LockoutAuthenticationForm(AdminAuthenticationForm):
    """The admin login form, refusing a locked-out username before checking the password."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        ip = client_ip(self.request)
        until = locked_until(username=username, ip=ip)
        if until is not None:
            minutes = max(1, math.ceil((until - timezone.now()).total_seconds() / 60))
            raise ValidationError(ngettext(
                "Too many failed logins for this user from your address. Try again in %(minutes)d minute.",
                "Too many failed logins for this user from your address. Try again in %(minutes)d minutes.",
                minutes) % {"minutes": minutes}, code="locked_out")
        try:
            cleaned = super().clean()
        except ValidationError as error:
            if getattr(error, "code", None) == "invalid_login":
                failure_record(username=username, ip=ip)
            raise
        failures_clear(username=username, ip=ip)
        return cleaned
