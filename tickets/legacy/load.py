"""Guards for loading legacy tickets with `loaddata` (model signals on raw saves).

loaddata finds a fixture row by its natural key and then writes every field of the fixture over it. For the
old bot's rows that would undo what happened since the first load (a legacy ticket closed here, a panel
posted again), so:

- an imported ticket, claim or panel (legacy_id set) that is already in the database is kept as it is;
- a fixture ticket whose code is a ticket of this bot, or whose number was taken since the conversion,
  stops the load (LegacyLoadError; nothing is loaded) instead of overwriting it;
- a ticket or panel whose channel the bot has seen in another guild stops the load (LegacyLoadError);
- a ticket counter is never moved backwards (below the stored value or the guild's highest number).
"""

from __future__ import annotations

from django.db.models import Max
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from botproject import natural_keys
from botproject.legacy import LegacyLoadError, progress, scope
from botproject.legacy.fixture import keep_stored

from ..models import Ticket, TicketClaim, TicketCounter, TicketPanel


@receiver(pre_save, sender=Ticket, dispatch_uid="tickets.legacy.ticket")
def guard_ticket(sender, instance: Ticket, raw: bool = False, **kwargs) -> None:
    if not raw or not instance.legacy_id:
        return
    scope.refuse_foreign_channel(instance.guild_id, instance.channel_id, f"the old bot's ticket {instance.legacy_id!r}")
    if instance.pk is not None:
        legacy_id = instance.legacy_id
        stored = keep_stored(instance)
        if stored is not None and stored["legacy_id"] != legacy_id:
            raise LegacyLoadError(f"The old bot's ticket {legacy_id!r} has the code of ticket #{stored['number']} "
                                  f"of this bot (ticket-{stored['code']}); nothing was loaded.")
    elif _number_taken(instance):
        raise LegacyLoadError(f"Ticket number #{instance.number} (for the old bot's ticket {instance.legacy_id!r}) "
                              f"was taken after the conversion; run convert_legacy again. Nothing was loaded.")


def _number_taken(ticket: Ticket) -> bool:
    numbers = natural_keys.remembered(("ticket_numbers", ticket.guild_id), lambda: dict.fromkeys(
        Ticket.objects.filter(guild_id=ticket.guild_id).values_list("number", flat=True), True))
    if numbers is None:
        return Ticket.objects.filter(guild_id=ticket.guild_id, number=ticket.number).exists()
    return ticket.number in numbers


@receiver(post_save, sender=Ticket, dispatch_uid="tickets.legacy.remember_ticket")
def remember_ticket(sender, instance: Ticket, raw: bool = False, created: bool = False, **kwargs) -> None:
    """Keep the load's natural-key memo in step with the tickets it adds."""
    if raw and created and natural_keys.memo() is not None:
        key = (natural_keys.guild_discord_id(instance.guild_id), instance.code)
        natural_keys.remember(("tickets", key[0]), instance.code, instance.pk)
        natural_keys.remember("ticket_keys", instance.pk, key)
        natural_keys.remember(("ticket_numbers", instance.guild_id), instance.number, True)


@receiver(post_save, sender=TicketClaim, dispatch_uid="tickets.legacy.remember_claim")
def remember_claim(sender, instance: TicketClaim, raw: bool = False, created: bool = False, **kwargs) -> None:
    if raw and created and natural_keys.memo() is not None:
        guild_id, code = Ticket.objects.natural_key_of(instance.ticket_id)
        natural_keys.remember(("claims", guild_id), (code, instance.user_id), instance.pk)


@receiver(pre_save, sender=TicketClaim, dispatch_uid="tickets.legacy.claim")
def guard_claim(sender, instance: TicketClaim, raw: bool = False, **kwargs) -> None:
    if raw and instance.pk is not None and Ticket.objects.filter(pk=instance.ticket_id).exclude(legacy_id="").exists():
        keep_stored(instance)


@receiver(pre_save, sender=TicketPanel, dispatch_uid="tickets.legacy.panel")
def guard_panel(sender, instance: TicketPanel, raw: bool = False, **kwargs) -> None:
    if raw and instance.legacy_id:
        scope.refuse_foreign_channel(instance.guild_id, instance.channel_id,
                                     f"the old bot's panel {instance.legacy_id!r}")
        keep_stored(instance)


@receiver(pre_save, sender=TicketCounter, dispatch_uid="tickets.legacy.counter")
def guard_counter(sender, instance: TicketCounter, raw: bool = False, **kwargs) -> None:
    if not raw:
        return
    stored = TicketCounter._base_manager.filter(pk=instance.pk).values_list("last_number", flat=True).first()
    highest = Ticket.objects.filter(guild_id=instance.pk).aggregate(top=Max("number"))["top"]
    instance.last_number = max(instance.last_number or 0, stored or 0, highest or 0)


@receiver(post_save, sender=Ticket, dispatch_uid="tickets.legacy.ticket_progress")
@receiver(post_save, sender=TicketClaim, dispatch_uid="tickets.legacy.claim_progress")
@receiver(post_save, sender=TicketPanel, dispatch_uid="tickets.legacy.panel_progress")
def advance(sender, instance, raw: bool = False, **kwargs) -> None:
    """The load's progress bar (only while a legacy fixture is loading; a no-op otherwise)."""
    if raw:
        progress.load_advance()
