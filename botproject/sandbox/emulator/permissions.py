"""Discord permission bits and the exact permission computation."""
from __future__ import annotations

CREATE_INSTANT_INVITE = 1 << 0
KICK_MEMBERS = 1 << 1
BAN_MEMBERS = 1 << 2
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_AUDIT_LOG = 1 << 7
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
SEND_TTS_MESSAGES = 1 << 12
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
CONNECT = 1 << 20
SPEAK = 1 << 21
CHANGE_NICKNAME = 1 << 26
MANAGE_NICKNAMES = 1 << 27
MANAGE_ROLES = 1 << 28
MANAGE_WEBHOOKS = 1 << 29
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_THREADS = 1 << 34
MODERATE_MEMBERS = 1 << 40
ALL = (1 << 53) - 1

DEFAULT_EVERYONE = (CREATE_INSTANT_INVITE | ADD_REACTIONS | VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS
                    | ATTACH_FILES | READ_MESSAGE_HISTORY | USE_EXTERNAL_EMOJIS | CONNECT | SPEAK
                    | CHANGE_NICKNAME | USE_APPLICATION_COMMANDS)
BOT_DEFAULT = (MANAGE_CHANNELS | MANAGE_ROLES | MANAGE_NICKNAMES | VIEW_CHANNEL | SEND_MESSAGES
               | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY | ADD_REACTIONS | MANAGE_MESSAGES)
_NEEDS_SEND = SEND_TTS_MESSAGES | MENTION_EVERYONE | ATTACH_FILES | EMBED_LINKS


def base_permissions(guild, user_id: int) -> int:
    """Guild-level permissions: owner/ADMINISTRATOR → ALL, else @everyone | member roles."""
    if user_id == guild.owner_id:
        return ALL
    member = guild.members.get(user_id)
    if member is None:
        return 0
    perms = guild.roles[guild.id].permissions
    for rid in member.roles:
        role = guild.roles.get(rid)
        if role is not None:
            perms |= role.permissions
    return ALL if perms & ADMINISTRATOR else perms


def channel_permissions(guild, channel, user_id: int) -> int:
    """Apply overwrites (@everyone, then roles deny/allow, then member) like Discord does."""
    perms = base_permissions(guild, user_id)
    if perms == ALL or channel is None:
        return perms
    member = guild.members.get(user_id)
    if member is None:
        return 0
    ows = channel.overwrites
    everyone = ows.get(guild.id)
    if everyone is not None:
        perms = (perms & ~everyone["deny"]) | everyone["allow"]
    allow = deny = 0
    for rid in member.roles:
        ow = ows.get(rid)
        if ow is not None and ow["type"] == 0:
            allow |= ow["allow"]
            deny |= ow["deny"]
    perms = (perms & ~deny) | allow
    ow = ows.get(user_id)
    if ow is not None and ow["type"] == 1:
        perms = (perms & ~ow["deny"]) | ow["allow"]
    if not perms & VIEW_CHANNEL:
        return 0
    if not perms & SEND_MESSAGES:
        perms &= ~_NEEDS_SEND
    return perms


def top_position(guild, user_id: int) -> int:
    """Highest role position of a member (0 for @everyone only)."""
    member = guild.members.get(user_id)
    if member is None:
        return -1
    return max([guild.roles[r].position for r in member.roles if r in guild.roles] + [0])
