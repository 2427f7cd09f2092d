"""What a person does on the sandbox page, done through the emulator's own member actions (on its loop)."""

from __future__ import annotations

from . import demo
from .emulator.ids import EmulatorError
from .emulator.options import BOOLEAN, CHANNEL, GROUP, INTEGER, MENTIONABLE, NUMBER, ROLE, SUB, USER
from .page_state import DM

WAIT = 5.0  # seconds to wait for the bot's answer before the page just keeps polling
LOCALES = ("en-US", "vi")  # the member's Discord language: the bot answers in it


class Refused(Exception):
    """What the person asked cannot be done (shown on the page as it is)."""


def _leaf_options(cmd: dict, path: list[str]) -> list[dict]:
    defs = cmd.get("options") or []
    for step in path:
        defs = next((o.get("options") or [] for o in defs if o["name"] == step and o["type"] in (SUB, GROUP)), [])
    return defs


def convert(cmd: dict, path: list[str], raw: dict) -> dict:
    """The page sends every option as text; give each the Python type its definition wants."""
    defs = {o["name"]: o for o in _leaf_options(cmd, path)}
    values = {}
    for name, value in raw.items():
        if value in (None, "") or name not in defs:
            continue
        kind = defs[name]["type"]
        try:
            if kind == INTEGER:
                values[name] = int(value)
            elif kind == NUMBER:
                values[name] = float(value)
            elif kind == BOOLEAN:
                values[name] = str(value).lower() in ("true", "1", "yes", "on")
            elif kind in (USER, ROLE, CHANNEL, MENTIONABLE):
                values[name] = int(value)
            else:
                values[name] = str(value)
        except ValueError:
            raise Refused(f"{name}: {value!r} is not a valid value") from None
    return values


def _channel(body: dict, user_id: int, emu) -> int | None:
    channel = body.get("channel")
    if channel == DM or channel is None:
        return None
    return int(channel)


async def _settled(record) -> None:
    try:
        await record.wait(WAIT)
    except TimeoutError:
        pass  # still working (or never answering): the page shows what arrives


async def act(sandbox, body: dict) -> dict:
    """Do one action; return {"ok": True} or raise Refused / EmulatorError."""
    emu = sandbox.emu
    user_id = int(body["as"])
    if user_id not in emu.guild(demo.IDS.guild_id).members:
        raise Refused("not a member of the demo server")
    kind = body.get("kind")
    guild_id = demo.IDS.guild_id
    locale = body.get("locale") if body.get("locale") in LOCALES else "en-US"
    if kind == "slash":
        words = str(body.get("command", "")).strip().lstrip("/").split()
        if not words:
            raise Refused("type a command")
        cmd = emu.command(words[0], guild_id)
        if cmd is None:
            raise Refused(f"/{words[0]} is not a command of this bot")
        values = convert(cmd, words[1:], body.get("options") or {})
        channel_id = _channel(body, user_id, emu)
        record = await emu.slash(guild_id if channel_id else None, user_id, " ".join(words), options=values,
                                 channel_id=channel_id, user_locale=locale, wait=False)
        await _settled(record)
        return {"ok": True}
    if kind == "autocomplete":
        words = str(body.get("command", "")).strip().lstrip("/").split()
        cmd = emu.command(words[0], guild_id) if words else None
        if cmd is None:
            return {"ok": True, "choices": []}
        values = convert(cmd, words[1:], body.get("options") or {})
        focused = str(body.get("focused"))
        values[focused] = str((body.get("options") or {}).get(focused, ""))
        record = await emu.autocomplete(guild_id, user_id, " ".join(words), focused, options=values,
                                        channel_id=_channel(body, user_id, emu), user_locale=locale, wait=False)
        await _settled(record)
        return {"ok": True, "choices": record.choices or []}
    if kind in ("click", "select"):
        msg = emu.message(int(body["message"]))
        if msg is None:
            raise Refused("that message is gone")
        where = guild_id if msg.guild_id else None
        if kind == "click":
            record = await emu.click(where, user_id, msg, str(body["custom_id"]), wait=False, locale=locale)
        else:
            record = await emu.select(where, user_id, msg, str(body["custom_id"]), list(body.get("values") or []),
                                      wait=False, locale=locale)
        await _settled(record)
        return {"ok": True}
    if kind in ("modal", "dismiss"):
        token = str(body.get("token"))
        source = emu.interactions.get(token)
        if source is None or source.user_id != user_id or source.modal is None:
            raise Refused("that form is gone")
        if kind == "modal":
            values = {str(k): v for k, v in (body.get("values") or {}).items()}
            record = await emu.submit_modal(guild_id if source.guild_id else None, user_id, source, values,
                                            wait=False, locale=locale)
        sandbox.modals_done.add(token)
        emu.notify()
        if kind == "modal":
            await _settled(record)
        return {"ok": True}
    if kind == "message":
        content = str(body.get("content", ""))[:2000]
        if not content.strip():
            raise Refused("type a message")
        channel = body.get("channel")
        if channel == DM:
            emu.user_dm(user_id, content)
        else:
            emu.user_message(int(channel), user_id, content)
        return {"ok": True}
    if kind == "roblox":
        account = int(body["account"])
        if account not in sandbox.roblox.users:
            raise Refused("no such Roblox account")
        sandbox.roblox.set_description(account, str(body.get("description", ""))[:1000])
        emu.notify()
        return {"ok": True}
    raise Refused(f"unknown action {kind!r}")


__all__ = ["Refused", "act", "EmulatorError"]
