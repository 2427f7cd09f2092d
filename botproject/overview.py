"""The admin landing page's overview: one row of cards per guild the user may see, from a registry of cards.

Each app adds its own numbers from its AppConfig.ready() (botproject.registry)::

    from botproject import registry
    registry.register_card("open_tickets", _("Open tickets"), selectors.open_tickets_count)

A provider gets a Guild and returns the value to show, or None when it has nothing measured (the card
then says so instead of showing a zero nobody measured). Registering a key again replaces that card's
title and provider and keeps its place. The core registers only what it measures itself (members, in
botproject/apps.py).
"""

from __future__ import annotations

import logging

from django.utils.translation import gettext_lazy as _

from . import registry
from .admin_scoping import visible_guilds
from .models import Guild
from .registry import Card, register_card, registered_cards, unregister_card

__all__ = ["Card", "build_overview", "install", "register_card", "registered_cards", "unregister_card"]

logger = logging.getLogger(__name__)

# Enough for a landing page; larger installations use the guild list and its filters.
MAX_GUILDS = 50


_cards = registry.cards  # the registry itself (tests swap a card and put it back)


def _measure(card: Card, guild: Guild) -> dict:
    try:
        value = card.provider(guild)
    except Exception:
        # One broken provider must not take the admin's landing page down with it.
        logger.exception("overview card %s failed for guild %s", card.key, guild.discord_id)
        return {"key": card.key, "title": card.title, "measured": False, "value": None,
                "empty_text": _("Could not be measured; see the server log.")}
    return {"key": card.key, "title": card.title, "measured": value is not None, "value": value,
            "empty_text": card.empty_text}


def build_overview(user) -> dict:
    """The cards of every active guild the user may see (a superuser: all active guilds)."""
    guilds = visible_guilds(user).filter(left_at__isnull=True).order_by("name", "discord_id")
    shown = list(guilds[: MAX_GUILDS + 1])
    cards = registered_cards()
    return {
        "guilds": [{"guild": guild, "cards": [_measure(card, guild) for card in cards]}
                   for guild in shown[:MAX_GUILDS]],
        "more": len(shown) > MAX_GUILDS,
    }


def install(site) -> None:
    """Make `site`'s index view pass the overview to templates/admin/index.html."""
    original = site.index
    if getattr(original, "adds_guild_overview", False):
        return

    # The project keeps Django's default admin site (urls.py uses admin.site), so the overview joins its
    # index view here rather than through an AdminSite subclass; the site's login checks still wrap it.
    def index(request, extra_context=None):
        context = {"guild_overview": build_overview(request.user), **(extra_context or {})}
        return original(request, extra_context=context)

    index.adds_guild_overview = True
    site.index = index
