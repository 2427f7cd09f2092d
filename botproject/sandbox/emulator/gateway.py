"""Gateway websocket: HELLO/heartbeat/IDENTIFY/RESUME/op 8, shard routing, replay buffer and faults."""
from __future__ import annotations

import asyncio
import json
import secrets
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .ids import as_int

GUILDS, GUILD_MEMBERS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT = 1, 1 << 1, 1 << 9, 1 << 12, 1 << 15
_INTENT_FOR = {"GUILD_MEMBER_ADD": GUILD_MEMBERS, "GUILD_MEMBER_UPDATE": GUILD_MEMBERS,
               "GUILD_MEMBER_REMOVE": GUILD_MEMBERS}


@dataclass
class Session:
    """A gateway session (survives disconnects until invalidated)."""
    id: str
    shard: tuple[int, int]
    intents: int
    seq: int = 0
    buffer: list = field(default_factory=list)
    conn: Any = None
    invalid: bool = False


@dataclass
class GatewayDrop:
    """A fault armed by drop_next: the next dispatch of `event` never leaves; the socket fails instead."""
    event: str
    action: str
    code: int = 4000
    shard: int | None = None
    dropped: int = 0
    seq: int | None = None


@dataclass
class GatewayConnection:
    """One websocket connection: where it was dialled and what it did."""
    path: str
    query: dict
    opened_at: float
    kind: str | None = None
    shard: tuple[int, int] | None = None
    session_id: str | None = None
    identify: dict | None = None
    resume_seq: int | None = None
    closed_at: float | None = None
    close_code: int | None = None
    heartbeats: int = 0
    replayed: int = 0
    stopped: bool = False  # a drop_next fault ended sending on this socket
    ws: Any = field(default=None, repr=False)
    queue: Any = field(default=None, repr=False)
    writer: Any = field(default=None, repr=False)
    fault: Any = field(default=None, repr=False)  # the task a drop_next runs on the socket (held: tasks are weak)

    @property
    def open(self) -> bool:
        """Whether the socket is still open."""
        return self.closed_at is None


class GatewayMixin:
    """Serve the gateway on any path and route dispatches to the right shard sessions."""

    def _init_gateway(self) -> None:
        """Create gateway tables and defaults."""
        self.sessions: dict[str, Session] = {}
        self.gateway_connections: list[GatewayConnection] = []
        self.events: list[tuple[str, dict, int | None]] = []
        self.heartbeat_interval = 41250
        self.recommended_shards = 1
        self.max_concurrency = 1  # identifies per 5 s that /gateway/bot allows
        self.resume_gateway_url: str | None = None
        self.gateway_bot_url: str | None = None
        self.gateway_drops: list[GatewayDrop] = []

    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        """Accept a websocket on any path and run the gateway protocol."""
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        conn = GatewayConnection(request.path, dict(request.query), time.monotonic(), ws=ws, queue=asyncio.Queue())
        conn.writer = asyncio.ensure_future(self._ws_writer(conn))
        self.gateway_connections.append(conn)
        self._ws_put(conn, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval}})
        self.notify()
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    try:
                        await self._ws_receive(conn, json.loads(msg.data))
                    except Exception:  # an emulator bug: record it and drop the socket
                        self.errors.append(f"gateway {conn.path}: {traceback.format_exc()}")
                        await self._ws_close(conn, 4000)
        finally:
            conn.writer.cancel()
            conn.closed_at = time.monotonic()
            conn.close_code = conn.close_code or ws.close_code
            for s in self.sessions.values():
                if s.conn is conn:
                    s.conn = None
            self.notify()
        return ws

    async def _ws_writer(self, conn: GatewayConnection) -> None:
        """Send queued frames in order, calling each frame's on_send hook just before sending."""
        while True:
            frame, on_send = await conn.queue.get()
            if on_send is not None:
                on_send()
            if self.gateway_drops and self._drop_here(conn, frame):
                return
            try:
                await conn.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return

    def _drop_here(self, conn: GatewayConnection, frame: str) -> bool:
        """Apply an armed drop_next to this frame: fail the socket before it is sent (it stays in the replay buffer)."""
        payload = json.loads(frame)
        shard = (conn.shard or (0, 1))[0]
        drop = next((d for d in self.gateway_drops if d.dropped == 0 and payload.get("t") == d.event
                     and (d.shard is None or d.shard == shard)), None)
        if drop is None:
            return False
        drop.dropped, drop.seq, conn.stopped = 1, payload.get("s"), True
        while not conn.queue.empty():  # frames behind it are lost with it (replayed on RESUME); their clocks run
            _frame, hook = conn.queue.get_nowait()
            if hook is not None:
                hook()
        session = self._session_of(conn)
        if drop.action == "close":
            conn.fault = asyncio.ensure_future(conn.ws.close(code=drop.code))
            conn.close_code = drop.code
        elif drop.action == "reconnect":
            conn.fault = asyncio.ensure_future(conn.ws.send_str(json.dumps({"op": 7, "d": None})))
        else:  # "invalidate": op 9; a resumable one keeps the session (the frame is replayed), else it is lost
            if session is not None and drop.action == "invalidate":
                session.invalid = True
            resumable = drop.action == "invalidate_resumable"
            conn.fault = asyncio.ensure_future(conn.ws.send_str(json.dumps({"op": 9, "d": resumable})))
        self.notify()
        return True

    def drop_next(self, event: str = "INTERACTION_CREATE", action: str = "close", code: int = 4000,
                  shard: int | None = None) -> GatewayDrop:
        """Lose the next `event` dispatch in flight, as when a connection dies with frames unsent.

        The frame is sequenced and buffered but never sent on this socket, and nothing after it is either;
        then: `close` (close code `code`; the client resumes and gets it replayed), `reconnect` (op 7, then the
        same), `invalidate_resumable` (op 9 d=true, the same), or `invalidate` (op 9 d=false: the session is
        gone and so is the event, as on Discord).
        """
        drop = GatewayDrop(event, action, code, shard)
        self.gateway_drops.append(drop)
        return drop

    def _ws_put(self, conn: GatewayConnection, payload: dict, on_send: Callable | None = None) -> None:
        """Queue one TEXT JSON frame on a connection."""
        conn.queue.put_nowait((json.dumps(payload), on_send))

    async def _ws_close(self, conn: GatewayConnection, code: int) -> None:
        """Close a connection with a gateway close code."""
        conn.close_code = code
        conn.writer.cancel()
        await conn.ws.close(code=code)

    async def _ws_receive(self, conn: GatewayConnection, msg: dict) -> None:
        """Handle one client op."""
        op, d = msg.get("op"), msg.get("d")
        if op == 1:
            conn.heartbeats += 1
            self._ws_put(conn, {"op": 11})
        elif op == 2:
            await self._identify(conn, d)
        elif op == 6:
            await self._resume(conn, d)
        elif op == 8:
            self._request_members(conn, d)
        self.notify()

    def _session_of(self, conn: GatewayConnection) -> Session | None:
        """The session attached to a connection."""
        return next((s for s in self.sessions.values() if s.conn is conn), None)

    async def _identify(self, conn: GatewayConnection, d: dict) -> None:
        """IDENTIFY → READY + GUILD_CREATE for the shard's guilds."""
        if d.get("token") != self.token:
            await self._ws_close(conn, 4004)
            return
        shard = tuple(d.get("shard") or (0, 1))
        if shard[0] >= shard[1]:
            await self._ws_close(conn, 4010)
            return
        for old in self.sessions.values():
            if old.shard == shard:
                old.invalid = True
        session = Session(secrets.token_hex(16), shard, int(d.get("intents", 0)), conn=conn)
        self.sessions[session.id] = session
        conn.kind, conn.shard, conn.session_id, conn.identify = "identify", shard, session.id, d
        guilds = [g for g in self.guilds.values() if g.bot_joined and self._in_shard(g.id, shard)]
        ready = {"v": 10, "user": self.bot_user.to_json(),
                 "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
                 "session_id": session.id, "resume_gateway_url": self.resume_gateway_url, "session_type": "normal",
                 "application": {"id": str(self.application_id), "flags": 0}, "private_channels": [],
                 "relationships": [], "user_settings": {}, "geo_ordered_rtc_regions": [], "guild_join_requests": []}
        if d.get("shard") is not None:
            ready["shard"] = list(shard)
        self._send_event(session, "READY", ready)
        for g in guilds:
            self._send_event(session, "GUILD_CREATE", self.guild_create_json(g, bool(session.intents & GUILD_MEMBERS)))

    async def _resume(self, conn: GatewayConnection, d: dict) -> None:
        """RESUME → replay events after seq, then RESUMED; or op 9 (false) if the session is gone."""
        session = self.sessions.get(d.get("session_id"))
        conn.kind, conn.resume_seq = "resume", d.get("seq")
        if session is None or session.invalid or d.get("token") != self.token:
            self._ws_put(conn, {"op": 9, "d": False})
            return
        if session.conn is not None and session.conn is not conn:
            await self._ws_close(session.conn, 4000)
        session.conn, conn.shard, conn.session_id = conn, session.shard, session.id
        after = d.get("seq") or 0
        for seq, frame in session.buffer:
            if seq > after:
                conn.queue.put_nowait((frame, None))
                conn.replayed += 1
        self._send_event(session, "RESUMED", {})

    def _request_members(self, conn: GatewayConnection, d: dict) -> None:
        """REQUEST_GUILD_MEMBERS → one GUILD_MEMBERS_CHUNK per guild."""
        session = self._session_of(conn)
        ids = d.get("guild_id")
        for gid in ids if isinstance(ids, list) else [ids]:
            guild = self.guilds.get(as_int(gid))
            if session is None or guild is None:
                continue
            members = list(guild.members.values())
            if d.get("user_ids"):
                wanted = {as_int(u) for u in d["user_ids"]}
                members = [m for m in members if m.user_id in wanted]
            elif d.get("query"):
                members = [m for m in members if self.users[m.user_id].username.startswith(d["query"])]
            if d.get("limit"):
                members = members[: d["limit"]]
            chunk = {"guild_id": str(guild.id), "members": [self.member_json(guild, m) for m in members],
                     "chunk_index": 0, "chunk_count": 1, "not_found": [], "presences": []}
            if d.get("nonce") is not None:
                chunk["nonce"] = d["nonce"]
            self._send_event(session, "GUILD_MEMBERS_CHUNK", chunk)

    @staticmethod
    def _in_shard(guild_id: int, shard: tuple[int, int]) -> bool:
        """Discord's shard formula."""
        return (guild_id >> 22) % shard[1] == shard[0]

    def _send_event(self, session: Session, event: str, data: dict, on_send: Callable | None = None) -> None:
        """Sequence an event for a session, buffer it for replay, and send it if connected."""
        session.seq += 1
        frame = json.dumps({"op": 0, "t": event, "s": session.seq, "d": data})
        session.buffer.append((session.seq, frame))
        del session.buffer[:-2000]
        conn = session.conn
        if conn is not None and conn.close_code is None and conn.closed_at is None and not conn.stopped:
            conn.queue.put_nowait((frame, on_send))
        elif on_send is not None:  # no socket to send it on now: replayed on RESUME, but Discord's clock runs
            on_send()

    def live_sessions(self) -> list[Session]:
        """Sessions that are not invalidated."""
        return [s for s in self.sessions.values() if not s.invalid]

    def dispatch(self, event: str, data: dict, guild_id: int | None = None, on_send: Callable | None = None,
                 shape: Callable[[Session, dict], dict | None] | None = None) -> int:
        """Send an event to every live session owning guild_id (shard 0 for DMs); return how many got it."""
        sent = 0
        for s in self.live_sessions():
            if guild_id is not None and not self._in_shard(guild_id, s.shard):
                continue
            if guild_id is None and s.shard[0] != 0:
                continue
            need = _INTENT_FOR.get(event)
            if need and not s.intents & need:
                continue
            payload = shape(s, data) if shape else data
            if payload is None:
                continue
            self._send_event(s, event, payload, on_send)
            sent += 1
        self.events.append((event, data, guild_id))
        self.notify()
        return sent

    def events_named(self, event: str) -> list[dict]:
        """Data of every dispatched event with this name."""
        return [d for e, d, _ in self.events if e == event]

    def _conns(self, shard: int | None) -> list[GatewayConnection]:
        """Open connections, optionally only those of one shard id."""
        return [c for c in self.gateway_connections if c.open and (shard is None or (c.shard or (0, 1))[0] == shard)]

    async def close_gateway(self, code: int = 4000, shard: int | None = None, invalidate: bool | None = None) -> int:
        """Close open gateway sockets with a close code (4007/4009 also invalidate the session)."""
        invalidate = code in (4007, 4009) if invalidate is None else invalidate
        conns = self._conns(shard)
        for conn in conns:
            session = self._session_of(conn)
            if session is not None and invalidate:
                session.invalid = True
            await self._ws_close(conn, code)
        self.notify()
        return len(conns)

    def invalidate_session(self, resumable: bool = False, shard: int | None = None) -> int:
        """Send op 9 INVALID_SESSION(d=resumable); non-resumable sessions are dropped."""
        conns = self._conns(shard)
        for conn in conns:
            session = self._session_of(conn)
            if session is not None and not resumable:
                session.invalid = True
            self._ws_put(conn, {"op": 9, "d": resumable})
        self.notify()
        return len(conns)

    def request_reconnect(self, shard: int | None = None) -> int:
        """Send op 7 RECONNECT (the client resumes)."""
        conns = self._conns(shard)
        for conn in conns:
            self._ws_put(conn, {"op": 7, "d": None})
        return len(conns)

    def identified(self, shard: int | None = None) -> list[GatewayConnection]:
        """Connections that completed IDENTIFY (optionally for one shard id)."""
        return [c for c in self.gateway_connections if c.kind == "identify" and (shard is None or c.shard[0] == shard)]
