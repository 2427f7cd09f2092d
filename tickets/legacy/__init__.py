"""The tickets part of the legacy migration (see botproject.legacy): `convert` reads ticket_numbers.json and
data/tickets.json into fixture rows (`records` checks one panel or ticket), `load` guards them in loaddata."""
