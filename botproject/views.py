"""Plain JSON endpoints for uptime pingers, load balancers and operators, and Prometheus's /metrics."""

import asyncio
import functools
import hmac
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

from . import dbpool
from . import metrics as prometheus
from .bot.status import runtime
from .security import has_body
from .selectors import database_ping, database_size

# Load balancers give up after a few seconds; answer 503 before they do.
HEALTH_TIMEOUT_SECONDS = 3.0
# Its own small pool: a hanging check must not hold up the event loop's default executor.
_health_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="health")


def no_body(view):
    """The pinger endpoints take GET/HEAD without a body: anything else is refused before any work."""

    @require_safe
    @functools.wraps(view)
    async def wrapper(request, *args, **kwargs):
        if has_body(request.headers):
            return JsonResponse({"detail": "request bodies are not accepted here"}, status=413)
        return await view(request, *args, **kwargs)

    return wrapper


@no_body
async def index(request):
    """One-line status for keep-alive pingers."""
    return JsonResponse({"status": "ok", "service": "community-bot"})


def _ping() -> bool:
    try:
        return database_ping()
    finally:
        connections.close_all()


@no_body
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


def _database_size() -> int | None:
    try:
        return database_size()
    finally:
        connections.close_all()


@no_body
async def status(request):
    """Uptime, gateway, guilds, shards, commands processed, errors and database size.

    The size is measured at most once per STATUS_DATABASE_SIZE_CACHE_SECONDS (the bot's own refresh
    counts too), so a pinger hammering /status costs no database work.
    """
    data = runtime.snapshot()
    data["bot_in_this_process"] = runtime.bot is not None
    if runtime.database_size_age() > settings.STATUS_DATABASE_SIZE_CACHE_SECONDS:
        try:
            size = await sync_to_async(_database_size, thread_sensitive=False)()
        except Exception:  # noqa: BLE001 - report what we can
            size = None
        runtime.remember_database_size(size)
    data["database_size_bytes"] = runtime.database_size
    return JsonResponse(data)


def _bearer_matches(header: str, token: str) -> bool:
    """Whether an Authorization header is `Bearer <token>` (compared in constant time)."""
    scheme, _space, supplied = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(supplied.strip().encode(), token.encode())


def _render_metrics() -> bytes:
    # A database that is away costs a few seconds, not the pool's timeout: Prometheus gives up a scrape after
    # 10 s by default, and the answer (discordbot_database_up 0, the bot's figures) is worth having.
    dbpool.install(connection=connections["default"])  # the bound applies from the first connect on
    dbpool.set_acquire_timeout(HEALTH_TIMEOUT_SECONDS)
    try:
        return prometheus.render()
    finally:
        dbpool.set_acquire_timeout(None)
        connections.close_all()


@no_body
async def _metrics(request):
    token = settings.METRICS_TOKEN
    if token and not _bearer_matches(request.headers.get("Authorization", ""), token):
        response = JsonResponse({"detail": "a bearer token is required"}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if request.method == "HEAD":  # a reachability check: no scrape (and no database work)
        return HttpResponse(content_type=prometheus.CONTENT_TYPE)
    body = await sync_to_async(_render_metrics, thread_sensitive=False)()
    return HttpResponse(body, content_type=prometheus.CONTENT_TYPE)


async def metrics(request):
    """Prometheus text format (botproject.metrics); 404 like an unknown path unless METRICS_ENABLED."""
    if not settings.METRICS_ENABLED:
        raise Http404
    return await _metrics(request)
