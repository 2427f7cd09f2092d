"""Fifty members claim one code at the same moment through Discord: exactly one credit.

Its own emulator and bot (discord.py's URLs are process-wide; see tests/test_pads_restart.py).
"""

from decimal import Decimal

import pytest

from botproject import services as core
from points import services
from points.models import LedgerEntry, Order
from tests.conftest import start_runner, stop_runner


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_claims_of_one_code_credit_exactly_once(own_emulator):
    harness, world = own_emulator, own_emulator.world
    Order.objects.create(guild=core.config_row(world.guild_id).guild, order_number="RACE-1", email="x@example.com",
                         amount=Decimal("50"), code_hash=services.code_hash(world.guild_id, "RACE-CODE-2345"),
                         code_hint="2345")
    members = [harness.member_join(world.guild_id, username=f"buyer{n}").user_id for n in range(50)]
    runner = start_runner(harness)
    try:
        records = [harness.slash(world.guild_id, member, "claim", code="RACE-CODE-2345", wait=False)
                   for member in members]
        for record in records:
            harness.wait(record, timeout=30)
    finally:
        stop_runner(harness, runner)
    texts = [r.content for r in records]
    assert sum(t == "Order RACE-1 claimed: +50 points. Your balance: 50." for t in texts) == 1
    assert sum(t == "That code was already claimed." for t in texts) == 49
    assert LedgerEntry.objects.filter(kind="claim").count() == 1
    assert Order.objects.get().status == "claimed"
