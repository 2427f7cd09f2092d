"""Test-driven world changes ("a human did X"): guilds, members, roles, channels and user messages."""
from __future__ import annotations

from . import permissions as P
from .gateway import GUILD_MEMBERS
from .ids import EmulatorError, as_int, iso_now, snowflake
from .state import CATEGORY, Channel, Guild, Member, Message, Role


class ActorMixin:
    """Mutate the world as Discord users would, emitting the matching gateway events."""

    # ---- guilds ------------------------------------------------------------------------------
    def add_guild(self, name: str = "Test Guild", owner_id=None, locale: str = "en-US", add_bot: bool = True,
                  bot_permissions: int = P.BOT_DEFAULT, everyone_permissions: int = P.DEFAULT_EVERYONE,
                  guild_id: int | None = None) -> Guild:
        """Create a guild (owner created if not given); add_bot=True joins the bot (GUILD_CREATE)."""
        owner = self._user(owner_id) if owner_id else self.add_user(f"{name.lower().replace(' ', '_')}_owner")
        guild = Guild(guild_id or snowflake(), name, owner.id, locale)
        guild.roles[guild.id] = Role(guild.id, guild.id, "@everyone", everyone_permissions, 0)
        guild.members[owner.id] = Member(owner.id)
        self.guilds[guild.id] = guild
        if add_bot:
            self.add_bot(guild.id, bot_permissions)
        self.notify()
        return guild

    def add_bot(self, guild_id, permissions: int = P.BOT_DEFAULT, position: int | None = None) -> Role:
        """Join the bot to a guild with a managed bot role (top by default) and send GUILD_CREATE."""
        guild = self.guild(guild_id)
        top = max((r.position for r in guild.roles.values()), default=0)
        role = Role(snowflake(), guild.id, self.bot_user.username, permissions,
                    top + 1 if position is None else position, managed=True, bot_id=self.bot_user.id)
        guild.roles[role.id] = role
        guild.members[self.bot_user.id] = Member(self.bot_user.id, [role.id])
        guild.bot_joined = True
        self.dispatch("GUILD_CREATE", {}, guild.id,
                      shape=lambda s, _: self.guild_create_json(guild, bool(s.intents & GUILD_MEMBERS)))
        return role

    def remove_guild(self, guild_id, kicked: bool = True) -> None:
        """The bot leaves/is removed (GUILD_DELETE); kicked=False sends an outage (unavailable=true)."""
        guild = self.guild(guild_id)
        data = {"id": str(guild.id)} if kicked else {"id": str(guild.id), "unavailable": True}
        self.dispatch("GUILD_DELETE", data, guild.id)
        if kicked:
            guild.bot_joined = False
            guild.members.pop(self.bot_user.id, None)
            for rid in [r.id for r in guild.roles.values() if r.bot_id == self.bot_user.id]:
                del guild.roles[rid]
        self.notify()

    def set_guild(self, guild_id, **fields) -> Guild:
        """Change guild fields (name, owner_id, preferred_locale) and send GUILD_UPDATE."""
        guild = self.guild(guild_id)
        for key, value in fields.items():
            setattr(guild, key, as_int(value) if key == "owner_id" else value)
        if guild.bot_joined:
            self.dispatch("GUILD_UPDATE", self.guild_json(guild), guild.id)
        return guild

    # ---- members --------------------------------------------------------------------------------
    def member_join(self, guild_id, user_id=None, username: str | None = None, roles=(), nick=None) -> Member:
        """A user (created if needed) joins the guild: GUILD_MEMBER_ADD."""
        guild = self.guild(guild_id)
        user = self._user(user_id) if user_id else self.add_user(username or f"user{len(self.users)}")
        member = Member(user.id, [as_int(r) for r in roles], nick)
        guild.members[user.id] = member
        if guild.bot_joined:
            self.dispatch("GUILD_MEMBER_ADD", {"guild_id": str(guild.id), **self.member_json(guild, member)}, guild.id)
        self.notify()
        return member

    add_member = member_join

    def member_leave(self, guild_id, user_id) -> None:
        """A member leaves: GUILD_MEMBER_REMOVE."""
        guild = self.guild(guild_id)
        guild.members.pop(as_int(user_id))
        if guild.bot_joined:
            self.dispatch("GUILD_MEMBER_REMOVE", {"guild_id": str(guild.id), "user": self._user(user_id).to_json()},
                          guild.id)
        self.notify()

    def set_member_roles(self, guild_id, user_id, roles) -> Member:
        """A human sets a member's roles: GUILD_MEMBER_UPDATE."""
        return self.set_member(guild_id, user_id, roles=roles)

    def set_member(self, guild_id, user_id, roles=None, nick: str | None | type(...) = ...) -> Member:
        """A human changes a member's roles and/or nick: GUILD_MEMBER_UPDATE."""
        guild = self.guild(guild_id)
        member = guild.members.get(as_int(user_id))
        if member is None:
            raise EmulatorError(f"user {user_id} is not in guild {guild.id}")
        if roles is not None:
            member.roles = [as_int(getattr(r, "id", r)) for r in roles]
        if nick is not ...:
            member.nick = nick
        if guild.bot_joined:
            self.dispatch("GUILD_MEMBER_UPDATE", {"guild_id": str(guild.id), **self.member_json(guild, member)},
                          guild.id)
        self.notify()
        return member

    # ---- roles -------------------------------------------------------------------------------------
    def add_role(self, guild_id, name: str, permissions: int = 0, position: int | None = None, **fields) -> Role:
        """Create a role (position None = just below the top); GUILD_ROLE_CREATE."""
        guild = self.guild(guild_id)
        if position is None:
            position = max((r.position for r in guild.roles.values() if r.bot_id is None), default=0) + 1
        moved = []
        for r in guild.roles.values():
            if r.id != guild.id and r.position >= position:
                r.position += 1
                moved.append(r)
        role = Role(snowflake(), guild.id, name, int(permissions), position, **fields)
        guild.roles[role.id] = role
        if guild.bot_joined:
            self.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.to_json()}, guild.id)
            for r in moved:  # like Discord: every role whose position changed is updated too
                self.dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": r.to_json()}, guild.id)
        self.notify()
        return role

    def set_role(self, guild_id, role_id, **fields) -> Role:
        """Change role fields (permissions, position, name, ...); GUILD_ROLE_UPDATE."""
        guild = self.guild(guild_id)
        role = guild.roles[as_int(getattr(role_id, "id", role_id))]
        for key, value in fields.items():
            setattr(role, key, value)
        if guild.bot_joined:
            self.dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": role.to_json()}, guild.id)
        self.notify()
        return role

    def delete_role(self, guild_id, role_id) -> None:
        """Delete a role (removed from members); GUILD_ROLE_DELETE."""
        guild = self.guild(guild_id)
        rid = as_int(getattr(role_id, "id", role_id))
        guild.roles.pop(rid)
        for m in guild.members.values():
            if rid in m.roles:
                m.roles.remove(rid)
        if guild.bot_joined:
            self.dispatch("GUILD_ROLE_DELETE", {"guild_id": str(guild.id), "role_id": str(rid)}, guild.id)
        self.notify()

    # ---- channels --------------------------------------------------------------------------------------
    def store_channel(self, ch: Channel) -> Channel:
        """Register a channel in its guild (no event)."""
        self.channels_by_id[ch.id] = ch
        self.guilds[ch.guild_id].channel_ids.append(ch.id)
        self.notify()
        return ch

    def add_channel(self, guild_id, name: str, type: int = 0, parent_id=None, overwrites=None, topic=None,
                    position: int | None = None) -> Channel:
        """A human creates a channel; overwrites = [{id, type, allow, deny}]; CHANNEL_CREATE."""
        from .rest_guild import parse_overwrites
        guild = self.guild(guild_id)
        if position is None:
            position = sum(1 for c in self.guild_channels(guild.id) if c.type == type)
        ch = self.store_channel(Channel(snowflake(), type, name, guild.id, position, as_int(parent_id), topic,
                                        parse_overwrites(overwrites)))
        if guild.bot_joined:
            self.dispatch("CHANNEL_CREATE", self.channel_json(ch), guild.id)
        return ch

    def add_category(self, guild_id, name: str, overwrites=None) -> Channel:
        """Create a category channel."""
        return self.add_channel(guild_id, name, CATEGORY, overwrites=overwrites)

    def set_overwrite(self, channel_id, target_id, allow: int = 0, deny: int = 0, type: int | None = None) -> Channel:
        """A human sets a permission overwrite (type auto: role if the id is a role); CHANNEL_UPDATE."""
        ch = self.channel(channel_id)
        guild = self.guilds[ch.guild_id]
        tid = as_int(getattr(target_id, "id", target_id))
        kind = type if type is not None else (0 if tid in guild.roles else 1)
        ch.overwrites[tid] = {"id": tid, "type": kind, "allow": int(allow), "deny": int(deny)}
        if guild.bot_joined:
            self.dispatch("CHANNEL_UPDATE", self.channel_json(ch), guild.id)
        self.notify()
        return ch

    def delete_channel(self, channel_id) -> None:
        """Delete a channel (children of a category are orphaned); CHANNEL_DELETE."""
        ch = self.channel(channel_id)
        if ch is None:
            raise EmulatorError(f"unknown channel {channel_id}")
        guild = self.guilds[ch.guild_id]
        ch.deleted = True
        guild.channel_ids.remove(ch.id)
        for child in self.guild_channels(guild.id):
            if child.parent_id == ch.id:
                child.parent_id = None
                if guild.bot_joined:
                    self.dispatch("CHANNEL_UPDATE", self.channel_json(child), guild.id)
        if guild.bot_joined:
            self.dispatch("CHANNEL_DELETE", self.channel_json(ch), guild.id)
        self.notify()

    # ---- user messages -------------------------------------------------------------------------------------
    def user_message(self, channel_id, user_id, content: str = "", attachments=(), embeds=None,
                     reply_to=None) -> Message:
        """A member (or DM user) posts a message: MESSAGE_CREATE. attachments = [(filename, bytes[, type])]."""
        ch = self.channel(channel_id)
        if ch is None:
            raise EmulatorError(f"unknown channel {channel_id}")
        user = self._user(user_id)
        if ch.guild_id is not None:
            guild = self.guilds[ch.guild_id]
            if user.id not in guild.members:
                raise EmulatorError(f"user {user.id} is not in guild {guild.id}")
            needed = P.VIEW_CHANNEL | P.SEND_MESSAGES
            if P.channel_permissions(guild, ch, user.id) & needed != needed:
                raise EmulatorError(f"user {user.id} cannot send messages in #{ch.name}")
        msg = Message(snowflake(), ch.id, user.id, ch.guild_id, content, embeds=list(embeds or []))
        for item in attachments:
            filename, data, *rest = item
            data = data.encode() if isinstance(data, str) else bytes(data)
            aid = snowflake()
            url = f"{self.base_url}/attachments/{ch.id}/{aid}/{filename}"
            self.attachment_blobs[aid] = msg.files[filename] = data
            msg.attachments.append({"id": str(aid), "filename": filename, "size": len(data), "url": url,
                                    "proxy_url": url, "content_type": rest[0] if rest else None})
        if reply_to is not None:
            msg.type, msg.message_reference = 19, {"message_id": str(as_int(reply_to)), "channel_id": str(ch.id)}
        self.compute_mentions(msg)
        return self.store_message(msg)

    def user_dm(self, user_id, content: str, attachments=()) -> Message:
        """A user DMs the bot (MESSAGE_CREATE without guild_id)."""
        return self.user_message(self.dm_channel(as_int(user_id)).id, user_id, content, attachments)

    def user_edit_message(self, message_id, content: str) -> Message:
        """The author edits their message: MESSAGE_UPDATE."""
        msg = self.messages_by_id[as_int(message_id)]
        msg.content, msg.edited, msg.edited_timestamp = content, True, iso_now()
        self.compute_mentions(msg)
        self.message_updated(msg)
        return msg

    def user_delete_message(self, message_id) -> None:
        """A user deletes a message: MESSAGE_DELETE."""
        self.message_deleted(self.messages_by_id[as_int(message_id)])
