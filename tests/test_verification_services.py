"""Verification without Discord: the rules held by the database, the services' refusals, the admin's scoping."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction
from django.utils import timezone

from botproject import outbox
from botproject import services as core
from botproject.models import Guild, OutboxMessage
from tests.conftest import staff_user
from verification import selectors, services
from verification.exceptions import (
    AccountTaken,
    AlreadyVerified,
    AttemptClosed,
    AttemptExpired,
    CodeNotFound,
    LinkInactive,
    NotVerified,
    NotYourAttempt,
)
from verification.models import LinkEvent, RobloxLink, VerificationAttempt

GUILD, OTHER_GUILD = 501, 502
VERIFIED = 5011


def _attempt(user_id: int, roblox_id: int, name: str, *, guild_id: int = GUILD, purpose: str = "verify"):
    return services.attempt_start(guild_id=guild_id, user_id=user_id, purpose=purpose, roblox_id=roblox_id,
                                  roblox_name=name)


def _complete(attempt, *, user_id: int | None = None, description: str | None = None, banned: bool = False):
    return services.attempt_complete(
        attempt_id=attempt.id, guild_id=attempt.guild_id, user_id=user_id or attempt.user_id,
        roblox_id=attempt.roblox_id, roblox_name=attempt.roblox_name, roblox_display_name="",
        description=attempt.code if description is None else description, is_banned=banned)


def _link(user_id: int, roblox_id: int, name: str, guild_id: int = GUILD):
    return _complete(_attempt(user_id, roblox_id, name, guild_id=guild_id))


@pytest.mark.django_db
def test_the_database_holds_one_active_link_per_member_and_one_member_per_account():
    guild = core.config_row(GUILD).guild
    RobloxLink.objects.create(guild=guild, user_id=1, roblox_id=100, roblox_name="One")
    with pytest.raises(IntegrityError), transaction.atomic():
        RobloxLink.objects.create(guild=guild, user_id=1, roblox_id=200, roblox_name="Two")
    with pytest.raises(IntegrityError), transaction.atomic():
        RobloxLink.objects.create(guild=guild, user_id=2, roblox_id=100, roblox_name="One")
    with pytest.raises(IntegrityError), transaction.atomic():
        RobloxLink.objects.create(guild=guild, user_id=3, roblox_id=300, roblox_name="Ended",
                                  unlinked_at=timezone.now())  # an ended link needs its reason
    # Shared links (the guild allowed them) and ended links do not count; other guilds neither.
    RobloxLink.objects.create(guild=guild, user_id=2, roblox_id=100, roblox_name="One", shared=True)
    RobloxLink.objects.create(guild=guild, user_id=4, roblox_id=100, roblox_name="One",
                              unlinked_at=timezone.now(), unlink_reason="unverify")
    RobloxLink.objects.create(guild=core.config_row(OTHER_GUILD).guild, user_id=1, roblox_id=100, roblox_name="One")
    assert RobloxLink.objects.count() == 4


@pytest.mark.django_db
def test_the_database_holds_one_pending_attempt_per_member():
    guild = core.config_row(GUILD).guild
    later = timezone.now() + timedelta(minutes=15)
    VerificationAttempt.objects.create(guild=guild, user_id=1, roblox_id=1, roblox_name="a1b", code="x",
                                       expires_at=later)
    with pytest.raises(IntegrityError), transaction.atomic():
        VerificationAttempt.objects.create(guild=guild, user_id=1, roblox_id=2, roblox_name="a2b", code="y",
                                           expires_at=later)
    with pytest.raises(IntegrityError), transaction.atomic():
        VerificationAttempt.objects.create(guild=guild, user_id=2, roblox_id=2, roblox_name="a2b", code="y",
                                           expires_at=later, status="verified")  # closed without a time


@pytest.mark.parametrize("description,found", [
    ("apple river cloud garden yellow", True),
    ("Hi!\nAPPLE, river; cloud - garden... Yellow!!", True),
    ("apple river cloud garden", False),
    ("yellow garden cloud river apple", False),
    ("pineapple river cloud garden yellow", False),
    ("apple river cloud garden yellowish", False),
    ("", False),
])
def test_the_code_is_found_in_order_whatever_the_case_spacing_or_punctuation(description, found):
    assert services.code_in_description(description, "apple river cloud garden yellow") is found


@pytest.mark.django_db
def test_a_new_attempt_replaces_the_pending_one_and_refusals_write_nothing():
    first = _attempt(1, 100, "Alpha")
    second = _attempt(1, 200, "Beta")
    assert VerificationAttempt.objects.get(pk=first.id).status == "replaced"
    with pytest.raises(AttemptClosed):
        _complete(first)
    with pytest.raises(NotYourAttempt):
        _complete(second, user_id=2)
    with pytest.raises(CodeNotFound):
        _complete(second, description="nothing here")
    VerificationAttempt.objects.filter(pk=second.id).update(expires_at=timezone.now())
    with pytest.raises(AttemptExpired):
        _complete(second)
    assert not RobloxLink.objects.exists() and not LinkEvent.objects.exists()
    assert VerificationAttempt.objects.get(pk=second.id).status == "pending"


@pytest.mark.django_db
def test_verify_reverify_unlink_and_the_history():
    core.config_set_channel(guild_id=GUILD, kind="log", channel_id=9, channel_type="text")
    first = _link(1, 100, "Alpha")
    with pytest.raises(AlreadyVerified):
        _attempt(1, 300, "Gamma")
    with pytest.raises(AccountTaken):
        _attempt(2, 100, "Alpha")
    second = _complete(_attempt(1, 200, "Beta", purpose="reverify"))
    services.link_unlink(guild_id=GUILD, user_id=1, actor_id=77)
    with pytest.raises(NotVerified):
        services.link_unlink(guild_id=GUILD, user_id=1, actor_id=1)
    record = selectors.member_record(guild_id=GUILD, user_id=1)
    assert record.link is None and record.total_events == 3
    assert [(e.action, e.roblox_name, e.previous_name, e.actor_id) for e in record.events] == [
        ("staff", "Beta", None, 77), ("reverify", "Beta", "Alpha", 1), ("verify", "Alpha", None, 1)]
    assert list(RobloxLink.objects.order_by("id").values_list("pk", "unlink_reason")) == [
        (first.id, "reverify"), (second.id, "staff")]
    notes = [text for text in OutboxMessage.objects.filter(kind="log").order_by("id").values_list("content", flat=True)
             if not text.startswith("🛠️")]  # the configuration change itself is announced too
    assert notes == ["🔗 <@1> verified as Alpha (Roblox id 100).", "🔁 <@1> reverified: Alpha → Beta (Roblox id 200).",
                     "✂️ <@77> unlinked Beta (Roblox id 200) from <@1>."]
    # With staff allowing shared accounts, a second member may link the same account.
    core.config_update(guild_id=GUILD, changes={"verification_allow_shared_accounts": True})
    _link(1, 100, "Alpha")
    assert _link(2, 100, "Alpha").roblox_id == 100


@pytest.mark.django_db
def test_an_unlink_cancels_the_members_pending_attempt():
    _link(1, 100, "Alpha")
    pending = _attempt(1, 200, "Beta", purpose="reverify")
    services.link_unlink(guild_id=GUILD, user_id=1, actor_id=1)
    assert VerificationAttempt.objects.get(pk=pending.id).status == "cancelled"


def _role_removals() -> list[tuple]:
    return list(OutboxMessage.objects.filter(kind="role_del").order_by("id").values_list(
        "guild__discord_id", "target_id", "message_id", "content", "embed", "dedupe_key", "status"))


@pytest.mark.django_db
def test_an_admin_unlink_writes_the_role_removal_in_the_same_transaction(django_capture_on_commit_callbacks):
    core.config_set_role(guild_id=GUILD, kind="verified", role_id=VERIFIED)
    core.config_update(guild_id=GUILD, changes={"verification_set_nickname": True})
    link = _link(1, 100, "Alpha")
    with django_capture_on_commit_callbacks() as callbacks:
        services.link_unlink_from_admin(link_id=link.id)
    assert outbox.wake in callbacks  # the bot is woken once the unlink (and the row) are committed
    assert _role_removals() == [(GUILD, 1, VERIFIED, "unlinked Roblox Alpha on the admin site",
                                 {"clear_nick": "Alpha"}, f"verify:unlink:{link.id}", "pending")]
    # An unlink that fails writes neither the unlink nor the removal.
    with pytest.raises(LinkInactive):
        services.link_unlink_from_admin(link_id=link.id)
    assert len(_role_removals()) == 1


@pytest.mark.django_db
def test_a_failing_admin_unlink_leaves_no_role_removal_behind(monkeypatch):
    core.config_set_role(guild_id=GUILD, kind="verified", role_id=VERIFIED)
    link = _link(1, 100, "Alpha")
    real = outbox.enqueue_role_remove

    def enqueue_then_fail(**kwargs):
        real(**kwargs)
        assert len(_role_removals()) == 1  # written inside the unlink's transaction...
        raise RuntimeError("the database went away")

    monkeypatch.setattr(outbox, "enqueue_role_remove", enqueue_then_fail)
    with pytest.raises(RuntimeError):
        services.link_unlink_from_admin(link_id=link.id)
    assert _role_removals() == []  # ...and rolled back with it
    assert RobloxLink.objects.get(pk=link.id).unlinked_at is None
    assert not LinkEvent.objects.filter(action="admin").exists()


@pytest.mark.django_db
def test_without_a_verified_role_an_admin_unlink_queues_no_role_removal():
    link = _link(1, 100, "Alpha")
    services.link_unlink_from_admin(link_id=link.id)
    assert RobloxLink.objects.get(pk=link.id).unlink_reason == "admin"
    assert _role_removals() == []


@pytest.mark.django_db
def test_linking_again_before_the_bot_took_the_role_cancels_the_removal():
    core.config_set_role(guild_id=GUILD, kind="verified", role_id=VERIFIED)
    first = _link(1, 100, "Alpha")
    services.link_unlink_from_admin(link_id=first.id)
    other = _link(2, 200, "Beta")
    services.link_unlink_from_admin(link_id=other.id)
    _link(1, 300, "Gamma")  # member 1 verified again: the role they got back stays
    assert [(row[1], row[6]) for row in _role_removals()] == [(1, "skipped"), (2, "pending")]
    assert OutboxMessage.objects.get(target_id=1, kind="role_del").last_error == "the member linked an account again"


@pytest.fixture
def two_guilds(db):
    core.config_set_role(guild_id=GUILD, kind="verified", role_id=VERIFIED)
    a = _link(11, 1100, "GuildAUser")
    b = _link(22, 2200, "GuildBUser", guild_id=OTHER_GUILD)
    return a, b


def _staff_client(client, *, can_change: bool):
    codenames = ["view_robloxlink", "view_linkevent", "view_verificationattempt"]
    if can_change:
        codenames.append("change_robloxlink")
    user = staff_user("guild-a", [Guild.objects.get(discord_id=GUILD)],
                      Permission.objects.filter(content_type__app_label="verification", codename__in=codenames))
    client.force_login(user)
    return user


@pytest.mark.django_db
def test_guild_staff_see_and_unlink_only_their_guilds_links(client, two_guilds):
    a, b = two_guilds
    user = _staff_client(client, can_change=True)
    page = client.get("/admin/verification/robloxlink/?active=yes")
    assert [link.pk for link in page.context["cl"].result_list] == [a.id]
    assert client.get(f"/admin/verification/robloxlink/{b.id}/change/").status_code == 302  # "doesn't exist"
    assert [e.user_id for e in client.get("/admin/verification/linkevent/").context["cl"].result_list] == [11]
    response = client.post("/admin/verification/robloxlink/", {"action": "unlink", "_selected_action": [a.id, b.id]},
                           follow=True)
    assert "Unlinked 1 member" in response.content.decode()
    assert RobloxLink.objects.get(pk=b.id).unlinked_at is None
    link = RobloxLink.objects.get(pk=a.id)
    assert (link.unlink_reason, link.unlinked_by_user) == ("admin", user)
    assert [(row[0], row[1], row[2]) for row in _role_removals()] == [(GUILD, 11, VERIFIED)]
    page = client.get(f"/admin/verification/robloxlink/{a.id}/change/")
    assert "Discord role removal" in page.content.decode() and "pending" in page.content.decode()
    with pytest.raises(LinkInactive):
        services.link_unlink_from_admin(link_id=a.id, actor_user=user)
    assert len(_role_removals()) == 1


@pytest.mark.django_db
def test_without_the_change_permission_there_is_no_unlink(client, two_guilds):
    a, _b = two_guilds
    _staff_client(client, can_change=False)
    page = client.get("/admin/verification/robloxlink/")
    assert page.status_code == 200 and page.context["action_form"] is None  # no action offered at all
    client.post("/admin/verification/robloxlink/", {"action": "unlink", "_selected_action": [a.id]})
    assert RobloxLink.objects.get(pk=a.id).unlinked_at is None
    assert client.get(f"/admin/verification/robloxlink/{a.id}/change/").status_code == 200
