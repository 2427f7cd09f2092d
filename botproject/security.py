"""Start-up guards for the processes that face the network (runbot, the ASGI/WSGI site)."""

from __future__ import annotations

import sys

MISSING_SECRET_KEY = ("SECRET_KEY is not set: with DEBUG off the bot and the web site need a secret key "
                      "(set SECRET_KEY in the environment or .env).")


def secret_key_problem() -> str | None:
    """The one-line reason this process must not serve, or None (DEBUG on, or SECRET_KEY set)."""
    from django.conf import settings

    if settings.DEBUG or getattr(settings, "SECRET_KEY_IS_SET", True):
        return None
    return MISSING_SECRET_KEY


def exit_without_secret_key() -> None:
    """For the ASGI/WSGI entry points: print the one line on stderr and exit 1 instead of serving."""
    problem = secret_key_problem()
    if problem is not None:
        print(problem, file=sys.stderr, flush=True)
        raise SystemExit(1)


def has_body(headers) -> bool:
    """Whether a request announces a body (a Content-Length above 0, or any Transfer-Encoding)."""
    length = (headers.get("Content-Length") or "").strip()
    return bool(headers.get("Transfer-Encoding")) or length not in ("", "0")
