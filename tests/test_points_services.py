"""Points services against the real database: ledger, limits, idempotency, achievements, reversal, reset."""

import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from botproject import services as core
from botproject.models import OutboxMessage
from points import selectors, services
from points.exceptions import (
    AboveLimit,
    BalanceCapReached,
    ConfirmationRequired,
    InsufficientPoints,
    InvalidAmount,
    UnknownEntry,
)
from points.models import Achievement, LedgerEntry, MemberAchievement, MemberProfile
from points.services.achievements import forget_achievement_cache

G = 1000


def award(user, amount, key, **kw):
    return services.points_award(guild_id=G, user_id=user, amount=amount, reason="test", idempotency_key=key, **kw)


@pytest.mark.django_db
def test_award_and_deduct_write_the_ledger_and_keep_balance_equal_to_its_sum():
    assert award(1, 50, "a").balance == 50
    result = services.points_deduct(guild_id=G, user_id=1, amount=20, reason="shop", idempotency_key="b", actor_id=9)
    assert (result.delta, result.balance, result.kind) == (-20, 30, "admin_remove")
    entries = list(LedgerEntry.objects.order_by("id").values_list("delta", "balance_after", "kind", "actor_id"))
    assert entries == [(50, 50, "admin_add", None), (-20, 30, "admin_remove", 9)]
    profile = MemberProfile.objects.get(user_id=1)
    assert (profile.balance, profile.earned_total, profile.spent_total, profile.entries) == (30, 50, 20, 2)
    assert selectors.ledger_mismatches() == []


@pytest.mark.django_db
def test_replaying_an_idempotency_key_changes_nothing():
    first = award(1, 10, "same")
    again = award(1, 10, "same")
    assert again.replayed and again.entry_id == first.entry_id
    assert MemberProfile.objects.get(user_id=1).balance == 10
    assert LedgerEntry.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("amount", [0, -5, 1.5, True, "10"])
def test_bad_amounts_are_refused_and_write_nothing(amount):
    with pytest.raises(InvalidAmount):
        award(1, amount, "bad")
    assert not LedgerEntry.objects.exists()


@pytest.mark.django_db
def test_limits_of_the_guild_apply():
    core.config_update(guild_id=G, changes={"points_max_adjustment": 100, "points_max_balance": 150})
    with pytest.raises(AboveLimit) as error:
        award(1, 101, "big")
    assert error.value.user_message() == "At most 100 points can be changed at once in this server."
    award(1, 100, "ok")
    with pytest.raises(BalanceCapReached):
        award(1, 51, "over")
    services.points_deduct(guild_id=G, user_id=1, amount=60, reason="x", idempotency_key="d")
    with pytest.raises(InsufficientPoints) as error:
        services.points_deduct(guild_id=G, user_id=1, amount=50, reason="x", idempotency_key="e")
    assert error.value.user_message() == "<@1> has only 40 points; 50 cannot be removed."
    assert MemberProfile.objects.get(user_id=1).balance == 40
    assert LedgerEntry.objects.count() == 2


@pytest.mark.django_db
def test_negative_balances_only_where_the_guild_allows_them():
    award(1, 5, "a")
    core.config_update(guild_id=G, changes={"points_allow_negative": True})
    assert services.points_deduct(guild_id=G, user_id=1, amount=8, reason="x", idempotency_key="b").balance == -3
    assert selectors.ledger_mismatches() == []


@pytest.mark.django_db
def test_set_records_the_difference_and_transfer_moves_points():
    award(1, 40, "a")
    result = services.points_set(guild_id=G, user_id=1, amount=25, reason="fix", idempotency_key="s")
    assert (result.delta, result.balance, result.kind) == (-15, 25, "admin_set")
    taken, given = services.points_transfer(guild_id=G, from_user_id=1, to_user_id=2, amount=10, reason="gift",
                                            idempotency_key="t")
    assert (taken.balance, given.balance) == (15, 10)
    with pytest.raises(InsufficientPoints):
        services.points_transfer(guild_id=G, from_user_id=2, to_user_id=1, amount=11, reason="x", idempotency_key="u")
    assert selectors.ledger_mismatches() == []


@pytest.mark.django_db
def test_reverse_writes_a_compensating_entry_once():
    entry = award(1, 30, "a")
    reversal = services.points_reverse(guild_id=G, entry_id=entry.entry_id, reason="mistake", actor_id=7)
    assert (reversal.delta, reversal.balance, reversal.kind) == (-30, 0, "reversal")
    assert services.points_reverse(guild_id=G, entry_id=entry.entry_id, reason="again").replayed
    assert LedgerEntry.objects.get(pk=reversal.entry_id).reverses_id == entry.entry_id
    assert LedgerEntry.objects.count() == 2
    with pytest.raises(UnknownEntry):
        services.points_reverse(guild_id=G + 1, entry_id=entry.entry_id, reason="other guild")


@pytest.mark.django_db
def test_achievements_are_awarded_once_with_their_bonus_and_a_dm():
    core.guild_ensure(guild_id=G, name="Guild")
    guild_config = core.config_row(G)
    Achievement.objects.create(guild=guild_config.guild, name="Rich", condition="balance_reached", threshold=100,
                               bonus_points=10)
    Achievement.objects.create(guild=guild_config.guild, name="Richer", condition="balance_reached", threshold=110)
    result = award(1, 100, "a")
    assert result.achievements == ("Rich", "Richer")  # the bonus unlocked the second one
    assert result.balance == 110
    award(1, 1, "b")
    assert MemberAchievement.objects.count() == 2
    assert LedgerEntry.objects.filter(kind="achievement").count() == 1
    dms = list(OutboxMessage.objects.filter(kind="dm").values_list("content", flat=True))
    assert "🏆 Achievement unlocked in Guild: Rich (+10 points)" in dms
    assert "+100 points in Guild (test). Your balance: 100." in dms


@pytest.mark.django_db
def test_a_known_members_award_is_one_short_transaction():
    # Earlier tests' guilds had achievements; rolled-back rows fire no signal, so forget the cached answer.
    forget_achievement_cache()
    award(1, 5, "first")  # creates the guild's rows and the profile (the general path)
    award(1, 5, "second")  # reads and caches the guild's limits
    with CaptureQueriesContext(connection) as ctx:
        award(1, 5, "third", display_name="Ann")
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")
    writes = [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(control)]
    # PostgreSQL: one statement (CTEs); SQLite: profile UPDATE, ledger INSERT, outbox INSERT.
    assert len(writes) == (1 if connection.vendor == "postgresql" else 3), writes
    profile = MemberProfile.objects.get(user_id=1)
    assert (profile.balance, profile.entries, profile.display_name) == (15, 3, "Ann")
    assert selectors.ledger_mismatches() == []


@pytest.mark.django_db(transaction=True)
def test_a_notice_is_the_same_row_whichever_way_the_award_is_written():
    # Outside a transaction block PostgreSQL writes the award as one statement (its outbox row built from the
    # model's fields); inside one, statement by statement (outbox.enqueue_dm). Every column must agree.
    core.guild_ensure(guild_id=G, name="Guild")
    award(1, 5, "setup")
    award(1, 1_000, "alone")
    with transaction.atomic():
        award(1, 1_000, "inside")
    skip = {"id", "dedupe_key", "created_at", "available_at"}
    columns = [f.attname for f in OutboxMessage._meta.concrete_fields if f.attname not in skip]
    alone, inside = (OutboxMessage.objects.filter(dedupe_key=f"dm:ledger:{entry}").values(*columns).get()
                     for entry in LedgerEntry.objects.filter(idempotency_key__in=["alone", "inside"])
                     .order_by("id").values_list("pk", flat=True))
    assert alone.pop("content") == "+1,000 points in Guild (test). Your balance: 1,005."
    assert inside.pop("content") == "+1,000 points in Guild (test). Your balance: 2,005."
    assert alone == inside and alone["status"] == "pending" and alone["target_id"] == 1


@pytest.mark.django_db
def test_configuration_changes_apply_to_the_very_next_award():
    core.guild_ensure(guild_id=G, name="Old name")
    award(1, 50, "a")  # the limits are now cached
    core.config_update(guild_id=G, changes={"points_max_balance": 60})
    with pytest.raises(BalanceCapReached):
        award(1, 11, "b")
    core.config_update(guild_id=G, changes={"points_max_adjustment": 5})
    with pytest.raises(AboveLimit):
        award(1, 6, "c")
    core.config_update(guild_id=G, changes={"points_max_adjustment": 500, "points_max_balance": 1000})
    assert award(1, 200, "d").balance == 250
    with pytest.raises(InsufficientPoints):
        services.points_deduct(guild_id=G, user_id=1, amount=300, reason="x", idempotency_key="e")
    core.config_update(guild_id=G, changes={"points_allow_negative": True})
    assert services.points_deduct(guild_id=G, user_id=1, amount=300, reason="x", idempotency_key="f").balance == -50
    core.guild_ensure(guild_id=G, name="New name")
    core.config_update(guild_id=G, changes={"language": "vi"})
    award(1, 1, "g")
    last = OutboxMessage.objects.filter(kind="dm").order_by("-id").values_list("content", flat=True).first()
    assert last.startswith("+1 điểm") and "New name" in last and "-49" in last, last
    assert LedgerEntry.objects.count() == 4 and selectors.ledger_mismatches() == []


@pytest.mark.django_db
def test_dm_notices_write_balances_the_way_python_does():
    core.guild_ensure(guild_id=G, name="Guild")
    core.config_update(guild_id=G, changes={"points_allow_negative": True, "points_max_adjustment": 10_000_000,
                                             "points_max_balance": 10_000_000})
    award(1, 1, "a")
    award(1, 1_234_566, "b")
    services.points_deduct(guild_id=G, user_id=1, amount=2_469_134, reason="", idempotency_key="c")
    award(1, 1_234_567, "d")
    dms = list(OutboxMessage.objects.filter(kind="dm").order_by("id").values_list("content", flat=True))
    assert dms[1:] == ["+1,234,566 points in Guild (test). Your balance: 1,234,567.",
                       "-2,469,134 points in Guild (removed by staff). Your balance: -1,234,567.",
                       "+1,234,567 points in Guild (test). Your balance: 0."]
    keys = list(OutboxMessage.objects.filter(kind="dm").order_by("id").values_list("dedupe_key", flat=True))
    entries = list(LedgerEntry.objects.order_by("id").values_list("pk", flat=True))
    assert keys == [f"dm:ledger:{pk}" for pk in entries]


@pytest.mark.django_db
def test_no_dm_for_members_who_turned_notices_off():
    services.notifications_set(guild_id=G, user_id=1, enabled=False)
    award(1, 5, "a")
    assert not OutboxMessage.objects.filter(kind="dm").exists()


@pytest.mark.django_db
def test_season_reset_needs_confirmation_writes_a_backup_and_one_entry_each(tmp_path):
    core.guild_ensure(guild_id=G, name="Guild")
    award(1, 5, "a")
    award(2, 7, "b")
    with pytest.raises(ConfirmationRequired):
        services.points_season_reset(guild_id=G, confirm="guild", backup_dir=tmp_path)
    assert not list(tmp_path.iterdir())
    count, backup = services.points_season_reset(guild_id=G, confirm="Guild", backup_dir=tmp_path)
    assert count == 2
    assert json.loads(backup.read_text())["balances"] == {"1": 5, "2": 7}
    assert set(MemberProfile.objects.values_list("balance", flat=True)) == {0}
    assert LedgerEntry.objects.filter(kind="season_reset").count() == 2
    assert selectors.ledger_mismatches() == []


@pytest.mark.django_db
def test_leaderboard_ranks_ties_together_and_pages_by_ten():
    for user in range(1, 24):
        award(user, 100 - (user // 2), f"k{user}")
    page = selectors.leaderboard(guild_id=G, page=1)
    assert (page.pages, page.members, len(page.rows)) == (3, 23, 10)
    assert [r.rank for r in page.rows[:4]] == [1, 2, 2, 4]
    last = selectors.leaderboard(guild_id=G, page=9)
    assert last.page == 3 and len(last.rows) == 3
    me = selectors.standing(guild_id=G, user_id=23)
    assert me.rank == 22 and me.balance == 89
    assert selectors.standing(guild_id=G, user_id=999).rank is None


@pytest.mark.django_db
@pytest.mark.parametrize("sample_from", [10**9, 100], ids=["bounded counts", "sampled median side"])
def test_every_rank_equals_one_plus_the_members_with_more(monkeypatch, sample_from):
    """Both ways of choosing the side to count give exact ranks (the sampled median runs on PostgreSQL)."""
    monkeypatch.setattr(selectors.ranking, "SAMPLED_SIDE_MIN_MEMBERS", sample_from)
    guild = core.config_row(G).guild
    balances = [(user * 7919) % 401 for user in range(1, 601)]  # 600 members, many ties, skewed order
    MemberProfile.objects.bulk_create([MemberProfile(guild=guild, user_id=user, balance=balance)
                                       for user, balance in enumerate(balances, start=1)])
    services.points_recount_members(guild_id=G)
    expected = {b: 1 + sum(other > b for other in balances) for b in set(balances)}
    assert {b: selectors.rank_of(guild_id=G, balance=b) for b in expected} == expected
    assert selectors.rank_of(guild_id=G, balance=1000) == 1 and selectors.rank_of(guild_id=G, balance=-1) == 601
