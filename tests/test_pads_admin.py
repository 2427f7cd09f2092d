"""Pads in the admin: filters and the end action, scoped to the staff user's guilds."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from botproject import services as core
from botproject.models import Guild, OutboxMessage
from pads import services
from pads.models import PadSession
from tests.conftest import staff_user


@pytest.fixture
def sessions(db):
    a = services.session_start(guild_id=1, pad=1, kind="training", host_id=11, starts="now")
    b = services.session_start(guild_id=2, pad=1, kind="tryout", host_id=22, starts="later")
    services.session_record_announcement(session_id=a.id, channel_id=100, message_id=101)
    return a, b


@pytest.fixture
def staff_client(client, sessions):
    user = staff_user("guild-a", [Guild.objects.get(discord_id=1)],
                      Permission.objects.filter(content_type__app_label="pads"))
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_a_staff_user_sees_and_ends_only_their_guilds_sessions(staff_client, sessions):
    a, b = sessions
    page = staff_client.get("/admin/pads/padsession/?active=yes")
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [PadSession.objects.get(pk=a.id)]
    assert staff_client.get(f"/admin/pads/padsession/{b.id}/change/").status_code == 302  # "doesn't exist"

    response = staff_client.post("/admin/pads/padsession/", {"action": "end_sessions",
                                                             "_selected_action": [a.id, b.id]}, follow=True)
    assert "Ended 1 session" in response.content.decode()
    assert PadSession.objects.get(pk=a.id).end_reason == "admin"
    assert PadSession.objects.get(pk=b.id).ended_at is None
    edit = OutboxMessage.objects.get(kind="msg_edit")
    assert (edit.target_id, edit.message_id) == (100, 101)
    assert edit.content == "Pad 1: Training by <@11> has ended (ended from the admin site)."


@pytest.mark.django_db
def test_expiry_ends_only_overdue_sessions(sessions):
    a, b = sessions
    PadSession.objects.filter(pk=a.id).update(ends_at=timezone.now() - timedelta(seconds=1))
    ended = services.sessions_expire()
    assert [s.id for s in ended] == [a.id]
    assert PadSession.objects.get(pk=b.id).ended_at is None
    core.config_update(guild_id=2, changes={"pads_max_duration_minutes": 30})
    c = services.session_start(guild_id=2, pad=2, kind="training", host_id=23, starts="x")
    assert abs((c.ends_at - c.started_at) - timedelta(minutes=30)) < timedelta(seconds=1)
