"""Test-side interaction builders: slash, autocomplete, click, select, modal submit and raw payloads."""
from __future__ import annotations

import copy

from . import permissions as P
from .ids import CommandHidden, EmulatorError, OptionRejected, as_int, new_token, snowflake
from .options import Resolver, build_options
from .record import InteractionRecord
from .state import TEXT, iter_components

SELECT_TYPES = (3, 5, 6, 7, 8)
_CONTROL = ("wait", "timeout", "bypass_permissions", "channel_id", "user_locale", "guild_locale", "options")


class InteractionMixin:
    """Build real-shaped INTERACTION_CREATE payloads and track their records."""

    def _init_interactions(self) -> None:
        """Create the interaction tables."""
        self.interactions: dict[str, InteractionRecord] = {}
        self.interaction_log: list[InteractionRecord] = []
        self.callback_deadline: float | None = 3.0  # stays on in every test (tests/test_emulator_limits.py checks)
        self.token_lifetime: float = 15 * 60  # interaction webhooks (edits, followups) answer 401 50027 after
        self.clock_offset: float = 0.0  # added to the monotonic clock by advance_clock()

    def advance_clock(self, seconds: float) -> float:
        """Move the emulator's clock (self._now()) forward, e.g. past a token's 15 minutes; return the offset.

        Only the emulator's own timers follow it (interaction deadlines and token lifetimes, nonce windows);
        the 3 s deadline of an interaction dispatched before the jump is then long over too.
        """
        if seconds < 0:
            raise EmulatorError("the emulator's clock only moves forward")
        self.clock_offset += seconds
        return self.clock_offset

    # ---- lookup helpers ------------------------------------------------------------------
    def command(self, name: str, guild_id=None) -> dict | None:
        """A synced chat-input command: guild scope first, then global (like Discord)."""
        scopes = ([as_int(guild_id)] if guild_id else []) + ["global"]
        for scope in scopes:
            for cmd in self.command_defs.get(scope, []):
                if cmd["name"] == name and cmd.get("type", 1) == 1:
                    return cmd
        return None

    def _visible_or_raise(self, cmd: dict, guild, user_id: int) -> None:
        """Raise CommandHidden when Discord would not show the command to this user here."""
        contexts = cmd.get("contexts")
        if guild is None:
            if cmd.get("guild_id") or (contexts is not None and 1 not in contexts) or cmd.get("dm_permission") is False:
                raise CommandHidden(f"/{cmd['name']} is not available in DMs")
            return
        if contexts is not None and 0 not in contexts:
            raise CommandHidden(f"/{cmd['name']} is not available in guilds (contexts={contexts})")
        raw = cmd.get("default_member_permissions")
        if raw is None:
            return
        need, have = int(raw), P.base_permissions(guild, user_id)
        if have == P.ALL or (need != 0 and have & need == need):
            return
        raise CommandHidden(f"/{cmd['name']} requires permissions {need:#x}; user {user_id} has {have:#x}")

    def _context(self, guild_id, user_id, channel_id=None):
        """(guild, channel) for an interaction; default channel = first text channel (or the DM)."""
        user_id = as_int(user_id)
        self._user(user_id)
        if guild_id is None:
            return None, (self.channel(channel_id) if channel_id else self.dm_channel(user_id))
        guild = self.guild(guild_id)
        if user_id not in guild.members:
            raise EmulatorError(f"user {user_id} is not a member of guild {guild.id}")
        if channel_id is not None:
            channel = self.channel(channel_id)
            if channel is None:
                raise EmulatorError(f"unknown channel {channel_id}")
        else:
            channel = next((c for c in self.guild_channels(guild.id) if c.type == TEXT), None)
        return guild, channel

    # ---- core send -------------------------------------------------------------------------
    def build_payload(self, itype: int, guild, user_id: int, channel, data: dict, message=None,
                      locale: str = "en-US", guild_locale: str | None = None) -> dict:
        """A complete real-shaped INTERACTION_CREATE payload."""
        payload = {"id": str(snowflake()), "application_id": str(self.application_id), "type": itype, "data": data,
                   "token": new_token("itx"), "version": 1, "locale": locale, "entitlements": [],
                   "entitlement_sku_ids": [],
                   "attachment_size_limit": self.attachment_size_limit, "context": 0 if guild else 1,
                   "authorizing_integration_owners": {"0": str(guild.id)} if guild else {"1": str(user_id)}}
        if channel is not None:
            payload["channel_id"] = str(channel.id)
            ch = self.channel_json(channel)
            if guild is not None:
                ch["permissions"] = str(P.channel_permissions(guild, channel, user_id))
            payload["channel"] = ch
        if guild is not None:
            member = self.member_json(guild, guild.members[user_id])
            member["permissions"] = str(P.channel_permissions(guild, channel, user_id))
            payload.update(guild_id=str(guild.id), member=member, guild_locale=guild_locale or guild.preferred_locale,
                           guild={"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
                           app_permissions=str(P.channel_permissions(guild, channel, self.bot_user.id)))
        else:
            payload["user"] = self.users[user_id].to_json()
            payload["app_permissions"] = str(P.ALL & ~P.ADMINISTRATOR)
        if message is not None:
            payload["message"] = self.message_json(message)
        return payload

    async def send_interaction(self, overrides: dict | None = None, *, guild_id=None, user_id=None, channel_id=None,
                               wait: bool = False, timeout: float = 5.0, source_message_id=None,
                               **more) -> InteractionRecord:
        """Dispatch a raw INTERACTION_CREATE: a full payload, or overrides merged over a built one (type 2 by
        default)."""
        overrides = {**(overrides or {}), **more}
        if "token" in overrides and "id" in overrides:
            payload = overrides
        else:
            guild, channel = self._context(guild_id, user_id, channel_id)
            base = self.build_payload(int(overrides.get("type", 2)), guild, as_int(user_id), channel,
                                      overrides.get("data", {}))
            payload = {**base, **overrides}
        user = payload.get("member", {}).get("user") or payload.get("user") or {}
        rec = InteractionRecord(self, int(payload["id"]), payload["token"], int(payload["type"]), payload,
                                as_int(payload.get("guild_id")), as_int(payload.get("channel_id")),
                                as_int(user.get("id")), as_int(source_message_id))
        self.interactions[rec.token] = rec
        self.interaction_log.append(rec)

        def stamp():
            if rec.dispatched_at is None:
                rec.dispatched_at = self._now()
        if not self.dispatch("INTERACTION_CREATE", payload, rec.guild_id, on_send=stamp):
            raise EmulatorError(f"no gateway session would receive this interaction (guild {rec.guild_id})")
        if wait:
            await rec.wait(timeout)
        return rec

    # ---- slash / autocomplete --------------------------------------------------------------
    def _split(self, kwargs: dict) -> tuple[dict, dict]:
        """Split control kwargs from option values."""
        control = {k: kwargs.pop(k) for k in _CONTROL if k in kwargs}
        values = dict(control.pop("options", None) or {})
        values.update(kwargs)
        return control, values

    def _slash_payload(self, guild_id, user_id, command: str, kwargs: dict, itype: int, focused=None):
        """Build a type-2 (or type-4 autocomplete) payload from a command path and Python values."""
        control, values = self._split(dict(kwargs))
        name, *path = command.strip().lstrip("/").split()
        guild, channel = self._context(guild_id, user_id, control.get("channel_id"))
        cmd = self.command(name, guild.id if guild else None)
        if cmd is None:
            raise EmulatorError(f"/{name} is not synced (guild {guild_id}); synced: "
                                f"{ {k: [c['name'] for c in v] for k, v in self.command_defs.items()} }")
        if cmd.get("guild_id") and guild is not None and int(cmd["guild_id"]) != guild.id:
            raise EmulatorError(f"/{name} is synced to another guild")
        if not control.get("bypass_permissions"):
            self._visible_or_raise(cmd, guild, as_int(user_id))
        locale = control.get("user_locale", "en-US")
        if "locale" in values and not _has_option(cmd, path, "locale"):
            locale = values.pop("locale")
        res = Resolver(self, guild, as_int(user_id), channel)
        data = {"id": cmd["id"], "name": cmd["name"], "type": 1,
                "options": build_options(cmd, path, values, res, focused)}
        if res.data:
            data["resolved"] = res.data
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        payload = self.build_payload(itype, guild, as_int(user_id), channel, data, locale=locale,
                                     guild_locale=control.get("guild_locale"))
        return payload, control

    async def slash(self, guild_id, user_id, command: str, **kwargs) -> InteractionRecord:
        """Run '/command [group] [sub]' as a member; options as kwargs (or options={...}); waits for settlement."""
        payload, control = self._slash_payload(guild_id, user_id, command, kwargs, 2)
        return await self.send_interaction(payload, wait=control.get("wait", True), timeout=control.get("timeout", 5.0))

    async def autocomplete(self, guild_id, user_id, command: str, focused: str, **kwargs) -> InteractionRecord:
        """Send an autocomplete interaction for option `focused` (partial values as kwargs); waits for choices."""
        payload, control = self._slash_payload(guild_id, user_id, command, kwargs, 4, focused=focused)
        return await self.send_interaction(payload, wait=control.get("wait", True), timeout=control.get("timeout", 5.0))

    # ---- components ------------------------------------------------------------------------------
    def _find_message(self, message):
        """Resolve a message id, Message, or InteractionRecord (its latest message)."""
        if isinstance(message, InteractionRecord):
            message = message.latest
            if message is None:
                raise EmulatorError("that interaction has no message to interact with")
        msg = message if hasattr(message, "components") else self.messages_by_id.get(as_int(message))
        if msg is None or msg.deleted:
            raise EmulatorError(f"unknown or deleted message {message}")
        return msg

    def _find_component(self, msg, custom_id: str, types: tuple) -> dict:
        """The enabled component with this custom_id and type on a message."""
        comps = [c for c in iter_components(msg.components)
                 if c.get("custom_id") == custom_id and c.get("type") in types]
        if not comps:
            ids = [c.get("custom_id") for c in iter_components(msg.components) if c.get("custom_id")]
            raise EmulatorError(f"no component {custom_id!r} (types {types}) on message {msg.id}; custom_ids: {ids}")
        if comps[0].get("disabled"):
            raise EmulatorError(f"component {custom_id!r} on message {msg.id} is disabled")
        return comps[0]

    async def _component(self, guild_id, user_id, msg, data: dict, wait: bool, timeout: float, locale: str):
        """Dispatch a type-3 component interaction on a message."""
        guild, channel = self._context(guild_id, user_id, msg.channel_id)
        payload = self.build_payload(3, guild, as_int(user_id), channel, data, message=msg, locale=locale)
        return await self.send_interaction(payload, wait=wait, timeout=timeout, source_message_id=msg.id)

    async def click(self, guild_id, user_id, message, custom_id: str, wait: bool = True, timeout: float = 5.0,
                    locale: str = "en-US") -> InteractionRecord:
        """Click a button (by custom_id) on a channel or ephemeral message (id, Message or InteractionRecord)."""
        msg = self._find_message(message)
        self._find_component(msg, custom_id, (2,))
        return await self._component(guild_id, user_id, msg, {"custom_id": custom_id, "component_type": 2},
                                     wait, timeout, locale)

    def _select_data(self, comp: dict, values: list, res: Resolver) -> dict:
        """Validate select values and build {values, resolved}."""
        values = [str(getattr(v, "id", v)) for v in values]
        lo, hi = comp.get("min_values", 1), comp.get("max_values", 1)
        if not lo <= len(values) <= hi:
            raise OptionRejected(f"select {comp['custom_id']!r} takes {lo}..{hi} values, got {len(values)}")
        t = comp["type"]
        if t == 3:
            allowed = [o["value"] for o in comp.get("options", [])]
            if any(v not in allowed for v in values):
                raise OptionRejected(f"select {comp['custom_id']!r}: {values} not within options {allowed}")
        resolves = {3: lambda v: True, 5: res.user, 6: res.role, 7: lambda v: res.user(v) or res.role(v),
                    8: lambda v: res.channel_(v, comp.get("channel_types"))}[t]
        for v in values:
            if not resolves(v):
                raise OptionRejected(f"select {comp['custom_id']!r} (type {t}) cannot resolve {v}")
        data = {"custom_id": comp["custom_id"], "component_type": t, "values": values}
        if t != 3:
            data["resolved"] = res.data
        return data

    async def select(self, guild_id, user_id, message, custom_id: str, values: list, wait: bool = True,
                     timeout: float = 5.0, locale: str = "en-US") -> InteractionRecord:
        """Pick values in a string/user/role/mentionable/channel select (ids for entity selects)."""
        msg = self._find_message(message)
        comp = self._find_component(msg, custom_id, SELECT_TYPES)
        guild, channel = self._context(guild_id, user_id, msg.channel_id)
        data = self._select_data(comp, list(values), Resolver(self, guild, as_int(user_id), channel))
        return await self._component(guild_id, user_id, msg, data, wait, timeout, locale)

    # ---- modals -------------------------------------------------------------------------------------
    async def submit_modal(self, guild_id, user_id, from_rec: InteractionRecord, values: dict | None = None,
                           wait: bool = True, timeout: float = 5.0, locale: str = "en-US") -> InteractionRecord:
        """Submit the modal shown by from_rec's type-9 callback with {custom_id: text | [select values]}."""
        modal = from_rec.modal
        if modal is None:
            raise EmulatorError(f"{from_rec!r} did not respond with a modal")
        values = dict(values or {})
        guild, channel = self._context(guild_id, user_id, from_rec.channel_id)
        res = Resolver(self, guild, as_int(user_id), channel)
        comps = [c for c in (self._modal_component(c, values, res) for c in modal.get("components", [])) if c]
        if values:
            raise EmulatorError(f"modal {modal.get('custom_id')!r} has no fields {list(values)}")
        data = {"custom_id": modal["custom_id"], "components": comps}
        if res.data:
            data["resolved"] = res.data
        src = self.messages_by_id.get(from_rec.source_message_id) if from_rec.source_message_id else None
        payload = self.build_payload(5, guild, as_int(user_id), channel, data, message=src, locale=locale)
        return await self.send_interaction(payload, wait=wait, timeout=timeout,
                                           source_message_id=from_rec.source_message_id)

    def _modal_component(self, comp: dict, values: dict, res: Resolver) -> dict | None:
        """Echo one modal component (row of text inputs, or Label wrapping an input/select) with values."""
        t = comp.get("type")
        if t == 1:
            return {"type": 1, "components": [self._modal_input(c, values, res, c.get("label"))
                                              for c in comp.get("components", [])]}
        if t == 18:
            out = {"type": 18, "component": self._modal_input(comp["component"], values, res, comp.get("label"))}
            return {**out, "id": comp["id"]} if "id" in comp else out
        return None

    def _modal_input(self, comp: dict, values: dict, res: Resolver, label: str | None = None) -> dict:
        """A submitted text input or select value (values keyed by custom_id, or by the field's label)."""
        cid, t = comp.get("custom_id"), comp.get("type")
        if cid not in values and label is not None:
            key = next((k for k in values if k.casefold() == label.casefold()), None)
            if key is not None:
                values[cid] = values.pop(key)
        if t == 4:
            text = values.pop(cid, comp.get("value") or "")
            if comp.get("required", True) and not text:
                raise OptionRejected(f"modal field {cid!r} is required")
            if text and len(text) < (comp.get("min_length") or 0):
                raise OptionRejected(f"modal field {cid!r} shorter than {comp['min_length']}")
            if comp.get("max_length") is not None and len(text) > comp["max_length"]:
                raise OptionRejected(f"modal field {cid!r} longer than {comp['max_length']}")
            return {"type": 4, "custom_id": cid, "value": text}
        if t in SELECT_TYPES:
            chosen = values.pop(cid, [])
            chosen = chosen if isinstance(chosen, (list, tuple)) else [chosen]
            if not chosen and not comp.get("required", True):
                return {"type": t, "custom_id": cid, "values": []}
            return {"type": t, **{k: v for k, v in self._select_data(comp, chosen, res).items()
                                  if k in ("custom_id", "values")}}
        return copy.deepcopy(comp)


def _has_option(cmd: dict, path: list[str], name: str) -> bool:
    """Whether the leaf (after path) defines an option named `name`."""
    defs = cmd.get("options") or []
    for step in path:
        defs = next((o.get("options") or [] for o in defs if o["name"] == step), [])
    return any(o["name"] == name for o in defs)
