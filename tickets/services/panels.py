"""Ticket categories (services) and panels."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from botproject.services import config_row

from ..exceptions import NoCategories
from ..models import TicketCategory, TicketPanel
from ..selectors import PanelView, panel_view

log = logging.getLogger(__name__)


@transaction.atomic
def category_create(*, guild_id: int, name: str, description: str = "", emoji: str = "", response_time: str = "",
                    helper_points: int = 0, helper_slots: int = 1, staff_role_id: int | None = None,
                    max_open_per_member: int | None = None, position: int = 0) -> int:
    """Add a ticket category (the admin edits them too); returns its id."""
    config = config_row(guild_id)
    category = TicketCategory.objects.create(
        guild=config.guild, name=name, description=description, emoji=emoji, response_time=response_time,
        helper_points=helper_points, helper_slots=helper_slots, staff_role_id=staff_role_id,
        max_open_per_member=max_open_per_member, position=position)
    return category.pk


# --- panels ---------------------------------------------------------------------------------------
@transaction.atomic
def panel_create(*, guild_id: int, channel_id: int, title: str = "", actor_id: int | None = None) -> PanelView:
    """Record a panel about to be posted in `channel_id`; refused when the guild has no category."""
    config = config_row(guild_id)
    if not TicketCategory.objects.filter(guild=config.guild, active=True).exists():
        raise NoCategories()
    panel = TicketPanel.objects.create(guild=config.guild, channel_id=channel_id, title=title[:200],
                                       created_by_id=actor_id)
    return panel_view(panel)


@transaction.atomic
def panel_record_message(*, panel_id: int, message_id: int, channel_id: int | None = None) -> None:
    """Remember the posted panel message (and clear a refresh or re-post request)."""
    changes = {"message_id": message_id, "refresh_requested_at": None, "repost_requested_at": None,
               "refreshed_at": timezone.now()}
    if channel_id:
        changes["channel_id"] = channel_id
    TicketPanel.objects.filter(pk=panel_id).update(**changes)


@transaction.atomic
def panel_request(*, panel_id: int, repost: bool) -> None:
    """Ask the bot to refresh the panel message (buttons from the current categories) or post it again."""
    field_name = "repost_requested_at" if repost else "refresh_requested_at"
    TicketPanel.objects.filter(pk=panel_id).update(**{field_name: timezone.now()})


@transaction.atomic
def panel_request_done(*, panel_id: int, error: str = "") -> None:
    """Give up a request the bot cannot carry out (the channel is gone); the admin can ask again."""
    TicketPanel.objects.filter(pk=panel_id).update(refresh_requested_at=None, repost_requested_at=None)
    if error:
        log.warning("panel %s: %s", panel_id, error)
