"""The points app's part of `manage.py convert_legacy` (registered in points/apps.py through botproject.registry):
points.json → the fixture's member batches, and the LegacyImport row that records the import."""

from __future__ import annotations

from datetime import datetime

from botproject.registry import LegacyFile, LegacyPart

from . import convert as points_legacy

FILES = (LegacyFile("points", "--points", "points.json of the helper-points bot (seed 000)", points_legacy.records),)


def convert(sources: dict, guild_id: int, report, bar, now: datetime) -> LegacyPart:
    """Convert points.json when it was given (an empty part otherwise)."""
    plan = points_legacy.PointsPlan()
    if "points" in sources:
        plan = points_legacy.convert(sources["points"], guild_id, report, bar)
    figures = ({"members": plan.members, "points": plan.points, "ledger_entries": plan.entries} if plan.rows else {})
    return LegacyPart(payload=plan.rows, figures=figures,
                      objects=lambda key: points_legacy.batch_objects(guild_id, key, plan))
