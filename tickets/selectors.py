"""Ticket reads: immutable views for the Discord side, open ticket channels, helper figures, the overview card."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import Avg, Count, Q, Sum
from django.utils import timezone

from botproject.models import Guild
from botproject.selectors import Access, MemberAccess

from . import gating
from .exceptions import UnknownCategory, UnknownPanel
from .models import MAX_QUESTIONS, OPEN_STATUSES, Ticket, TicketCategory, TicketClaim, TicketPanel, TicketQuestion  # noqa: F401


@dataclass(frozen=True)
class CategoryView:
    """A category as a panel button or the welcome embed shows it."""

    id: int
    name: str
    description: str
    emoji: str
    response_time: str
    helper_points: int
    helper_slots: int
    staff_role_id: int | None
    required_role_ids: tuple[int, ...] = ()
    hours_start: time | None = None
    hours_end: time | None = None
    time_zone: str = "UTC"
    outside_hours: str = "refuse"
    opens_per_hour: int = 3

    @classmethod
    def of(cls, category: TicketCategory) -> CategoryView:
        """Copy a row."""
        return cls(category.pk, category.name, category.description, category.emoji, category.response_time,
                   category.helper_points, category.helper_slots, category.staff_role_id,
                   tuple(int(r) for r in category.required_role_ids or ()), category.hours_start, category.hours_end,
                   category.time_zone, category.outside_hours, category.opens_per_hour)


@dataclass(frozen=True)
class QuestionView:
    """One intake question as the modal shows it."""

    position: int
    label: str
    label_vi: str
    paragraph: bool
    required: bool
    max_length: int

    def label_for(self, language: str) -> str:
        """The label in the member's language (Vietnamese when given)."""
        return self.label_vi if language.startswith("vi") and self.label_vi else self.label


@dataclass(frozen=True)
class TicketView:
    """A ticket as the Discord side needs it (no ORM objects cross into async code)."""

    id: int
    guild_id: int
    number: int
    code: str
    opener_id: int
    status: str
    channel_id: int | None
    category: CategoryView | None
    category_name: str
    claimers: tuple[int, ...]
    member_ids: tuple[int, ...]
    need_help_at: datetime | None
    staff_role_id: int | None  # the category's override, else the server's staff role
    admin_role_ids: tuple[int, ...]
    language: str
    opened_outside_hours: bool = False
    answers: tuple[tuple[str, str], ...] = ()  # (question, answer): filled by the opening only

    @property
    def channel_name(self) -> str:
        """ticket-<code>."""
        return f"ticket-{self.code}"

    @property
    def is_open(self) -> bool:
        """Open, needing help, or still creating its channel."""
        return self.status in OPEN_STATUSES

    @classmethod
    def of(cls, ticket: Ticket) -> TicketView:
        """Copy a row (with its guild, config and category loaded)."""
        config = getattr(ticket.guild, "config", None)
        category = CategoryView.of(ticket.category) if ticket.category_id else None
        staff_role = (category.staff_role_id if category and category.staff_role_id
                      else (config.staff_role_id if config else None))
        claimers = tuple(TicketClaim.objects.filter(ticket=ticket).order_by("slot").values_list("user_id", flat=True))
        return cls(ticket.pk, ticket.guild.discord_id, ticket.number, ticket.code, ticket.opener_id, ticket.status,
                   ticket.channel_id, category, ticket.category_name, claimers, tuple(ticket.member_ids or ()),
                   ticket.need_help_at, staff_role, tuple(int(r) for r in (config.admin_role_ids if config else [])),
                   config.language if config else "en", ticket.opened_outside_hours)


@dataclass(frozen=True)
class PanelView:
    """A panel and the categories it offers."""

    id: int
    guild_id: int
    channel_id: int
    message_id: int | None
    title: str
    categories: tuple[CategoryView, ...]
    language: str


def is_ticket_staff(*, access: MemberAccess, role_ids: Collection[int], category_staff_role_id: int | None) -> bool:
    """The one rule for who is staff of a ticket (close it, add members, count as its first staff response).

    Admins always; when the ticket's category names a staff role, the members holding that role (it replaces the
    server's staff role for that category); otherwise the server's staff.
    """
    if access.at_least(Access.ADMIN):
        return True
    if category_staff_role_id:
        return category_staff_role_id in set(role_ids)
    return access.at_least(Access.STAFF)


def _tickets():
    return Ticket.objects.select_related("guild__config", "category")


def ticket_get(*, guild_id: int, ticket_id: int) -> TicketView | None:
    """The ticket with this id in this guild (None when it is not one of the guild's)."""
    ticket = _tickets().filter(pk=ticket_id, guild__discord_id=guild_id).first()
    return TicketView.of(ticket) if ticket else None


def ticket_any(*, ticket_id: int) -> TicketView | None:
    """A ticket by id whatever its guild (a button in a DM: the service then checks the member is its opener)."""
    ticket = _tickets().filter(pk=ticket_id).first()
    return TicketView.of(ticket) if ticket else None


def ticket_by_channel(*, channel_id: int) -> TicketView | None:
    """The ticket whose channel this is."""
    ticket = _tickets().filter(channel_id=channel_id).first()
    return TicketView.of(ticket) if ticket else None


def category_for_opening(*, guild, category_id: int, panel_id: int | None) -> TicketCategory:
    """The active category of this guild a panel (when given) offers, or the refusal."""
    category = TicketCategory.objects.filter(pk=category_id, guild=guild, active=True).first()
    if category is None:
        raise UnknownCategory()
    if panel_id is not None:
        panel = TicketPanel.objects.filter(pk=panel_id, guild=guild).first()
        if panel is None:
            raise UnknownPanel()
        if panel.categories.exists() and not panel.categories.filter(pk=category.pk).exists():
            raise UnknownCategory()
    return category


def has_questions(*, category_id: int) -> bool:
    """Whether the category opens with an intake form."""
    return TicketQuestion.objects.filter(category_id=category_id).exists()


def recent_opens(*, category: TicketCategory, opener_id: int) -> list[datetime]:
    """When the member opened tickets of this category within the last hour (failed openings do not count)."""
    since = timezone.now() - gating.OPEN_WINDOW
    return list(Ticket.objects.filter(category=category, opener_id=opener_id, created_at__gte=since)
                .exclude(status=Ticket.Status.FAILED).values_list("created_at", flat=True))


def questions_of(category: TicketCategory) -> list[QuestionView]:
    """The category's intake questions in order."""
    return [QuestionView(q.position, q.label, q.label_vi, q.style == TicketQuestion.Style.PARAGRAPH, q.required,
                         q.max_length) for q in TicketQuestion.objects.filter(category=category).order_by("position")]


def open_form(*, guild_id: int, category_id: int, opener_id: int, role_ids: Collection[int],
              panel_id: int | None = None) -> list[QuestionView]:
    """Before a panel click shows the intake form: the gating refusal, else the form's questions (maybe none)."""
    category = category_for_opening(guild=Guild.objects.filter(discord_id=guild_id).first(),
                                    category_id=category_id, panel_id=panel_id)
    gating.check(category, role_ids=role_ids, recent_opens=recent_opens(category=category, opener_id=opener_id))
    return questions_of(category)


def panel_view(panel: TicketPanel) -> PanelView:
    """A panel and its categories (every active category when none is chosen)."""
    chosen = panel.categories.filter(active=True).order_by("position", "name")
    categories = list(chosen) if panel.categories.exists() else list(
        TicketCategory.objects.filter(guild=panel.guild, active=True).order_by("position", "name"))
    config = getattr(panel.guild, "config", None)
    return PanelView(panel.pk, panel.guild.discord_id, panel.channel_id, panel.message_id, panel.title,
                     tuple(CategoryView.of(c) for c in categories), config.language if config else "en")


def panels_due() -> list[tuple[PanelView, bool]]:
    """Panels the admin asked to refresh or re-post: (panel, repost)."""
    rows = TicketPanel.objects.select_related("guild__config").filter(
        Q(refresh_requested_at__isnull=False) | Q(repost_requested_at__isnull=False))
    return [(panel_view(p), p.repost_requested_at is not None) for p in rows[:20]]


def open_ticket_channels() -> dict[int, tuple[int, int]]:
    """Channel id → (ticket id, the ticket's guild's Discord id) of every ticket whose channel exists (open, or
    closed and awaiting deletion)."""
    recent = timezone.now() - timedelta(hours=1)
    rows = Ticket.objects.filter(channel_id__isnull=False).filter(
        Q(status__in=OPEN_STATUSES) | Q(closed_at__gte=recent))
    return {channel_id: (pk, guild_id) for channel_id, pk, guild_id in
            rows.values_list("channel_id", "pk", "guild__discord_id")}


def pending_stale(*, older_than_seconds: float = 120) -> list[TicketView]:
    """Tickets still waiting for their channel long after the click (the bot stopped in between)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return [TicketView.of(t) for t in _tickets().filter(status=Ticket.Status.PENDING, created_at__lte=cutoff)[:50]]


def open_without_welcome(*, created_before: datetime) -> list[TicketView]:
    """Open tickets of this bot (not imported ones) whose welcome was never recorded: the bot stopped between
    recording the channel and recording the welcome. Only the last day's: an older one is left as it is."""
    return [TicketView.of(t) for t in _tickets().filter(
        status__in=OPEN_STATUSES, channel_id__isnull=False, welcome_message_id__isnull=True, legacy_id="",
        created_at__lt=created_before, created_at__gte=timezone.now() - timedelta(days=1)).order_by("pk")[:50]]


def open_tickets_count(guild=None) -> int:
    """Open tickets of a guild (the admin overview card), or of every guild without one (GET /metrics)."""
    tickets = Ticket.objects.filter(status__in=OPEN_STATUSES)
    return (tickets if guild is None else tickets.filter(guild=guild)).count()


def open_ticket_openers(*, guild_id: int) -> set[int]:
    """Who holds an open ticket in the guild (with a channel: a pending one is still being made)."""
    return set(Ticket.objects.filter(guild__discord_id=guild_id, status__in=OPEN_STATUSES, channel_id__isnull=False)
               .values_list("opener_id", flat=True))


# --- /helper stats figures (HELPER_FIGURES providers: (guild_id, user_id) -> int) ---------------------
def helper_claims(guild_id: int, user_id: int) -> int:
    """Tickets the member claimed."""
    return TicketClaim.objects.filter(ticket__guild__discord_id=guild_id, user_id=user_id).count()


def helper_resolved(guild_id: int, user_id: int) -> int:
    """Tickets the member claimed that closed as resolved."""
    return TicketClaim.objects.filter(ticket__guild__discord_id=guild_id, user_id=user_id,
                                      ticket__resolved=True).count()


def helper_ticket_points(guild_id: int, user_id: int) -> int:
    """Helper points the member earned from tickets."""
    return TicketClaim.objects.filter(ticket__guild__discord_id=guild_id, user_id=user_id).aggregate(
        total=Sum("points_awarded"))["total"] or 0


def helper_rating(guild_id: int, user_id: int) -> str:
    """The average rating of the tickets the member claimed, and how many were rated ("–" when none)."""
    found = TicketClaim.objects.filter(ticket__guild__discord_id=guild_id, user_id=user_id,
                                       ticket__rating__isnull=False).aggregate(avg=Avg("ticket__rating__stars"),
                                                                               n=Count("id"))
    return f"{found['avg']:.2f} ⭐ ({found['n']})" if found["n"] else "–"


def helper_closes(guild_id: int, user_id: int) -> int:
    """Tickets the member closed as staff."""
    return Ticket.objects.filter(guild__discord_id=guild_id, closed_by_id=user_id).exclude(
        close_path__in=[Ticket.ClosePath.WORKS, Ticket.ClosePath.OPENER]).count()


def closed_without_transcript(*, within_days: int = 7, limit: int = 20) -> list[int]:
    """Tickets this bot closed recently whose transcript was not stored (the process stopped right after)."""
    since = timezone.now() - timedelta(days=within_days)
    return list(Ticket.objects.filter(status=Ticket.Status.CLOSED, closed_at__gte=since, transcript__isnull=True)
                .exclude(close_path=Ticket.ClosePath.LEGACY).order_by("closed_at").values_list("pk", flat=True)[:limit])
