"""The conversion report: what was read, converted, rejected (JSON path and reason each), skipped and dropped.

Rejected records keep the exit status non-zero unless --allow-partial. Skipped records belong to another guild
(the files of multi-server bots hold every server): they are listed, not errors. Dropped fields are fields of
converted records that land nowhere, grouped by field and reason with a count and example paths. Warnings are
things the converter decided (e.g. a `total` that disagrees with its services, which win).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

EXAMPLES = 5


@dataclass
class Issue:
    """One line of the report: where (file and JSON path) and why."""

    file: str
    path: str
    reason: str


@dataclass
class Note:
    """A dropped field (`field` set) or a warning, held until its record is known to be converted."""

    path: str
    reason: str
    field: str = ""

    def emit(self, role: str, report: Report) -> None:
        if self.field:
            report.drop(role, self.path, self.field, self.reason)
        else:
            report.warn(role, self.path, self.reason)


@dataclass
class FileCounts:
    """Records of one input file."""

    role: str
    name: str
    records: int = 0
    converted: int = 0
    rejected: int = 0
    skipped: int = 0
    error: str = ""


@dataclass
class Report:
    """Everything the operator needs to trust (or fix) a conversion."""

    guild_id: int
    files: dict[str, FileCounts] = field(default_factory=dict)
    rejected: list[Issue] = field(default_factory=list)
    skipped: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    dropped: dict[tuple[str, str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    figures: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def file(self, role: str, name: str) -> FileCounts:
        return self.files.setdefault(role, FileCounts(role, name))

    def fatal(self, role: str, name: str, reason: str) -> None:
        self.file(role, name).error = reason

    @property
    def has_fatal(self) -> bool:
        return any(f.error for f in self.files.values())

    def reject(self, role: str, path: str, reason: str, *, records: int = 1) -> None:
        counts = self.files[role]
        counts.rejected += records
        self.rejected.append(Issue(counts.name, path, reason))

    def skip(self, role: str, path: str, reason: str) -> None:
        counts = self.files[role]
        counts.skipped += 1
        self.skipped.append(Issue(counts.name, path, reason))

    def warn(self, role: str, path: str, reason: str) -> None:
        self.warnings.append(Issue(self.files[role].name, path, reason))

    def drop(self, role: str, path: str, field_name: str, reason: str) -> None:
        """A field that lands nowhere: grouped by (file, field, reason)."""
        self.dropped[(self.files[role].name, field_name, reason)].append(path)

    # --- output ---------------------------------------------------------------------------------------------
    def as_json(self) -> dict:
        return {
            "guild_id": self.guild_id,
            "files": [asdict(f) for f in self.files.values()],
            "figures": self.figures,
            "rejected": [asdict(i) for i in self.rejected],
            "skipped": [asdict(i) for i in self.skipped],
            "warnings": [asdict(i) for i in self.warnings],
            "dropped": [{"file": f, "field": name, "reason": reason, "count": len(paths), "paths": paths[:100]}
                        for (f, name, reason), paths in self.dropped.items()],
            "notes": self.notes,
        }

    def text(self, *, limit: int | None = None) -> str:
        """The report as text; `limit` shortens each list (the report files hold them whole)."""
        lines = [f"Legacy conversion for guild {self.guild_id}"]
        for f in self.files.values():
            if f.error:
                lines.append(f"  {f.name} ({f.role}): NOT READ: {f.error}")
            else:
                lines.append(f"  {f.name} ({f.role}): {f.records} records read, {f.converted} converted, "
                             f"{f.rejected} rejected, {f.skipped} skipped (other guilds)")
        if self.figures:
            lines.append("Converted: " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in self.figures.items()))
        for title, issues in (("Rejected", self.rejected), ("Skipped (another guild's records)", self.skipped),
                              ("Warnings", self.warnings)):
            if issues:
                lines.append(f"{title} ({len(issues)}):")
                lines += [f"  {i.file} {i.path}: {i.reason}" for i in issues[:limit]]
                if limit is not None and len(issues) > limit:
                    lines.append(f"  … {len(issues) - limit} more in the report file")
        if self.dropped:
            lines.append(f"Dropped fields ({sum(len(p) for p in self.dropped.values())}):")
            for (name, field_name, reason), paths in self.dropped.items():
                examples = ", ".join(paths[:EXAMPLES]) + (", …" if len(paths) > EXAMPLES else "")
                lines.append(f"  {name} {field_name} ×{len(paths)}: {reason} ({examples})")
        lines += self.notes
        return "\n".join(lines)

    def write(self, base: Path) -> tuple[Path, Path]:
        """Write `<base>.report.txt` and `<base>.report.json`; returns both paths."""
        text_path = base.with_name(base.name + ".report.txt")
        json_path = base.with_name(base.name + ".report.json")
        text_path.write_text(self.text() + "\n", encoding="utf-8")
        json_path.write_text(json.dumps(self.as_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return text_path, json_path
