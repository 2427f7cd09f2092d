"""The page at /sandbox/ and its JSON API: act as any member of the demo server (only under runbot --sandbox)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from . import actions, demo, page_state, run
from .emulator.ids import EmulatorError

ASSETS = Path(__file__).resolve().parent / "static" / "sandbox"
ASSET_TYPES = {"page.js": "text/javascript", "page.css": "text/css"}


def _sandbox() -> run.Sandbox:
    """The running sandbox, or 404: never served outside runbot --sandbox."""
    if not settings.SANDBOX or run.current is None:
        raise Http404("the sandbox is not running")
    return run.current


async def _on_emulator(sandbox: run.Sandbox, fn, *args):
    """Run `fn(*args)` (a coroutine function) on the emulator's loop and return its result, from any loop."""
    if asyncio.get_running_loop() is sandbox.loop:
        return await fn(*args)
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(fn(*args), sandbox.loop))


def _member_id(raw) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return demo.person("member").user_id


@require_GET
@ensure_csrf_cookie
@never_cache
async def page(request):
    _sandbox()
    return render(request, "sandbox/page.html", {"guild_name": demo.GUILD_NAME})


@require_GET
async def asset(request, name: str):
    _sandbox()
    if name not in ASSET_TYPES:
        raise Http404
    return HttpResponse((ASSETS / name).read_bytes(), content_type=ASSET_TYPES[name])


@require_GET
@never_cache
async def state(request):
    sandbox = _sandbox()
    user_id = _member_id(request.GET.get("as"))

    async def read():
        if user_id not in sandbox.emu.guild(demo.IDS.guild_id).members:
            raise Http404("not a member")
        return page_state.snapshot(sandbox, user_id, request.GET.get("channel"))
    return JsonResponse(await _on_emulator(sandbox, read))


@require_POST
async def act(request):
    sandbox = _sandbox()
    try:
        body = json.loads(request.body or b"{}")
        if not isinstance(body, dict) or "as" not in body:
            raise ValueError
    except ValueError:
        return JsonResponse({"ok": False, "error": "a JSON object with 'as' is expected"}, status=400)
    try:
        result = await _on_emulator(sandbox, actions.act, sandbox, body)
    except (actions.Refused, EmulatorError, KeyError, ValueError, TypeError) as exc:
        return JsonResponse({"ok": False, "error": str(exc)}, status=400)
    return JsonResponse(result)
