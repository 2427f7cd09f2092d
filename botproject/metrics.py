"""Prometheus metrics (GET /metrics): what the bot counts as it runs, and what is measured at each scrape.

Counted as it happens, in this process (absent or zero in a web process that runs no bot):
- interactions by command and outcome: the error edge (botproject.bot.errors) counts refusals and errors, the
  command tree's completion and the component wrapper (botproject.bot.client) count the rest as ok; each
  interaction is counted once (the first outcome wins);
- the interaction latency: from the interaction's snowflake time to Discord accepting our first response
  (seen on the bot's HTTP session);
- database errors the bot's bridge (botproject.bot.db) saw.

Measured at each scrape: the gateway latency per shard (from the running bot, no I/O), and a few one-statement
reads: the outbox backlog and the figures the apps registered (botproject.registry.register_metric_gauge), so
a scrape costs a handful of statements whatever the size of the bot.

Everything lives in its own CollectorRegistry (not prometheus_client's global one), so nothing else a library
registers is exposed. No discord import here: the Discord side calls in with its objects.
"""

from __future__ import annotations

import logging
import math
import re
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

from . import registry
from .bot.status import runtime

log = logging.getLogger(__name__)
PREFIX = "discordbot_"
CONTENT_TYPE = CONTENT_TYPE_LATEST
DISCORD_EPOCH_MS = 1420070400000
OUTCOMES = ("ok", "refused", "error")
COUNTED = "botproject.metrics.counted"  # interaction.extras: the outcome this interaction was counted with

# No `_created` series next to every counter and histogram (a second series each that Prometheus does not need).
disable_created_metrics()
REGISTRY = CollectorRegistry(auto_describe=True)

INTERACTIONS = Counter(
    PREFIX + "interactions",
    "Interactions handled, by command (the qualified slash command name, or the component's custom_id prefix "
    "such as ticket:close) and outcome: ok (finished without an error), refused (a refusal the member was told: "
    "not allowed, not found, a failed check or cooldown) or error (an unexpected failure, the bot missing a "
    "permission, Discord or the database not answering).",
    ["command", "outcome"], registry=REGISTRY,
)
INTERACTION_LATENCY = Histogram(
    PREFIX + "interaction_latency_seconds",
    "Seconds from the interaction's creation (its snowflake time, on Discord's clock) to Discord accepting our "
    "first response to it (the interaction callback: a reply, a defer, a modal or a message update). Discord "
    "gives up on an interaction not answered within 3 s.",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0), registry=REGISTRY,
)
DATABASE_ERRORS = Counter(
    PREFIX + "database_errors",
    "Database errors the bot's database bridge saw, by kind: outage (the database not answering; the call may "
    "be repeated once on a fresh connection) or error (any other database error).",
    ["kind"], registry=REGISTRY,
)

# --- counting interactions ---------------------------------------------------------------------------------------
_SEGMENT = re.compile(r"[a-z][a-z_-]{0,23}")
_CALLBACK = re.compile(r"/interactions/(\d{1,20})/[^/]+/callback$")


def custom_id_prefix(custom_id: str) -> str:
    """The bounded part of a component's custom_id: its leading word segments (`ticket:close:12` -> ticket:close).

    Ids, pages and random modal ids are cut off, so the label has as many values as the bot has kinds of
    components; an id with no word segment is `other`.
    """
    parts = []
    for part in custom_id.split(":")[:3]:
        if not _SEGMENT.fullmatch(part):
            break
        parts.append(part)
    return ":".join(parts) or "other"


def command_label(interaction: Any) -> str:
    """What an interaction is counted under: the slash command's qualified name, else the custom_id prefix."""
    command = getattr(interaction, "command", None)
    if command is not None:
        return command.qualified_name
    custom_id = (getattr(interaction, "data", None) or {}).get("custom_id")
    return custom_id_prefix(custom_id) if isinstance(custom_id, str) else "unknown"


def count_interaction(interaction: Any, outcome: str) -> None:
    """Count `interaction` with `outcome`, once: a later call for the same interaction changes nothing."""
    extras = interaction.extras
    if COUNTED in extras:
        return
    extras[COUNTED] = outcome
    INTERACTIONS.labels(command_label(interaction), outcome).inc()


def interaction_finished(interaction: Any) -> None:
    """The handler returned: ok, unless the error edge already counted a refusal or an error."""
    count_interaction(interaction, "ok")


def interaction_answered(path: str, now: float | None = None) -> None:
    """Discord accepted a request to `path`: when it is an interaction callback, observe the latency."""
    found = _CALLBACK.search(path)
    if found is None:
        return
    created = ((int(found[1]) >> 22) + DISCORD_EPOCH_MS) / 1000
    INTERACTION_LATENCY.observe(max(0.0, (time.time() if now is None else now) - created))


def database_error(*, outage: bool) -> None:
    """The bridge saw a database error (an outage when the database did not answer)."""
    DATABASE_ERRORS.labels("outage" if outage else "error").inc()


# --- measured at scrape time -------------------------------------------------------------------------------------
def _gateway_family() -> GaugeMetricFamily:
    family = GaugeMetricFamily(PREFIX + "gateway_latency_seconds",
                               "Gateway heartbeat latency per shard in seconds, as the running bot measured it last "
                               "(absent before the first heartbeat and in a process without the bot).",
                               labels=["shard"])
    bot = runtime.bot
    if bot is not None and not bot.is_closed():
        for shard_id, latency in bot.latencies:
            if not math.isnan(latency) and not math.isinf(latency):
                family.add_metric([str(shard_id)], latency)
    return family


def _database_families() -> list[GaugeMetricFamily]:
    """The outbox backlog and the apps' gauges, each one statement; [] and a warning when the database fails."""
    from django.db import DatabaseError

    from .selectors import OUTBOX_BACKLOG_KINDS, OUTBOX_BACKLOG_STATUSES, outbox_backlog

    try:
        backlog = outbox_backlog()
        figures = [(gauge, gauge.provider()) for gauge in registry.metric_gauges()]
    except DatabaseError:
        log.warning("metrics: the database did not answer", exc_info=True)
        return [GaugeMetricFamily(PREFIX + "database_up", "Whether the database answered this scrape (1) or not (0).",
                                  value=0)]
    outbox = GaugeMetricFamily(PREFIX + "outbox_messages",
                               "Outbox messages not delivered, by kind and status: pending (waiting for delivery or "
                               "its next attempt) or failed (given up).", labels=["kind", "status"])
    for kind in OUTBOX_BACKLOG_KINDS:
        for status in OUTBOX_BACKLOG_STATUSES:
            outbox.add_metric([kind, status], backlog.get((kind, status), 0))
    families = [GaugeMetricFamily(PREFIX + "database_up", "Whether the database answered this scrape (1) or not (0).",
                                  value=1), outbox]
    families += [GaugeMetricFamily(PREFIX + gauge.name, gauge.help, value=value) for gauge, value in figures]
    return families


class _ScrapeCollector:
    """Figures read when Prometheus scrapes, not kept in between."""

    def collect(self):  # noqa: ANN201 - prometheus_client's collector protocol
        yield _gateway_family()
        yield from _database_families()

    def describe(self) -> list:
        return []  # measured at scrape time only (no database read when the collector is registered)


REGISTRY.register(_ScrapeCollector())


def render() -> bytes:
    """The exposition (Prometheus text format) of every metric.

    Reads the database on this thread's connection: call it off the event loop, and close the connection after.
    """
    return generate_latest(REGISTRY)
