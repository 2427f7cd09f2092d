"""Verification reads: an attempt for the Verify button, a member's link and its history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from botproject.paging import paginate

from .exceptions import AttemptClosed, AttemptExpired, AttemptNotFound, NotYourAttempt
from .models import ATTEMPT_MINUTES, LinkEvent, RobloxLink, VerificationAttempt


@dataclass(frozen=True)
class AttemptView:
    """An attempt as the Discord side needs it."""

    id: int
    guild_id: int
    user_id: int
    purpose: str
    roblox_id: int
    roblox_name: str
    roblox_display_name: str
    code: str
    status: str
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, attempt: VerificationAttempt) -> AttemptView:
        """Copy a row."""
        return cls(attempt.pk, attempt.guild.discord_id, attempt.user_id, attempt.purpose, attempt.roblox_id,
                   attempt.roblox_name, attempt.roblox_display_name, attempt.code, attempt.status, attempt.created_at,
                   attempt.expires_at)

    @property
    def pending(self) -> bool:
        """Still waiting for the Verify button (and not expired)."""
        return self.status == VerificationAttempt.Status.PENDING and self.expires_at > timezone.now()


@dataclass(frozen=True)
class LinkView:
    """A link (active or ended)."""

    id: int
    guild_id: int
    user_id: int
    roblox_id: int
    roblox_name: str
    roblox_display_name: str
    linked_at: datetime
    unlinked_at: datetime | None
    unlink_reason: str

    @classmethod
    def of(cls, link: RobloxLink) -> LinkView:
        """Copy a row."""
        return cls(link.pk, link.guild.discord_id, link.user_id, link.roblox_id, link.roblox_name,
                   link.roblox_display_name, link.linked_at, link.unlinked_at, link.unlink_reason)

    @property
    def profile_url(self) -> str:
        """The account's public profile page."""
        return profile_url(self.roblox_id)


def profile_url(roblox_id: int) -> str:
    """The public profile page of a Roblox account."""
    return f"https://www.roblox.com/users/{roblox_id}/profile"


@dataclass(frozen=True)
class EventView:
    """One history row."""

    action: str
    roblox_id: int
    roblox_name: str
    previous_name: str | None
    actor_id: int | None
    actor_username: str | None
    created_at: datetime


@dataclass(frozen=True)
class MemberRecord:
    """What /whois shows: the active link and the latest history."""

    user_id: int
    link: LinkView | None
    events: list[EventView]
    total_events: int
    page: int = 1
    pages: int = 1


def check_attempt(attempt: VerificationAttempt | None, *, user_id: int) -> AttemptView:
    """The attempt if `user_id` may complete it now; else the refusal (gone, someone else's, closed, expired)."""
    if attempt is None:
        raise AttemptNotFound()
    if attempt.user_id != user_id:
        raise NotYourAttempt(member=f"<@{attempt.user_id}>")
    if attempt.status != VerificationAttempt.Status.PENDING:
        raise AttemptClosed()
    if attempt.expired:
        raise AttemptExpired(minutes=ATTEMPT_MINUTES)
    return AttemptView.of(attempt)


def attempt_for_button(*, attempt_id: int, guild_id: int, user_id: int) -> AttemptView:
    """The attempt behind a Verify button pressed by `user_id` in `guild_id`, reloaded now; or the refusal."""
    attempt = (VerificationAttempt.objects.select_related("guild")
               .filter(pk=attempt_id, guild__discord_id=guild_id).first())
    return check_attempt(attempt, user_id=user_id)


def active_link(*, guild_id: int, user_id: int) -> LinkView | None:
    """The member's active link in the guild, or None."""
    link = RobloxLink.objects.select_related("guild").filter(
        guild__discord_id=guild_id, user_id=user_id, unlinked_at__isnull=True).first()
    return LinkView.of(link) if link else None


def member_record(*, guild_id: int, user_id: int, limit: int = 10, page: int = 1) -> MemberRecord:
    """The member's active link and one page (`limit` rows, newest first) of their history."""
    events = (LinkEvent.objects.filter(guild__discord_id=guild_id, user_id=user_id)
              .select_related("actor_user", "previous_link").order_by("-created_at", "-id"))
    result = paginate(events, page, limit)
    rows = [
        EventView(e.action, e.roblox_id, e.roblox_name, e.previous_link.roblox_name if e.previous_link else None,
                  e.actor_id, e.actor_user.get_username() if e.actor_user else None, e.created_at)
        for e in result.rows
    ]
    return MemberRecord(user_id, active_link(guild_id=guild_id, user_id=user_id), rows, result.total,
                        result.number, result.pages)



def verified_members_count(*, guild_id: int | None = None) -> int:
    """How many members of the guild are linked to a Roblox account now (the admin overview's card); of every
    guild's without `guild_id` (GET /metrics)."""
    links = RobloxLink.objects.filter(unlinked_at__isnull=True)
    return (links if guild_id is None else links.filter(guild__discord_id=guild_id)).count()
