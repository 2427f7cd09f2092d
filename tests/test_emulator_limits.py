"""Issue 14.1: the emulator holds a bot to Discord's documented limits and answers like Discord.

Driven over HTTP with raw requests (and discord.py's own HTTP client where its reaction matters); a bare
discord.py client is connected only so that interactions have a gateway session to go to. One emulator
for the module. Also (14.3): no test turns the 3 s interaction deadline off or raises it.
"""
from __future__ import annotations

import ast
import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import discord
import pytest

from botproject.bot import endpoints
from botproject.sandbox.emulator import EmulatorThread
from botproject.sandbox.emulator import permissions as P

pytestmark = pytest.mark.timeout(60)
TESTS = Path(__file__).resolve().parent


class Env:
    """The module's emulator, its guild, and a bare client holding the gateway session."""

    def __init__(self, h: EmulatorThread, world, client: discord.Client):
        self.h, self.emu, self.w, self.client = h, h.emu, world, client

    def http(self, method: str, path: str, body=None, auth: bool = True) -> tuple[int, dict | None, dict]:
        """A raw request from the test thread: (status, json, headers)."""
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bot {self.emu.token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.emu.api_url + path, method=method, data=data, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None, dict(resp.headers)
        except urllib.error.HTTPError as err:
            raw = err.read()
            return err.code, json.loads(raw) if raw else None, dict(err.headers)

    def post(self, body: dict, channel: int | None = None):
        """POST /channels/{general}/messages."""
        return self.http("POST", f"/channels/{channel or self.w.general}/messages", body)

    def interaction(self, itype: int = 2, data: dict | None = None):
        """Dispatch a raw interaction (nobody answers it: the test does, over HTTP)."""
        return self.h.send_interaction({"type": itype, "data": data or {"id": "1", "name": "x", "type": 1}},
                                       guild_id=self.w.guild_id, user_id=self.w.member)

    def callback(self, rec, body: dict):
        """POST the interaction's callback."""
        return self.http("POST", f"/interactions/{rec.id}/{rec.token}/callback", body, auth=False)

    def webhook(self, method: str, rec, tail: str = "", body=None):
        """A request on the interaction's webhook (followups, @original)."""
        return self.http(method, f"/webhooks/{self.emu.application_id}/{rec.token}{tail}", body, auth=False)


@pytest.fixture(scope="module")
def env():
    h = EmulatorThread()
    world = h.build_guild("Limits")
    endpoints.configure(api_base_url=h.emu.api_url, gateway_url=h.emu.gateway_url)
    client = discord.Client(intents=discord.Intents.none())
    future = h.submit(client.start(h.emu.token))
    try:
        h.wait_for(lambda: client.is_ready() or future.done(), timeout=10)
        if future.done():
            future.result()
        yield Env(h, world, client)
        h.run(client.close())
    finally:
        endpoints.reset()
        h.stop()


def error(field_path: str, code: str, message: str) -> dict:
    """The nested errors object Discord sends for one failing field."""
    tree: dict = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(field_path.split(".")):
        tree = {part: tree}
    return tree


def too_long(limit: int) -> tuple[str, str]:
    """(code, message) Discord gives a string or list over `limit`."""
    return "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."


def assert_invalid(answer, expected: dict) -> None:
    """A 400 Invalid Form Body whose errors are exactly `expected`."""
    status, body, _ = answer
    assert (status, body["code"], body["message"]) == (400, 50035, "Invalid Form Body"), body
    assert body["errors"] == expected


def button(custom_id: str, label: str = "ok") -> dict:
    return {"type": 2, "style": 1, "custom_id": custom_id, "label": label}


def row(*components) -> dict:
    return {"type": 1, "components": list(components)}


def select(custom_id: str = "pick", options: int = 2) -> dict:
    choices = [{"label": f"o{i}", "value": f"v{i}"} for i in range(options)]
    return {"type": 3, "custom_id": custom_id, "options": choices}


# ---------------------------------------------------------------- message content and embeds
def test_content_is_at_most_2000_characters_in_channels_dms_and_edits(env):
    assert env.post({"content": "x" * 2000})[0] == 200
    assert_invalid(env.post({"content": "x" * 2001}), error("content", *too_long(2000)))
    status, dm, _ = env.http("POST", "/users/@me/channels", {"recipient_id": str(env.w.member)})
    assert status == 200
    assert_invalid(env.post({"content": "y" * 2001}, channel=int(dm["id"])), error("content", *too_long(2000)))
    assert env.post({"content": "y" * 2000}, channel=int(dm["id"]))[0] == 200
    _, sent, _ = env.post({"content": "before"})
    assert_invalid(env.http("PATCH", f"/channels/{env.w.general}/messages/{sent['id']}", {"content": "z" * 2001}),
                   error("content", *too_long(2000)))
    assert env.h.message(sent["id"]).content == "before"


@pytest.mark.parametrize(("embed", "path", "limit"), [
    ({"title": "t" * 257}, "embeds.0.title", 256),
    ({"description": "d" * 4097}, "embeds.0.description", 4096),
    ({"fields": [{"name": "n", "value": "v"}] * 26}, "embeds.0.fields", 25),
    ({"fields": [{"name": "n", "value": "v"}] * 3 + [{"name": "n" * 257, "value": "v"}]},
     "embeds.0.fields.3.name", 256),
    ({"fields": [{"name": "n", "value": "v"}] * 3 + [{"name": "n", "value": "v" * 1025}]},
     "embeds.0.fields.3.value", 1024),
    ({"footer": {"text": "f" * 2049}}, "embeds.0.footer.text", 2048),
    ({"author": {"name": "a" * 257}}, "embeds.0.author.name", 256),
])
def test_each_embed_field_limit(env, embed, path, limit):
    assert_invalid(env.post({"embeds": [embed]}), error(path, *too_long(limit)))


def test_embeds_at_their_limits_pass_and_the_total_is_6000(env):
    full = {"title": "t" * 256, "description": "d" * 4096, "footer": {"text": "f" * 1000},
            "author": {"name": "a" * 256}, "fields": [{"name": "n" * 10, "value": "v" * 14}] * 16}
    assert sum(len(x) for x in ("t" * 256, "d" * 4096, "f" * 1000, "a" * 256)) + 16 * 24 == 5992
    assert env.post({"embeds": [full]})[0] == 200
    # Every field within its own limit, but 4 × 1,600 characters over the message's embeds.
    assert_invalid(env.post({"embeds": [{"description": "d" * 1600}] * 4}),
                   error("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"))
    assert_invalid(env.post({"embeds": [{"title": "t"}] * 11}), error("embeds", *too_long(10)))
    assert_invalid(env.post({"embeds": [{"fields": [{"name": "n", "value": ""}]}]}),
                   error("embeds.0.fields.0.value", "BASE_TYPE_REQUIRED", "This field is required"))


# ---------------------------------------------------------------- components
def test_action_rows_buttons_and_selects(env):
    ok = [row(*(button(f"b{r}{i}") for i in range(5))) for r in range(4)] + [row(select())]
    assert env.post({"content": "ok", "components": ok})[0] == 200
    assert_invalid(env.post({"content": "x", "components": [row(button(f"r{r}")) for r in range(6)]}),
                   error("components", *too_long(5)))
    width = ("COMPONENT_LAYOUT_WIDTH_EXCEEDED", "The specified component exceeds the maximum width")
    assert_invalid(env.post({"content": "x", "components": [row(*(button(f"b{i}") for i in range(6)))]}),
                   error("components.0.components.5", *width))
    assert_invalid(env.post({"content": "x", "components": [row(button("a")), row(select(), button("b"))]}),
                   error("components.1.components.1", *width))
    assert_invalid(env.post({"content": "x", "components": [row(select(options=26))]}),
                   error("components.0.components.0.options", "BASE_TYPE_BAD_LENGTH",
                         "Must be between 1 and 25 in length."))
    assert_invalid(env.post({"content": "x", "components": [row(button("a", label="L" * 81))]}),
                   error("components.0.components.0.label", *too_long(80)))
    assert_invalid(env.post({"content": "x", "components": [row(button("c" * 101))]}),
                   error("components.0.components.0.custom_id", *too_long(100)))
    long_option = {"type": 3, "custom_id": "s", "options": [{"label": "o" * 101, "value": "v"}]}
    assert_invalid(env.post({"content": "x", "components": [row(long_option)]}),
                   error("components.0.components.0.options.0.label", *too_long(100)))
    assert env.post({"content": "x", "components": [row(button("c" * 100, label="L" * 80))]})[0] == 200


# ---------------------------------------------------------------- interaction callbacks and webhooks
def test_message_callbacks_report_paths_under_data_and_leave_the_interaction_unanswered(env):
    rec = env.interaction()
    long_field = {"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]}
    assert_invalid(env.callback(rec, {"type": 4, "data": long_field}),
                   error("data.embeds.0.fields.0.value", *too_long(1024)))
    assert env.callback(rec, {"type": 4, "data": {"content": "fits"}})[0] == 204
    assert env.h.wait(rec).content == "fits"

    _, panel, _ = env.post({"content": "panel", "components": [row(button("go"))]})
    click = env.h.click(env.w.guild_id, env.w.member, panel["id"], "go", wait=False)
    assert_invalid(env.callback(click, {"type": 7, "data": {"components": [row(button(f"r{i}")) for i in range(6)]}}),
                   error("data.components", *too_long(5)))
    assert env.callback(click, {"type": 7, "data": {"content": "updated"}})[0] == 204
    assert env.h.message(panel["id"]).content == "updated"


def test_followups_and_edits_through_the_interaction_webhook(env):
    rec = env.interaction()
    assert env.callback(rec, {"type": 5})[0] == 204
    assert_invalid(env.webhook("PATCH", rec, "/messages/@original", {"content": "x" * 2001}),
                   error("content", *too_long(2000)))
    assert env.webhook("PATCH", rec, "/messages/@original", {"content": "done"})[0] == 200
    assert_invalid(env.webhook("POST", rec, "?wait=true", {"embeds": [{"title": "t" * 257}]}),
                   error("embeds.0.title", *too_long(256)))
    status, followup, _ = env.webhook("POST", rec, "?wait=true", {"content": "more"})
    assert status == 200
    assert_invalid(env.webhook("PATCH", rec, f"/messages/{followup['id']}",
                               {"components": [row(*(button(f"b{i}") for i in range(6)))]}),
                   error("components.0.components.5", "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                         "The specified component exceeds the maximum width"))


def _modal(components: list, title: str = "Ask") -> dict:
    return {"type": 9, "data": {"custom_id": "ask", "title": title, "components": components}}


def _text_input(custom_id: str = "name", label: str = "Name", **more) -> dict:
    return row({"type": 4, "custom_id": custom_id, "style": 1, "label": label, **more})


def test_modals_hold_5_components_labels_of_45_and_values_of_4000(env):
    rec = env.interaction()
    assert_invalid(env.callback(rec, _modal([_text_input(f"f{i}") for i in range(6)])),
                   error("data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."))
    assert_invalid(env.callback(rec, _modal([_text_input(label="L" * 46)])),
                   error("data.components.0.components.0.label", "BASE_TYPE_BAD_LENGTH",
                         "Must be between 1 and 45 in length."))
    assert_invalid(env.callback(rec, _modal([_text_input(value="v" * 4001)])),
                   error("data.components.0.components.0.value", *too_long(4000)))
    assert_invalid(env.callback(rec, _modal([_text_input()], title="T" * 46)),
                   error("data.title", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 45 in length."))
    labelled = {"type": 18, "label": "W" * 46, "component": {"type": 4, "custom_id": "why", "style": 2}}
    assert_invalid(env.callback(rec, _modal([labelled])),
                   error("data.components.0.label", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 45 in length."))
    fits = [_text_input(f"f{i}", label="L" * 45, value="v" * 4000, max_length=4000) for i in range(5)]
    assert env.callback(rec, _modal(fits, title="T" * 45))[0] == 204
    assert env.h.get(lambda: rec.modal["custom_id"]) == "ask"


def test_autocomplete_answers_at_most_25_choices_of_100_characters(env):
    data = {"id": "1", "name": "x", "type": 1, "options": [{"name": "q", "type": 3, "value": "", "focused": True}]}
    rec = env.interaction(itype=4, data=data)
    choices = [{"name": f"c{i}", "value": f"c{i}"} for i in range(26)]
    assert_invalid(env.callback(rec, {"type": 8, "data": {"choices": choices}}), error("data.choices", *too_long(25)))
    assert_invalid(env.callback(rec, {"type": 8, "data": {"choices": [{"name": "n" * 101, "value": "v"}]}}),
                   error("data.choices.0.name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."))
    assert_invalid(env.callback(rec, {"type": 8, "data": {"choices": [{"name": "n", "value": "v" * 101}]}}),
                   error("data.choices.0.value", *too_long(100)))
    assert env.callback(rec, {"type": 8, "data": {"choices": choices[:25]}})[0] == 204
    assert len(env.h.get(lambda: rec.choices)) == 25


def test_the_interaction_webhook_stops_working_after_15_minutes(env):
    rec = env.interaction()
    assert env.callback(rec, {"type": 5})[0] == 204
    assert env.webhook("POST", rec, "?wait=true", {"content": "in time"})[0] == 200
    env.h.advance_clock(14 * 60)
    assert env.webhook("PATCH", rec, "/messages/@original", {"content": "still in time"})[0] == 200
    env.h.advance_clock(60)
    invalid = (401, {"code": 50027, "message": "Invalid Webhook Token"})
    for method, tail, body in (("POST", "?wait=true", {"content": "late"}), ("PATCH", "/messages/@original",
                                                                          {"content": "late"}),
                               ("GET", "/messages/@original", None), ("DELETE", "/messages/@original", None)):
        status, answer, _ = env.webhook(method, rec, tail, body)
        assert (status, answer) == invalid, (method, tail)
    assert env.h.wait(rec).content == "still in time"


def test_a_nonce_deduplicates_only_for_a_few_minutes(env):
    body = {"content": "once", "nonce": "ob42", "enforce_nonce": True}
    _, first, _ = env.post(body)
    _, again, _ = env.post(body)
    assert again["id"] == first["id"]
    env.h.advance_clock(env.emu.nonce_window - 5)
    assert env.post(body)[1]["id"] == first["id"]
    env.h.advance_clock(10)
    _, later, _ = env.post(body)
    assert later["id"] != first["id"], "past the window Discord creates a new message"
    _, loose, _ = env.post({"content": "twice", "nonce": "ob43"})
    assert env.post({"content": "twice", "nonce": "ob43"})[1]["id"] != loose["id"], "no enforce_nonce: no dedupe"


def test_mentions_follow_allowed_mentions_mentionability_and_mention_everyone(env):
    w, h = env.w, env.h
    text = f"@everyone <@&{w.staff_role}> <@{w.member}> <@{w.helper}>"
    def pings(answer) -> dict:
        return h.message(answer[1]["id"]).pings

    # No allowed_mentions: users ping; a role that is not mentionable and @everyone need Mention Everyone.
    assert pings(env.post({"content": text})) == {"users": [w.member, w.helper], "roles": [], "everyone": False}
    assert pings(env.post({"content": text, "allowed_mentions": {"users": [str(w.helper)]}})) == {
        "users": [w.helper], "roles": [], "everyone": False}
    assert pings(env.post({"content": text, "allowed_mentions": {"parse": []}})) == {
        "users": [], "roles": [], "everyone": False}
    h.set_role(w.guild_id, w.staff_role, mentionable=True)
    assert pings(env.post({"content": text, "allowed_mentions": {"roles": [str(w.staff_role)]}})) == {
        "users": [], "roles": [w.staff_role], "everyone": False}
    h.set_role(w.guild_id, w.staff_role, mentionable=False)
    h.set_role(w.guild_id, w.bot_role, permissions=P.BOT_DEFAULT | P.MENTION_EVERYONE)
    try:
        assert pings(env.post({"content": text, "allowed_mentions": {"parse": ["roles", "everyone"]}})) == {
            "users": [], "roles": [w.staff_role], "everyone": True}
    finally:
        h.set_role(w.guild_id, w.bot_role, permissions=P.BOT_DEFAULT)
    status, body, _ = env.post({"content": text, "allowed_mentions": {"parse": ["users"], "users": [str(w.member)]}})
    assert (status, body["code"], list(body["errors"])) == (400, 50035, ["allowed_mentions"])


# ---------------------------------------------------------------- the global rate limit
def test_a_global_limit_of_50_requests_per_second_that_interactions_are_exempt_from(env):
    emu, h = env.emu, env.h
    rec = env.interaction()
    assert env.callback(rec, {"type": 5})[0] == 204

    async def burst() -> tuple[list, list]:
        auth = {"Authorization": f"Bot {emu.token}"}
        async with aiohttp.ClientSession() as session:
            async def get(url, headers):
                async with session.get(url, headers=headers) as resp:
                    return resp.status, await resp.json(), dict(resp.headers)
            bot = await asyncio.gather(*(get(emu.api_url + "/users/@me", auth) for _ in range(60)))
            # While the bot token is over its global limit, the interaction's webhook still answers.
            webhook = await asyncio.gather(*(get(f"{emu.api_url}/webhooks/{emu.application_id}/{rec.token}"
                                                 "/messages/@original", {}) for _ in range(5)))
            return bot, webhook

    h.get(emu._global_hits.clear)  # a fresh second: earlier tests' requests are not in this one's window
    before = emu.stats["429_global"]
    bot, webhook = h.run(burst())
    limited = [r for r in bot if r[0] == 429]
    assert len(bot) - len(limited) == 50 and len(limited) == 10
    _, body, headers = limited[0]
    assert body["global"] is True and body["message"] == "You are being rate limited." and 0 < body["retry_after"] <= 1
    assert headers["X-RateLimit-Global"] == "true" and headers["X-RateLimit-Scope"] == "global"
    assert headers["Via"] == "1.1 google" and int(headers["Retry-After"]) == 1
    assert [r[0] for r in webhook] == [200] * 5
    assert emu.stats["429_global"] - before == 10

    async def through_discord_py() -> float:
        """discord.py's own client waits out the global limit and every request succeeds."""
        client = discord.http.HTTPClient(asyncio.get_running_loop())
        await client.static_login(emu.token)
        try:
            t0 = time.monotonic()
            users = await asyncio.gather(*(client.get_user(env.w.member) for _ in range(80)))
            assert {u["id"] for u in users} == {str(env.w.member)}
            return time.monotonic() - t0
        finally:
            await client.close()

    before = emu.stats["429_global"]
    took = h.run(through_discord_py(), timeout=20)
    assert emu.stats["429_global"] > before and took >= 0.5


# ---------------------------------------------------------------- 14.3: the 3 s deadline stays on
def _deadline_settings(path: Path) -> list[tuple[int, str]]:
    """(line, source) of every assignment of callback_deadline in a file that is not a number ≤ 3."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        value = None
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Attribute) and t.attr == "callback_deadline" for t in targets):
                value = node.value if not isinstance(node, ast.AugAssign) else ast.Constant(None)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "setattr" \
                and any(isinstance(a, ast.Constant) and a.value == "callback_deadline" for a in node.args):
            value = node.args[-1] if len(node.args) >= 3 else ast.Constant(None)
        elif isinstance(node, ast.Delete) and any(isinstance(t, ast.Attribute) and t.attr == "callback_deadline"
                                                  for t in node.targets):
            value = ast.Constant(None)
        if value is None:
            continue
        ok = isinstance(value, ast.Constant) and isinstance(value.value, (int, float)) and value.value <= 3
        if not ok:
            found.append((node.lineno, ast.get_source_segment(path.read_text(encoding="utf-8"), node) or ""))
    return found


def test_no_test_turns_the_3_second_deadline_off_or_raises_it(tmp_path):
    offenders = {str(p.relative_to(TESTS)): hits for p in sorted(TESTS.rglob("*.py"))
                 if "emulator" not in p.relative_to(TESTS).parts[:1] and (hits := _deadline_settings(p))}
    assert offenders == {}, f"tests must keep emu.callback_deadline at 3 s or less: {offenders}"
    # The check sees what it looks for.
    probe = tmp_path / "probe.py"
    probe.write_text("emu.callback_deadline = None\nemu.callback_deadline = 10\nemu.callback_deadline = 3.0\n"
                     "monkeypatch.setattr(emu, 'callback_deadline', 5)\ngetattr(emu, 'callback_deadline')\n"
                     "del emu.callback_deadline\n")
    assert sorted(line for line, _ in _deadline_settings(probe)) == [1, 2, 4, 6]
    from botproject.sandbox.emulator.interactions import InteractionMixin
    fresh = InteractionMixin()
    fresh._init_interactions()
    assert fresh.callback_deadline == 3.0
