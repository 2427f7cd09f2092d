"""`manage.py runbot`: run the Discord bot (and, with --web, the Django site) in one process."""

import asyncio
import gc
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from botproject.bot.runner import BotRunner
from botproject.security import secret_key_problem


def _shard_ids(value: str) -> list[int]:
    try:
        ids = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"--shard-ids takes comma-separated integers, not {value!r}") from None
    if not ids or min(ids) < 0:
        raise CommandError("--shard-ids needs at least one shard id, none negative")
    return ids


class Command(BaseCommand):
    help = "Run the Discord bot; /health and /status are served on $PORT, the whole site with --web."

    def add_arguments(self, parser):
        parser.add_argument("--shard-count", type=int, help="total number of shards (default: Discord's advice)")
        parser.add_argument("--shard-ids", type=str, help="comma-separated shard ids this process runs, e.g. 0,1")
        parser.add_argument("--web", action="store_true", help="also serve the Django site (admin) on $PORT")
        parser.add_argument("--port", type=int, help="HTTP port (default: $PORT)")
        parser.add_argument("--sandbox", action="store_true",
                            help="run against the bundled local Discord with a demo server and a page at /sandbox/ "
                                 "(no token, no network; its own SQLite file)")
        parser.add_argument("--sandbox-db", type=Path, help="the sandbox's SQLite file (default: var/sandbox.sqlite3)")
        parser.add_argument("--sandbox-reset", action="store_true", help="start the sandbox from scratch")

    def handle(self, *args, **options):
        if options["sandbox"]:
            from botproject.sandbox.command import run_sandbox

            return run_sandbox(self, path=options["sandbox_db"], reset=options["sandbox_reset"], port=options["port"])
        if options["sandbox_db"] or options["sandbox_reset"]:
            raise CommandError("--sandbox-db and --sandbox-reset go with --sandbox")
        if not settings.DISCORD_TOKEN:
            raise CommandError("DISCORD_TOKEN is not set: put the bot token in the environment or .env.")
        if problem := secret_key_problem():
            raise CommandError(problem)
        shard_ids = _shard_ids(options["shard_ids"]) if options["shard_ids"] else None
        shard_count = options["shard_count"]
        if shard_ids is not None and shard_count is None:
            raise CommandError("--shard-ids needs --shard-count")
        if shard_count is not None and shard_count < 1:
            raise CommandError("--shard-count must be at least 1")
        if shard_ids is not None and max(shard_ids) >= shard_count:
            raise CommandError(f"--shard-ids must be below --shard-count ({shard_count})")
        asyncio.run(self._run(shard_count=shard_count, shard_ids=shard_ids, web=options["web"], port=options["port"]))

    async def _run(self, **options) -> None:
        runner = BotRunner(token=settings.DISCORD_TOKEN, **options)
        try:
            await runner.start()
        except Exception as exc:  # noqa: BLE001 - shown as one line, the traceback is in the log
            await runner.shutdown(grace=0)
            raise CommandError(f"the bot could not start: {exc}") from exc
        # What start-up loaded (Django, discord.py, the guilds) lives as long as the process: keep it out of the
        # collector's full passes, which otherwise stall the event loop for 100 ms and more under load.
        gc.collect()
        gc.freeze()
        await runner.run_until_signalled()
