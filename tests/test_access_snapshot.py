"""member_access reads the configuration, blocks and grants in one statement: it must agree with config_get."""

from __future__ import annotations

import dataclasses

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from botproject import services
from botproject.models import GuildConfig
from botproject.selectors import Access, ConfigSnapshot, config_get, member_access

pytestmark = pytest.mark.django_db

GUILD, OWNER, STAFF_ROLE, ADMIN_ROLE, MEMBER = 7001, 11, 21, 22, 31


def _access(user_id: int = MEMBER, role_ids: list[int] | None = None, **flags):
    return member_access(guild_id=GUILD, user_id=user_id, role_ids=role_ids or [],
                         is_owner=flags.get("is_owner", False), can_manage_guild=flags.get("can_manage_guild", False))


def test_an_unknown_guild_has_the_default_configuration_and_nothing_else():
    access = _access()
    assert access.config == ConfigSnapshot(guild_id=GUILD) == config_get(guild_id=GUILD)
    assert (access.level, access.blocked, access.granted) == (Access.MEMBER, False, False)


def test_every_configured_field_matches_config_get_in_one_statement():
    services.config_set_role(guild_id=GUILD, kind="staff", role_id=STAFF_ROLE)
    services.config_set_admin_roles(guild_id=GUILD, role_ids=[ADMIN_ROLE, 23])
    services.config_set_language(guild_id=GUILD, language="vi")
    services.config_set_module(guild_id=GUILD, module="pads", enabled=False)
    # Every other field away from its default, so a field the single statement forgot would show.
    changed = {"prefix": "?", "helper_role_id": 24, "verified_role_id": 25, "log_channel_id": 26,
               "tickets_category_id": 27, "pads_channel_id": 28, "points_max_adjustment": 7,
               "points_max_balance": 70, "points_allow_negative": True, "tickets_max_open_per_member": 3,
               "tickets_delete_delay_seconds": 9, "pads_max_duration_minutes": 30, "verification_set_nickname": True,
               "verification_allow_shared_accounts": True, "points_enabled": False}
    GuildConfig.objects.filter(guild__discord_id=GUILD).update(**changed)
    with CaptureQueriesContext(connection) as queries:
        access = _access(role_ids=[STAFF_ROLE])
    assert len(queries.captured_queries) == 1
    expected = config_get(guild_id=GUILD)
    assert access.config == expected
    assert {f.name: getattr(access.config, f.name) for f in dataclasses.fields(ConfigSnapshot)} == {
        f.name: getattr(expected, f.name) for f in dataclasses.fields(ConfigSnapshot)}
    assert expected.admin_role_ids == (ADMIN_ROLE, 23) and expected.pads_enabled is False
    assert access.level is Access.STAFF
    assert _access(role_ids=[23]).level is Access.ADMIN
    assert _access(user_id=OWNER, is_owner=True).level is Access.OWNER


def test_blocks_and_grants_are_read_now():
    services.config_set_role(guild_id=GUILD, kind="staff", role_id=STAFF_ROLE)
    assert not _access().blocked
    services.block_add(guild_id=GUILD, user_id=MEMBER, reason="spam")
    assert _access().blocked and not _access(user_id=MEMBER + 1).blocked
    services.block_remove(guild_id=GUILD, user_id=MEMBER)
    assert not _access().blocked

    assert not _access(role_ids=[41, 42]).granted
    services.grant_add(guild_id=GUILD, kind="role", target_id=42)
    assert _access(role_ids=[41, 42]).granted and not _access(role_ids=[41]).granted
    services.grant_add(guild_id=GUILD, kind="user", target_id=MEMBER)
    assert _access().granted and not _access(user_id=MEMBER + 1).granted
    # Staff and above count as granted anyway; the flag itself is for those below.
    assert _access(role_ids=[STAFF_ROLE]).at_least(Access.GRANTED)
