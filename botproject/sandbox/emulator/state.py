"""Plain mutable state objects (users, guilds, roles, members, channels, messages) and their JSON shapes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .ids import iso_now

TEXT, DM, VOICE, CATEGORY = 0, 1, 2, 4


@dataclass
class User:
    """A Discord user."""
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    avatar: str | None = None

    def to_json(self) -> dict:
        """User object JSON."""
        return {"id": str(self.id), "username": self.username, "discriminator": "0",
                "global_name": self.global_name, "avatar": self.avatar, "bot": self.bot,
                "public_flags": 0, "flags": 0, "banner": None, "accent_color": None}


@dataclass
class Role:
    """A guild role (the @everyone role has id == guild id)."""
    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    managed: bool = False
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    bot_id: int | None = None

    def to_json(self) -> dict:
        """Role object JSON."""
        data = {"id": str(self.id), "name": self.name, "permissions": str(self.permissions),
                "position": self.position, "color": self.color, "hoist": self.hoist,
                "managed": self.managed, "mentionable": self.mentionable, "icon": None,
                "unicode_emoji": None, "flags": 0, "description": None,
                "colors": {"primary_color": self.color, "secondary_color": None, "tertiary_color": None}}
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass
class Member:
    """A guild member."""
    user_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=iso_now)


@dataclass
class Channel:
    """A guild channel (text 0, voice 2, category 4) or a DM channel (1)."""
    id: int
    type: int
    name: str | None
    guild_id: int | None = None
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    overwrites: dict[int, dict] = field(default_factory=dict)
    recipient_id: int | None = None
    last_message_id: int | None = None
    nsfw: bool = False
    deleted: bool = False

    def overwrites_json(self) -> list[dict]:
        """permission_overwrites JSON (string ids and bitfields)."""
        return [{"id": str(o["id"]), "type": o["type"], "allow": str(o["allow"]), "deny": str(o["deny"])}
                for o in self.overwrites.values()]


@dataclass
class Message:
    """A message (channel, DM or ephemeral interaction message)."""
    id: int
    channel_id: int
    author_id: int
    guild_id: int | None = None
    content: str = ""
    embeds: list = field(default_factory=list)
    components: list = field(default_factory=list)
    attachments: list = field(default_factory=list)
    flags: int = 0
    type: int = 0
    timestamp: str = field(default_factory=iso_now)
    edited_timestamp: str | None = None
    edited: bool = False
    deleted: bool = False
    pinned: bool = False
    webhook_id: int | None = None
    interaction: dict | None = None
    message_reference: dict | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    nonce: str | None = None
    # Whom the message pings, computed like Discord from content + allowed_mentions (see rest_messages).
    mentions: list[int] = field(default_factory=list)
    mention_roles: list[int] = field(default_factory=list)
    mention_everyone: bool = False

    @property
    def pings(self) -> dict:
        """{"users": [...], "roles": [...], "everyone": bool}: who this message notifies."""
        return {"users": list(self.mentions), "roles": list(self.mention_roles), "everyone": self.mention_everyone}

    @property
    def ephemeral(self) -> bool:
        """True if the EPHEMERAL flag (64) is set."""
        return bool(self.flags & 64)

    def file(self, filename: str) -> bytes:
        """Bytes of an attachment by filename."""
        return self.files[filename]

    def text(self) -> str:
        """Content plus embed titles/descriptions/fields/footers joined by newlines."""
        return "\n".join(message_text_parts(self.content, self.embeds))


def message_text_parts(content: str | None, embeds: list) -> list[str]:
    """Split content + embed text into a list of non-empty strings."""
    parts = [content] if content else []
    for e in embeds or []:
        for key in ("title", "description"):
            if e.get(key):
                parts.append(str(e[key]))
        for f in e.get("fields") or []:
            parts.append(f"{f.get('name', '')}: {f.get('value', '')}")
        if (e.get("footer") or {}).get("text"):
            parts.append(e["footer"]["text"])
        if (e.get("author") or {}).get("name"):
            parts.append(e["author"]["name"])
    return parts


def iter_components(components: list) -> Any:
    """Yield every component dict, recursing into rows, containers, sections and labels."""
    for c in components or []:
        yield c
        yield from iter_components(c.get("components") or [])
        for key in ("accessory", "component"):
            if isinstance(c.get(key), dict):
                yield from iter_components([c[key]])


@dataclass
class Guild:
    """A guild with its roles and members (channels live in the emulator's channel table)."""
    id: int
    name: str
    owner_id: int
    preferred_locale: str = "en-US"
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)
    bot_joined: bool = False
    description: str | None = None
