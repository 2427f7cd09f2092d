"""Shared helpers of the legacy migration tests (test_legacy_convert.py, test_legacy_load.py)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

from django.core.management import call_command

SAMPLES = Path(__file__).resolve().parent / "legacy_samples"
GUILD = 901_234_567_890_123_456  # the guild of the samples' ticket files


@dataclass
class Converted:
    """What one convert_legacy run printed and wrote."""

    out: str
    err: str
    fixture: Path

    @property
    def objects(self) -> list[dict]:
        return json.loads(self.fixture.read_text(encoding="ascii"))

    def models(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for obj in self.objects:
            counts[obj["model"]] = counts.get(obj["model"], 0) + 1
        return counts

    @property
    def report(self) -> dict:
        return json.loads(self.fixture.with_name(self.fixture.stem + ".report.json").read_text(encoding="utf-8"))

    @property
    def report_text(self) -> str:
        return self.fixture.with_name(self.fixture.stem + ".report.txt").read_text(encoding="utf-8")


def convert(folder: Path, *, guild: int = GUILD, points: Path | None = None, numbers: Path | None = None,
            tickets: Path | None = None, name: str = "legacy.json", extra: tuple[str, ...] = ()) -> Converted:
    """Run `convert_legacy` in-process (CommandError propagates)."""
    args = ["--guild", str(guild), "--out", str(folder / name), *extra]
    for flag, path in (("--points", points), ("--ticket-numbers", numbers), ("--tickets", tickets)):
        if path is not None:
            args += [flag, str(path)]
    out, err = io.StringIO(), io.StringIO()
    call_command("convert_legacy", *args, stdout=out, stderr=err)
    return Converted(out.getvalue(), err.getvalue(), folder / name)


def write_json(folder: Path, name: str, data) -> Path:
    path = folder / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def load(fixture: Path) -> str:
    out = io.StringIO()
    call_command("loaddata", str(fixture), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def tickets_file(**parts) -> dict:
    """A tickets.json with the given parts (panels, tickets, closed_tickets)."""
    return {"panels": [], "tickets": {}, "closed_tickets": [], **parts}


def ticket(ticket_id, user_id=318456789012345678, **fields) -> dict:
    """An open ticket record as seed 004 writes it (fields override)."""
    record = {"ticket_id": ticket_id, "user_id": user_id, "channel_id": None, "guild_id": GUILD,
              "category": "General Support", "claimed_by": None, "claimed_at": None,
              "created_at": "2026-01-18T10:30:00", "closed": False, "closed_at": None, "closed_by": None,
              "members": [user_id], "status": "open"}
    record.update(fields)
    return record


def closed(ticket_id, user_id=318456789012345678, **fields) -> dict:
    """An archived (closed_tickets) record (fields override)."""
    record = ticket(ticket_id, user_id, closed=True, status="closed", closed_at="2026-01-18T11:00:00",
                    closed_by=user_id)
    record.update(fields)
    return record
