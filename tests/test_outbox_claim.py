"""The outbox claim (one statement on PostgreSQL, the ORM on SQLite): what it takes, leases and tells the worker."""

from datetime import timedelta

import pytest
from django.utils import timezone

from botproject import outbox
from botproject.models import DiscordUser, Guild, OutboxMessage
from botproject.services import guild_ensure

SHARD_0, SHARD_1 = 0 << 22, (1 << 22) + 1  # guild ids on shards 0 and 1 of 2 (shard = (id >> 22) % 2)


def _row(guild, *, kind="log", target=7, due_in=0.0, **fields) -> OutboxMessage:
    return OutboxMessage.objects.create(guild=guild, kind=kind, target_id=target,
                                        available_at=timezone.now() + timedelta(seconds=due_in), **fields)


@pytest.mark.django_db
def test_the_claim_takes_due_rows_in_order_leases_them_and_says_when_the_next_is_due(settings):
    settings.OUTBOX_LEASE_SECONDS = 60
    guild_ensure(guild_id=SHARD_1, name="G")
    guild = Guild.objects.get(discord_id=SHARD_1)
    second = _row(guild, due_in=-1, content="second", embed={"title": "T", "fields": [{"name": "a", "value": "1"}]})
    first = _row(guild, due_in=-2, content="first")
    later = _row(guild, due_in=30)
    _row(guild, due_in=-3, status=OutboxMessage.Status.SENT, sent_at=timezone.now())

    batch = outbox.outbox_claim_batch(limit=20)

    assert [item.id for item in batch.items] == [first.pk, second.pk]
    item = batch.items[1]
    assert (item.kind, item.guild_id, item.target_id, item.content, item.attempts) == ("log", SHARD_1, 7, "second", 1)
    assert item.embed == {"title": "T", "fields": [{"name": "a", "value": "1"}]}
    assert item.created_at is not None and item.dms_closed_at is None and not item.dms_marked
    assert batch.next_due == OutboxMessage.objects.get(pk=later.pk).available_at  # not the rows it just leased
    for row in (first, second):
        row.refresh_from_db()
        assert row.attempts == 1 and row.status == "pending"
        assert row.available_at > timezone.now() + timedelta(seconds=50)  # leased
    assert outbox.outbox_claim_batch(limit=20) == outbox.ClaimedBatch([], batch.next_due), "leased rows wait"
    assert outbox.outbox_claim(limit=1) == []


@pytest.mark.django_db
def test_the_claim_takes_at_most_its_limit_and_nothing_pending_means_no_due_time():
    guild_ensure(guild_id=SHARD_1, name="G")
    guild = Guild.objects.get(discord_id=SHARD_1)
    rows = [_row(guild, due_in=-10 + i) for i in range(3)]
    batch = outbox.outbox_claim_batch(limit=2)
    assert [item.id for item in batch.items] == [rows[0].pk, rows[1].pk]
    assert batch.next_due == OutboxMessage.objects.get(pk=rows[2].pk).available_at  # due already: no sleep
    assert [item.id for item in outbox.outbox_claim_batch(limit=2).items] == [rows[2].pk]
    OutboxMessage.objects.update(status=OutboxMessage.Status.SENT, sent_at=timezone.now())
    assert outbox.outbox_claim_batch(limit=2) == outbox.ClaimedBatch([], None)


@pytest.mark.django_db
def test_a_dm_to_a_user_whose_dms_were_found_closed_says_so():
    recently, long_ago, never = 101, 102, 103
    DiscordUser.objects.create(user_id=recently, dms_closed_at=timezone.now() - timedelta(hours=1))
    DiscordUser.objects.create(user_id=long_ago, dms_closed_at=timezone.now() - timedelta(days=2))
    DiscordUser.objects.create(user_id=never)
    for user in (recently, long_ago, never):
        _row(None, kind="dm", target=user, due_in=-(user - 100))
    _row(None, kind="log", target=recently, due_in=-0.5)  # a channel with the same id as that user: no DM

    items = {(item.kind, item.target_id): item for item in outbox.outbox_claim_batch(limit=20).items}

    assert items["dm", recently].dms_closed_at is not None and items["dm", recently].dms_marked  # not tried
    assert items["dm", long_ago].dms_closed_at is None and items["dm", long_ago].dms_marked  # tried, cleared if sent
    assert items["dm", never].dms_closed_at is None and not items["dm", never].dms_marked
    assert items["log", recently].dms_closed_at is None and not items["log", recently].dms_marked
    assert items["dm", never].guild_id is None


@pytest.mark.django_db
def test_a_process_running_some_shards_claims_only_their_guilds_rows():
    guild_ensure(guild_id=SHARD_0, name="zero")
    guild_ensure(guild_id=SHARD_1, name="one")
    on_0 = _row(Guild.objects.get(discord_id=SHARD_0), due_in=-3)
    on_1 = _row(Guild.objects.get(discord_id=SHARD_1), due_in=-2)
    no_guild = _row(None, kind="dm", due_in=-1)

    assert [i.id for i in outbox.outbox_claim_batch(limit=20, shard_count=2, shard_ids=[1]).items] == [on_1.pk]
    assert [i.id for i in outbox.outbox_claim_batch(limit=20, shard_count=2, shard_ids=[0]).items] == [
        on_0.pk, no_guild.pk]  # rows without a guild (DMs) go with shard 0


@pytest.mark.django_db
def test_marking_a_row_sent_records_when_and_the_message_and_clears_the_error():
    guild_ensure(guild_id=SHARD_1, name="G")
    row = _row(Guild.objects.get(discord_id=SHARD_1), due_in=-1, last_error="503 earlier")
    before = timezone.now()
    outbox.outbox_mark_sent(message_id=row.pk, discord_message_id=4242)
    row.refresh_from_db()
    assert (row.status, row.discord_message_id, row.last_error) == ("sent", 4242, "")
    assert before <= row.sent_at <= timezone.now()
    assert OutboxMessage.objects.filter(sent_at__gte=before, sent_at__lte=timezone.now()).get() == row
