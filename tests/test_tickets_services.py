"""Tickets without Discord: the lifecycle services (open, channel, claim, close, open again), the database's
one-open-ticket-per-member-and-category rule, refusals that write nothing, the one "ticket staff" rule and the
admin site user recorded on an admin close. Each test asserts the rows the services leave."""

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from botproject import services as core
from botproject.models import OutboxMessage
from botproject.selectors import Access, ConfigSnapshot, MemberAccess
from points.models import LedgerEntry
from tickets import metrics, selectors, services
from tickets.exceptions import (
    AlreadyClaimed,
    AtLimit,
    ClaimRefused,
    NotATicket,
    NotOpener,
    OwnTicket,
    SlotsFull,
    StaffOnly,
    TicketClosed,
    UnknownCategory,
    UnknownPanel,
)
from tickets.models import Ticket, TicketCategory, TicketClaim, TicketCounter, TicketPanel, TicketTranscript

GUILD, OTHER_GUILD = 601, 602
STAFF_ROLE, HELPER_ROLE, ADMIN_ROLE, CATEGORY_ROLE = 6011, 6012, 6013, 6014
OPENER, HELPER, STAFF, OTHER_HELPER, STRANGER = 11, 12, 13, 14, 15


@pytest.fixture
def guild(db):
    """A guild with staff, helper and admin roles, a log channel, and a category paying 5 points to 2 helpers."""
    core.config_set_role(guild_id=GUILD, kind="staff", role_id=STAFF_ROLE)
    core.config_set_role(guild_id=GUILD, kind="helper", role_id=HELPER_ROLE)
    core.config_set_role(guild_id=GUILD, kind="admin", role_id=ADMIN_ROLE)
    core.config_update(guild_id=GUILD, changes={"log_channel_id": 6099})
    return services.category_create(guild_id=GUILD, name="Bugs", helper_points=5, helper_slots=2)


def _open(category_id: int, opener: int = OPENER, channel_id: int = 9001):
    ticket = services.ticket_open(guild_id=GUILD, category_id=category_id, opener_id=opener)
    return services.ticket_channel_created(guild_id=GUILD, ticket_id=ticket.id, channel_id=channel_id)


def _rows() -> tuple:
    """Everything a ticket write may leave behind."""
    return (list(Ticket.objects.values_list("pk", "status", "closed_at", "member_ids").order_by("pk")),
            TicketClaim.objects.count(), OutboxMessage.objects.count(), LedgerEntry.objects.count(),
            list(TicketCounter.objects.values_list("last_number", flat=True)))


def test_open_reserves_a_pending_ticket_then_the_channel_opens_it(guild):
    pending = services.ticket_open(guild_id=GUILD, category_id=guild, opener_id=OPENER)
    row = Ticket.objects.get(pk=pending.id)
    assert (row.status, row.number, row.slot, row.channel_id, row.member_ids) == ("pending", 1, 1, None, [OPENER])
    assert (row.category_id, row.category_name, len(row.code)) == (guild, "Bugs", 6)
    assert TicketCounter.objects.get(guild__discord_id=GUILD).last_number == 1
    opened = services.ticket_channel_created(guild_id=GUILD, ticket_id=pending.id, channel_id=9001)
    services.ticket_welcome_sent(ticket_id=pending.id, message_id=9101)
    row.refresh_from_db()
    assert (opened.status, row.status, row.channel_id, row.welcome_message_id) == ("open", "open", 9001, 9101)
    assert row.opened_at is not None
    # The channel of another guild's ticket id is not recorded: the ticket id resolves through its own guild.
    with pytest.raises(NotATicket):
        services.ticket_channel_created(guild_id=OTHER_GUILD, ticket_id=pending.id, channel_id=9002)
    assert Ticket.objects.get(pk=pending.id).channel_id == 9001


def test_one_open_ticket_per_member_and_category_then_open_again_after_the_close(guild):
    first = _open(guild)
    before = _rows()
    with pytest.raises(AtLimit) as refused:
        services.ticket_open(guild_id=GUILD, category_id=guild, opener_id=OPENER)
    assert "<#9001>" in refused.value.user_message()
    assert _rows() == before  # the refused opening took no number either
    # The database holds the rule itself: a second open row in the same slot is refused.
    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.create(guild=Ticket.objects.get(pk=first.id).guild, number=99, code="dupdup",
                              category_id=guild, opener_id=OPENER, slot=1, status="open")
    # Another category, another member: each their own slot.
    other = services.category_create(guild_id=GUILD, name="Payments")
    assert services.ticket_open(guild_id=GUILD, category_id=other, opener_id=OPENER).status == "pending"
    assert services.ticket_open(guild_id=GUILD, category_id=guild, opener_id=STRANGER).status == "pending"
    # A failed creation frees its slot; so does a close: the member opens a new ticket in the category.
    services.ticket_close(guild_id=GUILD, ticket_id=first.id, actor_id=OPENER, is_staff=False, opener_may=True)
    again = _open(guild, channel_id=9003)
    assert (again.number, Ticket.objects.get(pk=again.id).slot) == (4, 1)
    assert Ticket.objects.filter(opener_id=OPENER, category_id=guild).count() == 2
    services.ticket_fail(ticket_id=Ticket.objects.get(opener_id=STRANGER).pk, error="no channel")
    assert Ticket.objects.get(opener_id=STRANGER).status == "failed"
    assert services.ticket_open(guild_id=GUILD, category_id=guild, opener_id=STRANGER).status == "pending"


def test_bad_input_is_refused_and_writes_nothing(guild):
    foreign = services.category_create(guild_id=OTHER_GUILD, name="Elsewhere")
    inactive = services.category_create(guild_id=GUILD, name="Old")
    TicketCategory.objects.filter(pk=inactive).update(active=False)
    other_panel = services.panel_create(guild_id=OTHER_GUILD, channel_id=7001)
    panel = TicketPanel.objects.create(guild=TicketCategory.objects.get(pk=guild).guild, channel_id=7002)
    panel.categories.add(inactive)  # the panel offers only "Old": not "Bugs"
    before = _rows()
    for category_id, panel_id, error in [(999_999, None, UnknownCategory), (foreign, None, UnknownCategory),
                                         (inactive, None, UnknownCategory), (guild, other_panel.id, UnknownPanel),
                                         (guild, 999_999, UnknownPanel), (guild, panel.pk, UnknownCategory)]:
        with pytest.raises(error) as refused:
            services.ticket_open(guild_id=GUILD, category_id=category_id, opener_id=OPENER, panel_id=panel_id)
        assert refused.value.user_message()  # a clear, translated sentence
    assert _rows() == before
    assert not Ticket.objects.exists() and not TicketCounter.objects.exists()


def test_claims_then_a_staff_close_pays_the_helpers(guild, django_capture_on_commit_callbacks):
    ticket = _open(guild)
    with pytest.raises(ClaimRefused):
        services.ticket_claim(guild_id=GUILD, ticket_id=ticket.id, actor_id=STRANGER, may_claim=False)
    with pytest.raises(OwnTicket):
        services.ticket_claim(guild_id=GUILD, ticket_id=ticket.id, actor_id=OPENER, may_claim=True)
    claimed = services.ticket_claim(guild_id=GUILD, ticket_id=ticket.id, actor_id=HELPER, may_claim=True)
    assert claimed.claimers == (HELPER,)
    with pytest.raises(AlreadyClaimed):
        services.ticket_claim(guild_id=GUILD, ticket_id=ticket.id, actor_id=HELPER, may_claim=True)
    services.ticket_claim(guild_id=GUILD, ticket_id=ticket.id, actor_id=OTHER_HELPER, may_claim=True)
    with pytest.raises(SlotsFull):
        services.ticket_claim(guild_id=GUILD, ticket_id=ticket.id, actor_id=STAFF, may_claim=True)
    row = Ticket.objects.get(pk=ticket.id)
    assert list(TicketClaim.objects.filter(ticket=row).order_by("slot").values_list("user_id", "slot")) == [
        (HELPER, 1), (OTHER_HELPER, 2)]
    assert (row.member_ids, row.first_responder_id) == ([OPENER, HELPER, OTHER_HELPER], HELPER)

    before = _rows()
    for who, error in [(STRANGER, StaffOnly), (HELPER, StaffOnly)]:  # neither staff nor the opener
        with pytest.raises(error):
            services.ticket_close(guild_id=GUILD, ticket_id=ticket.id, actor_id=who, is_staff=False, opener_may=True)
    with pytest.raises(NotOpener):
        services.ticket_works(guild_id=GUILD, ticket_id=ticket.id, actor_id=STAFF)
    assert _rows() == before

    with django_capture_on_commit_callbacks(execute=True):
        result = services.ticket_close(guild_id=GUILD, ticket_id=ticket.id, actor_id=STAFF, is_staff=True,
                                       reason="fixed")
    row.refresh_from_db()
    assert (row.status, row.close_path, row.closed_by_id, row.resolved, row.close_reason, row.slot) == (
        "closed", "staff", STAFF, True, "fixed", 1)
    assert row.closed_at is not None and row.closed_by_admin is None
    assert result.awarded == ((HELPER, 5), (OTHER_HELPER, 5))
    assert list(TicketClaim.objects.order_by("slot").values_list("points_awarded", flat=True)) == [5, 5]
    assert sorted(LedgerEntry.objects.filter(kind="helper").values_list("member__user_id", "delta")) == [
        (HELPER, 5), (OTHER_HELPER, 5)]
    assert OutboxMessage.objects.filter(dedupe_key=f"ticket:{row.pk}:delete", kind="chan_del").exists()
    note = OutboxMessage.objects.get(dedupe_key=f"ticket:{row.pk}:closed")
    assert f"closed by <@{STAFF}>" in note.content and "<@12> +5" in note.content
    assert TicketTranscript.objects.filter(ticket=row).exists()  # stored right after the close committed
    # Closed is closed: a second close or It works! writes nothing more.
    before = _rows()
    with pytest.raises(TicketClosed):
        services.ticket_close(guild_id=GUILD, ticket_id=ticket.id, actor_id=STAFF, is_staff=True)
    with pytest.raises(TicketClosed):
        services.ticket_works(guild_id=GUILD, ticket_id=ticket.id, actor_id=OPENER)
    assert _rows() == before


def test_it_works_closes_as_resolved_and_need_help_marks_the_ticket(guild):
    ticket = _open(guild)
    helped = services.ticket_need_help(guild_id=GUILD, ticket_id=ticket.id, actor_id=OPENER)
    assert helped.ping and Ticket.objects.get(pk=ticket.id).status == "need_help"
    assert not services.ticket_need_help(guild_id=GUILD, ticket_id=ticket.id, actor_id=OPENER).ping
    result = services.ticket_works(guild_id=GUILD, ticket_id=ticket.id, actor_id=OPENER)
    row = Ticket.objects.get(pk=ticket.id)
    assert (result.path, row.status, row.close_path, row.resolved, row.closed_by_id) == (
        "works", "closed", "works", True, OPENER)
    assert row.need_help_at is not None and row.help_pinged_at is not None


def test_an_admin_close_records_the_admin_site_user(guild, django_capture_on_commit_callbacks):
    admin_user = User.objects.create_superuser("root_admin", password="pw")
    ticket = _open(guild)
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_close_from_admin(ticket_id=ticket.id, actor_user=admin_user)
    row = Ticket.objects.get(pk=ticket.id)
    assert (row.status, row.close_path, row.closed_by_id, row.closed_by_admin) == (
        "closed", "admin", None, admin_user)
    note = OutboxMessage.objects.get(dedupe_key=f"ticket:{row.pk}:closed").content
    assert "closed by the admin site (`root_admin`)" in note
    assert "Closed by the admin site (root_admin)" in TicketTranscript.objects.get(ticket=row).html
    assert metrics.ticket_stats(guild_id=GUILD, days=1).admin_closers == (("root_admin", 1),)
    # Without a user (a script): the site only, nobody recorded.
    other = _open(guild, opener=STRANGER, channel_id=9002)
    services.ticket_close_from_admin(ticket_id=other.id)
    assert Ticket.objects.get(pk=other.id).closed_by_admin is None
    assert "closed by the admin site:" in OutboxMessage.objects.get(dedupe_key=f"ticket:{other.id}:closed").content


def _access(level: Access) -> MemberAccess:
    return MemberAccess(level=level, blocked=False, config=ConfigSnapshot(guild_id=GUILD))


def test_one_rule_for_ticket_staff():
    rule = selectors.is_ticket_staff
    # Without a category role: the server's staff and admins.
    assert rule(access=_access(Access.STAFF), role_ids=[STAFF_ROLE], category_staff_role_id=None)
    assert not rule(access=_access(Access.HELPER), role_ids=[HELPER_ROLE], category_staff_role_id=None)
    # With one: its holders (whatever their server level) and admins; it replaces the server's staff role.
    assert rule(access=_access(Access.MEMBER), role_ids=[CATEGORY_ROLE], category_staff_role_id=CATEGORY_ROLE)
    assert not rule(access=_access(Access.STAFF), role_ids=[STAFF_ROLE], category_staff_role_id=CATEGORY_ROLE)
    assert rule(access=_access(Access.ADMIN), role_ids=[], category_staff_role_id=CATEGORY_ROLE)


def _message(ticket_id: int, message_id: int, author_id: int, **author) -> None:
    services.transcript_message(ticket_id=ticket_id, message_id=message_id, author_id=author_id, author_name="x",
                                is_bot=False, content="hi", embeds=[], attachments=[], **author)


def test_the_transcript_counts_the_first_response_of_the_ticket_staff_by_the_same_rule(guild):
    """The transcript listener once had its own staff check that ignored the category's staff role."""
    TicketCategory.objects.filter(pk=guild).update(staff_role_id=CATEGORY_ROLE)
    ticket = _open(guild)
    _message(ticket.id, 1, OPENER, author_role_ids=[CATEGORY_ROLE])  # the opener never counts
    _message(ticket.id, 2, STAFF, author_role_ids=[STAFF_ROLE])  # server staff: not this category's staff
    _message(ticket.id, 3, HELPER, author_role_ids=[HELPER_ROLE])
    assert Ticket.objects.get(pk=ticket.id).first_response_at is None
    _message(ticket.id, 4, OTHER_HELPER, author_role_ids=[HELPER_ROLE, CATEGORY_ROLE])  # the category's staff role
    row = Ticket.objects.get(pk=ticket.id)
    assert row.first_responder_id == OTHER_HELPER and row.first_response_at is not None
    assert row.messages.count() == 4

    # A category without its own role: the server's staff and admins count, helpers do not.
    plain = services.category_create(guild_id=GUILD, name="Plain")
    second = _open(plain, channel_id=9002)
    _message(second.id, 5, HELPER, author_role_ids=[HELPER_ROLE, CATEGORY_ROLE])
    assert Ticket.objects.get(pk=second.id).first_response_at is None
    _message(second.id, 6, STAFF, author_role_ids=[STAFF_ROLE])
    assert Ticket.objects.get(pk=second.id).first_responder_id == STAFF
    third = _open(plain, opener=STRANGER, channel_id=9003)
    _message(third.id, 7, 99, author_role_ids=[], author_manages_guild=True)  # Manage Server: an admin
    assert Ticket.objects.get(pk=third.id).first_responder_id == 99
