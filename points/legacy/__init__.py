"""The points part of the legacy migration (see botproject.legacy): `convert` reads points.json into
fixture rows, `load` is what loaddata does with them (profiles and legacy_import ledger entries)."""
