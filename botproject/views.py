"""Plain JSON endpoints for uptime pingers, load balancers and operators."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from .bot.status import runtime
from .selectors import database_ping, database_size

# Load balancers give up after a few seconds; answer 503 before they do.
HEALTH_TIMEOUT_SECONDS = 3.0
# Its own small pool: a hanging check must not hold up the event loop's default executor.
_health_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="health")


@require_GET
async def index(request):
    """One-line status for keep-alive pingers."""
    return JsonResponse({"status": "ok", "service": "community-bot"})


def _ping() -> bool:
    try:
        return database_ping()
    finally:
        connections.close_all()


@require_GET
async def health(request):
    """200 when the database answers, else 503."""
    # A plain executor future (unlike sync_to_async) can be abandoned on timeout, so a database
    # that hangs costs HEALTH_TIMEOUT_SECONDS, not the pool's whole connect timeout.
    loop = asyncio.get_running_loop()
    try:
        ok = await asyncio.wait_for(loop.run_in_executor(_health_executor, _ping), HEALTH_TIMEOUT_SECONDS)
    except Exception:  # noqa: BLE001 - any database failure (or a hang) means unhealthy
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
