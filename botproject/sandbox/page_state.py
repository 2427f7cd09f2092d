"""What the sandbox page shows a member: read from the emulator on its own loop, as plain JSON-ready data.

Everything here is data for the page's script, which puts every text into the page with textContent.
"""

from __future__ import annotations

from . import demo
from .emulator import permissions as P
from .emulator.ids import EmulatorError
from .emulator.state import CATEGORY, TEXT

DM = "dm"
LOADING = 128  # the "thinking..." flag of a deferred answer


def _name(emu, user_id: int) -> str:
    user = emu.users.get(user_id)
    return (user.global_name or user.username) if user else str(user_id)


def members(emu) -> list[dict]:
    """Every human member of the demo server, with their roles and what they are for."""
    guild = emu.guild(demo.IDS.guild_id)
    notes = {p.user_id: p.note for p in demo.PEOPLE}
    out = []
    for user_id, member in guild.members.items():
        if user_id == emu.bot_user.id:
            continue
        roles = [guild.roles[r].name for r in member.roles if r in guild.roles]
        out.append({"id": str(user_id), "name": _name(emu, user_id), "username": emu.users[user_id].username,
                    "roles": roles, "note": notes.get(user_id, ""), "owner": user_id == guild.owner_id})
    return out


def channels(emu, user_id: int) -> list[dict]:
    """The text channels this member can see, grouped under their categories, then their DMs."""
    guild_id = demo.IDS.guild_id
    every = emu.guild_channels(guild_id)
    categories = {c.id: c for c in every if c.type == CATEGORY}
    order = {c.id: (c.position, c.id) for c in categories.values()}
    visible = [c for c in every if c.type == TEXT and emu.can_view(c.id, user_id)]
    visible.sort(key=lambda c: (c.parent_id is not None, order.get(c.parent_id, (0, 0)), c.position, c.id))
    out = [{"id": str(c.id), "name": c.name, "topic": c.topic or "",
            "category": categories[c.parent_id].name if c.parent_id in categories else "",
            "can_send": bool(emu.permissions_for(c.id, user_id) & P.SEND_MESSAGES)} for c in visible]
    out.append({"id": DM, "name": "Direct messages", "topic": "What the bot sent you privately", "category": "",
                "can_send": True})
    return out


def _command_line(data: dict) -> str:
    words, options = [data.get("name", "")], data.get("options") or []
    while options and options[0].get("type") in (1, 2):
        words.append(options[0]["name"])
        options = options[0].get("options") or []
    return " ".join(words)


def _message(emu, msg, origin: dict) -> dict:
    used = None
    rec = origin.get(msg.id)
    if rec is not None and rec.type == 2:
        used = {"user": _name(emu, rec.user_id), "name": _command_line(rec.payload.get("data") or {})}
    return {"id": str(msg.id), "author": _name(emu, msg.author_id), "bot": msg.author_id == emu.bot_user.id,
            "content": msg.content or "", "embeds": msg.embeds or [], "components": msg.components or [],
            "ephemeral": msg.ephemeral, "loading": bool(msg.flags & LOADING), "edited": msg.edited,
            "timestamp": msg.timestamp, "used": used}


def messages(emu, user_id: int, channel_id) -> list[dict]:
    """The channel's messages plus the ephemeral answers only this member sees there (oldest first)."""
    if channel_id == DM:
        cid = emu.dm_channels.get(user_id)
        shown = list(emu.messages(cid)) if cid else []
        ephemeral_channel = cid
    else:
        cid = int(channel_id)
        if emu.channel(cid) is None or not emu.can_view(cid, user_id):
            return []
        shown = list(emu.messages(cid))
        ephemeral_channel = cid
    seen = {m.id for m in shown}
    origin = {rec.original_id: rec for rec in emu.interaction_log if rec.original_id}
    for rec in emu.interaction_log:
        if rec.user_id != user_id or rec.channel_id != ephemeral_channel:
            continue
        for msg in [rec.original_message, *rec.followup_messages]:
            if msg is not None and msg.ephemeral and not msg.deleted and msg.id not in seen:
                seen.add(msg.id)
                shown.append(msg)
    shown.sort(key=lambda m: m.id)
    return [_message(emu, m, origin) for m in shown[-100:]]


def _visible(emu, cmd: dict, user_id: int) -> bool:
    try:
        emu._visible_or_raise(cmd, emu.guild(demo.IDS.guild_id), user_id)
    except EmulatorError:
        return False
    return True


def commands(emu, user_id: int) -> list[dict]:
    """The slash commands the bot registered that this member can see, with their options."""
    found = {}
    for scope in ("global", demo.IDS.guild_id):
        for cmd in emu.command_defs.get(scope, []):
            if cmd.get("type", 1) == 1 and _visible(emu, cmd, user_id):
                found[cmd["name"]] = {"name": cmd["name"], "description": cmd.get("description", ""),
                                      "options": cmd.get("options") or []}
    return sorted(found.values(), key=lambda c: c["name"])


def pending_modal(emu, user_id: int, done: set) -> dict | None:
    """The newest modal the bot opened for this member that they have not submitted or closed."""
    for rec in reversed(emu.interaction_log):
        if rec.user_id == user_id and rec.modal is not None:
            if rec.token in done:
                return None
            return {"token": rec.token, "title": rec.modal.get("title", ""), "components": rec.modal.get("components")}
    return None


def names(emu) -> dict:
    """Display names for mentions: users, roles and channels."""
    guild = emu.guild(demo.IDS.guild_id)
    return {"users": {str(u.id): u.global_name or u.username for u in emu.users.values()},
            "roles": {str(r.id): r.name for r in guild.roles.values()},
            "channels": {str(c.id): c.name for c in emu.guild_channels(guild.id)}}


def roblox_accounts(roblox) -> list[dict]:
    """The fake Roblox's accounts and their About text (where /verify looks for its words)."""
    with roblox._lock:
        users = sorted(roblox.users.values(), key=lambda u: u.id)
        return [{"id": str(u.id), "name": u.name, "description": u.description} for u in users]


def snapshot(sandbox, user_id: int, channel_id: str | None) -> dict:
    """Everything the page shows for one member in one channel."""
    emu = sandbox.emu
    shown = channels(emu, user_id)
    ids = [c["id"] for c in shown]
    channel = channel_id if channel_id in ids else ids[0]
    return {"version": sandbox.version, "me": str(user_id), "members": members(emu), "channels": shown,
            "channel": channel, "messages": messages(emu, user_id, channel), "commands": commands(emu, user_id),
            "modal": pending_modal(emu, user_id, sandbox.modals_done), "names": names(emu),
            "roblox": roblox_accounts(sandbox.roblox),
            "roles": [{"id": str(r.id), "name": r.name} for r in emu.guild(demo.IDS.guild_id).roles.values()
                      if r.id != demo.IDS.guild_id and not r.managed]}
