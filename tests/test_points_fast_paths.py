"""The award's short path for members seen for the first time and for guilds with achievements: same results
as the general path (profile and counter, achievements by every condition, replays)."""

from __future__ import annotations

import pytest

from botproject.services import config_row
from points.models import Achievement, LedgerEntry, MemberAchievement, MemberProfile
from points.selectors import member_count
from points.services import points_award
from points.services.achievements import forget_achievement_cache

pytestmark = pytest.mark.django_db

GUILD = 8101


@pytest.fixture(autouse=True)
def _fresh_caches():
    # Earlier tests' guilds (rolled back, so no signal) may have left answers in the per-process caches.
    forget_achievement_cache()
    yield
    forget_achievement_cache()


def _award(user_id: int, key: str, amount: int = 1, kind: str = "admin_add"):
    return points_award(guild_id=GUILD, user_id=user_id, amount=amount, reason="test", idempotency_key=key,
                        kind=kind, display_name=f"user {user_id}")


def test_a_first_award_creates_the_profile_and_counts_the_member_once():
    _award(1, "a")
    first = _award(2, "b", amount=5)
    assert (first.balance, first.replayed) == (5, False)
    profile = MemberProfile.objects.get(guild__discord_id=GUILD, user_id=2)
    assert (profile.display_name, profile.balance, profile.earned_total, profile.entries) == ("user 2", 5, 5, 1)
    assert member_count(guild_id=GUILD) == 2
    again = _award(2, "b", amount=5)  # a replay: nothing new
    assert (again.entry_id, again.balance, again.replayed) == (first.entry_id, 5, True)
    assert member_count(guild_id=GUILD) == 2
    assert LedgerEntry.objects.filter(member=profile).count() == 1


def test_achievements_of_every_condition_are_awarded_once_when_met():
    guild = config_row(GUILD).guild
    for name, condition, threshold, bonus in (("Rich", "balance_reached", 10, 3), ("Earner", "points_earned", 20, 0),
                                              ("Buyer", "claims_made", 2, 0), ("Helper", "tickets_helped", 1, 0)):
        Achievement.objects.create(guild=guild, name=name, condition=condition, threshold=threshold,
                                   bonus_points=bonus)
    assert _award(7, "1", amount=9).achievements == ()  # a member seen for the first time, nothing met
    rich = _award(7, "2", amount=1)
    assert rich.achievements == ("Rich",) and rich.balance == 13  # the bonus is in the balance
    assert _award(7, "3", amount=1, kind="claim").achievements == ()
    assert _award(7, "4", amount=1, kind="claim").achievements == ("Buyer",)
    assert _award(7, "5", amount=3).achievements == ()  # earned 18 with the bonus, not yet 20
    assert _award(7, "6", amount=5).achievements == ("Earner",)
    assert _award(7, "7", amount=1, kind="helper").achievements == ("Helper",)
    assert _award(7, "8", amount=1).achievements == ()  # everything earned: nothing twice
    earned = MemberAchievement.objects.filter(member__user_id=7).values_list("achievement__name", flat=True)
    assert sorted(earned) == ["Buyer", "Earner", "Helper", "Rich"]
    assert LedgerEntry.objects.filter(member__user_id=7, kind="achievement").count() == 1


def test_an_achievement_created_later_is_awarded_on_the_next_change():
    _award(9, "x", amount=50)
    Achievement.objects.create(guild=config_row(GUILD).guild, name="Late", condition="balance_reached", threshold=40)
    assert _award(9, "y").achievements == ("Late",)


@pytest.mark.parametrize("unseen_are_new", [True, False], ids=["newcomer's INSERT first", "UPDATE first"])
def test_a_member_whose_profile_this_process_never_wrote_is_updated_and_counted_once(unseen_are_new):
    """A profile made without a change (/email, /notifications, the admin) or by another process, and a newcomer:
    whichever statement the award tries first, the profile gets the change and each member is counted once."""
    from points.services import balance, profile_create

    profile_create(guild_id=GUILD, user_id=31, display_name="Made by staff", email="m@example.com")
    balance.guess.seen.clear()  # as after a restart, or when another process wrote the member's last change
    balance.guess.unseen_are_new = unseen_are_new
    result = _award(31, "k31", amount=4)
    assert (result.balance, result.replayed) == (4, False)
    profile = MemberProfile.objects.get(guild__discord_id=GUILD, user_id=31)
    assert (profile.balance, profile.entries, profile.email, profile.display_name) == (4, 1, "m@example.com", "user 31")
    balance.guess.unseen_are_new = unseen_are_new
    assert _award(32, "k32", amount=2).balance == 2  # a newcomer
    assert member_count(guild_id=GUILD) == 2 == MemberProfile.objects.filter(guild__discord_id=GUILD).count()


def test_the_award_statement_is_planned_once_per_connection_on_postgresql():
    """On PostgreSQL the award's one statement runs on a server-binding cursor and is prepared after a few runs
    (planning it cost the server as much as running it); later awards use the prepared statement and give the same
    results as the first ones. On SQLite the cursor is Django's usual one."""
    from django.db import connection

    results = [_award(7, f"p{n}") for n in range(8)]
    assert [r.balance for r in results] == list(range(1, 9))
    assert sum(LedgerEntry.objects.filter(member__user_id=7).values_list("delta", flat=True)) == 8
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s",
                       ['WITH p AS (UPDATE "points_memberprofile"%'])
        prepared = cursor.fetchall()
    assert len(prepared) == 1  # one shape of award, one prepared statement
