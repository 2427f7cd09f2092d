"""The admin: per-guild scoping for staff users, names next to ids, config saved through the service, overview."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from botproject.admin_scoping import GuildScopedAdminMixin
from botproject.models import (
    AuditEntry,
    BlockEntry,
    CommandSyncState,
    DiscordName,
    Guild,
    GuildConfig,
    HelperRecord,
    OutboxMessage,
    PermissionGrant,
)
from tests.conftest import staff_user

SCOPED = [GuildConfig, PermissionGrant, BlockEntry, HelperRecord, DiscordName, AuditEntry, OutboxMessage]
PASSWORD = "a-long-test-password-42"


def make_guild(discord_id: int, name: str, member_count: int | None, base: int) -> Guild:
    """A guild with one row of every core model; ids derive from `base` (A: 1000s, B: 2000s)."""
    guild = Guild.objects.create(discord_id=discord_id, name=name, member_count=member_count)
    GuildConfig.objects.create(guild=guild, staff_role_id=base + 1, log_channel_id=base + 9)
    DiscordName.objects.create(guild=guild, kind="role", discord_id=base + 1, name=f"Staff {name}")
    DiscordName.objects.create(guild=guild, kind="user", discord_id=base + 3, name=f"Spammer {name}")
    DiscordName.objects.create(guild=guild, kind="channel", discord_id=base + 9, name=f"log-{name}")
    PermissionGrant.objects.create(guild=guild, kind="role", target_id=base + 2)
    BlockEntry.objects.create(guild=guild, user_id=base + 3, reason=f"spam in {name}")
    HelperRecord.objects.create(guild=guild, user_id=base + 4)
    AuditEntry.objects.create(guild=guild, action="test.seed", target=f"seed {name}")
    OutboxMessage.objects.create(guild=guild, kind="log", target_id=base + 9, content=f"hello {name}",
                                 available_at=timezone.now())
    return guild


@pytest.fixture
def world(db):
    """Guild A (Alpha) and guild B (Bravo) with data, and a staff user of A only."""
    a = make_guild(111, "Alpha", 42, 1000)
    b = make_guild(222, "Bravo", None, 2000)
    OutboxMessage.objects.create(guild=None, kind="dm", target_id=5, content="guildless", available_at=timezone.now())
    CommandSyncState.objects.create(scope=0, digest="x" * 64)
    staff = staff_user("staff_a", [a], Permission.objects.filter(
        content_type__app_label="botproject", codename__regex=r"^(view|change)_"), password=PASSWORD)
    return {"a": a, "b": b, "staff": staff}


@pytest.fixture
def staff_client(client, world):
    client.force_login(world["staff"])
    return client


def row_of(model, guild):
    return model.objects.get(guild=guild) if model is GuildConfig else model.objects.filter(guild=guild).first()


def guild_pks_listed(response, model) -> set[int]:
    rows = response.context["cl"].result_list
    return {row.pk if model is Guild else row.guild_id for row in rows}


def changelist(model) -> str:
    return reverse(f"admin:botproject_{model._meta.model_name}_changelist")


def change_url(obj) -> str:
    return reverse(f"admin:botproject_{obj._meta.model_name}_change", args=[obj.pk])


def config_post_data(config: GuildConfig, **changes) -> dict:
    """The change form's fields as the browser would post them, with `changes` applied."""
    data = {
        "language": config.language, "prefix": config.prefix, "admin_role_ids": "[]",
        "points_max_adjustment": config.points_max_adjustment, "points_max_balance": config.points_max_balance,
        "tickets_max_open_per_member": config.tickets_max_open_per_member,
        "tickets_delete_delay_seconds": config.tickets_delete_delay_seconds,
        "pads_max_duration_minutes": config.pads_max_duration_minutes,
    }
    for field in ("staff_role_id", "helper_role_id", "verified_role_id", "log_channel_id", "tickets_category_id",
                  "pads_channel_id"):
        data[field] = getattr(config, field) or ""
    for field in ("points_enabled", "tickets_enabled", "pads_enabled", "verification_enabled",
                  "points_allow_negative"):
        if getattr(config, field):
            data[field] = "on"
    data.update(changes)
    return data


# --- superuser ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", [Guild, *SCOPED], ids=lambda m: m.__name__)
def test_superuser_sees_every_guilds_rows(admin_client, world, model):
    response = admin_client.get(changelist(model))
    assert response.status_code == 200
    guildless = {None} if model is OutboxMessage else set()
    assert guild_pks_listed(response, model) == {world["a"].pk, world["b"].pk, *guildless}


def test_superuser_sees_guildless_outbox_rows_and_command_sync(admin_client, world):
    response = admin_client.get(changelist(OutboxMessage))
    assert b"guildless" in response.content and None in guild_pks_listed(response, OutboxMessage)
    assert admin_client.get(changelist(CommandSyncState)).status_code == 200


# --- a staff user of guild A -----------------------------------------------------------------------------
@pytest.mark.parametrize("model", [Guild, *SCOPED], ids=lambda m: m.__name__)
def test_staff_sees_only_their_guilds_rows(staff_client, world, model):
    response = staff_client.get(changelist(model))
    assert response.status_code == 200
    assert guild_pks_listed(response, model) == {world["a"].pk}
    # Not in a row, not in a filter, not anywhere on the page.
    assert b"Bravo" not in response.content and b"guildless" not in response.content


@pytest.mark.parametrize("model", [Guild, *SCOPED], ids=lambda m: m.__name__)
def test_staff_is_told_another_guilds_object_does_not_exist(staff_client, world, model):
    own = world["a"] if model is Guild else row_of(model, world["a"])
    other = world["b"] if model is Guild else row_of(model, world["b"])
    assert staff_client.get(change_url(own)).status_code == 200
    for url in (change_url(other), change_url(other) + "history/"):
        response = staff_client.get(url)
        assert response.status_code == 302 and response.url == reverse("admin:index"), url
        assert any("exist" in str(m) for m in get_messages(response.wsgi_request)), url
    response = staff_client.get(change_url(other) + "delete/")
    assert response.status_code in (302, 403) and b"Bravo" not in response.content


@pytest.mark.parametrize("model", [Guild, *SCOPED], ids=lambda m: m.__name__)
def test_object_permissions_are_false_for_other_guilds(world, model):
    request = RequestFactory().get("/admin/")
    request.user = world["staff"]
    model_admin = admin.site.get_model_admin(model)
    own = world["a"] if model is Guild else row_of(model, world["a"])
    other = world["b"] if model is Guild else row_of(model, world["b"])
    assert model_admin.has_view_permission(request, own)
    for check in (model_admin.has_view_permission, model_admin.has_change_permission,
                  model_admin.has_delete_permission):
        assert not check(request, other), check.__name__
    assert model_admin.has_change_permission(request, world["a"].config) if model is GuildConfig else True


def test_staff_cannot_change_another_guilds_config_by_post(staff_client, world):
    config = world["b"].config
    before = GuildConfig.objects.filter(pk=config.pk).values().get()
    response = staff_client.post(change_url(config), config_post_data(config, tickets_max_open_per_member=9,
                                                                     staff_role_id=4242))
    assert response.status_code == 302 and response.url == reverse("admin:index")
    assert GuildConfig.objects.filter(pk=config.pk).values().get() == before
    assert not AuditEntry.objects.filter(guild=world["b"], action="config.change").exists()


def test_staff_cannot_pick_another_guild_in_a_foreign_key_select(world):
    class ProbeAdmin(GuildScopedAdminMixin, admin.ModelAdmin):
        pass

    request = RequestFactory().get("/admin/")
    request.user = world["staff"]
    probe = ProbeAdmin(PermissionGrant, admin.AdminSite(name="probe"))
    field = probe.formfield_for_foreignkey(PermissionGrant._meta.get_field("guild"), request)
    assert list(field.queryset) == [world["a"]]
    assert field.clean(world["a"].pk) == world["a"]
    with pytest.raises(ValidationError):
        field.clean(world["b"].pk)


def test_scoping_follows_a_longer_lookup_path(world):
    class ProbeAdmin(GuildScopedAdminMixin, admin.ModelAdmin):
        guild_field = "guild__config__guild"  # as an app's admin would say "ticket__guild"

    request = RequestFactory().get("/admin/")
    request.user = world["staff"]
    probe = ProbeAdmin(DiscordName, admin.AdminSite(name="probe"))
    assert {n.guild_id for n in probe.get_queryset(request)} == {world["a"].pk}
    assert probe.has_view_permission(request, DiscordName.objects.filter(guild=world["a"]).first())
    assert not probe.has_view_permission(request, DiscordName.objects.filter(guild=world["b"]).first())


def test_staff_autocomplete_and_search_offer_only_their_guilds(staff_client, world):
    response = staff_client.get(reverse("admin:autocomplete"), {
        "app_label": "botproject", "model_name": "permissiongrant", "field_name": "guild", "term": ""})
    assert [r["id"] for r in response.json()["results"]] == [str(world["a"].pk)]
    response = staff_client.get(changelist(BlockEntry), {"q": "spam"})
    assert guild_pks_listed(response, BlockEntry) == {world["a"].pk}


def test_staff_guild_filter_offers_only_their_guilds(staff_client, world):
    # With one guild Django hides the filter; a second guild of theirs makes it appear.
    charlie = make_guild(333, "Charlie", 7, 3000)
    charlie.staff_users.add(world["staff"])
    response = staff_client.get(changelist(PermissionGrant))
    guild_filter = next(f for f in response.context["cl"].filter_specs if getattr(f, "field_path", "") == "guild")
    assert [pk for pk, _label in guild_filter.lookup_choices] == [world["a"].pk, charlie.pk]
    assert b"Bravo" not in response.content
    # Filtering by B's id through the URL finds nothing rather than B's rows.
    response = staff_client.get(changelist(PermissionGrant), {"guild__id__exact": world["b"].pk})
    assert guild_pks_listed(response, PermissionGrant) == set()


def test_staff_cannot_see_command_sync_state(staff_client, world):
    assert staff_client.get(changelist(CommandSyncState)).status_code == 403


def test_staff_cannot_edit_who_is_staff_of_a_guild(staff_client, world):
    other = User.objects.create_user("other", is_staff=True)
    response = staff_client.post(change_url(world["a"]), {"staff_users": [world["staff"].pk, other.pk]})
    assert response.status_code == 403
    assert list(world["a"].staff_users.all()) == [world["staff"]]
    assert b'name="staff_users"' not in staff_client.get(change_url(world["a"])).content


def test_unblock_action_goes_through_the_service_and_stays_in_scope(staff_client, world):
    blocks = {g: BlockEntry.objects.get(guild=world[g]) for g in ("a", "b")}
    response = staff_client.post(changelist(BlockEntry), {
        "action": "unblock", "_selected_action": [blocks["a"].pk, blocks["b"].pk]})
    assert response.status_code == 302
    blocks = {g: BlockEntry.objects.get(pk=blocks[g].pk) for g in blocks}
    assert blocks["a"].unblocked_at is not None and blocks["b"].unblocked_at is None
    entry = AuditEntry.objects.get(action="block.remove")
    assert entry.guild == world["a"] and entry.actor_user == world["staff"]


def test_revoke_action_goes_through_the_service(staff_client, world):
    grant = PermissionGrant.objects.get(guild=world["a"])
    staff_client.post(changelist(PermissionGrant), {"action": "revoke", "_selected_action": [grant.pk]})
    assert not PermissionGrant.objects.filter(pk=grant.pk).exists()
    assert PermissionGrant.objects.filter(guild=world["b"]).exists()
    assert AuditEntry.objects.get(action="grant.revoke").actor_user == world["staff"]


# --- names next to ids ------------------------------------------------------------------------------------
def test_lists_show_last_seen_names_next_to_ids(admin_client, world):
    assert b"Staff Alpha (1001)" in admin_client.get(changelist(GuildConfig)).content
    assert b"Spammer Bravo (2003)" in admin_client.get(changelist(BlockEntry)).content
    assert b"log-Alpha (1009)" in admin_client.get(changelist(OutboxMessage)).content
    page = admin_client.get(change_url(world["a"].config)).content
    assert b"Staff Alpha (1001)" in page


def test_names_cost_one_query_per_page_not_one_per_row(admin_client, world):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(changelist(GuildConfig)).status_code == 200
        return len(captured)

    few = queries()
    for i in range(10):
        make_guild(300 + i, f"Extra{i}", 5, 10_000 * (i + 1))
    assert queries() == few


# --- the configuration form saves through config_update ------------------------------------------------------
def test_config_form_saves_through_the_service_with_an_audit_entry(staff_client, world):
    DiscordName.objects.create(guild=world["a"], kind="role", discord_id=1234, name="Moderators")
    config = world["a"].config
    response = staff_client.post(change_url(config), config_post_data(config, staff_role_id=1234,
                                                                     tickets_max_open_per_member=3))
    assert response.status_code == 302, response.context["adminform"].form.errors
    config.refresh_from_db()
    assert (config.staff_role_id, config.tickets_max_open_per_member) == (1234, 3)
    entries = AuditEntry.objects.filter(guild=world["a"], action="config.change")
    assert {e.target for e in entries} == {"staff_role_id", "tickets_max_open_per_member"}
    assert all(e.actor_user == world["staff"] and e.actor_id is None for e in entries)
    assert entries.get(target="staff_role_id").before == 1001
    # The log-channel notes go out through the outbox, in the same transaction.
    assert OutboxMessage.objects.filter(guild=world["a"], kind="log").count() == 3
    assert b"Moderators (1234)" in staff_client.get(change_url(config)).content


def test_invalid_config_value_shows_an_error_and_writes_nothing(staff_client, world):
    config = world["a"].config
    before = GuildConfig.objects.filter(pk=config.pk).values().get()
    audits, outbox = AuditEntry.objects.count(), OutboxMessage.objects.count()
    response = staff_client.post(change_url(config), config_post_data(config, tickets_max_open_per_member=0,
                                                                     staff_role_id=5555))
    assert response.status_code == 200
    assert "tickets_max_open_per_member" in response.context["adminform"].form.errors
    assert b"errornote" in response.content
    assert GuildConfig.objects.filter(pk=config.pk).values().get() == before
    assert (AuditEntry.objects.count(), OutboxMessage.objects.count()) == (audits, outbox)


def test_config_refused_by_the_service_shows_its_message_and_writes_nothing(staff_client, world):
    config = world["a"].config
    before = GuildConfig.objects.filter(pk=config.pk).values().get()
    audits, outbox, history = AuditEntry.objects.count(), OutboxMessage.objects.count(), LogEntry.objects.count()
    # A role the bot has seen (so the form accepts it); only config_update knows @everyone cannot be configured.
    DiscordName.objects.create(guild=world["a"], kind="role", discord_id=world["a"].discord_id, name="@everyone")
    response = staff_client.post(change_url(config), config_post_data(config, staff_role_id=world["a"].discord_id,
                                                                     prefix="?"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert errors and "@everyone" in errors[0]
    assert "@everyone cannot be used" in response.content.decode()
    assert GuildConfig.objects.filter(pk=config.pk).values().get() == before
    assert (AuditEntry.objects.count(), OutboxMessage.objects.count(), LogEntry.objects.count()) == (
        audits, outbox, history)


def test_config_form_rejects_admin_roles_that_are_not_a_list_of_ids(staff_client, world):
    config = world["a"].config
    response = staff_client.post(change_url(config), config_post_data(config, admin_role_ids='{"a": 1}'))
    assert response.status_code == 200 and "admin_role_ids" in response.context["adminform"].form.errors


# --- the overview -------------------------------------------------------------------------------------------
def test_overview_shows_only_the_staff_users_guild_with_honest_cards(staff_client, world):
    page = staff_client.get(reverse("admin:index")).content.decode()
    assert 'data-guild="111"' in page and 'data-guild="222"' not in page and "Bravo" not in page
    assert '<p class="overview-value">42</p>' in page
    # Every app measures its own card (nothing issued, open, running or linked yet: a real 0), and no card
    # promises an app that "arrives" later.
    for key in ("points_week", "open_tickets", "active_pads", "verified_members"):
        card = page.split(f'data-card="{key}"')[1].split("data-card=")[0]
        assert '<p class="overview-value">0</p>' in card, key
    assert "arrives with" not in page
    assert "app-botproject" in page  # the normal app list stays below the cards


def test_overview_for_a_superuser_lists_every_active_guild(admin_client, world):
    Guild.objects.create(discord_id=333, name="Charlie", left_at=timezone.now())
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert 'data-guild="111"' in page and 'data-guild="222"' in page and 'data-guild="333"' not in page
    # Bravo's member count was never measured.
    bravo = page.split('data-guild="222"')[1].split('data-card="points_week"')[0]
    assert "Not measured yet." in bravo


def test_apps_can_register_their_own_cards(admin_client, world):
    from botproject import overview

    placeholder = overview._cards["points_week"]
    overview.register_card("points_week", "Points issued in the last 7 days", lambda guild: guild.discord_id * 2)
    try:
        page = admin_client.get(reverse("admin:index")).content.decode()
        assert '<p class="overview-value">222</p>' in page and '<p class="overview-value">444</p>' in page
        assert [card.key for card in overview.registered_cards()][:2] == ["members", "points_week"]
    finally:
        overview._cards["points_week"] = placeholder


def test_overview_speaks_the_admins_language(staff_client, world):
    page = staff_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="vi").content.decode()
    assert "Thành viên đã xác minh" in page and "Thành viên" in page and "Verified members" not in page


def test_overview_of_a_staff_user_without_guilds_says_so(client, world):
    loner = User.objects.create_user("loner", is_staff=True)
    client.force_login(loner)
    page = client.get(reverse("admin:index")).content.decode()
    assert "data-guild=" not in page and "You are not staff of any guild yet." in page
