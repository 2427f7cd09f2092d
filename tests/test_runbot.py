"""`manage.py runbot`: start-up, HTTP endpoints, gateway pinning, shards, command sync, shutdown."""

import json
import re
import signal
import subprocess
import time
import urllib.request

import pytest
from django.conf import settings

from botproject.models import CommandSyncState
from tests.conftest import IMPLEMENTED_COMMANDS, manage, start_runner, stop_runner

READY = re.compile(r"ready in (?P<seconds>[\d.]+) s; HTTP on port (?P<port>\d+)")


def _get(url: str) -> tuple[int, dict | str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode()
            kind = response.headers.get("Content-Type", "")
            return response.status, json.loads(body) if "json" in kind else body, kind
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers.get("Content-Type", "")


def _wait_ready(process: subprocess.Popen, deadline: float = 20.0) -> tuple[float, int, list[str]]:
    """Read the child's log until its ready line; return (seconds it reported, port, lines)."""
    lines = []
    end = time.monotonic() + deadline
    for line in process.stderr:
        lines.append(line)
        found = READY.search(line)
        if found:
            return float(found["seconds"]), int(found["port"]), lines
        if time.monotonic() > end:
            break
    raise AssertionError("runbot never became ready:\n" + "".join(lines))


def test_runbot_without_a_token_says_so_in_one_line_and_fails():
    process = manage("runbot", env={"DISCORD_TOKEN": ""}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate(timeout=60)
    assert process.returncode != 0
    assert out == ""
    assert err.strip().splitlines() == [
        "CommandError: DISCORD_TOKEN is not set: put the bot token in the environment or .env."]


@pytest.mark.parametrize("argv,message", [
    (["--shard-ids", "0,1"], "--shard-ids needs --shard-count"),
    (["--shard-count", "2", "--shard-ids", "2"], "--shard-ids must be below --shard-count (2)"),
    (["--shard-count", "2", "--shard-ids", "a"], "--shard-ids takes comma-separated integers, not 'a'"),
])
def test_runbot_refuses_bad_shard_options(argv, message):
    process = manage("runbot", *argv, env={"DISCORD_TOKEN": "x"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _out, err = process.communicate(timeout=60)
    assert process.returncode != 0
    assert err.strip() == f"CommandError: {message}"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("web", [False, True], ids=["bot-only", "with-web"])
def test_runbot_reaches_ready_fast_serves_health_and_stops_cleanly_on_sigterm(own_emulator, web):
    emu = own_emulator.emu
    env = {"DISCORD_TOKEN": emu.token, "DISCORD_API_BASE_URL": emu.api_url, "DISCORD_GATEWAY_URL": emu.gateway_url,
           "PORT": "0", "WEB_HOST": "127.0.0.1", "LOG_LEVEL": "INFO"}
    started = time.monotonic()
    process = manage("runbot", *(["--web"] if web else []), env=env, stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE)
    try:
        reported, port, _lines = _wait_ready(process)
        wall = time.monotonic() - started
        assert reported < 2.0
        assert wall < 4.0, f"spawn to ready took {wall:.2f} s (interpreter and Django start included)"

        status, body, kind = _get(f"http://127.0.0.1:{port}/health")
        assert (status, body, kind) == (200, {"status": "ok"}, "application/json")
        status, body, _ = _get(f"http://127.0.0.1:{port}/status")
        assert status == 200 and body["gateway"]["connected"] is True and body["guilds"] == 1
        assert body["bot_in_this_process"] is True and body["database_size_bytes"] > 0
        assert _get(f"http://127.0.0.1:{port}/")[0] == 200

        admin_status, admin_body, _ = _get(f"http://127.0.0.1:{port}/admin/login/")
        if web:
            assert admin_status == 200 and "Community bot" in admin_body
            css_status, _, css_kind = _get(f"http://127.0.0.1:{port}/static/admin/css/base.css")
            assert css_status == 200 and css_kind.startswith("text/css")
        else:
            assert admin_status == 404

        # The child answers /status through the emulator too.
        guild = own_emulator.get(lambda: next(iter(emu.guilds.values())))
        rec = own_emulator.slash(guild.id, guild.owner_id, "status")
        assert rec.embeds[0]["title"] == "Bot status"
    finally:
        process.send_signal(signal.SIGTERM)
        rest = process.communicate(timeout=30)[1]
    assert process.returncode == 0, rest
    assert "stopped" in rest
    assert emu.gateway_connections[-1].open is False


def _first_guild(harness):
    return harness.get(lambda: next(iter(harness.emu.guilds.values())))


@pytest.mark.django_db(transaction=True)
def test_a_gateway_proxy_gets_every_connection_including_resumes(own_emulator):
    harness = own_emulator
    emu = harness.emu
    # What Discord would tell the client to dial: not the proxy.
    emu.gateway_bot_url = f"{emu.base_url.replace('http', 'ws')}/direct"
    emu.resume_gateway_url = f"{emu.base_url.replace('http', 'ws')}/resume-direct"
    runner = start_runner(harness, gateway_url=f"{emu.base_url.replace('http', 'ws')}/proxy")
    try:
        harness.close_gateway(code=4000)
        harness.wait_for(lambda: sum(c.kind == "resume" for c in emu.gateway_connections) == 1, timeout=10)
        guild = _first_guild(harness)
        rec = harness.slash(guild.id, guild.owner_id, "status")
        assert rec.embeds[0]["title"] == "Bot status"
    finally:
        stop_runner(harness, runner)
    paths = [(c.path, c.kind) for c in emu.gateway_connections]
    assert paths == [("/proxy", "identify"), ("/proxy", "resume")]


@pytest.mark.django_db(transaction=True)
def test_shard_ids_select_the_shards_this_process_runs(own_emulator):
    harness = own_emulator
    harness.emu.max_concurrency = 2  # shards 1 and 2 fall in different identify buckets: no 5 s wait
    runner = start_runner(harness, shard_count=3, shard_ids=[1, 2])
    try:
        shards = sorted(tuple(c.shard) for c in harness.emu.gateway_connections)
        assert shards == [(1, 3), (2, 3)]
        t1, t2 = sorted(c.opened_at for c in harness.emu.gateway_connections)
        assert t2 - t1 < 2.0
        assert sorted(runner.bot.shards) == [1, 2]
    finally:
        stop_runner(harness, runner)


@pytest.mark.django_db(transaction=True)
def test_global_commands_sync_only_when_the_set_changed_and_dev_guilds_every_start(own_emulator):
    harness = own_emulator
    world = harness.world
    emu = harness.emu
    for _ in range(2):
        runner = start_runner(harness)
        assert list(runner.bot.extensions) == settings.DISCORD_EXTENSIONS  # loaded, in order
        stop_runner(harness, runner)
    assert emu.command_syncs == {"global": 1}
    assert CommandSyncState.objects.get(scope=0).digest

    # A different command set (here: none of the core extension) syncs again.
    stop_runner(harness, start_runner(harness, extensions=[]))
    assert emu.command_syncs == {"global": 2}

    for _ in range(2):
        stop_runner(harness, start_runner(harness, sync_guilds=[world.guild_id]))
    assert emu.command_syncs[world.guild_id] == 2
    assert {c["name"] for c in emu.commands(world.guild_id)} == IMPLEMENTED_COMMANDS


def test_identify_spacing_follows_max_concurrency_buckets():
    import asyncio

    from botproject.bot.client import CommunityBot

    async def scenario():
        bot = CommunityBot(extensions=[], sync_guilds=[])
        bot._max_concurrency = 2
        bot._identified_at = {0: time.monotonic()}
        await asyncio.wait_for(bot.before_identify_hook(1), timeout=0.5)  # other bucket: at once
        with pytest.raises(asyncio.TimeoutError):  # same bucket within 5 s: it must wait
            await asyncio.wait_for(bot.before_identify_hook(2), timeout=0.3)
        return bot._identified_at

    identified = asyncio.run(scenario())
    assert set(identified) == {0, 1}


@pytest.mark.django_db(transaction=True)
def test_shutdown_refuses_new_interactions_and_lets_running_ones_finish(own_emulator):
    harness = own_emulator
    world = harness.world
    runner = start_runner(harness)
    # Discord is slow to take the first answer: the /status handler is still running.
    held = harness.hold("POST", r"/interactions/\d+/[^/]+/callback", times=1)
    first = harness.slash(world.guild_id, world.member, "status", wait=False)
    harness.wait_for(lambda: held.waiting == 1)
    stopping = harness.submit(runner.shutdown(grace=10))
    harness.wait_for(lambda: runner.bot.accepting_interactions is False)

    late = harness.slash(world.guild_id, world.member, "status")
    assert late.content == "The bot is restarting. Try again in a minute."
    assert not stopping.done(), "shutdown must wait for the running interaction"

    harness.call(held.release)
    stopping.result(timeout=10)
    harness.wait(first)
    assert first.embeds[0]["title"] == "Bot status"
    assert harness.emu.gateway_connections[-1].open is False
