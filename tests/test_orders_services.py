"""Order codes: one redemption per code ever (also under 50 concurrent claims), refusals, guessing limit, email."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from botproject import services as core
from botproject.models import OutboxMessage
from points import selectors, services
from points.exceptions import (
    AlreadyClaimed,
    AlreadyClaimedByYou,
    InvalidCode,
    InvalidEmail,
    TooManyAttempts,
    UnknownCode,
    VoidCode,
)
from points.models import ClaimAttempt, LedgerEntry, MemberProfile, Order

G = 2000


def make_order(code: str, amount: str = "10.00", number: str = "A-1", email: str = "buyer@example.com") -> Order:
    guild = core.config_row(G).guild
    return Order.objects.create(guild=guild, order_number=number, email=email, amount=Decimal(amount),
                                code_hash=services.code_hash(G, code), code_hint=services.normalize_code(code)[-4:])


@pytest.mark.django_db
def test_a_claim_credits_the_ledger_once_and_queues_an_email_receipt():
    core.guild_ensure(guild_id=G, name="Shop")
    make_order("ABCD-EFGH-JKMN", amount="12.50")
    result = services.order_claim(guild_id=G, user_id=1, code=" abcd efgh-jkmn ")
    assert (result.order_number, result.points, result.balance) == ("A-1", 13, 13)  # half up
    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.idempotency_key, entry.reason) == ("claim", f"claim:{Order.objects.get().pk}",
                                                                 "order A-1")
    order = Order.objects.get()
    assert (order.status, order.claimed_by_id) == ("claimed", 1)
    mail = OutboxMessage.objects.get(kind="email")
    assert mail.email_to == "buyer@example.com"
    assert mail.subject == "Your order A-1: 13 points credited"
    assert "13 points were credited" in mail.content and "<strong>13</strong>" in mail.html
    with pytest.raises(AlreadyClaimedByYou):
        services.order_claim(guild_id=G, user_id=1, code="ABCDEFGHJKMN")
    with pytest.raises(AlreadyClaimed):
        services.order_claim(guild_id=G, user_id=2, code="ABCDEFGHJKMN")
    assert LedgerEntry.objects.count() == 1


@pytest.mark.django_db
def test_unknown_void_and_malformed_codes_are_refused_and_credit_nothing():
    make_order("VOID-CODE-2345", number="V-1")
    services.order_void(guild_id=G, order_number="V-1")
    with pytest.raises(VoidCode):
        services.order_claim(guild_id=G, user_id=1, code="VOID-CODE-2345")
    with pytest.raises(UnknownCode):
        services.order_claim(guild_id=G, user_id=1, code="NOPE-NOPE-NOPE")
    for bad in ["", "abc", "x" * 1000, "ÄÖÜ-1234-5678", "DROP TABLE;"]:
        with pytest.raises(InvalidCode):
            services.order_claim(guild_id=G, user_id=3, code=bad)
    assert not LedgerEntry.objects.exists()
    assert Order.objects.get().status == "void"


@pytest.mark.django_db
def test_five_wrong_codes_in_ten_minutes_make_a_member_wait():
    make_order("GOOD-CODE-2345")
    for n in range(5):
        with pytest.raises(UnknownCode):
            services.order_claim(guild_id=G, user_id=1, code=f"WRONG{n}CODE")
    with pytest.raises(TooManyAttempts) as error:
        services.order_claim(guild_id=G, user_id=1, code="GOOD-CODE-2345")
    assert error.value.user_message() == "Too many wrong codes. Wait 10 minutes before trying again."
    assert Order.objects.get().status == "open"
    assert ClaimAttempt.objects.filter(succeeded=False).count() == 5  # the refusal itself is not counted
    assert services.order_claim(guild_id=G, user_id=2, code="GOOD-CODE-2345").points == 10  # others unaffected


@pytest.mark.django_db
def test_email_is_validated_stored_and_matched_with_open_orders():
    make_order("AAAA-BBBB-CCCC", email="Buyer@Example.com")
    assert services.profile_set_email(guild_id=G, user_id=1, email="buyer@example.com") == 1
    assert MemberProfile.objects.get(user_id=1).email == "buyer@example.com"
    for bad in ["not-an-email", "", "a@b", "x" * 300 + "@example.com"]:
        with pytest.raises(InvalidEmail):
            services.profile_set_email(guild_id=G, user_id=1, email=bad)
    assert MemberProfile.objects.get(user_id=1).email == "buyer@example.com"


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_claims_of_one_code_credit_exactly_one_member():
    make_order("RACE-CODE-2345", amount="50")
    barrier = threading.Barrier(50)
    outcomes: list[str] = []

    def claim(user_id: int) -> None:
        try:
            barrier.wait()
            services.order_claim(guild_id=G, user_id=user_id, code="RACE-CODE-2345")
            outcomes.append("ok")
        except AlreadyClaimed:
            outcomes.append("taken")
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(100 + n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes).count("ok") == 1 and outcomes.count("taken") == 49
    assert LedgerEntry.objects.filter(kind="claim").count() == 1
    assert sum(MemberProfile.objects.values_list("balance", flat=True)) == 50
    assert selectors.ledger_mismatches() == []


# --- the guessing limit (issue 13.6): per member across guilds, atomic under parallel guesses -----------------
@pytest.mark.django_db
def test_wrong_codes_count_per_member_across_guilds():
    make_order("GOOD-CODE-2345")
    other = 2001
    for n in range(3):
        with pytest.raises(UnknownCode):
            services.order_claim(guild_id=G, user_id=7, code=f"WRONG{n}CODE")
    for n in range(2):
        with pytest.raises(UnknownCode):
            services.order_claim(guild_id=other, user_id=7, code=f"WRONG{n}CODE")
    with pytest.raises(TooManyAttempts):
        services.order_claim(guild_id=G, user_id=7, code="GOOD-CODE-2345")
    assert Order.objects.get().status == "open"
    assert ClaimAttempt.objects.filter(user_id=7, succeeded=False).count() == 5


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_guesses_never_pass_the_limit():
    make_order("GOOD-CODE-2345")
    threads_count = 16
    barrier = threading.Barrier(threads_count)
    outcomes: list[str] = []

    def guess(n: int) -> None:
        try:
            barrier.wait()
            services.order_claim(guild_id=G + n % 2, user_id=42, code=f"WRONG{n}GUESS")
        except UnknownCode:
            outcomes.append("counted")
        except TooManyAttempts:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == threads_count
    assert outcomes.count("counted") == services.GUESS_LIMIT
    assert ClaimAttempt.objects.filter(user_id=42, succeeded=False).count() == services.GUESS_LIMIT
