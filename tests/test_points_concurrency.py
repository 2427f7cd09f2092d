"""The ledger's claims under real concurrency: real threads, real database (SQLite and PostgreSQL).

Each thread runs service calls the way the bot's bridge does (one synchronous call, then the connection is
tidied: returned to the pool on PostgreSQL, kept on SQLite) and closes its connection at the end. SQLite
serialises writers with BEGIN IMMEDIATE and a busy timeout; PostgreSQL with row locks on the profile.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable

import pytest
from django.db import close_old_connections, connection

from points import selectors, services
from points.exceptions import InsufficientPoints
from points.models import LedgerEntry, MemberProfile

pytestmark = pytest.mark.django_db(transaction=True)

G = 4242
THREADS = 32
HOT = [1000 + i for i in range(10)]


def run_threads(n_threads: int, jobs: Iterable, work: Callable) -> tuple[list, list[BaseException]]:
    """Run work(job) for every job on `n_threads` threads started together; return results and errors."""
    pending = list(jobs)
    lock = threading.Lock()
    barrier = threading.Barrier(n_threads)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            while True:
                with lock:
                    if not pending:
                        return
                    job = pending.pop()
                try:
                    outcome = work(job)
                except BaseException as error:  # noqa: BLE001 - collected and asserted on below
                    with lock:
                        errors.append(error)
                else:
                    with lock:
                        results.append(outcome)
                finally:
                    close_old_connections()  # what the bridge does after every call
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, name=f"points-{i}") for i in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker thread hung"
    return results, errors


def award(user_id: int, amount: int, key: str, **kw):
    return services.points_award(guild_id=G, user_id=user_id, amount=amount, reason="load", idempotency_key=key,
                                 **kw)


def deduct(user_id: int, amount: int, key: str, **kw):
    return services.points_deduct(guild_id=G, user_id=user_id, amount=amount, reason="load", idempotency_key=key,
                                  **kw)


def assert_ledger_consistent() -> None:
    assert selectors.ledger_mismatches() == []
    assert not MemberProfile.objects.filter(balance__lt=0).exists()
    assert not LedgerEntry.objects.filter(balance_after__lt=0).exists()


def test_mixed_awards_and_deductions_on_hot_members_lose_nothing():
    for user_id in HOT:
        award(user_id, 50, f"seed:{user_id}")
    rng = random.Random(7)
    ops = []
    for i in range(5000):
        user_id = rng.choice(HOT)
        # half deductions, large enough that some are refused when a member runs low.
        kind = "deduct" if rng.random() < 0.5 else "award"
        ops.append((i, kind, user_id, rng.randint(1, 25)))

    def work(op):
        i, kind, user_id, amount = op
        try:
            if kind == "award":
                result = award(user_id, amount, f"op:{i}", notify=False)
            else:
                result = deduct(user_id, amount, f"op:{i}", notify=False)
        except InsufficientPoints:
            return (user_id, 0, "refused")
        assert not result.replayed
        return (user_id, result.delta, kind)

    started = time.monotonic()
    results, errors = run_threads(THREADS, ops, work)
    elapsed = time.monotonic() - started
    assert errors == [], errors[:3]
    assert len(results) == 5000

    expected = defaultdict(lambda: 50)
    applied = Counter()
    for user_id, delta, kind in results:
        expected[user_id] += delta
        applied[kind] += 1
    balances = dict(MemberProfile.objects.filter(guild__discord_id=G).values_list("user_id", "balance"))
    assert balances == dict(expected)  # 0 lost updates: every applied delta, and only those, is in the balance
    assert applied["refused"] > 0 and applied["deduct"] > 0  # the load really exercised the floor
    assert LedgerEntry.objects.count() == len(HOT) + applied["award"] + applied["deduct"]
    assert_ledger_consistent()
    print(f"\n{connection.vendor}: 5000 ops on {THREADS} threads in {elapsed:.1f} s "
          f"({5000 / elapsed:.0f} ops/s; {applied['refused']} deductions refused)")


def test_one_idempotency_key_replayed_in_parallel_credits_once():
    user_id = 7777  # no profile yet: the first calls also race to create it

    results, errors = run_threads(THREADS, range(100), lambda _i: award(user_id, 30, "interaction:123"))
    assert errors == [], errors[:3]
    assert len(results) == 100
    assert len({r.entry_id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert {r.balance for r in results if not r.replayed} == {30}
    assert MemberProfile.objects.get(guild__discord_id=G, user_id=user_id).balance == 30
    assert LedgerEntry.objects.filter(idempotency_key="interaction:123").count() == 1
    assert_ledger_consistent()


def test_concurrent_deductions_never_take_the_balance_below_zero():
    user_id = HOT[0]
    award(user_id, 100, "seed")

    def work(i):
        try:
            return deduct(user_id, 7, f"spend:{i}").balance
        except InsufficientPoints:
            return None

    results, errors = run_threads(THREADS, range(50), work)
    assert errors == [], errors[:3]
    applied = [b for b in results if b is not None]
    assert len(applied) == 14 and results.count(None) == 36  # 14 × 7 = 98 ≤ 100 < 15 × 7
    assert MemberProfile.objects.get(user_id=user_id).balance == 2
    # Every applied deduction saw a distinct balance on the way down: 93, 86, …, 2.
    after = sorted(LedgerEntry.objects.filter(kind="admin_remove").values_list("balance_after", flat=True))
    assert after == list(range(2, 100, 7))
    assert_ledger_consistent()


def test_members_seen_for_the_first_time_at_once_are_each_counted_once():
    """Newcomers' first awards (one statement each on PostgreSQL, counted in the guild's shards) racing each
    other, replays of the same first award, and a deduction from a newcomer (refused: nothing written)."""
    from botproject.services import config_row
    from points.models import Achievement

    Achievement.objects.create(guild=config_row(G).guild, name="First steps", condition="balance_reached",
                               threshold=3, bonus_points=1)
    newcomers = [5000 + i for i in range(200)]
    jobs = [(user, f"first:{user}") for user in newcomers] + [(user, f"first:{user}") for user in newcomers[:50]]
    random.Random(7).shuffle(jobs)
    results, errors = run_threads(THREADS, jobs, lambda job: award(job[0], 3, job[1]))
    assert errors == []
    assert selectors.member_count(guild_id=G) == MemberProfile.objects.filter(guild__discord_id=G).count() == 200
    # Each newcomer once: 3 points and the achievement's bonus, whichever of a replayed pair came first.
    assert sorted(set(MemberProfile.objects.values_list("balance", flat=True))) == [4]
    assert LedgerEntry.objects.filter(reason="load").count() == 200
    assert {result.achievements for result in results if not result.replayed} == {("First steps",)}
    assert_ledger_consistent()

    with pytest.raises(InsufficientPoints):
        deduct(9999, 1, "newcomer:deduct")
    assert not MemberProfile.objects.filter(user_id=9999).exists()
    assert services.points_recount_members(guild_id=G) == selectors.member_count(guild_id=G) == 200


def test_an_achievement_met_by_many_changes_at_once_is_awarded_once_with_one_bonus():
    """Concurrent awards to one member all see the threshold crossed; one grants it (and its bonus), the others
    wait for it and find it granted."""
    from botproject.services import config_row
    from points.models import Achievement, MemberAchievement

    Achievement.objects.create(guild=config_row(G).guild, name="Crowd", condition="balance_reached", threshold=10,
                               bonus_points=7)
    results, errors = run_threads(THREADS, [(HOT[0], f"crowd:{i}") for i in range(64)],
                                  lambda job: award(job[0], 1, job[1]))
    assert errors == []
    assert MemberAchievement.objects.filter(member__user_id=HOT[0]).count() == 1
    assert LedgerEntry.objects.filter(member__user_id=HOT[0], kind="achievement").count() == 1
    assert MemberProfile.objects.get(guild__discord_id=G, user_id=HOT[0]).balance == 64 + 7
    assert [result.achievements for result in results].count(("Crowd",)) == 1
    assert_ledger_consistent()
