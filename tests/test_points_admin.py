"""The points admin through Django's test client: scoping, adjust/reverse actions, CSV export, integrity checks."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.core.management import CommandError, call_command
from django.urls import reverse

from botproject import services as core
from botproject.models import Guild
from botproject.selectors import helper_stats
from points import services
from points.models import Achievement, LedgerEntry, MemberAchievement, MemberProfile

ROOT = Path(__file__).resolve().parent.parent
A, B = 111, 222
PASSWORD = "a-long-test-password-42"


def award(guild_id, user_id, amount, key, name="", **kw):
    return services.points_award(guild_id=guild_id, user_id=user_id, amount=amount, reason="seed",
                                 idempotency_key=key, display_name=name, **kw)


def staff_user(name: str, guild: Guild, *, change: bool = True) -> User:
    codenames = ["view_memberprofile", "view_ledgerentry", "view_memberachievement", "view_achievement",
                 "add_achievement", "change_achievement", "delete_achievement"]
    if change:
        codenames.append("change_memberprofile")
    group, _created = Group.objects.get_or_create(name=f"points {'changers' if change else 'viewers'}")
    group.permissions.set(Permission.objects.filter(content_type__app_label="points", codename__in=codenames))
    user = User.objects.create_user(name, password=PASSWORD, is_staff=True)
    user.groups.add(group)
    guild.staff_users.add(user)
    return user


@pytest.fixture
def world(db):
    """Guild A (Alpha) with Ann (100) and Bob (30), guild B (Bravo) with Zed (50); a staff user of A."""
    award(A, 1, 100, "seed:a1", "Ann")
    award(A, 2, 30, "seed:a2", "Bob")
    award(B, 9, 50, "seed:b9", "Zed")
    a, b = Guild.objects.get(discord_id=A), Guild.objects.get(discord_id=B)
    a.name, b.name = "Alpha", "Bravo"
    a.save(), b.save()
    profiles = {p.display_name: p for p in MemberProfile.objects.all()}
    return {"a": a, "b": b, "staff": staff_user("staff_a", a), **profiles}


@pytest.fixture
def staff_client(client, world):
    client.force_login(world["staff"])
    return client


def url(name: str, *args) -> str:
    return reverse(f"admin:points_{name}", args=args)


def balance(profile) -> int:
    return MemberProfile.objects.get(pk=profile.pk).balance


def shown_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def adjust(client, profiles, **form):
    """Open the Adjust points form for `profiles`, then submit it with `form`; returns (token, response)."""
    selected = [p.pk for p in profiles]
    page = client.post(url("memberprofile_changelist"), {"action": "adjust_points", "_selected_action": selected})
    assert page.status_code == 200, page.status_code
    token = page.context["form"].initial["token"]
    data = {"action": "adjust_points", "_selected_action": selected, "select_across": "0", "apply": "Adjust",
            "token": str(token), "notify": "on", **form}
    return token, client.post(url("memberprofile_changelist"), data, follow=True), data


def read_csv(response) -> list[dict]:
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


# --- members: scoping and the read-only figures -----------------------------------------------------------
def test_superuser_lists_every_guilds_members(admin_client, world):
    response = admin_client.get(url("memberprofile_changelist"))
    assert {p.display_name for p in response.context["cl"].result_list} == {"Ann", "Bob", "Zed"}


def test_staff_lists_and_opens_only_their_guilds_members(staff_client, world):
    response = staff_client.get(url("memberprofile_changelist"))
    assert {p.display_name for p in response.context["cl"].result_list} == {"Ann", "Bob"}
    assert b"Zed" not in response.content and b"Bravo" not in response.content
    assert staff_client.get(url("memberprofile_change", world["Ann"].pk)).status_code == 200
    other = staff_client.get(url("memberprofile_change", world["Zed"].pk))
    assert other.status_code == 302 and other.url == reverse("admin:index")
    # Search by exact id and by name stays inside the guild too.
    response = staff_client.get(url("memberprofile_changelist"), {"q": "9"})
    assert list(response.context["cl"].result_list) == []
    response = staff_client.get(url("memberprofile_changelist"), {"q": "1"})
    assert [p.display_name for p in response.context["cl"].result_list] == ["Ann"]


def test_member_page_shows_the_figures_read_only(staff_client, world):
    award(A, 1, 5, "more")
    response = staff_client.get(url("memberprofile_change", world["Ann"].pk))
    page = response.content.decode()
    assert 'name="balance"' not in page and 'name="earned_total"' not in page
    assert re.search(r"field-balance.*?105", page, re.S) and re.search(r"field-rank.*?\b1\b", page, re.S)
    assert "2 entries" in page
    # The one editable setting saves through its service; posting a balance changes nothing.
    staff_client.post(url("memberprofile_change", world["Ann"].pk), {"balance": 999_999})
    assert balance(world["Ann"]) == 105
    assert MemberProfile.objects.get(pk=world["Ann"].pk).notifications_enabled is False


def test_members_cannot_be_deleted_here(admin_client, world):
    # Profiles can be created by hand (see the test below); deleting would hide points history.
    assert admin_client.get(url("memberprofile_delete", world["Ann"].pk)).status_code == 403


# --- Adjust points -------------------------------------------------------------------------------------
def test_adjust_credits_each_selected_member_once_even_when_submitted_twice(staff_client, world):
    token, response, data = adjust(staff_client, [world["Ann"], world["Bob"]], amount="25", reason="event prize")
    assert any("Adjusted the balances of 2 members by +25" in m for m in shown_messages(response))
    again = staff_client.post(url("memberprofile_changelist"), data, follow=True)
    assert any("already adjusted by this form" in m for m in shown_messages(again))
    assert (balance(world["Ann"]), balance(world["Bob"])) == (125, 55)
    entries = LedgerEntry.objects.filter(idempotency_key__startswith=f"admin:{token}:")
    assert entries.count() == 2
    entry = entries.get(member=world["Ann"])
    assert (entry.delta, entry.kind, entry.reason, entry.actor_user) == (25, "admin_add", "event prize", world["staff"])
    assert entry.idempotency_key == f"admin:{token}:{world['Ann'].pk}"


def test_a_new_form_is_a_new_adjustment(staff_client, world):
    adjust(staff_client, [world["Bob"]], amount="-10", reason="penalty")
    adjust(staff_client, [world["Bob"]], amount="-10", reason="penalty")
    assert balance(world["Bob"]) == 10
    assert list(LedgerEntry.objects.filter(member=world["Bob"], kind="admin_remove").values_list("delta", flat=True)) \
        == [-10, -10]


def test_adjust_refusals_are_shown_per_member_and_write_nothing_for_them(staff_client, world):
    before = LedgerEntry.objects.count()
    _token, response, _data = adjust(staff_client, [world["Ann"], world["Bob"]], amount="-50", reason="shop")
    messages = shown_messages(response)
    assert any("Bob (2)" in m and "has only 30 points; 50 cannot be removed" in m for m in messages)
    assert any("Adjusted the balance of 1 member by -50" in m for m in messages)
    assert (balance(world["Ann"]), balance(world["Bob"])) == (50, 30)
    assert LedgerEntry.objects.count() == before + 1
    core.config_update(guild_id=A, changes={"points_max_adjustment": 40})
    _token, response, _data = adjust(staff_client, [world["Ann"]], amount="41", reason="too big")
    assert any("At most 40 points can be changed at once" in m for m in shown_messages(response))
    assert balance(world["Ann"]) == 50 and LedgerEntry.objects.count() == before + 1


@pytest.mark.parametrize("form, field", [({"amount": "0", "reason": "x"}, "amount"),
                                         ({"amount": "5", "reason": "  "}, "reason"),
                                         ({"amount": "2.5", "reason": "x"}, "amount")])
def test_adjust_form_refuses_bad_input_and_writes_nothing(staff_client, world, form, field):
    before = LedgerEntry.objects.count()
    _token, response, _data = adjust(staff_client, [world["Ann"]], **form)
    assert response.status_code == 200 and field in response.context["form"].errors
    assert LedgerEntry.objects.count() == before and balance(world["Ann"]) == 100


def test_staff_cannot_adjust_another_guilds_member(staff_client, world):
    response = staff_client.post(url("memberprofile_changelist"), {
        "action": "adjust_points", "_selected_action": [world["Zed"].pk]}, follow=True)
    assert "form" not in response.context or response.context.get("title") != "Adjust points"
    assert b"Zed" not in response.content
    # Even a forged final submission (token and all) reaches no row of guild B.
    data = {"action": "adjust_points", "_selected_action": [world["Zed"].pk, world["Ann"].pk], "apply": "1",
            "token": "3f1c7f0e-7a8e-4d4b-9d0a-6c1b3a5f0e11", "amount": "500", "reason": "forged"}
    staff_client.post(url("memberprofile_changelist"), data, follow=True)
    assert balance(world["Zed"]) == 50 and balance(world["Ann"]) == 600
    assert not LedgerEntry.objects.filter(member=world["Zed"], reason="forged").exists()


def test_adjusting_needs_the_change_permission(client, world):
    viewer = staff_user("viewer_a", world["a"], change=False)
    client.force_login(viewer)
    response = client.post(url("memberprofile_changelist"), {
        "action": "adjust_points", "_selected_action": [world["Ann"].pk], "apply": "1",
        "token": "3f1c7f0e-7a8e-4d4b-9d0a-6c1b3a5f0e11", "amount": "5", "reason": "x"}, follow=True)
    assert response.status_code == 200 and balance(world["Ann"]) == 100
    assert "adjust_points" not in dict(response.context["action_form"].fields["action"].choices)


# --- ledger: read-only, CSV, reversal --------------------------------------------------------------------
def test_ledger_is_read_only_and_scoped(staff_client, admin_client, world):
    entry_b = LedgerEntry.objects.get(member=world["Zed"])
    assert admin_client.get(url("ledgerentry_add")).status_code == 403
    page = admin_client.get(url("ledgerentry_change", entry_b.pk))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert admin_client.post(url("ledgerentry_delete", entry_b.pk), {"post": "yes"}).status_code == 403
    listed = staff_client.get(url("ledgerentry_changelist"))
    assert {e.member_id for e in listed.context["cl"].result_list} == {world["Ann"].pk, world["Bob"].pk}
    assert staff_client.get(url("ledgerentry_change", entry_b.pk)).status_code == 302
    # Filters and search work on the scoped list.
    listed = staff_client.get(url("ledgerentry_changelist"), {"kind__exact": "admin_add", "q": "Bob"})
    assert [e.member_id for e in listed.context["cl"].result_list] == [world["Bob"].pk]
    assert b"Export this list as CSV" in listed.content


def test_csv_export_of_the_filtered_list_and_of_selected_entries(staff_client, admin_client, world):
    services.points_deduct(guild_id=A, user_id=1, amount=7, reason="=HYPERLINK(\"x\")", idempotency_key="csv-key",
                           actor_id=4242, actor_user=world["staff"])
    rows = read_csv(staff_client.get(url("ledgerentry_export") + "?kind__exact=admin_remove"))
    assert len(rows) == 1
    row = rows[0]
    entry = LedgerEntry.objects.get(idempotency_key="csv-key")
    assert list(row) == ["id", "guild_id", "user_id", "name", "delta", "balance_after", "kind", "reason", "actor_id",
                         "actor_user", "idempotency_key", "reverses_id", "created_at"]
    assert row == {"id": str(entry.pk), "guild_id": str(A), "user_id": "1", "name": "Ann", "delta": "-7",
                   "balance_after": "93", "kind": "admin_remove", "reason": "'=HYPERLINK(\"x\")", "actor_id": "4242",
                   "actor_user": "staff_a", "idempotency_key": "csv-key", "reverses_id": "",
                   "created_at": entry.created_at.isoformat()}
    # The whole list: staff get their guild only, even when they ask for guild B by URL.
    assert {r["name"] for r in read_csv(staff_client.get(url("ledgerentry_export")))} == {"Ann", "Bob"}
    # (With one guild Django hides, and ignores, the guild filter; either way nothing of B comes out.)
    asked_for_b = read_csv(staff_client.get(url("ledgerentry_export"), {"guild__id__exact": world["b"].pk}))
    assert "Zed" not in {r["name"] for r in asked_for_b} and str(B) not in {r["guild_id"] for r in asked_for_b}
    everything = read_csv(admin_client.get(url("ledgerentry_export")))
    assert [int(r["id"]) for r in everything] == sorted(LedgerEntry.objects.values_list("pk", flat=True), reverse=True)
    # The action exports the selection (scoped as well).
    selected = [entry.pk, LedgerEntry.objects.get(member=world["Zed"]).pk]
    response = staff_client.post(url("ledgerentry_changelist"), {"action": "export_csv", "_selected_action": selected})
    assert [r["id"] for r in read_csv(response)] == [str(entry.pk)]


def test_csv_export_streams_in_batches(admin_client, world, monkeypatch):
    from points.admin import ledger as points_admin

    monkeypatch.setattr(points_admin, "CSV_BATCH", 2)
    for i in range(5):
        award(A, 100 + i, 1, f"bulk{i}")
    response = admin_client.get(url("ledgerentry_export"))
    assert response.streaming
    rows = read_csv(response)
    assert len(rows) == 8 and len({r["id"] for r in rows}) == 8


def test_reverse_action_asks_then_writes_a_compensating_entry(staff_client, world):
    entry = LedgerEntry.objects.get(member=world["Bob"])
    page = staff_client.post(url("ledgerentry_changelist"), {"action": "reverse_entries",
                                                             "_selected_action": [entry.pk]})
    assert page.status_code == 200 and b"compensating entry" in page.content
    assert LedgerEntry.objects.count() == 3  # nothing yet
    data = {"action": "reverse_entries", "_selected_action": [entry.pk], "apply": "Reverse", "reason": "typo"}
    response = staff_client.post(url("ledgerentry_changelist"), data, follow=True)
    assert any("Reversed 1 entry" in m for m in shown_messages(response))
    reversal = LedgerEntry.objects.get(reverses=entry)
    assert (reversal.delta, reversal.kind, reversal.reason, reversal.actor_user) == (-30, "reversal", "typo",
                                                                                     world["staff"])
    assert balance(world["Bob"]) == 0
    # Twice: refused and shown, nothing written.
    response = staff_client.post(url("ledgerentry_changelist"), data, follow=True)
    assert any(f"Entry {entry.pk} was already reversed (entry {reversal.pk}); nothing changed" in m
               for m in shown_messages(response))
    assert LedgerEntry.objects.count() == 4 and balance(world["Bob"]) == 0


def test_reverse_refusal_leaves_the_member_untouched(staff_client, world):
    entry = LedgerEntry.objects.get(member=world["Ann"])
    services.points_deduct(guild_id=A, user_id=1, amount=90, reason="spent", idempotency_key="spent")
    data = {"action": "reverse_entries", "_selected_action": [entry.pk], "apply": "Reverse", "reason": ""}
    response = staff_client.post(url("ledgerentry_changelist"), data, follow=True)
    assert any("has only 10 points; 100 cannot be removed" in m for m in shown_messages(response))
    assert balance(world["Ann"]) == 10 and not LedgerEntry.objects.filter(reverses=entry).exists()


def test_staff_cannot_reverse_another_guilds_entry(staff_client, world):
    entry = LedgerEntry.objects.get(member=world["Zed"])
    staff_client.post(url("ledgerentry_changelist"), {"action": "reverse_entries", "_selected_action": [entry.pk],
                                                      "apply": "Reverse", "reason": ""}, follow=True)
    assert balance(world["Zed"]) == 50 and not LedgerEntry.objects.filter(reverses=entry).exists()


# --- achievements -----------------------------------------------------------------------------------------
def test_staff_manage_their_guilds_achievements_only(staff_client, world):
    other = Achievement.objects.create(guild=world["b"], name="Bravo star", condition="balance_reached", threshold=1)
    data = {"guild": world["a"].pk, "name": "Rich", "description": "", "condition": "balance_reached",
            "threshold": 120, "bonus_points": 5, "active": "on"}
    assert staff_client.post(url("achievement_add"), data).status_code == 302
    rich = Achievement.objects.get(name="Rich")
    assert rich.guild == world["a"]
    response = staff_client.post(url("achievement_add"), {**data, "guild": world["b"].pk, "name": "Sneaky"})
    assert response.status_code == 200 and "guild" in response.context["adminform"].form.errors
    assert not Achievement.objects.filter(name="Sneaky").exists()
    assert staff_client.post(url("achievement_change", rich.pk), {**data, "threshold": 110}).status_code == 302
    assert Achievement.objects.get(pk=rich.pk).threshold == 110
    assert staff_client.get(url("achievement_change", other.pk)).status_code == 302
    assert {a.name for a in staff_client.get(url("achievement_changelist")).context["cl"].result_list} == {"Rich"}
    # Earned (by a later award), shown read-only and scoped.
    award(A, 1, 20, "reach")
    earned = MemberAchievement.objects.get(achievement=rich)
    MemberAchievement.objects.create(achievement=other, member=world["Zed"])
    listed = staff_client.get(url("memberachievement_changelist"))
    assert [m.pk for m in listed.context["cl"].result_list] == [earned.pk] and b"Bravo star" not in listed.content
    assert staff_client.get(url("memberachievement_change", earned.pk)).status_code == 200
    assert staff_client.get(url("memberachievement_add")).status_code == 403
    # Earned: history, so it can only be switched off; one nobody earned can be deleted.
    assert staff_client.post(url("achievement_delete", rich.pk), {"post": "yes"}).status_code == 403
    assert Achievement.objects.filter(pk=rich.pk).exists()
    unused = Achievement.objects.create(guild=world["a"], name="Unused", condition="points_earned", threshold=10**9)
    assert staff_client.post(url("achievement_delete", unused.pk), {"post": "yes"}).status_code == 302
    assert not Achievement.objects.filter(pk=unused.pk).exists()


# --- integrity ------------------------------------------------------------------------------------------
def test_check_balances_action(staff_client, world):
    selected = [world["Ann"].pk, world["Bob"].pk]
    response = staff_client.post(url("memberprofile_changelist"), {"action": "check_balances",
                                                                   "_selected_action": selected}, follow=True)
    assert any("all 2 checked members match the ledger" in m for m in shown_messages(response))
    MemberProfile.objects.filter(pk=world["Bob"].pk).update(balance=31)
    MemberProfile.objects.filter(pk=world["Zed"].pk).update(balance=1)  # another guild: not reported to staff of A
    response = staff_client.post(url("memberprofile_changelist"), {"action": "check_balances",
                                                                   "_selected_action": selected}, follow=True)
    messages = shown_messages(response)
    assert any(f"Guild {A}, member 2: balance 31, ledger sum 30" in m for m in messages)
    assert any("1 of 2 checked members has a balance that differs" in m for m in messages)
    assert not any("member 9" in m for m in messages)


def run_check_ledger(*args) -> subprocess.CompletedProcess:
    """`python manage.py check_ledger` in a separate process, against this test's (committed) database."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        database_url = f"sqlite:///{db['NAME']}"
    else:
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        database_url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return subprocess.run([sys.executable, "manage.py", "check_ledger", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "DATABASE_URL": database_url})


@pytest.mark.django_db(transaction=True)
def test_check_ledger_command_exit_codes(world):
    ok = run_check_ledger()
    assert ok.returncode == 0 and "OK: all 3 members match their ledger." in ok.stdout, ok.stderr
    MemberProfile.objects.filter(pk=world["Zed"].pk).update(balance=77)
    bad = run_check_ledger()
    assert bad.returncode == 1
    assert f"guild {B} user 9: balance 77, ledger sum 50 (difference +27)" in bad.stdout
    assert "1 of 3 members have a balance that differs from their ledger." in bad.stderr


def test_check_ledger_command_per_guild(world, capsys):
    call_command("check_ledger", "--guild", str(A))
    assert "OK: all 2 members in guild 111 match their ledger." in capsys.readouterr().out
    MemberProfile.objects.filter(pk=world["Zed"].pk).update(balance=77)
    call_command("check_ledger", "--guild", str(A))
    with pytest.raises(CommandError) as error:
        call_command("check_ledger", "--guild", str(B))
    assert error.value.returncode == 1 and "1 of 1 members in guild 222" in str(error.value)
    assert f"guild {B} user 9" in capsys.readouterr().out


# --- overview card and helper figure ---------------------------------------------------------------------
def test_overview_card_and_helper_figure(admin_client, world):
    award(A, 2, 4, "helped", kind="helper")
    page = admin_client.get(reverse("admin:index")).content.decode()
    card = re.search(r'data-guild="111".*?data-card="points_week">\s*<h3>(.*?)</h3>\s*<p class="overview-value">(\d+)',
                     page, re.S)
    assert card and card.groups() == ("Points issued in the last 7 days", "134")
    assert helper_stats(guild_id=A, user_id=2).figures["Helper points"] == 4


@pytest.mark.django_db
def test_staff_create_a_profile_and_send_direct_messages_whose_delivery_shows_in_the_outbox(client):
    from django.contrib.auth.models import Group, Permission, User

    from botproject.models import Guild, OutboxMessage
    from botproject.services import guild_ensure
    from points.models import MemberProfile

    guild_ensure(guild_id=501, name="Alpha")
    guild_ensure(guild_id=502, name="Beta")
    user = User.objects.create_user("alpha-staff", password="pw", is_staff=True)
    group = Group.objects.create(name="points staff")
    group.permissions.set(Permission.objects.filter(content_type__app_label="points"))
    user.groups.add(group)
    alpha, beta = Guild.objects.get(discord_id=501), Guild.objects.get(discord_id=502)
    alpha.staff_users.add(user)
    client.force_login(user)

    form = client.get("/admin/points/memberprofile/add/").context["adminform"].form
    assert list(form.fields["guild"].queryset) == [alpha]  # no other guild to pick
    response = client.post("/admin/points/memberprofile/add/", {"guild": beta.pk, "user_id": 9, "display_name": "x"})
    assert response.status_code == 200 and not MemberProfile.objects.exists()
    client.post("/admin/points/memberprofile/add/", {"guild": alpha.pk, "user_id": 7, "display_name": "Ann",
                                                     "email": "ann@example.com"})
    profile = MemberProfile.objects.get()
    assert (profile.guild, profile.user_id, profile.email) == (alpha, 7, "ann@example.com")
    duplicate = client.post("/admin/points/memberprofile/add/", {"guild": alpha.pk, "user_id": 7})
    assert "already has a profile" in duplicate.content.decode()

    found = client.get("/admin/points/memberprofile/?q=ann@example.com").context["cl"].result_list
    assert list(found) == [profile]
    token = "3f2b3c4d-1111-2222-3333-444455556666"
    data = {"action": "send_direct_message", "_selected_action": [profile.pk], "apply": "1",
            "message": "Welcome!", "token": token}
    first = client.post("/admin/points/memberprofile/", data, follow=True).content.decode()
    assert "Queued 1 direct message." in first and "/admin/botproject/outboxmessage/?kind__exact=dm" in first
    client.post("/admin/points/memberprofile/", data)  # submitted twice: still one message
    dm = OutboxMessage.objects.get(kind="dm")
    assert (dm.target_id, dm.content, dm.status) == (7, "Welcome!", "pending")
