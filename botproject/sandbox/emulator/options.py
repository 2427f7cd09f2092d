"""Convert Python values to slash-command options using the synced definition, like Discord's client."""
from __future__ import annotations

import mimetypes

from . import permissions as P
from .ids import EmulatorError, OptionRejected, as_int, snowflake
from .state import Channel

SUB, GROUP, STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(1, 12)


class Resolver:
    """Accumulates the interaction's `resolved` object."""

    def __init__(self, emu, guild, user_id: int, channel: Channel | None):
        self.emu, self.guild, self.user_id, self.channel = emu, guild, user_id, channel
        self.data: dict[str, dict] = {}

    def _put(self, kind: str, key, value: dict) -> None:
        """Add one resolved entry."""
        self.data.setdefault(kind, {})[str(key)] = value

    def user(self, user_id) -> bool:
        """Resolve a user (and member when in the guild); False if unknown."""
        user = self.emu.users.get(as_int(user_id))
        if user is None:
            return False
        self._put("users", user.id, user.to_json())
        member = self.guild.members.get(user.id) if self.guild else None
        if member is not None:
            m = self.emu.member_json(self.guild, member)
            m.pop("user")
            m["permissions"] = str(self._perms(user.id))
            self._put("members", user.id, m)
        return True

    def role(self, role_id) -> bool:
        """Resolve a role of the guild; False if unknown."""
        role = self.guild.roles.get(as_int(role_id)) if self.guild else None
        if role is None:
            return False
        self._put("roles", role.id, role.to_json())
        return True

    def channel_(self, channel_id, types: list | None = None) -> bool:
        """Resolve a guild channel (checking channel_types); False if unknown/not allowed."""
        ch = self.emu.channel(channel_id)
        if ch is None or self.guild is None or ch.guild_id != self.guild.id or (types and ch.type not in types):
            return False
        data = {k: v for k, v in self.emu.channel_json(ch).items() if k != "permission_overwrites"}
        data["permissions"] = str(P.channel_permissions(self.guild, ch, self.user_id))
        self._put("channels", ch.id, data)
        return True

    def attachment(self, value) -> str:
        """Register an uploaded file: (filename, bytes[, content_type]) or {filename, content, content_type}."""
        if isinstance(value, dict):
            filename, content, ctype = value["filename"], value.get("content", b""), value.get("content_type")
        else:
            filename, content, *rest = value
            ctype = rest[0] if rest else None
        content = content.encode() if isinstance(content, str) else bytes(content)
        aid = snowflake()
        url = f"{self.emu.base_url}/attachments/{self.channel.id if self.channel else 0}/{aid}/{filename}"
        self.emu.attachment_blobs[aid] = content
        self._put("attachments", aid, {"id": str(aid), "filename": filename, "size": len(content), "url": url,
                                       "proxy_url": url, "content_type": ctype or mimetypes.guess_type(filename)[0]})
        return str(aid)

    def _perms(self, user_id: int) -> int:
        """Permissions of a user in the interaction channel."""
        return P.channel_permissions(self.guild, self.channel, user_id)


def _check_range(name: str, opt: dict, value) -> None:
    """Enforce choices, min/max value and min/max length."""
    if opt.get("choices") and value not in [c["value"] for c in opt["choices"]]:
        choices = [c["value"] for c in opt["choices"]]
        raise OptionRejected(f"option {name!r}: {value!r} is not one of the choices {choices}")
    if isinstance(value, str):
        if opt.get("min_length") is not None and len(value) < opt["min_length"]:
            raise OptionRejected(f"option {name!r}: shorter than min_length {opt['min_length']}")
        if opt.get("max_length") is not None and len(value) > opt["max_length"]:
            raise OptionRejected(f"option {name!r}: longer than max_length {opt['max_length']}")
        return
    if opt.get("min_value") is not None and value < opt["min_value"]:
        raise OptionRejected(f"option {name!r}: {value} < min_value {opt['min_value']}")
    if opt.get("max_value") is not None and value > opt["max_value"]:
        raise OptionRejected(f"option {name!r}: {value} > max_value {opt['max_value']}")


def convert_value(opt: dict, value, res: Resolver):
    """Convert one Python value to its wire value for an option definition (raise OptionRejected)."""
    name, t = opt["name"], opt["type"]
    bad = OptionRejected(f"option {name!r} (type {t}) rejects {value!r}")
    if t == STRING:
        if not isinstance(value, str):
            raise bad
    elif t == INTEGER:
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2 ** 53:
            raise bad
    elif t == NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
    elif t == BOOLEAN:
        if not isinstance(value, bool):
            raise bad
    elif t in (USER, ROLE, CHANNEL, MENTIONABLE):
        value = _snowflake_of(value, bad)
        ok = {USER: lambda: res.user(value), ROLE: lambda: res.role(value),
              CHANNEL: lambda: res.channel_(value, opt.get("channel_types")),
              MENTIONABLE: lambda: res.user(value) or res.role(value)}[t]()
        if not ok:
            raise bad
        return str(value)
    elif t == ATTACHMENT:
        return res.attachment(value)
    else:
        raise bad
    _check_range(name, opt, value)
    return value


def _snowflake_of(value, bad: Exception) -> int:
    """Accept an int/str id or any object with an int `.id` / `.user_id`."""
    for attr in ("id", "user_id"):
        if hasattr(value, attr) and not isinstance(value, (int, str)):
            value = getattr(value, attr)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad from None


def build_options(cmd: dict, path: list[str], values: dict, res: Resolver, focused: str | None = None) -> list[dict]:
    """Nest subcommand group/subcommand options along `path` and convert the leaf values."""
    defs, out = cmd.get("options") or [], []
    cursor = out
    for name in path:
        sub = next((o for o in defs if o["type"] in (SUB, GROUP) and o["name"] == name), None)
        if sub is None:
            raise EmulatorError(f"/{cmd['name']} has no subcommand/group {name!r}; has "
                                f"{[o['name'] for o in defs if o['type'] in (SUB, GROUP)]}")
        node = {"name": name, "type": sub["type"], "options": []}
        cursor.append(node)
        cursor, defs = node["options"], sub.get("options") or []
    if any(o["type"] in (SUB, GROUP) for o in defs):
        raise OptionRejected(f"/{' '.join([cmd['name'], *path])} needs a subcommand: "
                             f"{[o['name'] for o in defs if o['type'] in (SUB, GROUP)]}")
    known = {o["name"]: o for o in defs}
    for key in values:
        if key not in known:
            raise OptionRejected(f"/{cmd['name']} has no option {key!r}; options are {list(known)}")
    for opt in defs:
        value = values.get(opt["name"])
        if opt["name"] == focused:
            cursor.append({"name": opt["name"], "type": opt["type"], "value": "" if value is None else str(value),
                           "focused": True})
            continue
        if value is None:
            if opt.get("required") and focused is None:
                raise OptionRejected(f"required option {opt['name']!r} missing for /{cmd['name']} {' '.join(path)}")
            continue
        cursor.append({"name": opt["name"], "type": opt["type"], "value": convert_value(opt, value, res)})
    return out
