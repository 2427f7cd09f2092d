"""`python manage.py runbot --sandbox`: the bot against the bundled local Discord, its page and its admin."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from botproject.sandbox import demo
from tests.sandbox_support import Page, SandboxProcess, running_sandbox

OWNER, STAFF, HELPER, MEMBER = (demo.person(k).user_id for k in ("owner", "staff", "helper", "member"))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    yield from running_sandbox(tmp_path_factory.mktemp("sandbox"))


def test_the_page_and_the_admin_login_answer(sandbox):
    page = Page(sandbox.base)
    html = page.http.get(f"{sandbox.base}/sandbox/", timeout=10).text
    assert "Sandbox Server" in html and "page.js" in html
    assert page.http.get(f"{sandbox.base}/sandbox/assets/page.js", timeout=10).status_code == 200
    assert page.http.get(f"{sandbox.base}/sandbox/assets/settings.py", timeout=10).status_code == 404
    login = page.http.get(f"{sandbox.base}/admin/login/", timeout=10)
    assert login.status_code == 200 and "csrfmiddlewaretoken" in login.text


def test_the_sandbox_uses_its_own_database_and_prints_the_password_once(sandbox):
    assert sandbox.db.exists()
    assert not sandbox.elsewhere.exists(), "DATABASE_URL's database was touched"
    assert "DATABASE_URL is not used by the sandbox" in sandbox.output
    assert sandbox.password(), sandbox.output


def test_the_superuser_logs_in_and_sees_the_demo_guild(sandbox):
    page = Page(sandbox.base)
    page.http.get(f"{sandbox.base}/admin/login/", timeout=10)
    response = page.http.post(f"{sandbox.base}/admin/login/?next=/admin/", timeout=10, data={
        "username": "sandbox", "password": sandbox.password(), "next": "/admin/",
        "csrfmiddlewaretoken": page.http.cookies["csrftoken"]})
    assert response.status_code == 200 and response.url.endswith("/admin/"), response.url
    guilds = page.http.get(f"{sandbox.base}/admin/botproject/guild/", timeout=10)
    assert guilds.status_code == 200 and "Sandbox Server" in guilds.text


def test_the_demo_server_has_its_members_channels_and_commands(sandbox):
    state = Page(sandbox.base).state(MEMBER)
    assert {m["username"] for m in state["members"]} == {p.username for p in demo.PEOPLE}
    assert [c["name"] for c in state["channels"]] == ["general", "tickets", "pads", "Direct messages"]
    assert {"balance", "ticket", "training", "verify"} <= {c["name"] for c in state["commands"]}
    staff_sees = [c["name"] for c in Page(sandbox.base).state(STAFF)["channels"]]
    assert "logs" in staff_sees  # the staff-only channel, by the emulator's permissions
    panel = Page(sandbox.base).state(MEMBER, demo.IDS.tickets)["messages"]
    assert panel and panel[0]["bot"] and "General help" in str(panel[0]["components"])


def test_acting_as_a_member_runs_a_slash_command_and_shows_only_them_the_answer(sandbox):
    page = Page(sandbox.base)
    response = page.act(HELPER, kind="slash", channel=str(demo.IDS.general), command="balance", options={})
    assert response.status_code == 200 and response.json() == {"ok": True}, response.text
    mine = page.state(HELPER, demo.IDS.general)["messages"]
    answer = [m for m in mine if m["used"] and m["used"]["name"] == "balance"]
    assert answer and answer[-1]["ephemeral"], mine
    assert answer[-1]["embeds"][0]["title"] == "Points: Hana (helper)"
    others = page.state(MEMBER, demo.IDS.general)["messages"]
    assert not [m for m in others if m["id"] == answer[-1]["id"]], "an ephemeral answer is for its member only"


def test_the_api_refuses_without_csrf_and_checks_its_input(sandbox):
    page = Page(sandbox.base)
    refused = page.http.post(f"{sandbox.base}/sandbox/api/act", json={"as": str(MEMBER), "kind": "message"},
                             timeout=10)
    assert refused.status_code == 403
    wrong = page.act(MEMBER, kind="slash", channel=str(demo.IDS.general), command="points add",
                     options={"member": str(HELPER), "amount": "lots"})
    assert wrong.status_code == 400 and not wrong.json()["ok"]
    assert page.act(12345, kind="message", content="hi").status_code == 400


def test_the_fake_roblox_profile_can_be_edited_from_the_page(sandbox):
    page = Page(sandbox.base)
    accounts = page.state(MEMBER)["roblox"]
    assert [a["name"] for a in accounts] == list(demo.ROBLOX_ACCOUNTS)
    response = page.act(MEMBER, kind="roblox", account=accounts[0]["id"], description="green apple seven")
    assert response.json() == {"ok": True}
    assert page.state(MEMBER)["roblox"][0]["description"] == "green apple seven"
    assert page.act(MEMBER, kind="roblox", account="1", description="x").status_code == 400


def test_a_message_written_on_the_page_reaches_the_channel_as_text(sandbox):
    page = Page(sandbox.base)
    text = "<script>alert(1)</script> hello"
    assert page.act(MEMBER, kind="message", channel=str(demo.IDS.general), content=text).json() == {"ok": True}
    assert text in [m["content"] for m in page.state(OWNER, demo.IDS.general)["messages"]]


def test_ctrl_c_stops_it_and_a_second_start_keeps_the_data(sandbox):
    assert sandbox.stop() == 0, sandbox.output
    assert "stopped" in sandbox.output
    # This time DATABASE_URL names a PostgreSQL server that is not there: the sandbox never connects to it.
    again = SandboxProcess(sandbox.folder, database_url="postgres://nobody@127.0.0.1:9/not_there")
    try:
        again.wait_ready()
        assert "ignoring the configured database (django.db.backends.postgresql" in again.output
        assert "Admin user 'sandbox' exists" in again.output and again.password() is None
        assert "Demo server 'Sandbox Server' recorded" not in again.output
        panel = Page(again.base).state(MEMBER, demo.IDS.tickets)["messages"]
        assert panel and "General help" in str(panel[-1]["components"])  # posted again in the new local Discord
    finally:
        assert again.stop() == 0, again.output


def test_the_page_is_not_served_outside_the_sandbox():
    assert Client().get("/sandbox/").status_code == 404  # the project's urlconf has no such page
    with override_settings(ROOT_URLCONF="botproject.sandbox.urls_root"):  # and the flag is off
        assert Client().get("/sandbox/").status_code == 404
        assert Client().get("/sandbox/api/state").status_code == 404
