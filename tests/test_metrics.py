"""GET /metrics: real interactions through the emulator, scraped over HTTP from the bot's own web server (and the
Django site), parsed with prometheus_client's parser; off unless METRICS_ENABLED, a bearer token when set."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from discord import app_commands
from django.db import connection
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from botproject import metrics, outbox
from botproject import services as core
from botproject.bot.db import db_call
from botproject.bot.errors import outcome_of
from botproject.exceptions import BotMissingPermission, DatabaseOutcomeUnknown, NotAllowed, RoleTooPowerful
from botproject.models import Guild
from pads import services as pads
from pads.models import PadSession
from tests.conftest import ROOT, eventually
from tickets import services as tickets

TOKEN = "s3cret-scrape-token"


@pytest.fixture
def bot(discord_bot, settings):
    """The standard guild with pads set up (a granted member, staff), metrics on without a token."""
    settings.METRICS_ENABLED, settings.METRICS_TOKEN = True, ""
    world = discord_bot.world
    core.config_set_channel(guild_id=world.guild_id, kind="pads", channel_id=world.general, channel_type="text")
    core.config_set_role(guild_id=world.guild_id, kind="staff", role_id=world.staff_role)
    core.grant_add(guild_id=world.guild_id, kind="user", target_id=world.granted)
    return discord_bot


def fetch(bot, method: str = "GET", headers: dict | None = None, data: bytes | None = None, path="/metrics"):
    """(status, headers, body) of a request to the bot's always-on HTTP server."""
    request = urllib.request.Request(f"http://127.0.0.1:{bot.runner.web.port}{path}", method=method,
                                     headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value, from the client's own parser."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def scrape(bot) -> dict[tuple[str, tuple], float]:
    status, headers, body = fetch(bot)
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=")
    return samples(body.decode())


def interactions(seen: dict, command: str, outcome: str) -> float:
    return seen.get(("discordbot_interactions_total", (("command", command), ("outcome", outcome))), 0.0)


def latency_count(seen: dict) -> float:
    return seen.get(("discordbot_interaction_latency_seconds_count", ()), 0.0)


def test_a_scrape_after_real_interactions_counts_them_and_measures_the_database(bot):
    world = bot.world
    before = scrape(bot)
    assert bot.slash("granted", "training", pad=5, starts="now").content.startswith("Announced in")  # ok
    assert bot.slash("member", "training", pad=1, starts="x").content == \
        "You need to be granted access to do that. Ask the server owner."  # refused
    session = PadSession.objects.get()
    message = bot.emulator.message(session.message_id)
    assert bot.click("member", message, f"pad:end:{session.pk}").content.startswith("Only the host")  # refused
    assert bot.click("granted", message, f"pad:end:{session.pk}").content == "Pad 5 is free again."  # ok
    # Through the services: what the scrape-time gauges read from the database.
    pads.session_start(guild_id=world.guild_id, pad=2, kind="tryout", host_id=world.staff, starts="soon")
    category = tickets.category_create(guild_id=world.guild_id, name="Metrics")
    tickets.ticket_open(guild_id=world.guild_id, category_id=category, opener_id=world.member)
    outbox.enqueue_channel_delete(guild=Guild.objects.get(discord_id=world.guild_id), channel_id=world.general,
                                  at=timezone.now() + timedelta(days=1))

    expected = {("training", "ok"): 1, ("training", "refused"): 1, ("pad:end", "ok"): 1, ("pad:end", "refused"): 1}

    def counted():  # a handler counts when it returns, just after its answer reached the member
        seen = scrape(bot)
        return seen if all(interactions(seen, *key) - interactions(before, *key) == n
                           for key, n in expected.items()) else None

    after = eventually(counted)
    assert latency_count(after) - latency_count(before) == 4  # one first response each
    added = {name: after[(name, ())] - before.get((name, ()), 0.0) for name in (
        "discordbot_interaction_latency_seconds_sum", "discordbot_interaction_latency_seconds_count")}
    assert 0 < added["discordbot_interaction_latency_seconds_sum"] < 4 * 3.0  # Discord's 3 s, each
    inf = ("discordbot_interaction_latency_seconds_bucket", (("le", "+Inf"),))
    assert after[inf] == after[("discordbot_interaction_latency_seconds_count", ())]
    # The gauges measured at scrape time.
    assert after[("discordbot_active_pad_sessions", ())] == 1
    assert after[("discordbot_open_tickets", ())] == 1
    assert after[("discordbot_verified_members", ())] == 0
    assert after[("discordbot_database_up", ())] == 1
    backlog = {labels: value for (name, labels), value in after.items() if name == "discordbot_outbox_messages"}
    assert len(backlog) == len(outbox.OutboxMessage.Kind.values) * 2  # every kind, pending and failed
    assert backlog[(("kind", "chan_del"), ("status", "pending"))] == 1
    assert backlog[(("kind", "chan_del"), ("status", "failed"))] == 0
    gateway = [value for (name, labels), value in after.items() if name == "discordbot_gateway_latency_seconds"]
    assert len(gateway) == len(bot.bot.shards) and all(0 <= value < 5 for value in gateway)



def test_a_form_counts_when_it_is_submitted(bot):
    """A modal's submit is an interaction of its own, counted under the form's custom_id: refused for a bad
    address, ok once saved (the /email command that showed it counts as ok too)."""
    world, emu = bot.world, bot.emulator
    before = scrape(bot)
    shown = bot.slash("member", "email")
    bad = emu.submit_modal(world.guild_id, world.member, shown, values={"email": "not an address"})
    assert bad.content == "not an address is not a valid email address."
    good = emu.submit_modal(world.guild_id, world.member, shown, values={"email": "member@example.com"})
    assert good.content.startswith("Saved.")
    expected = {("email", "ok"): 1, ("points:email", "refused"): 1, ("points:email", "ok"): 1}

    def counted():
        seen = scrape(bot)
        return all(interactions(seen, *key) - interactions(before, *key) == n for key, n in expected.items())

    eventually(counted)

def test_a_database_error_the_bridge_sees_is_counted(bot):
    def broken() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table_for_metrics")

    key = ("discordbot_database_errors_total", (("kind", "error"),))
    before = scrape(bot).get(key, 0.0)
    with pytest.raises(Exception) as raised:
        bot.emulator.run(db_call(broken)())
    assert "no_such_table_for_metrics" in str(raised.value)
    assert scrape(bot)[key] == before + 1


def test_metrics_are_off_unless_enabled_like_an_unknown_path(bot, settings, client):
    settings.METRICS_ENABLED = False
    for method in ("GET", "HEAD", "POST"):
        assert fetch(bot, method)[0] == 404
        assert fetch(bot, method, path="/no-such-path")[0] == 404
    assert client.get("/metrics").status_code == 404
    assert client.post("/metrics").status_code == 404


def test_a_token_is_required_when_set(bot, settings, client):
    settings.METRICS_TOKEN = TOKEN
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": TOKEN}):
        status, answer, _body = fetch(bot, headers=headers)
        assert status == 401 and answer["WWW-Authenticate"] == 'Bearer realm="metrics"'
        django = client.get("/metrics", headers=headers)
        assert django.status_code == 401 and django["WWW-Authenticate"] == 'Bearer realm="metrics"'
    status, _headers, body = fetch(bot, headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and ("discordbot_database_up", ()) in samples(body.decode())
    django = client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})
    assert django.status_code == 200 and ("discordbot_database_up", ()) in samples(django.content.decode())


def test_only_get_and_head_without_a_body(bot, client):
    for method in ("POST", "PUT", "DELETE"):
        status, headers, _body = fetch(bot, method, data=b"")
        assert status == 405 and headers["Allow"] == "GET, HEAD"
        assert client.generic(method, "/metrics").status_code == 405
    assert fetch(bot, "GET", data=b"x" * 10)[0] == 413
    assert client.generic("GET", "/metrics", data=b"x" * 10, content_type="text/plain").status_code == 413
    status, headers, body = fetch(bot, "HEAD")
    assert status == 200 and body == b"" and headers["Content-Type"].startswith("text/plain; version=")


def test_the_django_site_serves_the_same_metrics(bot, client):
    world = bot.world
    pads.session_start(guild_id=world.guild_id, pad=7, kind="training", host_id=world.staff, starts="now")
    response = client.get("/metrics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain; version=")
    seen = samples(response.content.decode())
    assert seen[("discordbot_active_pad_sessions", ())] == 1
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert {"discordbot_interactions", "discordbot_interaction_latency_seconds", "discordbot_database_errors",
            "discordbot_gateway_latency_seconds", "discordbot_outbox_messages", "discordbot_open_tickets",
            "discordbot_active_pad_sessions"} <= names
    assert not [name for name, _labels in seen if name.endswith("_created")]  # one series per figure


@pytest.mark.parametrize(("custom_id", "label"), [
    ("ticket:close:12", "ticket:close"), ("ticket:rate:5:4", "ticket:rate"), ("points:lb:3", "points:lb"),
    ("setup:language", "setup:language"), ("3f9a0c2e" * 4, "other"), ("a:b:c:d", "a:b:c"), ("", "other"),
])
def test_components_count_under_their_custom_id_prefix(custom_id, label):
    assert metrics.custom_id_prefix(custom_id) == label


def test_refusals_and_errors_are_told_apart_at_the_error_edge():
    refused = [NotAllowed(), RoleTooPowerful(), app_commands.CommandOnCooldown(app_commands.Cooldown(1, 60), 30.0),
               app_commands.NoPrivateMessage()]
    errors = [BotMissingPermission(), DatabaseOutcomeUnknown(), RuntimeError("bug"), KeyError("x")]
    assert [outcome_of(error) for error in refused] == ["refused"] * len(refused)
    assert [outcome_of(error) for error in errors] == ["error"] * len(errors)


def test_a_scrape_while_the_database_is_down_still_answers_and_says_so():
    # A real unreachable PostgreSQL server (nothing listens on port 1), in a separate process without the bot.
    code = (
        "import django, os, sys, time; os.environ['DJANGO_SETTINGS_MODULE']='botproject.settings'; django.setup();"
        "from django.test import Client; t = time.monotonic(); r = Client().get('/metrics', HTTP_HOST='localhost');"
        "print(r.status_code, round(time.monotonic() - t, 1)); print(r.content.decode()); sys.stdout.flush();"
        "os._exit(0)"
    )
    env = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:1/none", "METRICS_ENABLED": "true",
           "METRICS_TOKEN": ""}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True, timeout=60)
    head, body = out.stdout.split("\n", 1)
    status, seconds = head.split()
    assert status == "200"
    assert float(seconds) < 6, "Prometheus gives up on a scrape after 10 s by default"
    seen = samples(body)
    assert seen[("discordbot_database_up", ())] == 0
    assert not [name for name, _labels in seen if name.startswith(("discordbot_outbox", "discordbot_open_tickets"))]
    assert not [name for name, _labels in seen if name == "discordbot_gateway_latency_seconds"]  # no bot here
