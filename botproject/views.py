"""Plain JSON endpoints for uptime pingers, load balancers and operators."""

from asgiref.sync import sync_to_async
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from .bot.status import runtime
from .selectors import database_ping, database_size


@require_GET
async def index(request):
    """One-line status for keep-alive pingers."""
    return JsonResponse({"status": "ok", "service": "community-bot"})


@require_GET
async def health(request):
    """200 when the database answers, else 503."""
    try:
        ok = await sync_to_async(database_ping, thread_sensitive=False)()
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        ok = False
    if ok:
        return JsonResponse({"status": "ok"})
    return JsonResponse({"status": "unavailable", "database": "down"}, status=503)


@require_GET
async def status(request):
    """Uptime, gateway, guilds, shards, commands processed, errors and database size."""
    data = runtime.snapshot()
    data["bot_in_this_process"] = runtime.bot is not None
    try:
        data["database_size_bytes"] = await sync_to_async(database_size, thread_sensitive=False)()
    except Exception:  # noqa: BLE001 - report what we can
        data["database_size_bytes"] = None
    return JsonResponse(data)
