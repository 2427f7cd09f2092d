"""Legacy migration: the old bots' JSON files into this project through a Django fixture.

`manage.py convert_legacy` reads the files (``source``), validates every record into a report (``report``),
and writes a fixture (``fixture``) that `manage.py loaddata` loads. The apps own their part: ``points.legacy``
(points.json → member batches that become ledger entries on load) and ``tickets.legacy`` (ticket_numbers.json
and data/tickets.json → tickets, claims, panels and the counter). This package knows no app: it is the shared
plumbing (file limits, id and time parsing, JSON paths, the report, the progress bar, the guards that keep a
fixture from rewriting rows the bot owns).
"""

from .source import Invalid, LegacyLoadError, Source, SourceError  # noqa: F401
