"""REST handlers for login/application/gateway info, users, DMs and channel messages."""
from __future__ import annotations

import mimetypes
import re

from . import limits
from . import permissions as P
from .gateway import DIRECT_MESSAGES, GUILD_MESSAGES, MESSAGE_CONTENT
from .ids import ApiError, as_int, invalid_form, iso_now, snowflake, unknown
from .rest import route
from .state import DM, Channel, Message

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_EVERYONE_MENTION = re.compile(r"@(?:everyone|here)\b")


class MessageRestMixin:
    """Messages (create/edit/delete with files), DMs, users and bootstrap routes."""

    #: Seconds a message nonce sent with enforce_nonce deduplicates ("the past few minutes").
    nonce_window: float = 180.0

    @property
    def _nonces(self) -> dict:
        """(channel id, author id, nonce) -> (message id, clock time it was created)."""
        return self.__dict__.setdefault("_nonce_table", {})

    # ---- message storage helpers -------------------------------------------------------
    def _attachments_from(self, channel_id: int, body: dict, parts: list, msg: Message) -> list[dict]:
        """Build attachment objects from multipart files (keeping bytes on the message)."""
        meta = {str(a.get("id")): a for a in body.get("attachments") or [] if isinstance(a, dict)}
        out = []
        for part in parts:
            if not part.get("filename") or not str(part["name"]).startswith("files["):
                continue
            index = part["name"][6:-1]
            info = meta.get(index, {})
            filename = info.get("filename") or part["filename"]
            aid = snowflake()
            url = f"{self.base_url}/attachments/{channel_id}/{aid}/{filename}"
            self.attachment_blobs[aid] = part["data"]
            msg.files[filename] = part["data"]
            out.append({"id": str(aid), "filename": filename, "size": len(part["data"]), "url": url, "proxy_url": url,
                        "content_type": part.get("content_type") or mimetypes.guess_type(filename)[0],
                        "description": info.get("description"), "flags": 0})
        return out

    def _apply_body(self, msg: Message, body: dict, parts: list, edit: bool = False, where: tuple = ()) -> None:
        """Apply content/embeds/components/flags/attachments from a create or edit body.

        The body must keep Discord's limits (limits.check_message); `where` prefixes the error paths
        (("data",) for interaction callbacks, as Discord reports them).
        """
        limits.check_message(body, where, msg.flags)
        content = body.get("content")
        if "content" in body:
            msg.content = "" if content is None else str(content)
        for key in ("embeds", "components"):
            if key in body:
                setattr(msg, key, body[key] or [])
        if "flags" in body and body["flags"] is not None:
            msg.flags = (msg.flags & (64 | 128)) | (int(body["flags"]) & ~128) if edit else int(body["flags"])
        new = self._attachments_from(msg.channel_id, body, parts, msg)
        if edit and "attachments" in body:
            keep = {str(a.get("id")) for a in body["attachments"] if isinstance(a, dict)}
            msg.attachments = [a for a in msg.attachments if a["id"] in keep]
        msg.attachments = list(msg.attachments) + new
        if body.get("message_reference"):
            ref = body["message_reference"]
            msg.message_reference = {"message_id": str(ref.get("message_id")), "channel_id": str(msg.channel_id)}
            msg.type = 19
        if edit:
            msg.edited, msg.edited_timestamp = True, iso_now()
        elif not (msg.content or msg.embeds or msg.attachments or msg.components):
            raise ApiError(400, 50006, "Cannot send an empty message")
        if not edit or "content" in body or "allowed_mentions" in body:
            self.compute_mentions(msg, body.get("allowed_mentions"))

    def compute_mentions(self, msg: Message, allowed: dict | None = None) -> None:
        """Set whom `msg` pings, the way Discord decides it from its content and `allowed_mentions`.

        No allowed_mentions: every user, role and @everyone/@here in the content is parsed. With it, only
        the kinds in `parse` and the ids in `users`/`roles` (a kind in both is a 400). A role pings only
        when it is mentionable or the author may Mention Everyone; @everyone/@here only with that
        permission. A reply pings the replied-to author when `replied_user` allows it (default without
        allowed_mentions). Embeds never ping; nor does an ephemeral message.
        """
        if allowed is None:
            parse, users, roles, replied = {"users", "roles", "everyone"}, set(), set(), True
        else:
            if not isinstance(allowed, dict):
                raise invalid_form("allowed_mentions", "MODEL_TYPE_CONVERT", "Only dictionaries may be used.")
            parse = set(allowed.get("parse") or [])
            if parse - {"users", "roles", "everyone"}:
                raise invalid_form("allowed_mentions", "BASE_TYPE_CHOICES",
                                   "Value must be one of users, roles, everyone.")
            users = {as_int(u) for u in allowed.get("users") or []}
            roles = {as_int(r) for r in allowed.get("roles") or []}
            for kind, ids in (("users", users), ("roles", roles)):
                if kind in parse and ids:
                    raise invalid_form("allowed_mentions", "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                                       f"parse:[\"{kind}\"] is mutually exclusive with other forms of "
                                       f"{kind[:-1]} mentions.")
            replied = bool(allowed.get("replied_user"))
        content = msg.content or ""
        guild = self.guilds.get(msg.guild_id) if msg.guild_id else None
        channel = self.channels_by_id.get(msg.channel_id)
        may_mention_all = bool(guild) and bool(
            P.channel_permissions(guild, channel, msg.author_id) & P.MENTION_EVERYONE)
        pinged_users: list[int] = []
        for match in _USER_MENTION.finditer(content):
            uid = int(match[1])
            if uid in self.users and uid not in pinged_users and ("users" in parse or uid in users):
                pinged_users.append(uid)
        if replied and msg.message_reference:
            ref = self.messages_by_id.get(as_int(msg.message_reference.get("message_id")))
            if ref is not None and ref.author_id not in pinged_users:
                pinged_users.append(ref.author_id)
        pinged_roles: list[int] = []
        for match in _ROLE_MENTION.finditer(content) if guild else ():
            rid, role = int(match[1]), guild.roles.get(int(match[1]))
            if role is not None and rid != guild.id and rid not in pinged_roles and (
                    "roles" in parse or rid in roles) and (role.mentionable or may_mention_all):
                pinged_roles.append(rid)
        everyone = may_mention_all and "everyone" in parse and _EVERYONE_MENTION.search(content) is not None
        if msg.ephemeral:
            pinged_users, pinged_roles, everyone = [], [], False
        msg.mentions, msg.mention_roles, msg.mention_everyone = pinged_users, pinged_roles, everyone

    def store_message(self, msg: Message, dispatch: bool = True) -> Message:
        """Store a channel/DM message and dispatch MESSAGE_CREATE."""
        self.messages_by_id[msg.id] = msg
        if not msg.ephemeral:
            self.channel_messages.setdefault(msg.channel_id, {})[msg.id] = msg
            ch = self.channels_by_id.get(msg.channel_id)
            if ch is not None:
                ch.last_message_id = msg.id
            if dispatch:
                self.dispatch("MESSAGE_CREATE", self.message_json(msg, gateway=True), msg.guild_id,
                              shape=self._shape_message)
        self.notify()
        return msg

    def message_updated(self, msg: Message) -> None:
        """Dispatch MESSAGE_UPDATE for a visible message."""
        if not msg.ephemeral and not msg.deleted:
            self.dispatch("MESSAGE_UPDATE", self.message_json(msg, gateway=True), msg.guild_id,
                          shape=self._shape_message)
        self.notify()

    def message_deleted(self, msg: Message) -> None:
        """Mark deleted and dispatch MESSAGE_DELETE."""
        msg.deleted = True
        if not msg.ephemeral:
            data = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
            if msg.guild_id:
                data["guild_id"] = str(msg.guild_id)
            self.dispatch("MESSAGE_DELETE", data, msg.guild_id, shape=self._shape_message)
        self.notify()

    def _shape_message(self, session, data: dict) -> dict | None:
        """Apply GUILD_MESSAGES/DIRECT_MESSAGES and MESSAGE_CONTENT intents to a message event."""
        in_guild = "guild_id" in data
        if not session.intents & (GUILD_MESSAGES if in_guild else DIRECT_MESSAGES):
            return None
        if not in_guild or "author" not in data or session.intents & MESSAGE_CONTENT:
            return data
        if int(data["author"]["id"]) == self.bot_user.id or f"<@{self.bot_user.id}>" in data.get("content", ""):
            return data
        return {**data, "content": "", "embeds": [], "attachments": [], "components": []}

    def _message404(self, channel: Channel, message_id) -> Message:
        """Live message in a channel, or 404 Unknown Message."""
        msg = self.channel_messages.get(channel.id, {}).get(as_int(message_id))
        if msg is None or msg.deleted:
            raise unknown("message")
        return msg

    def _check_send(self, ch: Channel, files: bool) -> None:
        """Permission (guild) or DM-open checks before the bot posts in a channel."""
        if ch.type == DM:
            user_id = ch.recipient_id
            shared = any(user_id in g.members for g in self.guilds.values() if g.bot_joined)
            if user_id in self.dms_closed or not shared or self.users[user_id].bot:
                raise ApiError(403, 50007, "Cannot send messages to this user")
            return
        guild = self.guilds[ch.guild_id]
        need = P.VIEW_CHANNEL | P.SEND_MESSAGES | (P.ATTACH_FILES if files else 0)
        self._require(guild, need, ch)

    # ---- bootstrap routes ------------------------------------------------------------------
    @route("GET", "/users/@me")
    async def _me(self, rq):
        """GET /users/@me"""
        return self.bot_user.to_json()

    @route("PATCH", "/users/@me")
    async def _edit_me_user(self, rq):
        """PATCH /users/@me"""
        if (rq.json or {}).get("username"):
            self.bot_user.username = rq.json["username"]
        return self.bot_user.to_json()

    @route("GET", "/oauth2/applications/@me")
    async def _application(self, rq):
        """GET /oauth2/applications/@me"""
        return self.application_json()

    @route("GET", "/applications/@me")
    async def _application2(self, rq):
        """GET /applications/@me"""
        return self.application_json()

    def application_json(self) -> dict:
        """Application object JSON."""
        return {"id": str(self.application_id), "name": self.bot_user.username, "icon": None, "description": "",
                "summary": "", "bot_public": True, "bot_require_code_grant": False, "verify_key": "0" * 64,
                "owner": self.owner_user.to_json(), "team": None, "flags": 0, "rpc_origins": [],
                "bot": self.bot_user.to_json(), "approximate_guild_count": len(self.guilds),
                "interactions_endpoint_url": None, "tags": [], "redirect_uris": []}

    @route("GET", "/gateway")
    async def _gateway(self, rq):
        """GET /gateway"""
        return {"url": self.gateway_bot_url}

    @route("GET", "/gateway/bot")
    async def _gateway_bot(self, rq):
        """GET /gateway/bot"""
        return {"url": self.gateway_bot_url, "shards": self.recommended_shards,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 86400000,
                                        "max_concurrency": self.max_concurrency}}

    @route("GET", "/users/@me/guilds")
    async def _my_guilds(self, rq):
        """GET /users/@me/guilds"""
        return [{"id": str(g.id), "name": g.name, "icon": None, "owner": False, "features": [],
                 "permissions": str(self._bot_perms(g))} for g in self.guilds.values() if g.bot_joined]

    @route("GET", "/users/{user_id}")
    async def _get_user(self, rq):
        """GET /users/{user_id}"""
        user = self.users.get(as_int(rq.params["user_id"]))
        if user is None:
            raise unknown("user")
        return user.to_json()

    @route("POST", "/users/@me/channels")
    async def _open_dm(self, rq):
        """POST /users/@me/channels"""
        user = self.users.get(as_int((rq.json or {}).get("recipient_id")))
        if user is None:
            raise invalid_form("recipient_id", "NUMBER_TYPE_COERCE", "Value is not a known user.")
        return self.channel_json(self.dm_channel(user.id))

    def dm_channel(self, user_id: int) -> Channel:
        """The bot's DM channel with a user (created on first use)."""
        cid = self.dm_channels.get(user_id)
        if cid is None:
            ch = Channel(snowflake(), DM, None, recipient_id=user_id)
            self.channels_by_id[ch.id] = ch
            self.dm_channels[user_id] = cid = ch.id
        return self.channels_by_id[cid]

    def set_dms_closed(self, user_id, closed: bool = True) -> None:
        """Make DMs from the bot to this user fail with 50007 (or re-open them)."""
        (self.dms_closed.add if closed else self.dms_closed.discard)(as_int(user_id))

    # ---- messages -------------------------------------------------------------------------
    @route("POST", "/channels/{channel_id}/messages")
    async def _create_message(self, rq):
        """POST /channels/{channel_id}/messages"""
        ch, body = self._channel404(rq.params["channel_id"]), rq.json or {}
        self._check_send(ch, any(p.get("filename") for p in rq.parts))
        nonce = str(body["nonce"]) if body.get("nonce") is not None else None
        key = (ch.id, self.bot_user.id, nonce)
        if nonce and body.get("enforce_nonce"):
            # Discord: "checked for uniqueness in the past few minutes": a repeated nonce from the same
            # author within nonce_window returns the first message; after that it creates a new one.
            seen = self._nonces.get(key)
            earlier = self.messages_by_id.get(seen[0]) if seen and self._now() - seen[1] < self.nonce_window else None
            if earlier is not None and not earlier.deleted:
                self.stats["nonce_dedupes"] = self.stats.get("nonce_dedupes", 0) + 1
                return self.message_json(earlier)
        msg = Message(snowflake(), ch.id, self.bot_user.id, ch.guild_id, nonce=nonce)
        self._apply_body(msg, body, rq.parts)
        if nonce:
            self._nonces[key] = (msg.id, self._now())
        return self.message_json(self.store_message(msg))

    @route("GET", "/channels/{channel_id}/messages")
    async def _list_messages(self, rq):
        """GET /channels/{channel_id}/messages"""
        ch = self._channel404(rq.params["channel_id"])
        needed = P.VIEW_CHANNEL | P.READ_MESSAGE_HISTORY
        if ch.type != DM and self._bot_perms(self.guilds[ch.guild_id], ch) & needed != needed:
            raise ApiError(403, 50001, "Missing Access")
        msgs = sorted(self.messages(ch.id), key=lambda m: m.id, reverse=True)
        q = rq.query
        if "before" in q:
            msgs = [m for m in msgs if m.id < int(q["before"])]
        if "after" in q:
            msgs = [m for m in msgs if m.id > int(q["after"])][::-1]
            msgs = msgs[: int(q.get("limit", 50))][::-1]
        if "around" in q:
            msgs = sorted(msgs, key=lambda m: abs(m.id - int(q["around"])))[: int(q.get("limit", 50))]
            msgs.sort(key=lambda m: m.id, reverse=True)
        return [self.message_json(m) for m in msgs[: int(q.get("limit", 50))]]

    @route("GET", "/channels/{channel_id}/messages/{message_id}")
    async def _get_message(self, rq):
        """GET /channels/{channel_id}/messages/{message_id}"""
        ch = self._channel404(rq.params["channel_id"])
        return self.message_json(self._message404(ch, rq.params["message_id"]))

    @route("PATCH", "/channels/{channel_id}/messages/{message_id}")
    async def _edit_message(self, rq):
        """PATCH /channels/{channel_id}/messages/{message_id}"""
        ch = self._channel404(rq.params["channel_id"])
        msg = self._message404(ch, rq.params["message_id"])
        body = rq.json or {}
        if msg.author_id != self.bot_user.id and set(body) - {"flags"}:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        self._apply_body(msg, body, rq.parts, edit=True)
        self.message_updated(msg)
        return self.message_json(msg)

    @route("DELETE", "/channels/{channel_id}/messages/{message_id}")
    async def _delete_message(self, rq):
        """DELETE /channels/{channel_id}/messages/{message_id}"""
        ch = self._channel404(rq.params["channel_id"])
        msg = self._message404(ch, rq.params["message_id"])
        if msg.author_id != self.bot_user.id:
            self._require(self.guilds[ch.guild_id], P.MANAGE_MESSAGES, ch) if ch.guild_id else None
        self.message_deleted(msg)
        return None

    @route("POST", "/channels/{channel_id}/messages/bulk-delete")
    async def _bulk_delete(self, rq):
        """POST /channels/{channel_id}/messages/bulk-delete"""
        ch = self._channel404(rq.params["channel_id"])
        self._require(self.guilds[ch.guild_id], P.MANAGE_MESSAGES, ch)
        for mid in (rq.json or {}).get("messages", []):
            self.message_deleted(self._message404(ch, mid))
        return None

    @route("POST", "/channels/{channel_id}/typing")
    async def _typing(self, rq):
        """POST /channels/{channel_id}/typing"""
        self._channel404(rq.params["channel_id"])
        return None

    @route("GET", "/channels/{channel_id}/messages/pins")
    async def _pins(self, rq):
        """GET /channels/{channel_id}/messages/pins"""
        ch = self._channel404(rq.params["channel_id"])
        return {"items": [{"pinned_at": m.timestamp, "message": self.message_json(m)}
                          for m in self.messages(ch.id) if m.pinned][::-1], "has_more": False}

    @route("PUT", "/channels/{channel_id}/messages/pins/{message_id}")
    async def _pin(self, rq):
        """PUT /channels/{channel_id}/messages/pins/{message_id}"""
        return self._set_pin(rq, True)

    @route("DELETE", "/channels/{channel_id}/messages/pins/{message_id}")
    async def _unpin(self, rq):
        """DELETE /channels/{channel_id}/messages/pins/{message_id}"""
        return self._set_pin(rq, False)

    def _set_pin(self, rq, pinned: bool) -> None:
        """Pin or unpin (needs MANAGE_MESSAGES in guilds)."""
        ch = self._channel404(rq.params["channel_id"])
        msg = self._message404(ch, rq.params["message_id"])
        if ch.guild_id:
            self._require(self.guilds[ch.guild_id], P.MANAGE_MESSAGES, ch)
        msg.pinned = pinned
        data = {"channel_id": str(ch.id), "last_pin_timestamp": iso_now()}
        if ch.guild_id:
            data["guild_id"] = str(ch.guild_id)
        self.dispatch("CHANNEL_PINS_UPDATE", data, ch.guild_id)
        return None

    @route("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
    async def _react(self, rq):
        """PUT /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me"""
        ch = self._channel404(rq.params["channel_id"])
        self._message404(ch, rq.params["message_id"]).__dict__.setdefault("reactions", []).append(rq.params["emoji"])
        return None

    @route("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
    async def _unreact(self, rq):
        """DELETE /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me"""
        self._message404(self._channel404(rq.params["channel_id"]), rq.params["message_id"])
        return None
