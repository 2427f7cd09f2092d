"""Issue 13, the admin: Discord names are data (escaped, CSP), admin-typed ids belong to the row's guild,
actions that make the bot act need the change permission, a row's guild is fixed, filters are scoped, and
the login locks out after repeated failures."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

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
from pads.models import PadSession
from points import services as points_services
from points.models import Achievement, ImportBatch, LedgerEntry, LegacyImport, MemberAchievement, MemberProfile, Order
from tests.conftest import staff_user
from tests.test_admin_browser import browser_prerequisites  # noqa: F401  (fixture)
from tickets.models import (
    Ticket,
    TicketCategory,
    TicketClaim,
    TicketDeadline,
    TicketPanel,
    TicketRating,
    TicketTranscript,
)
from tickets.transcripts import render_transcript
from verification.models import LinkEvent, RobloxLink, VerificationAttempt

PAYLOAD = '<img src=x onerror=alert(1)>'
LIVE = re.compile(r"<img src=x", re.IGNORECASE)
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
PASSWORD = "a-long-test-password-42"
A, B = 111_000_000_000_000_001, 222_000_000_000_000_002
# Discord ids of guild A's roles, channels and members; guild B's are these + 1000.
STAFF_ROLE, HELPER_ROLE, VERIFIED_ROLE, ADMIN_ROLE = 5001, 5002, 5003, 5004
LOG_CHANNEL, TICKETS_CATEGORY, PADS_CHANNEL, MEMBER = 5009, 5010, 5011, 5020


def seed_guild(discord_id: int, name: str, offset: int) -> Guild:
    """A guild whose every recorded Discord name is `name` (an HTML payload for A), with its config and names."""
    guild = Guild.objects.create(discord_id=discord_id, name=name, owner_id=MEMBER + offset, member_count=3)
    GuildConfig.objects.create(
        guild=guild, staff_role_id=STAFF_ROLE + offset, helper_role_id=HELPER_ROLE + offset,
        verified_role_id=VERIFIED_ROLE + offset, admin_role_ids=[ADMIN_ROLE + offset],
        log_channel_id=LOG_CHANNEL + offset, tickets_category_id=TICKETS_CATEGORY + offset,
        pads_channel_id=PADS_CHANNEL + offset)
    for role in (STAFF_ROLE, HELPER_ROLE, VERIFIED_ROLE, ADMIN_ROLE):
        DiscordName.objects.create(guild=guild, kind="role", discord_id=role + offset, name=f"{name} role")
    for channel, kind in ((LOG_CHANNEL, "text"), (TICKETS_CATEGORY, "category"), (PADS_CHANNEL, "text")):
        DiscordName.objects.create(guild=guild, kind="channel", discord_id=channel + offset, name=f"{name} {kind}",
                                   channel_type=kind)
    DiscordName.objects.create(guild=guild, kind="user", discord_id=MEMBER + offset, name=f"{name} member")
    return guild


def seed_rows(guild: Guild, name: str, offset: int) -> None:
    """A row of every app's models in `guild`, all naming things `name` and referencing its Discord ids."""
    now = timezone.now()
    member = MEMBER + offset
    PermissionGrant.objects.create(guild=guild, kind="role", target_id=STAFF_ROLE + offset, granted_by_id=member)
    BlockEntry.objects.create(guild=guild, user_id=member, reason=name, blocked_by_id=member)
    HelperRecord.objects.create(guild=guild, user_id=member, added_by_id=member)
    AuditEntry.objects.create(guild=guild, action="config.update", target=name, actor_id=member,
                              before={"name": name}, after={"name": name})
    OutboxMessage.objects.create(guild=guild, kind="log", target_id=LOG_CHANNEL + offset, content=name,
                                 available_at=now)
    category = TicketCategory.objects.create(guild=guild, name=f"{name} category", description=name, emoji="",
                                             response_time=name, staff_role_id=STAFF_ROLE + offset)
    panel = TicketPanel.objects.create(guild=guild, channel_id=LOG_CHANNEL + offset, title=name,
                                       legacy_category=name)
    panel.categories.set([category])
    ticket = Ticket.objects.create(guild=guild, number=1, code=f"c{offset}", category=category,
                                   category_name=category.name, opener_id=member, status="closed", created_at=now,
                                   closed_at=now + timedelta(minutes=5),
                                   close_path="staff", close_reason=name, member_ids=[member])
    TicketClaim.objects.create(ticket=ticket, user_id=member, slot=1)
    TicketTranscript.objects.create(ticket=ticket, html=render_transcript(ticket, [], ticket.claims.all()))
    TicketRating.objects.create(ticket=ticket, stars=4, comment=name)
    TicketDeadline.objects.create(ticket=ticket, kind="rate_dm", due_at=now + timedelta(days=40))
    points_services.points_award(guild_id=guild.discord_id, user_id=member, amount=5, reason=name,
                                 idempotency_key=f"seed:{offset}", display_name=name, notify=False)
    profile = MemberProfile.objects.get(guild=guild, user_id=member)
    achievement = Achievement.objects.create(guild=guild, name=f"{name} achievement", description=name,
                                             condition="balance", threshold=1)
    MemberAchievement.objects.create(achievement=achievement, member=profile,
                                     bonus_entry=LedgerEntry.objects.filter(member=profile).first())
    batch = ImportBatch.objects.create(guild=guild, filename=f"{name}.csv", sha256="0" * 64)
    Order.objects.create(guild=guild, order_number=name[:64], email="a@example.com", amount=Decimal("1.00"),
                         code_hash=f"{offset:064d}", code_hint="ABCD", batch=batch)
    LegacyImport.objects.create(guild=guild, key=f"{offset:064d}", sources=[name], figures={name: 1},
                                converted_at=now)
    PadSession.objects.create(guild=guild, pad=1, kind="training", host_id=member, host_name=name, starts=name,
                              ends_at=now + timedelta(hours=1), channel_id=PADS_CHANNEL + offset)
    attempt = VerificationAttempt.objects.create(guild=guild, user_id=member, roblox_id=77 + offset,
                                                 roblox_name="Robloxer", roblox_display_name=name[:50], code=name,
                                                 expires_at=now + timedelta(minutes=15), status="verified",
                                                 closed_at=now)
    link = RobloxLink.objects.create(guild=guild, user_id=member, roblox_id=77 + offset, roblox_name="Robloxer",
                                     roblox_display_name=name[:50], attempt=attempt)
    LinkEvent.objects.create(guild=guild, user_id=member, action="verify", link=link, roblox_id=77 + offset,
                             roblox_name="Robloxer", actor_id=member)


def _staff(username: str, guilds, codename_re: str) -> User:
    return staff_user(username, guilds, Permission.objects.filter(codename__regex=codename_re), password=PASSWORD)


@pytest.fixture
def world(db):
    a = seed_guild(A, PAYLOAD, 0)
    b = seed_guild(B, "Bravo", 1000)
    seed_rows(a, PAYLOAD, 0)
    seed_rows(b, "Bravo", 1000)
    CommandSyncState.objects.create(scope=0, digest="x" * 64)
    superuser = User.objects.create_superuser("root", password=PASSWORD)
    staff = _staff("staff_a", [a], r"^(view|change|add)_")
    viewer = _staff("viewer_a", [a], r"^view_")
    return {"a": a, "b": b, "superuser": superuser, "staff": staff, "viewer": viewer}


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def admin_pages(guild: Guild) -> list[str]:
    """Every admin page showing `guild`'s data: index, app lists, changelists, change, add, history, custom views."""
    urls = [reverse("admin:index")]
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        urls.append(reverse("admin:app_list", args=[opts.app_label]))
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
        field = getattr(model_admin, "guild_field", None)
        if model is Guild:
            rows = [guild]
        elif field:
            rows = list(model._default_manager.filter(**{field: guild})[:3])
            assert rows, f"seed a {opts.label} row of the guild so its change page is checked"
        else:
            rows = list(model._default_manager.all()[:3])
        for row in rows:
            urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk]))
            urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[row.pk]))
    ticket = Ticket.objects.get(guild=guild)
    urls += [reverse("admin:tickets_ticket_transcript", args=[ticket.pk]), reverse("admin:tickets_ticket_metrics"),
             reverse("admin:points_order_import"), reverse("admin:tickets_ticket_changelist") + f"?q={PAYLOAD}"]
    for name in ("adjust_points", "send_direct_message"):
        urls.append(("action", reverse("admin:points_memberprofile_changelist"), name,
                     MemberProfile.objects.get(guild=guild).pk))
    return urls


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.IGNORECASE)


@pytest.mark.parametrize("who", ["superuser", "staff"])
def test_discord_names_are_never_markup_on_any_admin_page(world, who):
    client = login(world[who])
    shown = 0
    for url in admin_pages(world["a"]):
        if isinstance(url, tuple):
            _kind, url, action, pk = url
            response = client.post(url, {"action": action, "_selected_action": [pk]})
        else:
            response = client.get(url)
        assert response.status_code in (200, 302, 403), (url, response.status_code)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        body = response.content.decode()
        assert not LIVE.search(body), f"live markup from Discord on {url}"
        assert not INLINE_SCRIPT.search(body), f"inline script on {url} (blocked by the CSP)"
        shown += ESCAPED in body
    assert shown > 20  # the payload is shown (escaped) on most pages
    # The configuration page names its roles and channels in help text: escaped there too.
    config = client.get(reverse("admin:botproject_guildconfig_change", args=[world["a"].config.pk]))
    assert f"{ESCAPED} role ({STAFF_ROLE})" in config.content.decode()


def test_admin_pages_send_a_content_security_policy(world):
    for client, url in ((Client(), reverse("admin:login")), (login(world["superuser"]), reverse("admin:index")),
                        (login(world["superuser"]), reverse("admin:tickets_ticket_metrics"))):
        policy = client.get(url)["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
        assert directives["script-src"] == "'self'"
        assert directives["object-src"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert directives["base-uri"] == "'self'"
        assert directives["form-action"] == "'self'"
    # The stored transcript keeps its own stricter, inert policy.
    ticket = Ticket.objects.get(guild=world["a"])
    policy = login(world["superuser"]).get(reverse("admin:tickets_ticket_transcript", args=[ticket.pk]))
    assert policy["Content-Security-Policy"].startswith("default-src 'none'")
    assert "script-src" not in policy["Content-Security-Policy"]


# --- Nothing reaches across guilds -----------------------------------------------------------------
def config_post(config: GuildConfig, **changes) -> dict:
    data = {field: getattr(config, field) for field in (
        "language", "prefix", "staff_role_id", "helper_role_id", "verified_role_id", "log_channel_id",
        "tickets_category_id", "pads_channel_id", "points_max_adjustment", "points_max_balance",
        "tickets_max_open_per_member", "tickets_delete_delay_seconds", "pads_max_duration_minutes")}
    data["admin_role_ids"] = str(config.admin_role_ids)
    for flag in ("points_enabled", "tickets_enabled", "pads_enabled", "verification_enabled", "points_allow_negative",
                 "verification_set_nickname", "verification_allow_shared_accounts"):
        if getattr(config, flag):
            data[flag] = "on"
    data.update(changes)
    return {k: ("" if v is None else v) for k, v in data.items()}


@pytest.mark.parametrize("field,value", [
    ("log_channel_id", LOG_CHANNEL + 1000),     # guild B's channel
    ("tickets_category_id", 987654321),          # a channel the bot never saw anywhere
    ("staff_role_id", STAFF_ROLE + 1000),       # guild B's role
    ("admin_role_ids", f"[{ADMIN_ROLE}, {ADMIN_ROLE + 1000}]"),
])
def test_config_form_refuses_ids_not_seen_in_the_guild(world, field, value):
    config = world["a"].config
    before = {f.name: getattr(config, f.name) for f in GuildConfig._meta.fields}
    response = login(world["superuser"]).post(reverse("admin:botproject_guildconfig_change", args=[config.pk]),
                                              config_post(config, **{field: value}))
    assert response.status_code == 200 and response.context["adminform"].form.errors
    assert "has not seen" in response.content.decode()
    config.refresh_from_db()
    assert {f.name: getattr(config, f.name) for f in GuildConfig._meta.fields} == before
    assert not AuditEntry.objects.filter(guild=world["a"]).exclude(target=PAYLOAD).exists()


def test_config_form_refuses_ids_while_the_bot_has_recorded_no_names(world):
    """Before the bot has seen a guild's roles and channels, no typed id can be checked: all are refused."""
    DiscordName.objects.filter(guild=world["a"]).delete()
    config = world["a"].config
    response = login(world["superuser"]).post(reverse("admin:botproject_guildconfig_change", args=[config.pk]),
                                              config_post(config, pads_channel_id=LOG_CHANNEL + 1000))
    assert response.status_code == 200 and "has not seen" in response.content.decode()
    config.refresh_from_db()
    assert config.pads_channel_id == PADS_CHANNEL


def panel_post(guild: Guild, channel_id, categories) -> dict:
    return {"guild": guild.pk, "channel_id": channel_id, "title": "Support", "legacy_category": "",
            "categories": [c.pk for c in categories]}


@pytest.mark.parametrize("channel_id", [LOG_CHANNEL + 1000, TICKETS_CATEGORY, 987654321])
def test_panel_channel_must_be_a_text_channel_of_the_panels_guild(world, channel_id):
    count = TicketPanel.objects.count()
    response = login(world["superuser"]).post(reverse("admin:tickets_ticketpanel_add"),
                                              panel_post(world["a"], channel_id, []))
    assert response.status_code == 200 and response.context["adminform"].form.errors.get("channel_id")
    assert TicketPanel.objects.count() == count
    # A text channel the bot saw in the guild is accepted.
    response = login(world["superuser"]).post(reverse("admin:tickets_ticketpanel_add"),
                                              panel_post(world["a"], PADS_CHANNEL, []))
    assert response.status_code == 302
    assert TicketPanel.objects.filter(guild=world["a"], channel_id=PADS_CHANNEL).exists()


def test_panel_categories_and_category_role_belong_to_the_guild(world):
    client = login(world["superuser"])
    count = TicketPanel.objects.count()
    b_category = TicketCategory.objects.get(guild=world["b"])
    response = client.post(reverse("admin:tickets_ticketpanel_add"),
                           panel_post(world["a"], PADS_CHANNEL, [b_category]))
    assert response.status_code == 200 and response.context["adminform"].form.errors.get("categories")
    assert TicketPanel.objects.count() == count
    response = client.post(reverse("admin:tickets_ticketcategory_add"), {
        "guild": world["a"].pk, "name": "Other", "helper_points": 0, "helper_slots": 1, "position": 0,
        "active": "on", "staff_role_id": STAFF_ROLE + 1000})
    assert response.status_code == 200 and response.context["adminform"].form.errors.get("staff_role_id")
    assert not TicketCategory.objects.filter(name="Other").exists()


# --- Admin permissions are real ------------------------------------------------------------------
BOT_ACTIONS = [
    ("tickets_ticketpanel", TicketPanel, "refresh"),
    ("tickets_ticketpanel", TicketPanel, "repost"),
    ("tickets_ticket", Ticket, "close_tickets"),
    ("points_memberprofile", MemberProfile, "adjust_points"),
    ("points_memberprofile", MemberProfile, "send_direct_message"),
]


@pytest.mark.parametrize("url_name,model,action", BOT_ACTIONS)
def test_actions_that_make_the_bot_act_need_the_change_permission(world, url_name, model, action):
    client = login(world["viewer"])
    url = reverse(f"admin:{url_name}_changelist")
    page = client.get(url)
    assert page.status_code == 200
    assert f'value="{action}"' not in page.content.decode()
    if model is Ticket:  # an open ticket, so a close would change it
        Ticket.objects.filter(guild=world["a"]).update(status="open", slot=1, closed_at=None, close_path="")
    row = model.objects.get(guild=world["a"])
    snapshot = (list(model.objects.filter(pk=row.pk).values()), OutboxMessage.objects.count(),
                LedgerEntry.objects.count(), AuditEntry.objects.count())
    token = "6a1f7a1e-3b1c-4d2e-9f00-000000000001"
    response = client.post(url, {"action": action, "_selected_action": [row.pk], "apply": "1", "amount": 5,
                                 "reason": "forged", "message": "forged", "token": token})
    # Refused: the changelist again (no such action for this user) or a redirect with a warning; nothing written.
    assert response.status_code in (200, 302, 403, 404) and "action-confirmation" not in response.content.decode()
    assert (list(model.objects.filter(pk=row.pk).values()), OutboxMessage.objects.count(),
            LedgerEntry.objects.count(), AuditEntry.objects.count()) == snapshot


def test_panel_actions_work_with_the_change_permission(world):
    panel = TicketPanel.objects.get(guild=world["a"])
    client = login(world["staff"])
    assert 'value="refresh"' in client.get(reverse("admin:tickets_ticketpanel_changelist")).content.decode()
    client.post(reverse("admin:tickets_ticketpanel_changelist"), {"action": "refresh", "_selected_action": [panel.pk]})
    panel.refresh_from_db()
    assert panel.refresh_requested_at is not None


@pytest.mark.parametrize("url_name,model,data", [
    ("tickets_ticketcategory", TicketCategory, {"name": "Renamed", "helper_points": 0, "helper_slots": 1,
                                                "position": 0, "active": "on"}),
    ("points_achievement", Achievement, {"name": "Renamed", "condition": "balance", "threshold": 2,
                                         "bonus_points": 0, "active": "on"}),
    ("tickets_ticketpanel", TicketPanel, {"channel_id": LOG_CHANNEL, "title": "Renamed"}),
])
def test_a_rows_guild_cannot_be_changed(world, url_name, model, data):
    world["b"].staff_users.add(world["staff"])  # staff of both guilds: B is a valid choice in itself
    row = model.objects.get(guild=world["a"])
    client = login(world["staff"])
    page = client.get(reverse(f"admin:{url_name}_change", args=[row.pk]))
    assert page.context["adminform"].form.fields["guild"].disabled
    client.post(reverse(f"admin:{url_name}_change", args=[row.pk]), {**data, "guild": world["b"].pk})
    row.refresh_from_db()
    assert row.guild_id == world["a"].pk


def test_list_filters_show_only_the_users_guilds_values(world):
    client = login(world["staff"])
    body = client.get(reverse("admin:tickets_ticket_changelist")).content.decode()
    assert f"{ESCAPED} category" in body  # the filter lists A's category…
    assert "Bravo category" not in body    # …and not B's
    body = client.get(reverse("admin:points_memberachievement_changelist")).content.decode()
    assert "Bravo achievement" not in body


# --- Login lockout -------------------------------------------------------------------------------
def test_admin_login_locks_out_after_repeated_failures(world, settings):
    from botproject.models import LoginFailure

    settings.ADMIN_LOGIN_MAX_FAILURES = 3
    settings.ADMIN_LOGIN_LOCKOUT_SECONDS = 600
    url = reverse("admin:login")
    client = Client()
    for _ in range(3):
        response = client.post(url, {"username": "root", "password": "wrong"})
        assert response.status_code == 200 and "_auth_user_id" not in client.session
    response = client.post(url, {"username": "root", "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    body = response.content.decode()
    assert "Too many failed logins" in body and "10 minutes" in body
    # Another user from the same address is not locked out by root's failures.
    other = User.objects.create_superuser("other", password=PASSWORD)
    assert Client().post(url, {"username": other.username, "password": PASSWORD}).status_code == 302
    # After the window the right password works again.
    LoginFailure.objects.update(at=timezone.now() - timedelta(seconds=601))
    response = client.post(url, {"username": "root", "password": PASSWORD})
    assert response.status_code == 302 and "_auth_user_id" in client.session
    assert not LoginFailure.objects.filter(username="root").exists()  # a success forgets the failures


# --- In a real browser: the admin's scripts run under the policy, the names stay text --------------------
def browse_as_superuser(base_url: str, pages: list[str]) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.test_admin_browser import CHROMIUM, CHROMIUM_ARGS

    seen: dict = {"violations": [], "dialogs": [], "texts": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.on("console", lambda message: "Content Security Policy" in message.text
                    and seen["violations"].append(message.text))
            page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
            page.goto(f"{base_url}/admin/login/")
            page.fill("#id_username", "root")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_selector(".guild-overview")
            for path in pages:
                page.goto(base_url + path)
                page.wait_for_load_state("load")
                seen["texts"].append(page.inner_text("body"))
            # The panel page's two-box category picker is built by the admin's SelectFilter2.js.
            seen["select_filter"] = page.locator("#id_categories_from").count()
        finally:
            browser.close()
    return seen


@pytest.mark.timeout(900)
@pytest.mark.usefixtures("browser_prerequisites")
def test_admin_scripts_run_under_the_policy_and_names_stay_text(live_server, world):
    from tests.test_admin_browser import in_a_thread

    a = world["a"]
    pages = [reverse("admin:index"), reverse("admin:botproject_guildconfig_change", args=[a.config.pk]),
             reverse("admin:tickets_ticket_changelist"), reverse("admin:tickets_ticket_metrics"),
             reverse("admin:tickets_ticketpanel_change", args=[TicketPanel.objects.get(guild=a).pk])]
    seen = in_a_thread(browse_as_superuser, live_server.url, pages)
    assert seen["violations"] == []
    assert seen["dialogs"] == []  # the payload never ran
    assert all(PAYLOAD in text for text in seen["texts"])  # shown as the text it is
    assert seen["select_filter"] == 1
