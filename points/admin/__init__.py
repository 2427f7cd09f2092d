"""Admin pages of points, scoped per guild (see botproject.admin_scoping), one module per concern.

- `members`: profiles and balances; the "Adjust points", "Send a direct message" and "Check balances" actions.
- `ledger`: the append-only ledger, read-only; "Reverse selected entries" and the CSV export.
- `achievements`: achievements (edited by their guild's staff) and who earned them (read-only).
- `orders`: orders (read-only but for voiding), the "Import orders" page and the import history.
- `legacy`: what each import of the old bots' files brought (read-only).
- `common`: what they share (who may change balances, a member's label, an action's confirmation page).

Balances change only through the ledger services (`points.services`); importing these modules registers the
pages with the admin site.
"""

from . import achievements, ledger, legacy, members, orders  # noqa: F401
