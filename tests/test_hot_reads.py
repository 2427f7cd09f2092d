"""The reads every member's command runs, in plain SQL: they give what the ORM would (both databases)."""

import pytest
from django.db import DatabaseError, connection

from botproject import services as core
from botproject.exceptions import NotAllowed
from botproject.selectors import Access, ConfigSnapshot, config_get, member_access, member_access_along
from pads import selectors as pads_selectors
from pads import services as pads
from pads.models import PadSession
from points import selectors as points_selectors
from points import services as points

GUILD = 991


@pytest.mark.django_db
def test_the_pads_overview_is_each_pads_session_as_the_orm_reads_it():
    core.guild_ensure(guild_id=GUILD, name="G")
    first = pads.session_start(guild_id=GUILD, pad=2, kind="training", host_id=5, starts="5 PM", host_name="H",
                               channel_id=71)
    pads.session_record_announcement(session_id=first.id, channel_id=71, message_id=72)
    pads.session_start(guild_id=GUILD, pad=8, kind="tryout", host_id=6, starts="now", host_name="I")
    pads.session_start(guild_id=GUILD, pad=5, kind="training", host_id=7, starts="soon", host_name="J")
    pads.session_end(guild_id=GUILD, actor_id=7, is_staff=False, pad=5)  # an ended session is not shown

    overview = pads_selectors.pads_overview(guild_id=GUILD)

    assert list(overview) == list(range(1, 10))
    expected = {s.pad: pads_selectors.SessionView.of(s) for s in PadSession.objects.select_related("guild")
                .filter(ended_at__isnull=True)}
    assert {pad: view for pad, view in overview.items() if view} == expected
    assert overview[2].message_id == 72 and overview[2].started_at.tzinfo is not None
    assert pads_selectors.pads_overview(guild_id=GUILD + 1) == dict.fromkeys(range(1, 10))


@pytest.mark.django_db
def test_member_access_reads_the_configuration_blocks_and_grants_with_any_number_of_roles():
    assert member_access(guild_id=GUILD, user_id=1, role_ids=[], is_owner=False, can_manage_guild=False).config \
        == ConfigSnapshot(guild_id=GUILD)  # a guild never seen: the defaults
    core.guild_ensure(guild_id=GUILD, name="G")
    core.config_set_role(guild_id=GUILD, kind="staff", role_id=300)
    core.config_update(guild_id=GUILD, changes={"pads_max_duration_minutes": 45})
    core.grant_add(guild_id=GUILD, kind="role", target_id=400)
    config = config_get(guild_id=GUILD)  # the configuration as the ORM reads it
    for roles, level, granted in (([], Access.MEMBER, False), ([300], Access.STAFF, False),
                                  ([1, 400, 2], Access.MEMBER, True), ([400], Access.MEMBER, True)):
        access = member_access(guild_id=GUILD, user_id=1, role_ids=roles, is_owner=False, can_manage_guild=False)
        assert (access.level, access.granted, access.blocked) == (level, granted, False), roles
        assert access.config.staff_role_id == 300 and access.config.pads_max_duration_minutes == 45
        assert access.config == config


@pytest.mark.django_db
def test_a_members_history_page_counts_their_entries():
    core.guild_ensure(guild_id=GUILD, name="G")
    for i in range(12):
        points.points_award(guild_id=GUILD, user_id=9, amount=i + 1, reason=f"r{i}", idempotency_key=f"h{i}",
                            notify=False)
    first = points_selectors.history_page(guild_id=GUILD, user_id=9, page=1, per_page=10)
    second = points_selectors.history_page(guild_id=GUILD, user_id=9, page=2, per_page=10)
    last = points_selectors.history_page(guild_id=GUILD, user_id=9, page=5, per_page=10)
    assert (first.total, first.number, first.pages) == (12, 1, 2)
    assert [r.reason for r in first.rows] == [f"r{i}" for i in range(11, 1, -1)]
    assert first.rows[0].delta == 12 and first.rows[0].balance_after == 78 and first.rows[0].created_at.tzinfo
    assert (second.number, [r.reason for r in second.rows]) == (2, ["r1", "r0"])
    assert (last.number, last.pages, [r.reason for r in last.rows]) == (2, 2, ["r1", "r0"])  # past the end: the last
    nobody = points_selectors.history_page(guild_id=GUILD, user_id=10, page=1, per_page=10)
    assert (nobody.total, nobody.number, nobody.pages, nobody.rows) == (0, 1, 1, [])
    assert points_selectors.history_page(guild_id=GUILD + 1, user_id=9, page=2, per_page=10).total == 0


@pytest.mark.django_db
def test_the_access_check_goes_along_with_a_read_in_one_round_trip_on_postgresql():
    core.guild_ensure(guild_id=GUILD, name="G")
    core.config_set_role(guild_id=GUILD, kind="staff", role_id=300)
    points.points_award(guild_id=GUILD, user_id=9, amount=5, reason="r", idempotency_key="along", notify=False)
    who = {"guild_id": GUILD, "user_id": 9, "role_ids": [300, 1], "is_owner": False, "can_manage_guild": False}
    sent = []

    def spy(execute, sql, params, many, context):  # nearest the database: sees what is sent
        sent.append(sql)
        return execute(sql, params, many, context)

    def read():
        with connection.execute_wrapper(spy):
            return points_selectors.standing(guild_id=GUILD, user_id=9)

    access, result = member_access_along(read, **who)

    assert access == member_access(**who) and access.level == Access.STAFF
    assert result() == points_selectors.standing(guild_id=GUILD, user_id=9) and result().balance == 5
    if connection.vendor == "postgresql":
        assert len(sent) == 1 and 'FROM "botproject_guild" g LEFT JOIN' in sent[0].split(";")[0], sent
    else:
        assert len(sent) == 1  # SQLite: one after the other (no server to save a trip to)


@pytest.mark.django_db
def test_a_read_that_fails_or_sends_nothing_still_gets_the_access_decided():
    core.guild_ensure(guild_id=GUILD, name="G")
    core.block_add(guild_id=GUILD, user_id=9, reason="spam")
    who = {"guild_id": GUILD, "user_id": 9, "role_ids": [], "is_owner": False, "can_manage_guild": True}

    def refuses():
        raise NotAllowed("not yours")

    access, result = member_access_along(refuses, **who)
    assert access == member_access(**who) and (access.level, access.blocked) == (Access.ADMIN, True)
    with pytest.raises(NotAllowed):
        result()
    access, result = member_access_along(lambda: "no statement", **who)
    assert access == member_access(**who) and result() == "no statement"

    def broken():
        with connection.cursor() as cursor:
            cursor.execute("SELECT missing_column FROM botproject_guild WHERE discord_id = %s", [GUILD])

    with pytest.raises(DatabaseError):  # the database's answer is the answer
        member_access_along(broken, **who)


@pytest.mark.django_db
def test_the_first_leaderboard_page_with_a_standing_is_what_each_reads_alone():
    assert points_selectors.leaderboard(guild_id=GUILD, page=1) == points_selectors.LeaderboardPage([], 1, 1, 0)
    core.guild_ensure(guild_id=GUILD, name="G")
    assert points_selectors.leaderboard(guild_id=GUILD, page=1) == points_selectors.LeaderboardPage([], 1, 1, 0)
    for user, amount in [(1, 50), (2, 70), (3, 70), *((10 + i, 5 + i) for i in range(12))]:
        points.points_award(guild_id=GUILD, user_id=user, amount=amount, reason="r", idempotency_key=f"lb{user}",
                            display_name=f"m{user}", notify=False)
    first = points_selectors.leaderboard(guild_id=GUILD, page=1)
    assert (first.page, first.pages, first.members) == (1, 2, 15)
    assert [(r.rank, r.user_id, r.balance) for r in first.rows[:4]] == [(1, 2, 70), (1, 3, 70), (3, 1, 50), (4, 21, 16)]
    assert len(first.rows) == 10
    second = points_selectors.leaderboard(guild_id=GUILD, page=2)
    assert [(r.rank, r.user_id) for r in second.rows] == [(11, 14), (12, 13), (13, 12), (14, 11), (15, 10)]
    for user in (3, 12, 999):
        assert points_selectors.leaderboard_and_standing(guild_id=GUILD, page=1, user_id=user) == (
            first, points_selectors.standing(guild_id=GUILD, user_id=user))
    assert points_selectors.leaderboard_and_standing(guild_id=GUILD, page=2, user_id=3) == (
        second, points_selectors.standing(guild_id=GUILD, user_id=3))
