"""InteractionRecord: what happened to one dispatched interaction."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .state import Message, iter_components


@dataclass(eq=False)
class InteractionRecord:
    """One INTERACTION_CREATE and its callback, edits and followups."""
    emu: Any = field(repr=False)
    id: int
    token: str
    type: int
    payload: dict = field(repr=False)
    guild_id: int | None
    channel_id: int
    user_id: int
    source_message_id: int | None = None
    dispatched_at: float | None = None
    callback: dict | None = None
    callback_at: float | None = None
    deferred: bool = False
    ephemeral: bool = False
    modal: dict | None = None
    choices: list | None = None
    original_id: int | None = None
    followup_ids: list = field(default_factory=list)
    edits: int = 0
    expired: bool = False

    # ---- state -----------------------------------------------------------------------
    @property
    def settled(self) -> bool:
        """An immediate response (1/4/7/8/9) arrived, or after a defer (5/6) the original was edited or a followup
        came."""
        if self.callback is None:
            return False
        if self.callback["type"] in (5, 6):
            return self.edits > 0 or bool(self.followup_ids)
        return True

    @property
    def latency(self) -> float | None:
        """Seconds from dispatch to callback."""
        if self.callback_at is None or self.dispatched_at is None:
            return None
        return self.callback_at - self.dispatched_at

    @property
    def original_message(self) -> Message | None:
        """The original response Message object (None for modal/autocomplete/no callback)."""
        return self.emu.messages_by_id.get(self.original_id) if self.original_id else None

    @property
    def original(self) -> dict | None:
        """The original response as message JSON (after edits), or None."""
        msg = self.original_message
        return None if msg is None else {**self.emu.message_json(msg), "deleted": msg.deleted}

    @property
    def followup_messages(self) -> list[Message]:
        """Followup Message objects in order."""
        return [self.emu.messages_by_id[i] for i in self.followup_ids]

    @property
    def followups(self) -> list[dict]:
        """Followups as message JSON dicts."""
        return [self.emu.message_json(m) for m in self.followup_messages]

    @property
    def latest(self) -> Message | None:
        """The latest visible message: last followup, else the original."""
        msgs = self.followup_messages
        return msgs[-1] if msgs else self.original_message

    @property
    def content(self) -> str | None:
        """Content of the latest message."""
        return self.latest.content if self.latest else None

    @property
    def embeds(self) -> list:
        """Embeds of the latest message."""
        return self.latest.embeds if self.latest else []

    @property
    def components(self) -> list:
        """Components of the latest message (or of the modal)."""
        if self.latest:
            return self.latest.components
        return self.modal.get("components", []) if self.modal else []

    @property
    def all_text(self) -> str:
        """Content + embed titles/descriptions/fields/footers of the latest message, joined by newlines."""
        return self.latest.text() if self.latest else ""

    @property
    def every_text(self) -> str:
        """all_text of the original and every followup, joined."""
        seen, texts = set(), []
        for msg in [self.original_message, *self.followup_messages]:
            if msg is not None and msg.id not in seen:
                seen.add(msg.id)
                texts.append(msg.text())
        return "\n".join(texts)

    @property
    def custom_ids(self) -> list[str]:
        """Every custom_id on the latest message (or modal)."""
        return [c["custom_id"] for c in iter_components(self.components) if c.get("custom_id")]

    def expire(self) -> None:
        """Make the token unknown (callbacks/webhooks then 404)."""
        self.expired = True

    # ---- waiting -------------------------------------------------------------------------
    def describe(self) -> str:
        """Human-readable dump for timeout errors."""
        return (f"interaction {self.id} type={self.type} data={self.payload.get('data')}\n"
                f"  dispatched_at={self.dispatched_at} callback={self.callback} edits={self.edits} "
                f"followups={len(self.followup_ids)} original={self.original}\n{self.emu.debug_dump()}")

    async def wait(self, timeout: float = 5.0) -> InteractionRecord:
        """Wait until settled; raise asyncio.TimeoutError with a dump otherwise."""
        await self.emu.wait_for(lambda: self.settled, timeout, describe=self.describe)
        return self

    async def wait_for(self, predicate: Callable[[InteractionRecord], Any], timeout: float = 5.0):
        """Wait until predicate(self) is truthy; return its value."""
        return await self.emu.wait_for(lambda: predicate(self), timeout, describe=self.describe)

    def __repr__(self) -> str:
        return (f"<InteractionRecord id={self.id} type={self.type} callback={self.callback and self.callback['type']} "
                f"settled={self.settled} content={self.content!r}>")
