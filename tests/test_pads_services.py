"""Pads without Discord: booking a pad, the database refusing a second session on it, ending by the host, staff,
the admin site and the deadline, and refusals that write nothing. Each test asserts the rows the services leave."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from botproject import services as core
from botproject.models import OutboxMessage
from pads import selectors, services
from pads.exceptions import InvalidPad, InvalidStarts, NoSessionOnPad, NotYourSession, PadBusy
from pads.models import PadSession

GUILD, OTHER_GUILD = 701, 702
HOST, OTHER_HOST, STAFF = 21, 22, 23


@pytest.fixture
def guild(db):
    """A guild whose sessions last at most 30 minutes."""
    core.config_update(guild_id=GUILD, changes={"pads_max_duration_minutes": 30})
    return GUILD


def _book(pad: int = 3, host: int = HOST, guild_id: int = GUILD, starts: str = "in 10 minutes"):
    return services.session_start(guild_id=guild_id, pad=pad, kind="training", host_id=host, starts=starts,
                                  host_name="Host", channel_id=8001)


def _rows() -> tuple:
    """Everything a pad write may leave behind."""
    return (list(PadSession.objects.values_list("pk", "pad", "host_id", "ended_at", "end_reason", "message_id")
                 .order_by("pk")), OutboxMessage.objects.count())


def test_book_a_pad_and_its_deadline(guild):
    before = timezone.now()
    session = _book()
    row = PadSession.objects.get(pk=session.id)
    assert (row.pad, row.kind, row.host_id, row.host_name, row.starts, row.channel_id) == (
        3, "training", HOST, "Host", "in 10 minutes", 8001)
    assert row.ended_at is None and row.end_reason == "" and row.message_id is None
    assert timedelta(minutes=29) < row.ends_at - before <= timedelta(minutes=30, seconds=5)
    services.session_record_announcement(session_id=session.id, channel_id=8001, message_id=8101)
    assert PadSession.objects.get(pk=session.id).message_id == 8101
    assert not OutboxMessage.objects.filter(dedupe_key__startswith="pad:").exists()  # running: nothing to edit
    overview = selectors.pads_overview(guild_id=GUILD)
    assert overview[3].id == session.id and [p for p, s in overview.items() if s] == [3]
    # Mentions in the start text are kept from pinging.
    pinged = _book(pad=4, starts="@everyone at <@123>")
    assert "@everyone" not in PadSession.objects.get(pk=pinged.id).starts
    assert PadSession.objects.get(pk=pinged.id).starts == "@\u200beveryone at <@\u200b123>"


def test_a_pad_holds_one_session_the_second_booking_is_refused(guild):
    first = _book()
    before = _rows()
    with pytest.raises(PadBusy) as refused:
        _book(host=OTHER_HOST)
    assert f"<@{HOST}>" in refused.value.user_message() and "in 10 minutes" in refused.value.user_message()
    assert _rows() == before
    # The database itself refuses a second active session on the pad.
    with pytest.raises(IntegrityError), transaction.atomic():
        PadSession.objects.create(guild=PadSession.objects.get(pk=first.id).guild, pad=3, kind="tryout",
                                  host_id=OTHER_HOST, starts="now", ends_at=timezone.now())
    # Another pad, the same pad in another guild: free.
    assert _book(pad=5, host=OTHER_HOST).pad == 5
    assert _book(guild_id=OTHER_GUILD, host=OTHER_HOST).guild_id == OTHER_GUILD
    # Once it ended, the pad can be booked again.
    services.session_end(guild_id=GUILD, actor_id=HOST, is_staff=False, pad=3)
    assert _book(host=OTHER_HOST).host_id == OTHER_HOST
    assert PadSession.objects.filter(guild__discord_id=GUILD, pad=3).count() == 2


def test_bad_input_is_refused_and_writes_nothing(guild):
    _book()
    before = _rows()
    for call, error in [
        (lambda: _book(pad=0), InvalidPad), (lambda: _book(pad=10), InvalidPad), (lambda: _book(pad=True), InvalidPad),
        (lambda: _book(pad=6, starts="   "), InvalidStarts), (lambda: _book(pad=6, starts="x" * 201), InvalidStarts),
        (lambda: services.session_start(guild_id=GUILD, pad=6, kind="party", host_id=HOST, starts="now"), InvalidPad),
        (lambda: services.session_end(guild_id=GUILD, actor_id=HOST, is_staff=False, pad=7), NoSessionOnPad),
        (lambda: services.session_end(guild_id=GUILD, actor_id=OTHER_HOST, is_staff=False, pad=3), NotYourSession),
        (lambda: services.session_end(guild_id=OTHER_GUILD, actor_id=STAFF, is_staff=True, pad=3), NoSessionOnPad),
        (lambda: services.session_end(guild_id=GUILD, actor_id=HOST, is_staff=False, pad=12), InvalidPad),
    ]:
        with pytest.raises(error) as refused:
            call()
        assert refused.value.user_message()  # a clear, translated sentence
    assert _rows() == before


def test_end_by_the_host_and_by_staff(guild):
    own = _book()
    services.session_record_announcement(session_id=own.id, channel_id=8001, message_id=8101)
    ended = services.session_end(guild_id=GUILD, actor_id=HOST, is_staff=False, pad=3)
    row = PadSession.objects.get(pk=own.id)
    assert (ended.end_reason, row.end_reason, row.ended_by_id) == ("host", "host", HOST) and row.ended_at
    edit = OutboxMessage.objects.get(dedupe_key=f"pad:ended:{own.id}")
    assert (edit.target_id, edit.message_id) == (8001, 8101) and "has ended (ended by the host)" in edit.content
    assert not OutboxMessage.objects.filter(dedupe_key=f"pad:ended:dm:{own.id}").exists()  # the host knows
    # Ending it again by its id: nothing more is written.
    before = _rows()
    with pytest.raises(NoSessionOnPad):
        services.session_end(guild_id=GUILD, actor_id=HOST, is_staff=False, session_id=own.id)
    assert _rows() == before

    theirs = _book(host=OTHER_HOST)
    services.session_end(guild_id=GUILD, actor_id=STAFF, is_staff=True, session_id=theirs.id)
    row = PadSession.objects.get(pk=theirs.id)
    assert (row.end_reason, row.ended_by_id) == ("staff", STAFF)
    assert OutboxMessage.objects.get(dedupe_key=f"pad:ended:dm:{theirs.id}").content.endswith("(ended by staff).")
    admin_ended = _book(pad=8)
    services.session_end_from_admin(session_id=admin_ended.id)
    assert PadSession.objects.get(pk=admin_ended.id).end_reason == "admin"


def test_sessions_past_their_deadline_expire(guild):
    due, later = _book(pad=1), _book(pad=2, host=OTHER_HOST)
    PadSession.objects.filter(pk=due.id).update(ends_at=timezone.now() - timedelta(seconds=1))
    assert selectors.next_deadline() < timezone.now()
    expired = services.sessions_expire()
    assert [s.id for s in expired] == [due.id] and expired[0].end_reason == "timeout"
    row = PadSession.objects.get(pk=due.id)
    assert (row.end_reason, row.ended_by_id) == ("timeout", None) and row.ended_at is not None
    assert PadSession.objects.get(pk=later.id).ended_at is None
    assert OutboxMessage.objects.filter(dedupe_key=f"pad:ended:dm:{due.id}").exists()  # the host is told
    # A second round finds nothing; the later one expires at its own deadline.
    before = _rows()
    assert services.sessions_expire() == [] and _rows() == before
    expired = services.sessions_expire(now=PadSession.objects.get(pk=later.id).ends_at)
    assert [s.id for s in expired] == [later.id]
    assert selectors.next_deadline() is None and selectors.active_sessions_count(guild_id=GUILD) == 0
