"""Points reads: balances with rank, leaderboard pages (ranking), a member's ledger, achievements and ledger
integrity (history). Callers import from here."""

from .history import (
    AchievementRow,
    AchievementsPage,
    HistoryRow,
    Mismatch,
    achievements,
    achievements_page,
    helper_points,
    history,
    history_page,
    ledger_mismatches,
    notifications_enabled,
    points_issued,
)
from .ranking import (
    PAGE_SIZE,
    LeaderboardPage,
    LeaderboardRow,
    MemberStanding,
    leaderboard,
    leaderboard_and_standing,
    member_count,
    rank_of,
    standing,
)

__all__ = [
    "PAGE_SIZE", "AchievementRow", "AchievementsPage", "HistoryRow", "LeaderboardPage", "LeaderboardRow",
    "MemberStanding", "Mismatch", "achievements", "achievements_page", "helper_points", "history", "history_page",
    "leaderboard", "leaderboard_and_standing", "ledger_mismatches", "member_count", "notifications_enabled",
    "points_issued", "rank_of", "standing",
]
