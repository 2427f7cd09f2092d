"""REST handlers for command sync, interaction callbacks and interaction webhooks."""
from __future__ import annotations

import re

from . import limits
from .ids import ApiError, as_int, form_error, invalid_form, snowflake, unknown
from .record import InteractionRecord
from .rest import route
from .state import Message

_NAME = re.compile(r"^[-_\w]{1,32}$")
_ALLOWED = {1: {1}, 2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}


def _validate_command(cmd: dict, where: str, errors: dict) -> None:
    """Collect Discord-like validation errors for one command or option definition."""
    name = cmd.get("name", "")
    if not _NAME.match(name) or (cmd.get("type", 1) in (1, 3, 4, 5, 6, 7, 8, 9, 10, 11) and name != name.lower()):
        errors[f"{where}.name"] = form_error((), "APPLICATION_COMMAND_INVALID_NAME",
                                             f"Command name is invalid: {name!r}")
    if cmd.get("type", 1) != 2 and cmd.get("type", 1) != 3 and not 1 <= len(cmd.get("description", "")) <= 100:
        errors[f"{where}.description"] = form_error((), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    opts = cmd.get("options") or []
    if len(opts) > 25:
        errors[f"{where}.options"] = form_error((), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    for i, opt in enumerate(opts):
        if opt.get("type") not in (1, 2):
            if opt.get("required") and seen_optional:
                errors[f"{where}.options.{i}.required"] = form_error(
                    (), "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options")
            seen_optional = seen_optional or not opt.get("required")
            opt.setdefault("required", False)
        _validate_command({**opt, "type": 1}, f"{where}.options.{i}", errors)


class InteractionRestMixin:
    """Command sync, interaction callback and webhook followup routes."""

    def _init_interaction_rest(self) -> None:
        """Create command tables."""
        self.command_defs: dict = {}
        self.command_syncs: dict = {}
        self._command_ids: dict = {}

    def commands(self, guild_id=None) -> list[dict]:
        """Synced command definitions (global when guild_id is None)."""
        return list(self.command_defs.get(as_int(guild_id) if guild_id else "global", []))

    def _scope(self, rq):
        """'global' or the guild id; checks application id and guild membership."""
        if as_int(rq.params["application_id"]) != self.application_id:
            raise ApiError(403, 50001, "Missing Access")
        gid = as_int(rq.params.get("guild_id"))
        if gid is None:
            return "global"
        guild = self.guilds.get(gid)
        if guild is None or not guild.bot_joined:
            raise ApiError(403, 50001, "Missing Access")
        return gid

    def _command_object(self, scope, body: dict) -> dict:
        """Store-ready command object with a stable id per (scope, name, type)."""
        key = (scope, body["name"], body.get("type", 1))
        cid = self._command_ids.setdefault(key, snowflake())
        cmd = {"default_member_permissions": None, "contexts": None, "integration_types": [0], "nsfw": False,
               "options": [], "name_localizations": None, "description_localizations": None, **body,
               "id": str(cid), "application_id": str(self.application_id), "version": str(snowflake()),
               "type": body.get("type", 1), "description": body.get("description", "")}
        if scope != "global":
            cmd["guild_id"] = str(scope)
        return cmd

    def _validated(self, bodies: list) -> list:
        """Raise 400 50035 if any definition is invalid."""
        errors: dict = {}
        for i, body in enumerate(bodies):
            _validate_command(body, str(i), errors)
        names = [(b.get("name"), b.get("type", 1)) for b in bodies]
        if len(set(names)) != len(names):
            errors["_dup"] = form_error((), "APPLICATION_COMMANDS_DUPLICATE_NAME", "duplicate names")
        if errors:
            raise ApiError(400, 50035, "Invalid Form Body", errors)
        return bodies

    @route("PUT", "/applications/{application_id}/commands")
    async def _put_global(self, rq):
        """PUT /applications/{application_id}/commands"""
        return self._bulk(rq)

    @route("PUT", "/applications/{application_id}/guilds/{guild_id}/commands")
    async def _put_guild(self, rq):
        """PUT /applications/{application_id}/guilds/{guild_id}/commands"""
        return self._bulk(rq)

    def _bulk(self, rq):
        """Bulk overwrite one scope and count the sync."""
        scope = self._scope(rq)
        cmds = [self._command_object(scope, b) for b in self._validated(list(rq.json or []))]
        self.command_defs[scope] = cmds
        self.command_syncs[scope] = self.command_syncs.get(scope, 0) + 1
        return cmds

    @route("GET", "/applications/{application_id}/commands")
    async def _get_global(self, rq):
        """GET /applications/{application_id}/commands"""
        return self.command_defs.get(self._scope(rq), [])

    @route("GET", "/applications/{application_id}/guilds/{guild_id}/commands")
    async def _get_guild_cmds(self, rq):
        """GET /applications/{application_id}/guilds/{guild_id}/commands"""
        return self.command_defs.get(self._scope(rq), [])

    @route("POST", "/applications/{application_id}/commands")
    async def _post_global(self, rq):
        """POST /applications/{application_id}/commands"""
        return self._upsert(rq)

    @route("POST", "/applications/{application_id}/guilds/{guild_id}/commands")
    async def _post_guild(self, rq):
        """POST /applications/{application_id}/guilds/{guild_id}/commands"""
        return self._upsert(rq)

    def _upsert(self, rq):
        """Create or replace one command by name."""
        scope = self._scope(rq)
        cmd = self._command_object(scope, self._validated([rq.json])[0])
        cmds = [c for c in self.command_defs.get(scope, []) if c["name"] != cmd["name"]]
        self.command_defs[scope] = cmds + [cmd]
        return 201, cmd

    @route("DELETE", "/applications/{application_id}/commands/{command_id}")
    async def _del_global(self, rq):
        """DELETE /applications/{application_id}/commands/{command_id}"""
        return self._delete_cmd(rq)

    @route("DELETE", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
    async def _del_guild(self, rq):
        """DELETE /applications/{application_id}/guilds/{guild_id}/commands/{command_id}"""
        return self._delete_cmd(rq)

    def _delete_cmd(self, rq):
        """Delete one command."""
        scope = self._scope(rq)
        before = self.command_defs.get(scope, [])
        self.command_defs[scope] = [c for c in before if c["id"] != rq.params["command_id"]]
        if len(before) == len(self.command_defs[scope]):
            raise unknown("command")
        return None

    # ---- callbacks ---------------------------------------------------------------------------
    def _rec_for_callback(self, rq) -> InteractionRecord:
        """The live interaction for a callback, or 404 10062."""
        rec = self.interactions.get(rq.params["token"])
        if rec is None or rec.expired or rec.id != as_int(rq.params["interaction_id"]):
            raise unknown("interaction")
        if self.callback_deadline is not None and rec.callback is None and rec.dispatched_at is not None \
                and self._now() - rec.dispatched_at > self.callback_deadline:
            raise unknown("interaction")
        return rec

    def _new_interaction_message(self, rec: InteractionRecord, flags: int) -> Message:
        """A message authored by the bot via the interaction webhook."""
        user = self.users[rec.user_id].to_json()
        meta = {"id": str(rec.id), "type": rec.type, "user": user,
                "authorizing_integration_owners": rec.payload.get("authorizing_integration_owners", {})}
        if rec.type == 3 and rec.source_message_id:
            meta["interacted_message_id"] = str(rec.source_message_id)
        return Message(snowflake(), rec.channel_id, self.bot_user.id, rec.guild_id, flags=flags,
                       type=20 if rec.type == 2 else 0, webhook_id=self.application_id, interaction=meta)

    @route("POST", "/interactions/{interaction_id}/{token}/callback")
    async def _callback(self, rq):
        """POST /interactions/{interaction_id}/{token}/callback"""
        rec = self._rec_for_callback(rq)
        if rec.callback is not None:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        body = rq.json or {}
        ctype, data = int(body.get("type", 0)), body.get("data") or {}
        allowed = _ALLOWED.get(rec.type, set())
        if rec.type == 5 and not rec.source_message_id:
            allowed = allowed - {6, 7}
        if ctype not in allowed:
            raise invalid_form("type", "INTERACTION_RESPONSE_TYPE_INVALID",
                               f"type {ctype} invalid for interaction type {rec.type}")
        msg = None
        if ctype == 4:
            msg = self._new_interaction_message(rec, int(data.get("flags") or 0) & ~128)
            self._apply_body(msg, data, rq.parts, where=("data",))
        elif ctype == 5:
            msg = self._new_interaction_message(rec, 128 | (int(data.get("flags") or 0) & 64))
        elif ctype in (6, 7):
            msg = self.messages_by_id.get(rec.source_message_id)
            if ctype == 7 and msg is not None:
                self._apply_body(msg, data, rq.parts, edit=True, where=("data",))
        elif ctype == 9:
            limits.check_modal(data)
            rec.modal = data
        elif ctype == 8:
            limits.check_choices(data)
            rec.choices = data.get("choices", [])
        rec.callback, rec.callback_at = {"type": ctype, "data": data}, self._now()
        rec.deferred = ctype in (5, 6)
        if msg is not None:
            rec.original_id, rec.ephemeral = msg.id, msg.ephemeral
            if ctype in (4, 5):
                self.store_message(msg)
            elif ctype == 7:
                self.message_updated(msg)
        self.notify()
        if rq.query.get("with_response", "").lower() not in ("1", "true"):
            return None
        resp = {"interaction": {"id": str(rec.id), "type": rec.type, "activity_instance_id": None,
                                "response_message_id": str(msg.id) if msg else None,
                                "response_message_loading": ctype == 5, "response_message_ephemeral": rec.ephemeral}}
        if ctype in (4, 5, 7) and msg is not None:
            resp["resource"] = {"type": ctype, "message": self.message_json(msg)}
        return resp

    # ---- webhooks --------------------------------------------------------------------------------
    def _rec_for_webhook(self, rq) -> InteractionRecord:
        """The interaction behind /webhooks/{app}/{token}: 404 10015 (unknown / not yet acknowledged), or
        401 50027 Invalid Webhook Token once the token is 15 minutes old (as Discord answers then)."""
        rec = self.interactions.get(rq.params["token"])
        if rec is None or rec.expired or as_int(rq.params["webhook_id"]) != self.application_id or rec.callback is None:
            raise unknown("webhook")
        if rec.dispatched_at is not None and self._now() - rec.dispatched_at >= self.token_lifetime:
            limits.record("401 50027", f"{rq.method} {rq.route}")
            raise ApiError(401, 50027, "Invalid Webhook Token")
        return rec

    def _rec_message(self, rec: InteractionRecord, message_id: str) -> Message:
        """@original or one of the interaction's followups, or 404 10008."""
        mid = rec.original_id if message_id == "@original" else as_int(message_id)
        if mid is None or (mid != rec.original_id and mid not in rec.followup_ids):
            raise unknown("message")
        msg = self.messages_by_id.get(mid)
        if msg is None or msg.deleted:
            raise unknown("message")
        return msg

    @route("GET", "/webhooks/{webhook_id}/{token}/messages/{message_id}")
    async def _wh_get(self, rq):
        """GET /webhooks/{webhook_id}/{token}/messages/{message_id}"""
        rec = self._rec_for_webhook(rq)
        return self.message_json(self._rec_message(rec, rq.params["message_id"]))

    @route("PATCH", "/webhooks/{webhook_id}/{token}/messages/{message_id}")
    async def _wh_edit(self, rq):
        """PATCH /webhooks/{webhook_id}/{token}/messages/{message_id}"""
        rec = self._rec_for_webhook(rq)
        msg = self._rec_message(rec, rq.params["message_id"])
        msg.flags &= ~128
        self._apply_body(msg, rq.json or {}, rq.parts, edit=True)
        rec.edits += 1
        self.message_updated(msg)
        return self.message_json(msg)

    @route("DELETE", "/webhooks/{webhook_id}/{token}/messages/{message_id}")
    async def _wh_delete(self, rq):
        """DELETE /webhooks/{webhook_id}/{token}/messages/{message_id}"""
        rec = self._rec_for_webhook(rq)
        msg = self._rec_message(rec, rq.params["message_id"])
        rec.edits += 1
        self.message_deleted(msg)
        return None

    @route("POST", "/webhooks/{webhook_id}/{token}")
    async def _wh_followup(self, rq):
        """POST /webhooks/{webhook_id}/{token}"""
        rec = self._rec_for_webhook(rq)
        body = rq.json or {}
        original = rec.original_message
        if rec.callback["type"] == 5 and original is not None and original.flags & 128 and not original.deleted \
                and not rec.followup_ids:
            original.flags &= ~128
            self._apply_body(original, {k: v for k, v in body.items() if k != "flags"}, rq.parts, edit=True)
            msg = original
            self.message_updated(msg)
        else:
            msg = self._new_interaction_message(rec, int(body.get("flags") or 0))
            self._apply_body(msg, body, rq.parts)
            self.store_message(msg)
        rec.followup_ids.append(msg.id)
        self.notify()
        if rq.query.get("wait", "").lower() in ("1", "true"):
            return self.message_json(msg)
        return None
