"""ticket_numbers.json (seed 000) and data/tickets.json (seed 004) → fixture rows for tickets.

- ticket_numbers.json: `{"<guild id>": <last number>}` or, in older files, a bare integer for one guild →
  the guild's TicketCounter (never moved backwards on load).
- tickets.json `panels` → TicketPanel (legacy_id = the old message id, legacy_category = its category).
- `tickets` (open, or need_help) and `closed_tickets` → Ticket with legacy_id = code = the old ticket_id,
  category_name = the old category (not linked to a category of this bot), member_ids = `members`;
  `claimed_by`/`claimed_at` → a TicketClaim; closed ones keep `closed_at` and `closed_by`, close_path
  "legacy", resolved when the opener closed it (seed 004's "It works!").
  The old bot had no ticket numbers: tickets get the next numbers after the counter (the file's, or the
  guild's here if higher) by creation time, and the counter ends at the last one. Records of another guild
  (`guild_id`) are skipped and listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Max

from botproject.legacy import scope
from botproject.legacy.progress import Bar
from botproject.legacy.report import Report
from botproject.legacy.source import Invalid, Source, SourceError, jpath, shown, snowflake, whole_points

from ..models import Ticket, TicketCounter
from .records import LegacyTicket, OtherGuild, parse_panel, parse_ticket

PARTS = {"panels": list, "tickets": dict, "closed_tickets": list}
MAX_NUMBER = 2**31 - 1

# --- ticket_numbers.json ----------------------------------------------------------------------------------
def numbers_records(source: Source) -> int:
    data = source.data
    if isinstance(data, dict):
        return len(data) + len(data.duplicates)
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        return 1
    raise SourceError(f"expected {{\"<guild id>\": <last ticket number>}} or a number, found {shown(data)}")


def convert_numbers(source: Source, guild_id: int, report: Report, bar: Bar) -> int | None:
    """The guild's last ticket number, or None when the file has none for it."""
    role, data = source.role, source.data
    counts = report.file(role, source.name)
    counts.records += numbers_records(source)
    if not isinstance(data, dict):
        bar.advance()
        try:
            number = _number(data)
        except Invalid as error:
            report.reject(role, "$", str(error))
            return None
        counts.converted += 1
        return number
    found = None
    for key in dict.fromkeys(data.duplicates):
        extra = data.duplicates.count(key)
        report.reject(role, jpath(key), f"the guild appears {extra + 1} times", records=extra + 1)
        bar.advance(extra)
    for key, value in data.items():
        bar.advance()
        if key in data.duplicates:
            continue
        try:
            guild = snowflake(key, "guild id")
            number = _number(value)
        except Invalid as error:
            report.reject(role, jpath(key), str(error))
            continue
        if guild != guild_id:
            report.skip(role, jpath(key), f"guild {guild} (run convert_legacy --guild {guild} for it)")
            continue
        found = number
        counts.converted += 1
    return found


def _number(value) -> int:
    number = whole_points(value, "last ticket number")
    if number > MAX_NUMBER:
        raise Invalid(f"last ticket number {number} is too large")
    return number


# --- tickets.json -----------------------------------------------------------------------------------------
def tickets_records(source: Source) -> int:
    data = source.data
    if not isinstance(data, dict):
        raise SourceError(f'expected an object {{"panels": [...], "tickets": {{...}}, "closed_tickets": [...]}}, '
                          f"found {shown(data)}")
    if data.duplicates:
        raise SourceError(f"{jpath(data.duplicates[0])} is written more than once (which one is meant?)")
    for name, kind in PARTS.items():
        if name in data and not isinstance(data[name], kind):
            raise SourceError(f"{jpath(name)} should be {'a list' if kind is list else 'an object'}, found "
                              f"{shown(data[name])}")
    tickets = data.get("tickets", {})
    return len(data.get("panels", [])) + len(tickets) + len(tickets.duplicates) + len(data.get("closed_tickets", []))


@dataclass
class TicketsPlan:
    """The converted panels, tickets (numbered) and the counter."""

    panels: list[dict] = field(default_factory=list)
    tickets: list[LegacyTicket] = field(default_factory=list)
    counter: int | None = None


def convert_tickets(source: Source, guild_id: int, report: Report, bar: Bar, *, now: datetime) -> TicketsPlan:
    role, data = source.role, source.data
    counts = report.file(role, source.name)
    counts.records += tickets_records(source)
    for name in data:
        if name not in PARTS:
            report.drop(role, jpath(name), name, "not part of seed 004's tickets.json: ignored")
    plan = TicketsPlan()
    seen_panels: dict[int, str] = {}
    for index, record in enumerate(data.get("panels", [])):
        bar.advance()
        path = jpath("panels", index)
        try:
            panel, notes = parse_panel(record, path, guild_id, now=now)
            if panel["message_id"] in seen_panels:
                raise Invalid(f"the same panel message as {seen_panels[panel['message_id']]}")
        except OtherGuild as other:
            report.skip(role, path, str(other))
            continue
        except Invalid as error:
            report.reject(role, path, str(error))
            continue
        seen_panels[panel["message_id"]] = path
        for note in notes:
            note.emit(role, report)
        plan.panels.append(panel)
    plan.tickets = _tickets(data, guild_id, role, report, bar, now=now)
    _refuse_foreign_channels(plan, guild_id, role, report, panel_paths=seen_panels)
    counts.converted += len(plan.panels) + len(plan.tickets)
    return plan


def _refuse_foreign_channels(plan: TicketsPlan, guild_id: int, role: str, report: Report, *,
                             panel_paths: dict[int, str]) -> None:
    """Reject panels and tickets whose channel the bot has seen in another guild (never bound, never deleted)."""
    foreign = scope.foreign_channels(guild_id, [p["channel_id"] for p in plan.panels] +
                                     [t.channel_id for t in plan.tickets])
    if not foreign:
        return
    kept_panels = []
    for panel in plan.panels:
        owner = foreign.get(panel["channel_id"])
        if owner is None:
            kept_panels.append(panel)
        else:
            report.reject(role, panel_paths[panel["message_id"]], scope.reason(panel["channel_id"], owner, guild_id))
    kept_tickets = []
    for ticket in plan.tickets:
        owner = foreign.get(ticket.channel_id)
        if owner is None:
            kept_tickets.append(ticket)
        else:
            report.reject(role, ticket.path, scope.reason(ticket.channel_id, owner, guild_id))
    plan.panels, plan.tickets = kept_panels, kept_tickets


def _tickets(data, guild_id: int, role: str, report: Report, bar: Bar, *, now: datetime) -> list[LegacyTicket]:
    open_part = data.get("tickets", {})
    for key in dict.fromkeys(open_part.duplicates):
        extra = open_part.duplicates.count(key)
        report.reject(role, jpath("tickets", key), f"the ticket id appears {extra + 1} times in $.tickets",
                      records=extra + 1)
        bar.advance(extra + 1)
    found: list[LegacyTicket] = []
    records = [(jpath("tickets", key), key, value, False) for key, value in open_part.items()
               if key not in open_part.duplicates]
    records += [(jpath("closed_tickets", i), None, value, True)
                for i, value in enumerate(data.get("closed_tickets", []))]
    for path, key, record, archived in records:
        bar.advance()
        try:
            found.append(parse_ticket(record, path, key, archived, guild_id, now=now))
        except OtherGuild as other:
            report.skip(role, path, str(other))
        except Invalid as error:
            report.reject(role, path, str(error))
    return _unique(found, role, report)


def _unique(found: list[LegacyTicket], role: str, report: Report) -> list[LegacyTicket]:
    """One record per ticket id and per channel: an archived record wins over an open one, else the first."""
    by_code: dict[str, LegacyTicket] = {}
    for ticket in sorted(found, key=lambda t: not t.archived):  # stable: archived first, file order kept
        kept = by_code.get(ticket.code)
        if kept is None:
            by_code[ticket.code] = ticket
        elif kept.archived and not ticket.archived:
            report.reject(role, ticket.path, f"ticket id {ticket.code!r} is also archived at {kept.path} "
                                             f"(the archived record is kept)")
        else:
            report.reject(role, ticket.path, f"ticket id {ticket.code!r} is also at {kept.path}")
    by_channel: dict[int, LegacyTicket] = {}
    unique = []
    for ticket in sorted(by_code.values(), key=lambda t: t.order):
        if ticket.channel_id is not None and ticket.channel_id in by_channel:
            report.reject(role, ticket.path, f"channel {ticket.channel_id} is also the channel of "
                                             f"{by_channel[ticket.channel_id].path}")
            continue
        if ticket.channel_id is not None:
            by_channel[ticket.channel_id] = ticket
        unique.append(ticket)
    return unique


def number_tickets(plan: TicketsPlan, guild_id: int, role: str, report: Report) -> list[LegacyTicket]:
    """Give the tickets numbers (keeping those already imported); drop those clashing with this bot's tickets."""
    existing: dict[str, tuple[int, str]] = {}
    codes = [t.code for t in plan.tickets]
    for start in range(0, len(codes), 5000):
        for code, number, legacy_id in Ticket.objects.filter(
                guild__discord_id=guild_id, code__in=codes[start:start + 5000]).values_list(
                "code", "number", "legacy_id"):
            existing[code] = (number, legacy_id)
    channels = [t.channel_id for t in plan.tickets if t.channel_id]
    taken_channels: dict[int, str] = {}
    for start in range(0, len(channels), 5000):
        taken_channels.update(Ticket.objects.filter(channel_id__in=channels[start:start + 5000]).values_list(
            "channel_id", "code"))
    top = max(plan.counter or 0,
              TicketCounter.objects.filter(guild__discord_id=guild_id).values_list("last_number", flat=True).first()
              or 0,
              Ticket.objects.filter(guild__discord_id=guild_id).aggregate(top=Max("number"))["top"] or 0)
    kept = []
    for ticket in plan.tickets:
        number, legacy_id = existing.get(ticket.code, (None, None))
        owner = taken_channels.get(ticket.channel_id)
        if number is not None and not legacy_id:
            report.reject(role, ticket.path, f"ticket code {ticket.code!r} is ticket #{number} of this bot")
            continue
        if owner is not None and owner != ticket.code:
            report.reject(role, ticket.path, f"channel {ticket.channel_id} already belongs to ticket-{owner}")
            continue
        if number is None:
            top += 1
            if top > MAX_NUMBER:
                raise SourceError("too many tickets for the ticket numbers")
            number = top
        else:
            report.notes.append(f"ticket {ticket.code} was imported before as #{number}: it is kept as it is")
        ticket.number = number
        for note in ticket.notes:
            note.emit(role, report)
        kept.append(ticket)
    removed = len(plan.tickets) - len(kept)
    report.files[role].converted -= removed
    plan.tickets = kept
    plan.counter = max([plan.counter or 0, top] + [t.number for t in kept])
    return kept


def fixture_objects(plan: TicketsPlan, guild_id: int) -> list[dict]:
    """Panels, tickets, claims, then the counter (after the tickets, so it is never behind them)."""
    objects = [{"model": "tickets.ticketpanel", "fields": {"guild": [guild_id], **panel}} for panel in plan.panels]
    objects += [t.ticket_object(guild_id) for t in plan.tickets]
    objects += [t.claim_object(guild_id) for t in plan.tickets if t.claimer is not None]
    if plan.counter is not None:
        objects.append({"model": "tickets.ticketcounter", "fields": {"guild": [guild_id],
                                                                      "last_number": plan.counter}})
    return objects

