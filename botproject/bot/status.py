"""Runtime figures of the running bot, read by /status and the HTTP status endpoint."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Runtime:
    """Counters and facts about this process's bot; one instance per process."""

    started_monotonic: float = field(default_factory=time.monotonic)
    commands_processed: int = 0
    errors: int = 0
    bot: Any = None  # the running client, when there is one in this process
    database_size: int | None = None
    database_size_at: float | None = None  # time.monotonic() of the last measurement

    def remember_database_size(self, size: int | None) -> None:
        """Record a fresh measurement of the database size."""
        self.database_size, self.database_size_at = size, time.monotonic()

    def database_size_age(self) -> float:
        """Seconds since the database size was measured (infinite when never)."""
        return float("inf") if self.database_size_at is None else time.monotonic() - self.database_size_at

    def reset(self) -> None:
        """Start counting afresh (a new run of the bot in this process)."""
        self.started_monotonic = time.monotonic()
        self.commands_processed = self.errors = 0
        self.bot = None

    def uptime_seconds(self) -> float:
        """Seconds since the bot started."""
        return time.monotonic() - self.started_monotonic

    def error_rate(self) -> float:
        """Share of processed interactions that ended in an unexpected error."""
        return self.errors / self.commands_processed if self.commands_processed else 0.0

    def snapshot(self) -> dict[str, Any]:
        """Return a JSON-ready view of the bot's state."""
        bot = self.bot
        connected = bool(bot is not None and bot.is_ready() and not bot.is_closed())
        latency = None
        shards: list[dict[str, Any]] = []
        if bot is not None and connected:
            latency_value = bot.latency
            latency = round(latency_value * 1000, 1) if latency_value == latency_value else None  # NaN before ACK
            for shard_id, shard in sorted(getattr(bot, "shards", {}).items()):
                shard_latency = shard.latency
                shards.append({
                    "id": shard_id,
                    "latency_ms": round(shard_latency * 1000, 1) if shard_latency == shard_latency else None,
                    "closed": shard.is_closed(),
                })
        return {
            "uptime_seconds": round(self.uptime_seconds(), 1),
            "gateway": {"connected": connected, "latency_ms": latency},
            "guilds": len(bot.guilds) if bot is not None else 0,
            "shards": shards,
            "shard_count": getattr(bot, "shard_count", None) if bot is not None else None,
            "commands_processed": self.commands_processed,
            "errors": self.errors,
            "error_rate": round(self.error_rate(), 4),
            "database_size_bytes": self.database_size,
        }


runtime = Runtime()
