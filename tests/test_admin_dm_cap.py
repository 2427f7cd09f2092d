"""Issue 13.6: a guild sends at most ADMIN_DMS_PER_HOUR direct messages from the admin per rolling hour.

Through the admin (Django's test client) and at the service under real threads against the database (SQLite
and PostgreSQL): a refusal says when to retry and queues nothing; two admins cannot both take the last slot.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import close_old_connections, connection
from django.utils import timezone, translation
from django.utils.html import strip_tags

from botproject.models import Guild, OutboxMessage
from botproject.services import guild_ensure
from points import services
from points.exceptions import PointsError
from points.models import MemberProfile
from tests.conftest import staff_user

A, B = 7101, 7102
LIMIT = 3


@pytest.fixture
def cap(settings):
    settings.ADMIN_DMS_PER_HOUR = LIMIT
    return LIMIT


def _profiles(guild_id: int, users: range) -> list[MemberProfile]:
    guild_ensure(guild_id=guild_id, name=f"Guild {guild_id}")
    return [services.profile_create(guild_id=guild_id, user_id=u, display_name=f"m{u}") for u in users]


def _send(client, profiles, text="Hello", token=None):
    data = {"action": "send_direct_message", "_selected_action": [p.pk for p in profiles], "apply": "1",
            "message": text, "token": token or str(uuid.uuid4())}
    response = client.post("/admin/points/memberprofile/", data, follow=True)
    assert response.status_code == 200
    return [(m.level_tag, strip_tags(str(m))) for m in response.context["messages"]]


def _admin_dms(guild_id: int) -> int:
    return OutboxMessage.objects.filter(kind="dm", guild__discord_id=guild_id).count()


@pytest.fixture
def staff_client(client, db):
    members = _profiles(A, range(1, 8))
    user = staff_user("dm-staff", [Guild.objects.get(discord_id=A)],
                      Permission.objects.filter(content_type__app_label="points"))
    client.force_login(user)
    return client, members


def test_the_admin_refuses_the_dm_past_the_hourly_cap_saying_when_and_queues_nothing(cap, staff_client, admin_client):
    client, members = staff_client
    for member in members[:LIMIT]:
        assert _send(client, [member]) == [("success", "Queued 1 direct message. See their delivery in the outbox.")]
    assert _admin_dms(A) == LIMIT
    # The oldest went out 50 minutes ago: its slot comes back in 10 minutes.
    oldest = OutboxMessage.objects.filter(kind="dm").order_by("pk").first()
    OutboxMessage.objects.filter(pk=oldest.pk).update(created_at=timezone.now() - timedelta(minutes=50))

    shown = _send(client, [members[LIMIT]], text="one too many")
    assert shown == [("error", f"Guild {A} has sent {LIMIT} direct messages from the admin in the last hour, the "
                               f"most allowed ({LIMIT} an hour). Try again in 10 minutes.")]
    assert _admin_dms(A) == LIMIT and not OutboxMessage.objects.filter(content="one too many").exists()

    # Another guild has its own allowance.
    other = _profiles(B, range(1, 2))
    assert _send(admin_client, other)[0][0] == "success" and _admin_dms(B) == 1

    # An hour after the oldest, its slot is free again (a database update, not a wait).
    OutboxMessage.objects.filter(pk=oldest.pk).update(created_at=timezone.now() - timedelta(minutes=61))
    assert _send(client, [members[LIMIT]])[0][0] == "success"
    assert _admin_dms(A) == LIMIT + 1


def test_a_selection_larger_than_the_slots_left_is_refused_whole(cap, staff_client):
    client, members = staff_client
    assert _send(client, members[:2])[0][0] == "success"
    shown = _send(client, members[2:4], text="two more")  # one slot left, two members selected
    assert shown[0][0] == "error" and "Try again in 60 minutes." in shown[0][1]
    assert _admin_dms(A) == 2 and not OutboxMessage.objects.filter(content="two more").exists()
    too_many = _send(client, members[:LIMIT + 1], text="all")  # more than an hour's allowance at once
    assert too_many == [("error", f"Guild {A} may send at most {LIMIT} direct messages an hour from the admin: "
                                  f"select fewer members.")]
    assert not OutboxMessage.objects.filter(content="all").exists()


def test_a_resubmitted_form_is_not_counted_again(cap, staff_client):
    client, members = staff_client
    token = str(uuid.uuid4())
    assert _send(client, members[:LIMIT], token=token)[0][0] == "success"
    # The same form again while the hour is full: nothing new to queue, so nothing to refuse.
    assert _send(client, members[:LIMIT], token=token) == [
        ("success", "Queued 0 direct messages. See their delivery in the outbox.")]
    assert _admin_dms(A) == LIMIT


@pytest.mark.django_db
def test_the_refusal_is_translated(cap):
    members = _profiles(A, range(1, LIMIT + 2))
    services.members_direct_message(profile_ids=[p.pk for p in members[:LIMIT]], text="hi", token="t1")
    with pytest.raises(PointsError) as refused:
        services.members_direct_message(profile_ids=[members[LIMIT].pk], text="hi", token="t2")
    with translation.override("vi"):
        text = refused.value.user_message()
    assert "Hãy thử lại sau 60 phút" in text and f"Guild {A}" in text


@pytest.mark.django_db(transaction=True)
def test_concurrent_admins_never_pass_the_cap_together(cap):
    """Twelve admins send one DM each at the same moment: exactly LIMIT are queued, the rest refused (a few rounds,
    so a missing lock shows)."""
    members = _profiles(A, range(1, 13))
    for round_ in range(3):
        OutboxMessage.objects.all().delete()
        queued, refused, errors = _race(members, round_)
        assert errors == []
        assert (sum(queued), len(refused)) == (LIMIT, len(members) - LIMIT)
        assert OutboxMessage.objects.filter(kind="dm", content="race").count() == LIMIT


def _race(members: list[MemberProfile], round_: int) -> tuple[list, list, list]:
    barrier = threading.Barrier(len(members))
    lock = threading.Lock()
    queued, refused, errors = [], [], []

    def admin(profile: MemberProfile) -> None:
        try:
            barrier.wait()
            try:
                count = services.members_direct_message(profile_ids=[profile.pk], text="race",
                                                        token=f"r{round_}:{profile.pk}")
            except PointsError as refusal:
                with lock:
                    refused.append(refusal)
            except BaseException as error:  # noqa: BLE001 - asserted on by the caller
                with lock:
                    errors.append(error)
            else:
                with lock:
                    queued.append(count)
            finally:
                close_old_connections()
        finally:
            connection.close()

    threads = [threading.Thread(target=admin, args=(m,), name=f"dm-admin-{m.user_id}") for m in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "an admin thread hung"
    return queued, refused, errors
