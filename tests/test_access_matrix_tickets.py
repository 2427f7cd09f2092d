"""Who may press which ticket button: every ticket button × owner, admin, staff, helper, the opener, another member
and a blocked member, end to end through the emulator.

Discord only shows a ticket's buttons to those who can see its channel (or the opener's DMs); these cases press
them as anyone, as a modified client could, to prove the bot decides from the ticket's row and the member's roles
and not from who was shown the button. A refused press is ephemeral and changes nothing.
"""

import pytest

from tests.conftest import eventually
from tests.test_tickets_auto_e2e import _ticket
from tests.test_tickets_e2e import _panel
from tickets.models import Ticket, TicketCategory, TicketClaim, TicketCloseRequest, TicketRating

WHO = ["owner", "admin", "staff", "helper", "member", "granted", "blocked"]  # "member" opens every ticket
STAFF = {"owner", "admin", "staff"}
BLOCKED = "You are blocked from using this in this server."


def _not_opener(world):
    return f"Only <@{world.member}>, who opened this ticket, can do that."


# case: (who may press it, the refusal the others get (by who, else "*"))
CASES = {
    "works": ({"member"}, {"*": _not_opener}),
    "help": ({"member"}, {"*": _not_opener}),
    "close": (STAFF, {"*": lambda w: "Only staff can close this ticket."}),
    "claim": (STAFF | {"helper"}, {"*": lambda w: "Only helpers and staff can claim tickets."}),
    "closeaccept": ({"member"}, {"*": _not_opener}),
    "closedeny": ({"member"}, {"*": _not_opener}),
    "rate": ({"member"}, {"*": lambda w: "Only the member who opened this ticket can rate it."}),
    # The button is in the opener's DMs, where a press carries no server roles: staff reopen with /ticket reopen
    # in the server (tests/test_access_matrix.py), so a press by anyone else is refused.
    "reopen": ({"member"}, {"blocked": lambda w: BLOCKED,
                                    "*": lambda w: "Only staff and the member who opened this ticket can reopen it."}),
    "open": (set(WHO) - {"blocked"}, {"*": lambda w: BLOCKED}),
}


def _closed_by_staff(bot, ticket, welcome):
    """Close the ticket as staff and wait for its channel to go and the opener's DMs (transcript, rating)."""
    emu, world = bot.emulator, bot.world
    before = len(emu.dms(world.member))
    bot.click("staff", welcome, f"ticket:close:{ticket.pk}")
    emu.wait_for(lambda: emu.channel(ticket.channel_id) is None, timeout=10)
    return before


def _dm_with(bot, before, custom_id):
    emu, world = bot.emulator, bot.world
    emu.wait_for(lambda: any(custom_id in _ids(m) for m in emu.dms(world.member)[before:]), timeout=10)
    return next(m for m in emu.dms(world.member)[before:] if custom_id in _ids(m))


def _ids(message) -> list[str]:
    return [c.get("custom_id") for row in message.components or [] for c in row["components"]]


def _setup(bot, case):
    """(the message carrying the button, its custom_id, whether the press is in a DM, what it changes)."""
    if case == "open":
        return _panel(bot), f"ticket:open:{bot.category_id}", False, lambda: Ticket.objects.count()
    ticket, welcome = _ticket(bot)
    pk = ticket.pk

    def row():
        t = Ticket.objects.get(pk=pk)
        return (t.status, t.close_path, TicketClaim.objects.filter(ticket_id=pk).count(),
                list(TicketCloseRequest.objects.filter(ticket_id=pk).values_list("outcome", flat=True)),
                TicketRating.objects.filter(ticket_id=pk).count(), t.channel_id)

    if case in ("works", "help", "close", "claim"):
        return welcome, f"ticket:{case}:{pk}", False, row
    if case in ("closeaccept", "closedeny"):
        asked = bot.slash("staff", "ticket closerequest", channel_id=ticket.channel_id)
        return asked, f"ticket:{case}:{pk}", False, row
    before = _closed_by_staff(bot, ticket, welcome)
    custom_id = f"ticket:rate:{pk}:4" if case == "rate" else f"ticket:reopen:{pk}"
    return _dm_with(bot, before, custom_id), custom_id, True, row


@pytest.mark.parametrize("case", CASES)
def test_ticket_button_access(tickets_bot, case):
    """The refused presses on one ticket (each ephemeral with its reason, nothing changed), then each allowed press,
    on a fresh ticket where the press before closed it or answered its close request."""
    bot, world, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    allowed, refusals = CASES[case]
    if case == "claim":  # everyone allowed claims the same ticket: a slot each
        TicketCategory.objects.filter(pk=bot.category_id).update(helper_slots=len(allowed))
    message, custom_id, in_dm, state = _setup(bot, case)
    before = state()

    def press(who):
        return emu.click(None if in_dm else world.guild_id, getattr(world, who), message, custom_id, timeout=10)

    for who in (w for w in WHO if w not in allowed):
        rec = press(who)
        expected = refusals.get(who, refusals["*"])(world)
        assert rec.ephemeral and rec.content == expected and rec.modal is None, f"{who}: {rec.content!r}"
        assert state() == before, f"{who}'s refused press changed the ticket"
    for n, who in enumerate(w for w in WHO if w in allowed):
        if n and case not in ("open", "claim"):  # the other presses close the ticket or answer its request
            message, custom_id, in_dm, state = _setup(bot, case)
        before = state()
        rec = press(who)
        assert rec.content not in {refusal(world) for refusal in refusals.values()}, f"{who}: {rec.content!r}"
        if case == "rate":
            assert rec.modal and rec.modal["custom_id"] == custom_id.rsplit(":", 1)[0].replace("rate", "ratenote")
        else:
            eventually(lambda state=state, before=before: state() != before, timeout=10)
    assert emu.unknown_routes == []
