"""One panel or ticket of seed 004's tickets.json, validated; see tickets.legacy.convert for the mapping."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from botproject.legacy.fixture import iso
from botproject.legacy.report import Note
from botproject.legacy.source import Invalid, jpath, optional_snowflake, optional_timestamp, shown, snowflake, text

PANEL_FIELDS = {"message_id", "channel_id", "guild_id", "category", "created_at"}
TICKET_FIELDS = {"ticket_id", "user_id", "channel_id", "guild_id", "category", "claimed_by", "claimed_at",
                 "created_at", "closed", "closed_at", "closed_by", "members", "status"}
OPEN, NEED_HELP, CLOSED = "open", "need_help", "closed"
CODE_MAX, CATEGORY_MAX = 32, 100


class OtherGuild(Exception):
    """The record belongs to another guild (its guild_id)."""


def _common(record, path: str, guild_id: int, what: str, known: set[str], notes: list[Note]) -> None:
    if not isinstance(record, dict):
        raise Invalid(f"{what} should be an object, found {shown(record)}")
    if record.duplicates:
        raise Invalid(f"field {shown(record.duplicates[0])} is written more than once")
    if record.get("guild_id") is not None:
        guild = snowflake(record["guild_id"], "guild_id")
        if guild != guild_id:
            raise OtherGuild(f"guild {guild} (run convert_legacy --guild {guild} for it)")
    for name in record:
        if name not in known:
            notes.append(Note(f"{path}{jpath(name)[1:]}", f"not a field of seed 004's {what}s: ignored",
                              f"{what}.{name}"))


def parse_panel(record, path: str, guild_id: int, *, now: datetime) -> tuple[dict, list[Note]]:
    """A panel → TicketPanel fields (without the guild)."""
    notes: list[Note] = []
    _common(record, path, guild_id, "panel", PANEL_FIELDS, notes)
    if record.get("message_id") is None:
        raise Invalid("no message_id (a panel is known by its message)")
    if record.get("channel_id") is None:
        raise Invalid("no channel_id")
    message_id = snowflake(record["message_id"], "message_id")
    panel = {"legacy_id": str(message_id), "channel_id": snowflake(record["channel_id"], "channel_id"),
             "message_id": message_id,
             "legacy_category": text(record.get("category") or "", "category", max_length=CATEGORY_MAX)}
    created = optional_timestamp(record.get("created_at"), "created_at", now=now)
    if created is not None:
        panel["created_at"] = iso(created)
    else:
        notes.append(Note(path, "created_at missing: the time of loading is used"))
    return panel, notes


@dataclass
class LegacyTicket:
    """A ticket of the old bot, checked, ready to become a Ticket (and a TicketClaim)."""

    path: str
    code: str
    opener: int
    status: str
    archived: bool
    channel_id: int | None = None
    category: str = ""
    created_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: int | None = None
    claimer: int | None = None
    claimed_at: datetime | None = None
    members: list[int] = field(default_factory=list)
    number: int = 0
    notes: list[Note] = field(default_factory=list)

    @property
    def order(self) -> tuple:
        """Numbering order: by creation time (unknown last), then code."""
        return (self.created_at is None, self.created_at.isoformat() if self.created_at else "", self.code)

    def ticket_object(self, guild_id: int) -> dict:
        closed = self.status == CLOSED
        fields = {
            "guild": [guild_id], "number": self.number, "code": self.code, "legacy_id": self.code,
            "category_name": self.category, "opener_id": self.opener, "slot": None if closed else 1,
            "status": self.status, "channel_id": self.channel_id, "member_ids": self.members,
            "closed_at": iso(self.closed_at) if self.closed_at else None, "closed_by_id": self.closed_by,
            "close_path": "legacy" if closed else "", "resolved": closed and self.closed_by == self.opener,
        }
        if self.created_at is not None:
            fields["created_at"] = iso(self.created_at)
            if self.channel_id is not None:
                fields["opened_at"] = fields["created_at"]
        return {"model": "tickets.ticket", "fields": fields}

    def claim_object(self, guild_id: int) -> dict:
        fields = {"ticket": [guild_id, self.code], "user_id": self.claimer, "slot": 1}
        if self.claimed_at is not None:
            fields["claimed_at"] = iso(self.claimed_at)
        return {"model": "tickets.ticketclaim", "fields": fields}


def parse_ticket(record, path: str, key: str | None, archived: bool, guild_id: int, *,
                 now: datetime) -> LegacyTicket:
    """A ticket of `tickets` (key = its key there) or of `closed_tickets` (archived)."""
    notes: list[Note] = []
    _common(record, path, guild_id, "ticket", TICKET_FIELDS, notes)
    raw_id = record.get("ticket_id", key)
    code = text(raw_id if raw_id is not None else "", "ticket_id", max_length=CODE_MAX)
    if not code or any(c.isspace() or not c.isprintable() for c in code):
        raise Invalid(f"ticket_id {shown(raw_id)} cannot name a channel")
    if key is not None and "ticket_id" in record and code != key.strip():
        raise Invalid(f"ticket_id {shown(raw_id)} differs from its key {shown(key)}")
    if record.get("user_id") is None:
        raise Invalid("no user_id (who opened the ticket)")
    opener = snowflake(record["user_id"], "user_id")
    status = record.get("status")
    if status is not None and status not in (OPEN, NEED_HELP, CLOSED):
        raise Invalid(f"status {shown(status)} is not open, need_help or closed")
    closed_flag = record.get("closed")
    if closed_flag is not None and not isinstance(closed_flag, bool):
        raise Invalid(f"closed {shown(closed_flag)} is not true or false")
    ticket = LegacyTicket(path, code, opener, status or OPEN, archived, notes=notes)
    ticket.channel_id = optional_snowflake(record.get("channel_id"), "channel_id")
    ticket.category = text(record.get("category") or "", "category", max_length=CATEGORY_MAX)
    ticket.created_at = optional_timestamp(record.get("created_at"), "created_at", now=now)
    ticket.closed_at = optional_timestamp(record.get("closed_at"), "closed_at", now=now)
    ticket.closed_by = optional_snowflake(record.get("closed_by"), "closed_by")
    ticket.claimer = optional_snowflake(record.get("claimed_by"), "claimed_by")
    ticket.claimed_at = optional_timestamp(record.get("claimed_at"), "claimed_at", now=now)
    members = record.get("members")
    if members is None:
        ticket.members = [opener]
    elif not isinstance(members, list):
        raise Invalid(f"members {shown(members)} is not a list")
    else:
        ticket.members = list(dict.fromkeys(snowflake(m, f"members[{i}]") for i, m in enumerate(members)))
    _settle(ticket, closed_flag, status)
    return ticket


def _settle(ticket: LegacyTicket, closed_flag: bool | None, status: str | None) -> None:
    """Status and times: archived, closed=true or status closed means closed (with a closing time)."""
    path, notes = ticket.path, ticket.notes
    if ticket.archived or closed_flag is True or status == CLOSED:
        if closed_flag is False or status in (OPEN, NEED_HELP):
            why = "it is in closed_tickets" if ticket.archived else "closed is true"
            field_name, value = ("closed", False) if closed_flag is False else ("status", status)
            notes.append(Note(f"{path}.{field_name}", f"closed, as {why}: {field_name} {shown(value)} ignored"))
        if ticket.closed_at is None:
            raise Invalid("closed, but no closed_at (when it closed)")
        if ticket.created_at is None:
            ticket.created_at = ticket.closed_at
            notes.append(Note(path, "created_at missing: the closing time is used"))
        if ticket.closed_at < ticket.created_at:
            raise Invalid(f"closed_at {iso(ticket.closed_at)} is before created_at {iso(ticket.created_at)}")
        ticket.status = CLOSED
    else:
        for name in ("closed_at", "closed_by"):
            if getattr(ticket, name) is not None:
                notes.append(Note(f"{path}.{name}", "the ticket is open: ignored", f"ticket.{name} (open ticket)"))
                setattr(ticket, name, None)
        if ticket.created_at is None:
            notes.append(Note(path, "created_at missing: the time of loading is used"))
    if ticket.claimer is None and ticket.claimed_at is not None:
        notes.append(Note(f"{path}.claimed_at", "no claimed_by: nobody to record the claim for",
                          "ticket.claimed_at (no claimer)"))
        ticket.claimed_at = None
    if ticket.claimer is not None and ticket.claimed_at is None:
        ticket.claimed_at = ticket.created_at
        if ticket.created_at is not None:
            notes.append(Note(path, "claimed_at missing: the ticket's creation time is used"))
