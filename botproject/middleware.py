"""HTTP middleware of the site: a Content-Security-Policy on every HTML page.

Role, channel, category, member and guild names come from Discord, where anyone with Manage Roles or
Manage Channels can set them to markup. Templates escape them; this policy is the second line: even a
name that slipped through unescaped cannot run a script (no inline script, nothing from other origins),
load a plugin, change the page's base URL, post a form elsewhere or frame the admin.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.utils.decorators import sync_and_async_middleware

DEFAULT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
    "form-action 'self'"
)


def _with_policy(response, policy: str):
    # A view with a stricter policy of its own (the stored ticket transcript) keeps it.
    if "html" in response.get("Content-Type", "") and "Content-Security-Policy" not in response:
        response["Content-Security-Policy"] = policy
    return response


@sync_and_async_middleware
def content_security_policy(get_response):
    """Set `settings.CONTENT_SECURITY_POLICY` on HTML responses that do not carry their own policy."""
    policy = getattr(settings, "CONTENT_SECURITY_POLICY", DEFAULT_POLICY)
    if iscoroutinefunction(get_response):
        async def middleware(request):
            return _with_policy(await get_response(request), policy)
    else:
        def middleware(request):
            return _with_policy(get_response(request), policy)
    return middleware
