"""Points: per-guild balances on an append-only ledger, leaderboard, achievements, order codes."""
