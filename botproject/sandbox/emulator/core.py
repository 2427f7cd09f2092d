"""Emulator state tables, JSON serialisers, change notification and query helpers."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from . import permissions as P
from .ids import EmulatorError, as_int, iso_now, new_token, snowflake
from .state import CATEGORY, DM, Channel, Guild, Member, Message, Role, User


class CoreMixin:
    """State, serialisation and waiting primitives shared by every other mixin."""

    def _init_core(self) -> None:
        """Create the empty world: the application, the bot user and the tables."""
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels_by_id: dict[int, Channel] = {}
        self.channel_messages: dict[int, dict[int, Message]] = {}
        self.messages_by_id: dict[int, Message] = {}
        self.dm_channels: dict[int, int] = {}
        self.dms_closed: set[int] = set()
        self.application_id = snowflake()
        self.bot_user = self.add_user("emulator-bot", bot=True, user_id=self.application_id)
        self.owner_user = self.add_user("app-owner")
        self.token = new_token("bot")
        self.max_channels = 500
        self.max_category_children = 50
        self.attachment_size_limit = 10 * 1024 * 1024
        self._changed = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    # ---- notification / waiting -------------------------------------------------
    def notify(self) -> None:
        """Wake every waiter: call after any state mutation (must run on the emulator loop)."""
        ev, self._changed = self._changed, asyncio.Event()
        ev.set()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0,
                       describe: Callable[[], str] | None = None, poll: float = 0.005):
        """Return predicate()'s first truthy value, re-checked on every state change (and every `poll` s for
        outside state)."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                detail = describe() if describe else self.debug_dump()
                raise TimeoutError(f"wait_for timed out after {timeout}s\n{detail}")
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, poll))
            except TimeoutError:
                pass

    def debug_dump(self, n: int = 12) -> str:
        """Recent requests and unknown routes, for timeout messages."""
        lines = [f"  {r.method} {r.path} -> {r.status}" for r in self.requests[-n:]]
        conns = [f"  {c.path} {c.kind} shard={c.shard} open={c.open} close={c.close_code}"
                 for c in self.gateway_connections]
        errors = f"\nemulator errors: {self.errors}" if self.errors else ""
        return (errors + "\nrecent requests:\n" + "\n".join(lines) + f"\nunknown routes: {self.unknown_routes}"
                + "\ngateway connections:\n" + "\n".join(conns))

    # ---- creation helpers (no gateway events) --------------------------------------
    def add_user(self, username: str, bot: bool = False, user_id: int | None = None,
                 global_name: str | None = None) -> User:
        """Create a user."""
        user = User(user_id or snowflake(), username, global_name, bot)
        self.users[user.id] = user
        return user

    def _user(self, user_id) -> User:
        """Return a user or raise EmulatorError."""
        user = self.users.get(as_int(user_id))
        if user is None:
            raise EmulatorError(f"unknown user {user_id}")
        return user

    def guild(self, guild_id) -> Guild:
        """Return a guild or raise EmulatorError."""
        guild = self.guilds.get(as_int(guild_id))
        if guild is None:
            raise EmulatorError(f"unknown guild {guild_id}")
        return guild

    # ---- serialisers ---------------------------------------------------------------
    def member_json(self, guild: Guild, member: Member, with_permissions: bool = False) -> dict:
        """Guild member JSON (with user)."""
        data = {"user": self.users[member.user_id].to_json(), "roles": [str(r) for r in member.roles],
                "nick": member.nick, "joined_at": member.joined_at, "deaf": False, "mute": False,
                "flags": 0, "pending": False, "avatar": None, "banner": None,
                "communication_disabled_until": None, "premium_since": None}
        if with_permissions:
            data["permissions"] = str(P.base_permissions(guild, member.user_id))
        return data

    def channel_json(self, channel: Channel) -> dict:
        """Channel JSON (guild or DM)."""
        if channel.type == DM:
            return {"id": str(channel.id), "type": DM, "last_message_id": _s(channel.last_message_id),
                    "recipients": [self.users[channel.recipient_id].to_json()], "flags": 0}
        data = {"id": str(channel.id), "type": channel.type, "guild_id": str(channel.guild_id),
                "name": channel.name, "position": channel.position, "parent_id": _s(channel.parent_id),
                "permission_overwrites": channel.overwrites_json(), "nsfw": channel.nsfw, "flags": 0}
        if channel.type == 2:
            data.update(bitrate=64000, user_limit=0, rtc_region=None)
        elif channel.type != CATEGORY:
            data.update(topic=channel.topic, last_message_id=_s(channel.last_message_id), rate_limit_per_user=0)
        return data

    def message_json(self, msg: Message, gateway: bool = False) -> dict:
        """Message JSON; gateway=True adds member/guild_id like MESSAGE_CREATE does."""
        data = {"id": str(msg.id), "channel_id": str(msg.channel_id), "author": self.users[msg.author_id].to_json(),
                "content": msg.content, "timestamp": msg.timestamp, "edited_timestamp": msg.edited_timestamp,
                "tts": False, "mention_everyone": msg.mention_everyone,
                "mentions": [self.users[u].to_json() for u in msg.mentions if u in self.users],
                "mention_roles": [str(r) for r in msg.mention_roles],
                "attachments": [dict(a) for a in msg.attachments], "embeds": msg.embeds,
                "components": msg.components, "pinned": msg.pinned, "type": msg.type, "flags": msg.flags}
        if msg.webhook_id:
            data["webhook_id"] = str(msg.webhook_id)
            data["application_id"] = str(self.application_id)
        if msg.interaction:
            data["interaction_metadata"] = msg.interaction
        if msg.message_reference:
            data["message_reference"] = msg.message_reference
        if msg.guild_id is not None:
            data["guild_id"] = str(msg.guild_id)
            guild = self.guilds.get(msg.guild_id)
            member = guild.members.get(msg.author_id) if guild else None
            if gateway and member is not None and not msg.webhook_id:
                m = self.member_json(guild, member)
                m.pop("user")
                data["member"] = m
        return data

    def guild_json(self, guild: Guild) -> dict:
        """REST guild object JSON."""
        return {"id": str(guild.id), "name": guild.name, "owner_id": str(guild.owner_id), "icon": None,
                "splash": None, "discovery_splash": None, "banner": None, "description": guild.description,
                "preferred_locale": guild.preferred_locale, "roles": [r.to_json() for r in guild.roles.values()],
                "emojis": [], "stickers": [], "features": [], "verification_level": 0,
                "default_message_notifications": 0, "explicit_content_filter": 0, "mfa_level": 0,
                "system_channel_id": None, "system_channel_flags": 0, "rules_channel_id": None,
                "public_updates_channel_id": None, "afk_channel_id": None, "afk_timeout": 300,
                "premium_tier": 0, "premium_subscription_count": 0, "nsfw_level": 0,
                "max_members": 500000, "vanity_url_code": None, "application_id": None,
                "premium_progress_bar_enabled": False, "safety_alerts_channel_id": None}

    def guild_create_json(self, guild: Guild, members: bool = True) -> dict:
        """GUILD_CREATE payload (all members if the session has the members intent, else only the bot)."""
        data = self.guild_json(guild)
        shown = [m for m in guild.members.values() if members or m.user_id == self.bot_user.id]
        data.update(channels=[self.channel_json(c) for c in self.guild_channels(guild.id)],
                    members=[self.member_json(guild, m) for m in shown], member_count=len(guild.members),
                    large=False, unavailable=False, joined_at=iso_now(), threads=[], presences=[],
                    voice_states=[], stage_instances=[], guild_scheduled_events=[], soundboard_sounds=[])
        return data

    # ---- queries ---------------------------------------------------------------------
    def guild_channels(self, guild_id) -> list[Channel]:
        """Live channels of a guild, ordered by (position, id)."""
        guild = self.guild(guild_id)
        chans = [self.channels_by_id[c] for c in guild.channel_ids]
        return sorted(chans, key=lambda c: (c.position, c.id))

    def channel(self, channel_id) -> Channel | None:
        """A live channel by id (None if unknown or deleted)."""
        ch = self.channels_by_id.get(as_int(channel_id))
        return None if ch is None or ch.deleted else ch

    def channels(self, guild_id, name: str | None = None) -> list[Channel]:
        """Live channels of a guild, optionally filtered by name."""
        return [c for c in self.guild_channels(guild_id) if name is None or c.name == name]

    def messages(self, channel_id, include_deleted: bool = False) -> list[Message]:
        """Messages in a channel, oldest first."""
        msgs = self.channel_messages.get(as_int(channel_id), {}).values()
        return [m for m in msgs if include_deleted or not m.deleted]

    def message(self, message_id) -> Message | None:
        """Any message (channel, DM or ephemeral) by id."""
        return self.messages_by_id.get(as_int(message_id))

    def member(self, guild_id, user_id) -> Member | None:
        """A guild member or None."""
        return self.guild(guild_id).members.get(as_int(user_id))

    def dms(self, user_id) -> list[Message]:
        """Messages the bot sent in its DM channel with the user."""
        cid = self.dm_channels.get(as_int(user_id))
        return [m for m in self.messages(cid) if m.author_id == self.bot_user.id] if cid else []

    def permissions_for(self, channel_id, user_id) -> int:
        """Effective permission integer of a user in a channel (guild channels only)."""
        ch = self.channels_by_id[as_int(channel_id)]
        return P.channel_permissions(self.guilds[ch.guild_id], ch, as_int(user_id))

    def guild_permissions(self, guild_id, user_id) -> int:
        """Guild-level permission integer of a user."""
        return P.base_permissions(self.guild(guild_id), as_int(user_id))

    def can_view(self, channel_id, user_id) -> bool:
        """Whether the user has VIEW_CHANNEL in the channel."""
        return bool(self.permissions_for(channel_id, user_id) & P.VIEW_CHANNEL)

    def bot_role(self, guild_id) -> Role | None:
        """The managed role created when the bot joined the guild."""
        return next((r for r in self.guild(guild_id).roles.values() if r.bot_id == self.bot_user.id), None)

    def roles(self, guild_id, name: str | None = None) -> list[Role]:
        """Roles of a guild, optionally filtered by name."""
        return [r for r in self.guild(guild_id).roles.values() if name is None or r.name == name]


def _s(value) -> str | None:
    """Stringify a snowflake, keeping None."""
    return None if value is None else str(value)
