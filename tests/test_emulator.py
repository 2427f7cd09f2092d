"""Self-tests of the Discord emulator, driven by a bare discord.py client defined here (not the project's bot)."""
from __future__ import annotations

import asyncio
import json
import statistics
import time
import urllib.request
from typing import Literal

import discord
import pytest
import yarl
from discord import app_commands
from discord.ext import commands

from botproject.sandbox.emulator import CommandHidden, EmulatorError, EmulatorThread, InteractionRecord, OptionRejected
from botproject.sandbox.emulator import permissions as P

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------- the bare bot under test
class Counter(discord.ui.DynamicItem[discord.ui.Button], template=r"counter:(?P<n>\d+)"):
    """Persistent dynamic button that increments its own number."""

    def __init__(self, n: int):
        super().__init__(discord.ui.Button(label=str(n), custom_id=f"counter:{n}"))
        self.n = n

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction):
        view = discord.ui.View(timeout=None)
        view.add_item(Counter(self.n + 1))
        await interaction.response.edit_message(content=f"count {self.n + 1}", view=view)


class Panel(discord.ui.View):
    """Persistent view with one select of each kind."""

    def __init__(self):
        super().__init__(timeout=None)

    @discord.ui.select(custom_id="fruit", options=[discord.SelectOption(label=x, value=x) for x in ("apple", "pear")],
                       max_values=2)
    async def fruit(self, itx: discord.Interaction, select: discord.ui.Select):
        await itx.response.send_message("fruit " + ",".join(select.values), ephemeral=True)

    @discord.ui.select(cls=discord.ui.UserSelect, custom_id="who")
    async def who(self, itx, select):
        picked = select.values[0]
        await itx.response.send_message(f"user {type(picked).__name__} {picked.name}", ephemeral=True)

    @discord.ui.select(cls=discord.ui.RoleSelect, custom_id="role")
    async def role(self, itx, select):
        await itx.response.send_message(f"role {select.values[0].name}", ephemeral=True)

    @discord.ui.select(cls=discord.ui.ChannelSelect, custom_id="chan", channel_types=[discord.ChannelType.text])
    async def chan(self, itx, select):
        await itx.response.send_message(f"channel {select.values[0].name}", ephemeral=True)

    @discord.ui.select(cls=discord.ui.MentionableSelect, custom_id="ment", max_values=2)
    async def ment(self, itx, select):
        names = sorted(type(v).__name__ for v in select.values)
        await itx.response.send_message("mentionable " + ",".join(names), ephemeral=True)


class AskModal(discord.ui.Modal, title="Ask"):
    """Modal with a row text input and a Label-wrapped select."""
    name = discord.ui.TextInput(label="Name", max_length=10)
    color = discord.ui.Label(text="Color", component=discord.ui.Select(
        custom_id="color", options=[discord.SelectOption(label=c, value=c) for c in ("red", "blue")]))

    async def on_submit(self, itx: discord.Interaction):
        await itx.response.send_message(f"hello {self.name.value} likes {self.color.component.values[0]}")


def make_bot(cls=commands.Bot, guild_id: int | None = None, **kwargs) -> commands.Bot:
    """A bare bot exercising every emulator feature."""
    intents = discord.Intents.default()
    intents.members = True
    intents.message_content = True
    bot = cls(command_prefix="!", intents=intents, guild_ready_timeout=0, **kwargs)
    bot.seen = []  # (event, detail)

    async def no_identify_wait(shard_id, *, initial=False):
        """discord.py sleeps 5 s before every non-initial IDENTIFY; tests must not."""
    bot.before_identify_hook = no_identify_wait

    config = app_commands.Group(name="config", description="Configure")
    role_group = app_commands.Group(name="role", description="Role settings", parent=config)

    @role_group.command(name="set", description="Set a role")
    async def role_set(itx: discord.Interaction, kind: Literal["staff", "helper"], role: discord.Role,
                       member: discord.Member, channel: discord.TextChannel, count: app_commands.Range[int, 1, 10] = 1,
                       ratio: float = 1.0, flag: bool = False, note: app_commands.Range[str, 1, 5] | None = None):
        await itx.response.send_message(
            f"{kind} {role.name} {type(member).__name__}:{member.name} #{channel.name} {count} {ratio} {flag} {note} "
            f"perm={itx.permissions.manage_guild} app={itx.app_permissions.manage_channels} loc={itx.locale.value}")

    bot.tree.add_command(config)

    @bot.tree.command(description="Ping")
    async def ping(itx: discord.Interaction):
        await itx.response.send_message("pong")

    @bot.tree.command(description="Defer then follow up")
    async def slow(itx: discord.Interaction, private: bool = False):
        await itx.response.defer(thinking=True, ephemeral=private)
        await itx.followup.send("done")
        await itx.followup.send("extra")

    @bot.tree.command(description="Modal")
    async def ask(itx: discord.Interaction):
        await itx.response.send_modal(AskModal())

    @bot.tree.command(description="Private channel")
    async def mkchan(itx: discord.Interaction, name: str, member: discord.Member):
        await itx.response.defer()
        overwrites = {itx.guild.default_role: discord.PermissionOverwrite(view_channel=False),
                      member: discord.PermissionOverwrite(view_channel=True, send_messages=True),
                      itx.guild.me: discord.PermissionOverwrite(view_channel=True, send_messages=True)}
        try:
            ch = await itx.guild.create_text_channel(name, overwrites=overwrites, reason="ticket")
        except discord.Forbidden as exc:
            await itx.edit_original_response(content=f"forbidden {exc.code}")
            return
        await itx.edit_original_response(content=f"created {ch.mention}")

    @bot.tree.command(description="DM someone")
    async def dm(itx: discord.Interaction, member: discord.Member):
        try:
            await member.send("hello from bot")
        except discord.Forbidden as exc:
            await itx.response.send_message(f"closed {exc.code}", ephemeral=True)
            return
        await itx.response.send_message("sent", ephemeral=True)

    @bot.tree.command(description="Give a role")
    async def grant(itx: discord.Interaction, member: discord.Member, role: discord.Role):
        try:
            await member.add_roles(role, reason="granted")
        except discord.Forbidden as exc:
            await itx.response.send_message(f"forbidden {exc.code}")
            return
        await itx.response.send_message("granted")

    @bot.tree.command(description="Admins only")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def admin(itx: discord.Interaction):
        await itx.response.send_message("admin ok")

    @admin.error
    async def admin_error(itx, error):
        await itx.response.send_message(f"check failed {type(error).__name__}", ephemeral=True)

    @bot.tree.command(description="Panel")
    async def panel(itx: discord.Interaction):
        await itx.response.send_message("panel", view=Panel())

    @bot.tree.command(description="Counter")
    async def counter(itx: discord.Interaction, private: bool = False):
        view = discord.ui.View(timeout=None)
        view.add_item(Counter(0))
        await itx.response.send_message("counter", view=view, ephemeral=private)

    @bot.tree.command(description="Pick a fruit")
    async def pick(itx: discord.Interaction, fruit: str):
        await itx.response.send_message(f"picked {fruit}")

    @pick.autocomplete("fruit")
    async def pick_autocomplete(itx: discord.Interaction, current: str):
        return [app_commands.Choice(name=f, value=f) for f in ("apple", "apricot", "pear") if f.startswith(current)]

    @bot.tree.command(description="Attachment option")
    async def attach(itx: discord.Interaction, file: discord.Attachment):
        data = await file.read()
        await itx.response.send_message(f"{file.filename} {len(data)} {data[:5].decode()}")

    @bot.tree.command(description="Upload")
    async def upload(itx: discord.Interaction):
        await itx.response.defer(ephemeral=True)
        await itx.channel.send("transcript", file=discord.File(__import__("io").BytesIO(b"<html>hi</html>"),
                                                               filename="transcript.html"))
        await itx.followup.send("uploaded")

    @bot.command()
    async def hello(ctx: commands.Context):
        await ctx.send(f"hi {ctx.author.name}")

    @bot.event
    async def on_message(message: discord.Message):
        bot.seen.append(("message", message.content))
        await bot.process_commands(message)

    @bot.event
    async def on_guild_channel_create(channel):
        bot.seen.append(("channel_create", channel.name))

    @bot.event
    async def on_member_update(before, after):
        bot.seen.append(("member_update", [r.name for r in after.roles]))

    async def setup_hook():
        bot.add_dynamic_items(Counter)
        bot.add_view(Panel())
        await bot.tree.sync()
        if guild_id:
            bot.tree.copy_global_to(guild=discord.Object(guild_id))
            await bot.tree.sync(guild=discord.Object(guild_id))
    bot.setup_hook = setup_hook
    return bot


# ---------------------------------------------------------------- fixtures
class Env:
    """Emulator thread + world + running bot."""

    def __init__(self, h: EmulatorThread, world, bot, future, started: float):
        self.h, self.emu, self.w, self.bot, self.future, self.started = h, h.emu, world, bot, future, started


_PRISTINE_FROM_CLIENT = discord.gateway.DiscordWebSocket.__dict__["from_client"]  # saved before anyone patches it


def redirect(emu, path: str = "/gateway"):
    """Point discord.py at the emulator (undoing gateway pins other test modules may have left behind)."""
    discord.gateway.DiscordWebSocket.from_client = _PRISTINE_FROM_CLIENT
    discord.http.Route.BASE = emu.api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{emu.port}{path}")


def start_bot(h: EmulatorThread, bot) -> tuple:
    """Start the bot on the emulator loop and wait until ready."""
    t0 = time.monotonic()
    future = h.submit(bot.start(h.emu.token))
    h.wait_for(lambda: bot.is_ready() or future.done(), timeout=10)
    if future.done():
        future.result()
    return future, time.monotonic() - t0


@pytest.fixture
def env():
    h = EmulatorThread()
    old_base, old_gw = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    try:
        world = h.build_guild("Alpha", locale="en-US")
        redirect(h.emu)
        bot = make_bot(guild_id=world.guild_id)
        future, started = start_bot(h, bot)
        yield Env(h, world, bot, future, started)
        h.run(bot.close())
    finally:
        h.stop()
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gw


def http(emu, method: str, path: str, body=None, token: str | None = None):
    """Raw HTTP call to the emulator from the test thread: (status, json)."""
    req = urllib.request.Request(emu.api_url + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bot {token}"} if token else {})})
    try:
        with urllib.request.urlopen(req) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# ---------------------------------------------------------------- tests
def test_login_ready_sync_and_guild(env):
    emu, w, bot = env.emu, env.w, env.bot
    assert env.started < 2.0
    assert bot.get_guild(w.guild_id).name == "Alpha"
    assert {m.id for m in bot.get_guild(w.guild_id).members} >= set(w.users.values())
    assert emu.command_syncs == {"global": 1, w.guild_id: 1}
    assert "config" in [c["name"] for c in emu.commands()]
    assert emu.commands(w.guild_id)[0]["guild_id"] == str(w.guild_id)
    conn = emu.identified()[0]
    assert conn.path == "/gateway" and conn.query["v"] == "10" and conn.identify["intents"] & (1 << 15)
    assert emu.requests_to("GET", "^/users/@me$")[0].status == 200
    assert emu.unknown_routes == []


def test_wrong_token_is_401_and_login_failure(env):
    status, body = http(env.emu, "GET", "/users/@me", token="nope")
    assert status == 401
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.none())
    with pytest.raises(discord.LoginFailure):
        env.h.run(bot.login("nope"))
    env.h.run(bot.close())


def test_slash_options_subcommands_and_resolved(env):
    h, w = env.h, env.w
    rec = h.slash(w.guild_id, w.admin, "config role set", kind="staff", role=w.staff_role, member=w.member,
                  channel=w.general, count=3, ratio=0.5, flag=True, note="hey", locale="vi")
    assert isinstance(rec, InteractionRecord) and rec.callback["type"] == 4
    assert rec.content.startswith("staff Staff Member:alpha_member #general 3 0.5 True hey")
    assert "perm=True app=True loc=vi" in rec.content
    data = rec.payload["data"]
    assert data["options"][0]["type"] == 2 and data["options"][0]["options"][0]["type"] == 1
    assert set(data["resolved"]) == {"roles", "users", "members", "channels"}
    assert rec.payload["attachment_size_limit"] and rec.payload["member"]["permissions"]
    assert h.messages(w.general)[-1].content == rec.content  # non-ephemeral reply is in the channel


def test_option_rejections(env):
    h, w = env.h, env.w
    base = {"kind": "staff", "role": w.staff_role, "member": w.member, "channel": w.general}
    for bad in ({"count": 11}, {"count": "3"}, {"kind": "owner"}, {"note": "toolong"}, {"channel": w.staff_role},
                {"nonexistent": 1}):
        with pytest.raises(OptionRejected):
            h.slash(w.guild_id, w.admin, "config role set", **{**base, **bad})
    with pytest.raises(OptionRejected):
        h.slash(w.guild_id, w.admin, "config role set", kind="staff")
    with pytest.raises(OptionRejected):
        h.slash(w.guild_id, w.admin, "config role")
    with pytest.raises(EmulatorError):
        h.slash(w.guild_id, w.admin, "nosuchcommand")


def test_command_hidden_and_server_side_check(env):
    h, w = env.h, env.w
    with pytest.raises(CommandHidden):
        h.slash(w.guild_id, w.member, "admin")
    assert h.slash(w.guild_id, w.admin, "admin").content == "admin ok"
    assert h.slash(w.guild_id, w.owner, "admin").content == "admin ok"
    rec = h.slash(w.guild_id, w.member, "admin", bypass_permissions=True)
    assert rec.content == "check failed MissingPermissions" and rec.ephemeral
    assert rec.original_message.id not in [m.id for m in h.messages(w.general)]


def test_defer_and_followups(env):
    h, w = env.h, env.w
    rec = h.slash(w.guild_id, w.member, "slow", private=True)
    assert rec.deferred and rec.ephemeral
    h.call(rec.wait_for, lambda r: len(r.followup_ids) == 2)
    assert rec.original["content"] == "done" and rec.followup_ids[0] == rec.original_id
    # only the first followup inherits the defer
    assert rec.content == "extra" and not rec.followup_messages[1].ephemeral
    assert h.requests_to("POST", r"^/webhooks/\d+/[^/]+$")[0].query["wait"] == "1"


def test_buttons_dynamic_items_and_update_message(env):
    h, w = env.h, env.w
    panel = h.slash(w.guild_id, w.member, "counter")
    assert "counter:0" in panel.custom_ids
    rec = h.click(w.guild_id, w.helper, panel.original_id, "counter:0")
    assert rec.callback["type"] == 7 and h.message(panel.original_id).content == "count 1"
    assert h.click(w.guild_id, w.helper, panel.original_id, "counter:1").original["content"] == "count 2"
    with pytest.raises(EmulatorError):
        h.click(w.guild_id, w.helper, panel.original_id, "counter:0")
    private = h.slash(w.guild_id, w.member, "counter", private=True)
    assert private.ephemeral and private.original_message.id not in [m.id for m in h.messages(w.general)]
    assert h.click(w.guild_id, w.member, private, "counter:0").content == "count 1"
    assert private.content == "count 1"  # the ephemeral message itself was updated


def test_attachment_option_and_raw_interaction(env):
    h, w = env.h, env.w
    rec = h.slash(w.guild_id, w.member, "attach", file=("notes.txt", b"hello world"))
    assert rec.content == "notes.txt 11 hello"
    raw = h.send_interaction({"type": 2, "locale": "fr", "data": {"id": "1", "name": "ping", "type": 1}},
                             guild_id=w.guild_id, user_id=w.helper, wait=True)
    assert raw.content == "pong" and raw.payload["locale"] == "fr"
    ac = h.autocomplete(w.guild_id, w.member, "pick", focused="fruit", fruit="ap")
    assert [c["value"] for c in ac.choices] == ["apple", "apricot"] and ac.callback["type"] == 8


def test_each_select_kind(env):
    h, w = env.h, env.w
    mid = h.slash(w.guild_id, w.member, "panel").original_id
    assert h.select(w.guild_id, w.member, mid, "fruit", ["apple", "pear"]).content == "fruit apple,pear"
    assert h.select(w.guild_id, w.member, mid, "who", [w.staff]).content == "user Member alpha_staff"
    assert h.select(w.guild_id, w.member, mid, "role", [w.helper_role]).content == "role Helper"
    assert h.select(w.guild_id, w.member, mid, "chan", [w.logs]).content == "channel logs"
    assert h.select(w.guild_id, w.member, mid, "ment", [w.staff, w.admin_role]).content == "mentionable Member,Role"
    with pytest.raises(OptionRejected):
        h.select(w.guild_id, w.member, mid, "fruit", ["banana"])


def test_modal_round_trip(env):
    h, w = env.h, env.w
    rec = h.slash(w.guild_id, w.member, "ask")
    assert rec.callback["type"] == 9 and rec.modal["title"] == "Ask"
    with pytest.raises(OptionRejected):
        h.submit_modal(w.guild_id, w.member, rec, {"Name": "x" * 11, "color": ["red"]})
    sub = h.submit_modal(w.guild_id, w.member, rec, {"name": "Ada", "Color": ["blue"]})
    assert sub.content == "hello Ada likes blue"
    assert sub.payload["data"]["custom_id"] == rec.modal["custom_id"]


def test_private_channel_overwrites_and_events(env):
    h, w, bot = env.h, env.w, env.bot
    rec = h.slash(w.guild_id, w.staff, "mkchan", name="Ticket One", member=w.member)
    ch = h.channels(w.guild_id, name="ticket-one")[0]
    assert rec.content == f"created <#{ch.id}>"
    assert h.can_view(ch.id, w.member) and not h.can_view(ch.id, w.helper) and not h.can_view(ch.id, w.admin)
    assert h.can_view(ch.id, w.owner)
    assert h.permissions_for(ch.id, w.member) & P.SEND_MESSAGES
    req = h.requests_to("POST", r"^/guilds/\d+/channels$")[-1]
    assert req.reason == "ticket" and req.json["permission_overwrites"]
    h.wait_for(lambda: ("channel_create", "ticket-one") in bot.seen)


def test_missing_permissions_and_hierarchy(env):
    h, w = env.h, env.w
    h.set_role(w.guild_id, w.bot_role, permissions=P.VIEW_CHANNEL | P.SEND_MESSAGES)
    assert h.slash(w.guild_id, w.staff, "mkchan", name="x", member=w.member).content == "forbidden 50013"
    h.set_role(w.guild_id, w.bot_role, permissions=P.BOT_DEFAULT)
    assert h.slash(w.guild_id, w.staff, "grant", member=w.member, role=w.helper_role).content == "granted"
    h.wait_for(lambda: ("member_update", ["@everyone", "Verified", "Helper"]) in env.bot.seen)
    h.set_role(w.guild_id, w.admin_role, position=50)  # above the bot's role
    assert h.slash(w.guild_id, w.staff, "grant", member=w.member, role=w.admin_role).content == "forbidden 50013"
    assert h.slash(w.guild_id, w.staff, "grant", member=w.member, role=w.bot_role).content == "forbidden 50013"
    status, body = http(env.emu, "PATCH", f"/guilds/{w.guild_id}/members/{w.owner}", {"nick": "x"}, env.emu.token)
    assert (status, body["code"]) == (403, 50013)
    status, body = http(env.emu, "GET", f"/guilds/{w.guild_id}/members/1", token=env.emu.token)
    assert (status, body["code"]) == (404, 10007)


def test_dms_and_closed_dms(env):
    h, w = env.h, env.w
    assert h.slash(w.guild_id, w.staff, "dm", member=w.member).content == "sent"
    assert [m.content for m in h.dms(w.member)] == ["hello from bot"]
    h.set_dms_closed(w.member, True)
    assert h.slash(w.guild_id, w.staff, "dm", member=w.member).content == "closed 50007"


def test_double_ack_unknown_interaction_and_dm_context(env):
    h, w, emu = env.h, env.w, env.emu
    rec = h.slash(w.guild_id, w.member, "ping")
    status, body = http(emu, "POST", f"/interactions/{rec.id}/{rec.token}/callback",
                        {"type": 4, "data": {"content": "x"}})
    assert (status, body["code"]) == (400, 40060)
    status, body = http(emu, "POST", f"/interactions/{rec.id}/bogus/callback", {"type": 4, "data": {"content": "x"}})
    assert (status, body["code"]) == (404, 10062)
    dm = h.slash(None, w.member, "ping")
    assert dm.content == "pong" and "user" in dm.payload and "guild_id" not in dm.payload


def test_429_and_5xx_injection(env):
    h, w, bot, emu = env.h, env.w, env.bot, env.emu
    channel = bot.get_channel(w.general)
    fault = h.inject("POST", rf"^/channels/{w.general}/messages$", status=429, retry_after=0.05)
    h.inject("POST", rf"^/channels/{w.general}/messages$", status=429, retry_after=0.05, global_=True)
    assert h.run(channel.send("after 429")).content == "after 429"
    assert fault.hits == 1 and emu.stats["429"] == 2 and emu.stats["429_global"] == 1
    sent = h.requests_to("POST", rf"^/channels/{w.general}/messages$")
    assert [r.status for r in sent] == [429, 429, 200]
    assert sent[0].response_headers["Via"] == "1.1 google" and sent[0].response["retry_after"] == 0.05
    rec = h.slash(w.guild_id, w.member, "ping", wait=False)
    h.inject("POST", r"/callback$", status=429, retry_after=0.01)
    assert h.wait(rec).content == "pong"
    h.inject("POST", rf"^/channels/{w.general}/messages$", status=503)
    with pytest.raises(discord.DiscordServerError):
        h.run(channel.send("x"))
    h.inject("POST", rf"^/channels/{w.general}/messages$", status=500)
    assert h.run(channel.send("after 500")).content == "after 500"  # discord.py retries after 1 s


def test_rate_limit_buckets_queue_in_discord_py(env):
    h, w, bot, emu = env.h, env.w, env.bot, env.emu
    h.set_rate_limit("POST /guilds/{guild_id}/channels", limit=2, per=0.2, scope="guild")
    guild = bot.get_guild(w.guild_id)

    async def burst():
        t0 = time.monotonic()
        chans = await asyncio.gather(*(guild.create_text_channel(f"rl-{i}") for i in range(5)))
        return chans, time.monotonic() - t0
    chans, took = h.run(burst())
    assert len(chans) == 5 and took >= 0.35
    reqs = h.requests_to("POST", r"^/guilds/\d+/channels$")
    assert all(r.response_headers["X-RateLimit-Limit"] == "2" for r in reqs)
    assert [r.status for r in reqs].count(200) == 5 and emu.stats["429"] == 0  # discord.py queued by the headers
    print(f"\nrate-limited burst: {took:.3f}s, 429s={emu.stats['429']}, statuses={[r.status for r in reqs]}")


def test_guild_limits(env):
    h, w, emu = env.h, env.w, env.emu
    cat = h.add_category(w.guild_id, "Tickets")
    h.get(lambda: setattr(emu, "max_category_children", 1))
    status, _ = http(emu, "POST", f"/guilds/{w.guild_id}/channels", {"name": "a", "parent_id": cat.id}, emu.token)
    assert status == 200
    status, body = http(emu, "POST", f"/guilds/{w.guild_id}/channels", {"name": "b", "parent_id": cat.id}, emu.token)
    assert (status, body["code"]) == (400, 50035) and "parent_id" in body["errors"]
    h.get(lambda: setattr(emu, "max_channels", len(h.emu.guilds[w.guild_id].channel_ids)))
    status, body = http(emu, "POST", f"/guilds/{w.guild_id}/channels", {"name": "c"}, emu.token)
    assert (status, body["code"]) == (400, 30013)


def test_resume_with_replay_and_reidentify(env):
    h, emu, w, bot = env.h, env.emu, env.w, env.bot

    async def drop_and_talk():
        await emu.close_gateway(4000)
        emu.user_message(w.general, w.member, "while away")
    h.run(drop_and_talk())
    h.wait_for(lambda: ("message", "while away") in bot.seen)
    resume = h.wait_for(lambda: [c for c in emu.gateway_connections if c.kind == "resume"])[0]
    assert resume.path == "/resume" and resume.session_id == emu.identified()[0].session_id
    assert resume.replayed >= 1  # MESSAGE_CREATE sent while disconnected was replayed by sequence
    h.run(emu.close_gateway(4009))
    h.wait_for(lambda: len(emu.identified()) == 2 and bot.is_ready())
    h.user_message(w.general, w.member, "!hello")
    h.wait_for(lambda: any(m.content == "hi alpha_member" for m in h.messages(w.general)))
    h.invalidate_session(resumable=False)
    h.wait_for(lambda: len(emu.identified()) == 3)


def test_gateway_paths_and_proxy():
    """Every connection path is recorded; a proxy path configured by the client is used for the first dial."""
    h = EmulatorThread()
    try:
        h.build_guild("Proxied")
        redirect(h.emu, "/proxy")
        bot = make_bot()
        future, _ = start_bot(h, bot)
        h.run(h.emu.close_gateway(4000))
        h.wait_for(lambda: len(h.emu.gateway_connections) == 2 and h.emu.gateway_connections[1].kind == "resume")
        assert [(c.path, c.kind) for c in h.emu.gateway_connections] == [("/proxy", "identify"), ("/resume", "resume")]
        h.run(bot.close())
    finally:
        h.stop()


def test_autosharded_two_shards_filter_guilds():
    h = EmulatorThread()
    try:
        emu = h.emu
        base = (int(time.time() * 1000) - 1420070400000)
        gids = [((base + k) << 22) | 7 for k in range(4)]
        for gid in gids:
            h.add_guild(f"G{gid % 1000}", guild_id=gid)
        direct = emu.base_url.replace("http", "ws") + "/direct"
        h.get(lambda: (setattr(emu, "recommended_shards", 2), setattr(emu, "gateway_bot_url", direct)))
        redirect(emu, "/unused")
        bot = make_bot(commands.AutoShardedBot)
        future, _ = start_bot(h, bot)
        assert sorted(c.shard for c in emu.identified()) == [(0, 2), (1, 2)]
        assert {c.path for c in emu.identified()} == {"/direct"}
        for s in emu.live_sessions():
            got = [json.loads(f)["d"]["id"] for _, f in s.buffer if '"GUILD_CREATE"' in f]
            assert got and all((int(g) >> 22) % 2 == s.shard[0] for g in got)
        assert {g.id for g in bot.guilds} == set(gids)
        assert all(bot.get_guild(g).shard_id == (g >> 22) % 2 for g in gids)
        h.run(bot.close())
    finally:
        h.stop()


def test_unknown_routes_and_multipart_upload(env):
    h, w, bot = env.h, env.w, env.bot
    with pytest.raises(discord.NotFound):
        h.run(bot.http.request(discord.http.Route("GET", "/nope/{x}", x=1)))
    assert h.unknown_routes == ["GET /nope/1"]
    h.get(lambda: h.emu.unknown_routes.clear())
    rec = h.slash(w.guild_id, w.member, "upload")
    assert rec.content == "uploaded"
    msg = h.messages(w.general)[-1]
    assert msg.file("transcript.html") == b"<html>hi</html>" and msg.attachments[0]["filename"] == "transcript.html"


def test_human_events_and_guild_join(env):
    h, w, bot = env.h, env.w, env.bot
    h.set_member_roles(w.guild_id, w.member, [w.staff_role])
    h.wait_for(lambda: ("member_update", ["@everyone", "Staff"]) in bot.seen)
    g2 = h.add_guild("Beta")
    h.wait_for(lambda: bot.get_guild(g2.id) is not None)
    h.remove_guild(g2.id)
    h.wait_for(lambda: bot.get_guild(g2.id) is None)
    m = h.user_message(w.general, w.member, "edit me")
    h.user_edit_message(m.id, "edited")
    h.user_delete_message(m.id)
    h.wait_for(lambda: h.emu.events_named("MESSAGE_DELETE"))


def test_interaction_latency(env):
    h, w = env.h, env.w

    async def many():
        out = []
        for _ in range(200):
            rec = await env.emu.slash(w.guild_id, w.member, "ping")
            out.append(rec.latency * 1000)
        return out
    lat = sorted(h.run(many(), timeout=60))
    median, p99 = statistics.median(lat), lat[int(len(lat) * 0.99) - 1]
    print(f"\nslash dispatch->callback n=200: median {median:.2f} ms, p99 {p99:.2f} ms")
    assert median < 50
