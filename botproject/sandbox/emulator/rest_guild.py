"""REST handlers for guilds, channels, permission overwrites, roles and members (with enforcement)."""
from __future__ import annotations

from . import permissions as P
from .ids import ApiError, as_int, invalid_form, missing_permissions, snowflake, unknown
from .rest import route
from .state import CATEGORY, DM, TEXT, Channel


def parse_overwrites(raw) -> dict[int, dict]:
    """Normalise permission_overwrites (ints or strings) to {id: {id,type,allow,deny}}."""
    out = {}
    for o in raw or []:
        oid = int(o["id"])
        out[oid] = {"id": oid, "type": int(o.get("type", 0)), "allow": int(o.get("allow", 0) or 0),
                    "deny": int(o.get("deny", 0) or 0)}
    return out


class GuildRestMixin:
    """Guild/channel/role/member routes."""

    # ---- checks --------------------------------------------------------------------
    def _guild404(self, guild_id):
        """Guild the bot is in, or 404 Unknown Guild."""
        guild = self.guilds.get(as_int(guild_id))
        if guild is None or not guild.bot_joined:
            raise unknown("guild")
        return guild

    def _channel404(self, channel_id) -> Channel:
        """Live channel or 404 Unknown Channel."""
        ch = self.channel(channel_id)
        if ch is None or (ch.guild_id is not None and not self.guilds[ch.guild_id].bot_joined):
            raise unknown("channel")
        return ch

    def _bot_perms(self, guild, channel=None) -> int:
        """The bot's permissions in the guild or a channel."""
        return P.channel_permissions(guild, channel, self.bot_user.id)

    def _children(self, guild, category_id: int) -> int:
        """How many live channels of the guild are in this category."""
        return sum(1 for c in self.guild_channels(guild.id) if c.parent_id == category_id)

    def _require(self, guild, perms: int, channel=None) -> None:
        """403 50013 unless the bot has every bit of `perms`."""
        if self._bot_perms(guild, channel) & perms != perms:
            raise missing_permissions()

    def _require_role_manageable(self, guild, role) -> None:
        """MANAGE_ROLES, role strictly below the bot's top role, not managed, not @everyone."""
        self._require(guild, P.MANAGE_ROLES)
        if guild.owner_id == self.bot_user.id:
            return
        if role.managed or role.id == guild.id or role.position >= P.top_position(guild, self.bot_user.id):
            raise missing_permissions()

    def _require_above(self, guild, user_id: int) -> None:
        """Hierarchy: target is not the owner and its top role is below the bot's."""
        if user_id == guild.owner_id or P.top_position(guild, user_id) >= P.top_position(guild, self.bot_user.id):
            raise missing_permissions()

    def _check_overwrites(self, guild, overwrites: dict, channel=None) -> None:
        """Only permissions the bot has may be allowed/denied; MANAGE_ROLES bits need ADMINISTRATOR."""
        mine = self._bot_perms(guild, channel)
        if mine == P.ALL:
            return
        for o in overwrites.values():
            bits = o["allow"] | o["deny"]
            if bits & ~mine or bits & P.MANAGE_ROLES:
                raise missing_permissions()

    def _role404(self, guild, role_id):
        """Role or 404 Unknown Role."""
        role = guild.roles.get(as_int(role_id))
        if role is None:
            raise unknown("role")
        return role

    def _member404(self, guild, user_id):
        """Member or 404 Unknown Member."""
        member = guild.members.get(as_int(user_id))
        if member is None:
            raise unknown("member")
        return member

    def _member_update(self, guild, member) -> None:
        """Dispatch GUILD_MEMBER_UPDATE."""
        self.dispatch("GUILD_MEMBER_UPDATE", {"guild_id": str(guild.id), **self.member_json(guild, member)}, guild.id)

    def _channel_event(self, event: str, ch: Channel) -> None:
        """Dispatch CHANNEL_CREATE/UPDATE/DELETE to the channel's shard."""
        self.dispatch(event, self.channel_json(ch), ch.guild_id)

    # ---- guild -----------------------------------------------------------------------
    @route("GET", "/guilds/{guild_id}")
    async def _get_guild(self, rq):
        """GET /guilds/{guild_id}"""
        guild = self._guild404(rq.params["guild_id"])
        data = self.guild_json(guild)
        data.update(approximate_member_count=len(guild.members), approximate_presence_count=0)
        return data

    @route("GET", "/guilds/{guild_id}/channels")
    async def _get_guild_channels(self, rq):
        """GET /guilds/{guild_id}/channels"""
        return [self.channel_json(c) for c in self.guild_channels(self._guild404(rq.params["guild_id"]).id)]

    @route("DELETE", "/users/@me/guilds/{guild_id}")
    async def _leave_guild(self, rq):
        """DELETE /users/@me/guilds/{guild_id}"""
        guild = self._guild404(rq.params["guild_id"])
        self.remove_guild(guild.id, kicked=True)
        return None

    # ---- channels ----------------------------------------------------------------------
    @route("POST", "/guilds/{guild_id}/channels")
    async def _create_channel(self, rq):
        """POST /guilds/{guild_id}/channels"""
        guild, body = self._guild404(rq.params["guild_id"]), rq.json or {}
        self._require(guild, P.MANAGE_CHANNELS)
        if not body.get("name"):
            raise invalid_form("name", "BASE_TYPE_REQUIRED", "This field is required")
        ctype, parent_id = int(body.get("type") or 0), as_int(body.get("parent_id"))
        parent = self.channel(parent_id) if parent_id else None
        if parent_id and (parent is None or parent.guild_id != guild.id or parent.type != CATEGORY):
            raise invalid_form("parent_id", "CHANNEL_PARENT_INVALID", "Invalid parent channel")
        if len(guild.channel_ids) >= self.max_channels:
            raise ApiError(400, 30013, f"Maximum number of guild channels reached ({self.max_channels})")
        if parent and self._children(guild, parent.id) >= self.max_category_children:
            raise invalid_form("parent_id", "CHANNEL_PARENT_MAX_CHANNELS",
                               f"Maximum number of channels in category reached ({self.max_category_children})")
        overwrites = parse_overwrites(body.get("permission_overwrites"))
        self._check_overwrites(guild, overwrites, parent)
        name = body["name"].lower().replace(" ", "-") if ctype == TEXT else body["name"]
        position = body.get("position")
        if position is None:
            position = sum(1 for c in self.guild_channels(guild.id) if c.type == ctype)
        ch = self.store_channel(Channel(snowflake(), ctype, name, guild.id, int(position), parent_id,
                                        body.get("topic"), overwrites, nsfw=bool(body.get("nsfw"))))
        self._channel_event("CHANNEL_CREATE", ch)
        return self.channel_json(ch)

    @route("PATCH", "/guilds/{guild_id}/channels")
    async def _channel_positions(self, rq):
        """PATCH /guilds/{guild_id}/channels"""
        guild = self._guild404(rq.params["guild_id"])
        self._require(guild, P.MANAGE_CHANNELS)
        for item in rq.json or []:
            ch = self._channel404(item["id"])
            if item.get("position") is not None:
                ch.position = int(item["position"])
            if "parent_id" in item:
                ch.parent_id = as_int(item["parent_id"])
                if item.get("lock_permissions") and ch.parent_id:
                    ch.overwrites = {k: dict(v) for k, v in self.channels_by_id[ch.parent_id].overwrites.items()}
            self._channel_event("CHANNEL_UPDATE", ch)
        return None

    @route("GET", "/channels/{channel_id}")
    async def _get_channel(self, rq):
        """GET /channels/{channel_id}"""
        ch = self._channel404(rq.params["channel_id"])
        if ch.type != DM and not self._bot_perms(self.guilds[ch.guild_id], ch) & P.VIEW_CHANNEL:
            raise ApiError(403, 50001, "Missing Access")
        return self.channel_json(ch)

    @route("PATCH", "/channels/{channel_id}")
    async def _edit_channel(self, rq):
        """PATCH /channels/{channel_id}"""
        ch, body = self._channel404(rq.params["channel_id"]), rq.json or {}
        guild = self.guilds[ch.guild_id]
        self._require(guild, P.MANAGE_CHANNELS | P.VIEW_CHANNEL, ch)
        if "permission_overwrites" in body:
            self._require(guild, P.MANAGE_ROLES, ch)
            overwrites = parse_overwrites(body["permission_overwrites"])
            self._check_overwrites(guild, overwrites, ch)
            ch.overwrites = overwrites
        if "parent_id" in body:
            parent_id = as_int(body["parent_id"])
            parent = self.channel(parent_id) if parent_id else None
            if parent_id and (parent is None or parent.type != CATEGORY):
                raise invalid_form("parent_id", "CHANNEL_PARENT_INVALID", "Invalid parent channel")
            if parent and parent_id != ch.parent_id and self._children(guild, parent_id) >= self.max_category_children:
                raise invalid_form("parent_id", "CHANNEL_PARENT_MAX_CHANNELS",
                                   "Maximum number of channels in category reached")
            ch.parent_id = parent_id
        for key in ("name", "topic", "position", "nsfw"):
            if key in body:
                setattr(ch, key, body[key])
        self._channel_event("CHANNEL_UPDATE", ch)
        return self.channel_json(ch)

    @route("DELETE", "/channels/{channel_id}")
    async def _delete_channel(self, rq):
        """DELETE /channels/{channel_id}"""
        ch = self._channel404(rq.params["channel_id"])
        if ch.type == DM:
            return self.channel_json(ch)
        guild = self.guilds[ch.guild_id]
        self._require(guild, P.MANAGE_CHANNELS | P.VIEW_CHANNEL, ch)
        self.delete_channel(ch.id)
        return self.channel_json(ch)

    @route("PUT", "/channels/{channel_id}/permissions/{target}")
    async def _put_overwrite(self, rq):
        """PUT /channels/{channel_id}/permissions/{target}"""
        ch, body = self._channel404(rq.params["channel_id"]), rq.json or {}
        guild = self.guilds[ch.guild_id]
        self._require(guild, P.MANAGE_ROLES | P.VIEW_CHANNEL, ch)
        ow = parse_overwrites([{"id": rq.params["target"], **body}])
        self._check_overwrites(guild, ow, ch)
        ch.overwrites.update(ow)
        self._channel_event("CHANNEL_UPDATE", ch)
        return None

    @route("DELETE", "/channels/{channel_id}/permissions/{target}")
    async def _delete_overwrite(self, rq):
        """DELETE /channels/{channel_id}/permissions/{target}"""
        ch = self._channel404(rq.params["channel_id"])
        self._require(self.guilds[ch.guild_id], P.MANAGE_ROLES | P.VIEW_CHANNEL, ch)
        ch.overwrites.pop(int(rq.params["target"]), None)
        self._channel_event("CHANNEL_UPDATE", ch)
        return None

    # ---- roles ---------------------------------------------------------------------------
    @route("GET", "/guilds/{guild_id}/roles")
    async def _get_roles(self, rq):
        """GET /guilds/{guild_id}/roles"""
        return [r.to_json() for r in self._guild404(rq.params["guild_id"]).roles.values()]

    @route("GET", "/guilds/{guild_id}/roles/{role_id}")
    async def _get_role(self, rq):
        """GET /guilds/{guild_id}/roles/{role_id}"""
        guild = self._guild404(rq.params["guild_id"])
        return self._role404(guild, rq.params["role_id"]).to_json()

    @route("POST", "/guilds/{guild_id}/roles")
    async def _create_role(self, rq):
        """POST /guilds/{guild_id}/roles"""
        guild, body = self._guild404(rq.params["guild_id"]), rq.json or {}
        self._require(guild, P.MANAGE_ROLES)
        perms = int(body.get("permissions") or 0)
        if self._bot_perms(guild) != P.ALL and perms & ~self._bot_perms(guild):
            raise missing_permissions()
        role = self.add_role(guild.id, body.get("name") or "new role", perms, position=1,
                             color=int(body.get("color") or 0), hoist=bool(body.get("hoist")),
                             mentionable=bool(body.get("mentionable")))
        return role.to_json()

    @route("PATCH", "/guilds/{guild_id}/roles/{role_id}")
    async def _edit_role(self, rq):
        """PATCH /guilds/{guild_id}/roles/{role_id}"""
        guild, body = self._guild404(rq.params["guild_id"]), rq.json or {}
        role = self._role404(guild, rq.params["role_id"])
        self._require_role_manageable(guild, role)
        bot_perms = self._bot_perms(guild)
        if "permissions" in body and bot_perms != P.ALL and int(body["permissions"]) & ~bot_perms:
            raise missing_permissions()
        for key in ("name", "color", "hoist", "mentionable"):
            if key in body:
                setattr(role, key, body[key])
        if "permissions" in body:
            role.permissions = int(body["permissions"])
        self.dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": role.to_json()}, guild.id)
        return role.to_json()

    @route("PATCH", "/guilds/{guild_id}/roles")
    async def _role_positions(self, rq):
        """PATCH /guilds/{guild_id}/roles"""
        guild = self._guild404(rq.params["guild_id"])
        for item in rq.json or []:
            role = self._role404(guild, item["id"])
            self._require_role_manageable(guild, role)
            if int(item["position"]) >= P.top_position(guild, self.bot_user.id):
                raise missing_permissions()
            role.position = int(item["position"])
            self.dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": role.to_json()}, guild.id)
        return [r.to_json() for r in guild.roles.values()]

    @route("DELETE", "/guilds/{guild_id}/roles/{role_id}")
    async def _delete_role(self, rq):
        """DELETE /guilds/{guild_id}/roles/{role_id}"""
        guild = self._guild404(rq.params["guild_id"])
        role = self._role404(guild, rq.params["role_id"])
        self._require_role_manageable(guild, role)
        self.delete_role(guild.id, role.id)
        return None

    # ---- members -------------------------------------------------------------------------
    @route("GET", "/guilds/{guild_id}/members/{user_id}")
    async def _get_member(self, rq):
        """GET /guilds/{guild_id}/members/{user_id}"""
        guild = self._guild404(rq.params["guild_id"])
        return self.member_json(guild, self._member404(guild, rq.params["user_id"]))

    @route("GET", "/guilds/{guild_id}/members")
    async def _list_members(self, rq):
        """GET /guilds/{guild_id}/members"""
        guild = self._guild404(rq.params["guild_id"])
        after, limit = int(rq.query.get("after", 0)), int(rq.query.get("limit", 1))
        members = sorted((m for m in guild.members.values() if m.user_id > after), key=lambda m: m.user_id)
        return [self.member_json(guild, m) for m in members[:limit]]

    @route("PATCH", "/guilds/{guild_id}/members/@me")
    async def _edit_me(self, rq):
        """PATCH /guilds/{guild_id}/members/@me"""
        guild = self._guild404(rq.params["guild_id"])
        self._require(guild, P.CHANGE_NICKNAME)
        member = guild.members[self.bot_user.id]
        member.nick = (rq.json or {}).get("nick") or None
        self._member_update(guild, member)
        return self.member_json(guild, member)

    @route("PATCH", "/guilds/{guild_id}/members/{user_id}")
    async def _edit_member(self, rq):
        """PATCH /guilds/{guild_id}/members/{user_id}"""
        guild, body = self._guild404(rq.params["guild_id"]), rq.json or {}
        member = self._member404(guild, rq.params["user_id"])
        if "nick" in body:
            if member.user_id == self.bot_user.id:
                self._require(guild, P.CHANGE_NICKNAME)
            else:
                self._require(guild, P.MANAGE_NICKNAMES)
                self._require_above(guild, member.user_id)
        if "roles" in body:
            new = [int(r) for r in body["roles"]]
            for rid in set(new) ^ set(member.roles):
                self._require_role_manageable(guild, self._role404(guild, rid))
            member.roles = new
        if "nick" in body:
            member.nick = body["nick"] or None
        self._member_update(guild, member)
        return self.member_json(guild, member)

    @route("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
    async def _add_member_role(self, rq):
        """PUT /guilds/{guild_id}/members/{user_id}/roles/{role_id}"""
        guild = self._guild404(rq.params["guild_id"])
        member = self._member404(guild, rq.params["user_id"])
        role = self._role404(guild, rq.params["role_id"])
        self._require_role_manageable(guild, role)
        if role.id not in member.roles:
            member.roles.append(role.id)
            self._member_update(guild, member)
        return None

    @route("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
    async def _remove_member_role(self, rq):
        """DELETE /guilds/{guild_id}/members/{user_id}/roles/{role_id}"""
        guild = self._guild404(rq.params["guild_id"])
        member = self._member404(guild, rq.params["user_id"])
        role = self._role404(guild, rq.params["role_id"])
        self._require_role_manageable(guild, role)
        if role.id in member.roles:
            member.roles.remove(role.id)
            self._member_update(guild, member)
        return None

    @route("DELETE", "/guilds/{guild_id}/members/{user_id}")
    async def _kick_member(self, rq):
        """DELETE /guilds/{guild_id}/members/{user_id}"""
        guild = self._guild404(rq.params["guild_id"])
        member = self._member404(guild, rq.params["user_id"])
        self._require(guild, P.KICK_MEMBERS)
        self._require_above(guild, member.user_id)
        self.member_leave(guild.id, member.user_id)
        return None
