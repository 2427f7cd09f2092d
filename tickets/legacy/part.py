"""The tickets app's part of `manage.py convert_legacy` (registered in tickets/apps.py through botproject.registry):
ticket_numbers.json and data/tickets.json → panels, tickets, claims and the counter."""

from __future__ import annotations

from datetime import datetime

from botproject.registry import LegacyFile, LegacyPart

from . import convert as tickets_legacy

FILES = (
    LegacyFile("ticket_numbers", "--ticket-numbers", "ticket_numbers.json (seed 000)", tickets_legacy.numbers_records),
    LegacyFile("tickets", "--tickets", "data/tickets.json of the ticket bot (seed 004)",
               tickets_legacy.tickets_records),
)


def convert(sources: dict, guild_id: int, report, bar, now: datetime) -> LegacyPart:
    """Convert the counter and the tickets that were given (an empty part when neither was)."""
    plan = tickets_legacy.TicketsPlan()
    if "ticket_numbers" in sources:
        plan.counter = tickets_legacy.convert_numbers(sources["ticket_numbers"], guild_id, report, bar)
    if "tickets" in sources:
        counter = plan.counter
        plan = tickets_legacy.convert_tickets(sources["tickets"], guild_id, report, bar, now=now)
        plan.counter = counter
        tickets_legacy.number_tickets(plan, guild_id, "tickets", report)
    elif plan.counter is not None:
        report.notes.append("Only the counter: the guild's tickets continue after it (never below their "
                            "highest number).")
    figures: dict[str, int] = {}
    statuses = [t.status for t in plan.tickets]
    if plan.tickets or plan.panels:
        figures.update(tickets=len(statuses), tickets_open=statuses.count("open"),
                       tickets_need_help=statuses.count("need_help"), tickets_closed=statuses.count("closed"),
                       claims=sum(t.claimer is not None for t in plan.tickets), panels=len(plan.panels))
    if plan.counter is not None:
        figures["ticket_counter"] = plan.counter
    objects = tickets_legacy.fixture_objects(plan, guild_id)
    return LegacyPart(payload=objects, figures=figures, objects=lambda key: objects)
