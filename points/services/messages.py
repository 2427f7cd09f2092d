"""Messages staff send to members from the admin, and profiles staff create by hand."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from botproject import outbox
from botproject.models import Guild, GuildConfig, OutboxMessage
from botproject.services import config_row

from ..exceptions import InvalidEmail, PointsError, TooManyDirectMessages, TooManyDirectMessagesAtOnce
from ..models import MemberProfile
from .ledger import profile_for


class ProfileExists(PointsError):
    """The member already has a profile in that guild."""

    message = _("That member already has a profile in this server.")


ADMIN_DM_KEY = "dm:admin:"  # dedupe keys of the admin's direct messages: dm:admin:<form token>:<profile>
ADMIN_DM_WINDOW = timedelta(hours=1)


@transaction.atomic
def members_direct_message(*, profile_ids: list[int], text: str, token: str) -> int:
    """Queue one DM per member (delivered by the bot through the outbox); the form's token makes a resubmit a no-op.

    Each guild sends at most ADMIN_DMS_PER_HOUR such messages per rolling hour; a selection that does not fit
    is refused whole (TooManyDirectMessages, saying when to retry), queuing nothing.
    """
    text = (text or "").strip()
    if not 1 <= len(text) <= 2000:
        raise PointsError()
    profiles = list(MemberProfile.objects.select_related("guild").filter(pk__in=profile_ids).order_by("pk"))
    guilds = {profile.guild_id: profile.guild for profile in profiles}
    _lock_guilds(guilds.values())
    keys = {profile.pk: f"{ADMIN_DM_KEY}{token}:{profile.pk}" for profile in profiles}
    done = set(OutboxMessage.objects.filter(dedupe_key__in=keys.values()).values_list("dedupe_key", flat=True))
    new = [profile for profile in profiles if keys[profile.pk] not in done]
    for guild_pk, wanted in sorted(Counter(profile.guild_id for profile in new).items()):
        _check_admin_dm_cap(guilds[guild_pk], wanted)
    queued = 0
    for profile in new:
        try:
            with transaction.atomic():
                outbox.enqueue_dm(guild=profile.guild, user_id=profile.user_id, content=text,
                                  dedupe_key=keys[profile.pk])
        except IntegrityError:
            continue  # the same form was submitted twice
        queued += 1
    return queued


def _lock_guilds(guilds) -> None:
    """Lock the guilds' configuration rows (in one order), so two admins' sends to a guild count one after the other."""
    guilds = sorted(guilds, key=lambda guild: guild.pk)
    locked = set(GuildConfig.objects.select_for_update().filter(guild__in=guilds).order_by("pk")
                 .values_list("pk", flat=True))
    for guild in guilds:
        if guild.pk not in locked:
            config_row(guild.discord_id)  # created in this transaction: ours until it commits


def _check_admin_dm_cap(guild: Guild, wanted: int) -> None:
    """Refuse when `wanted` more admin DMs would take the guild past ADMIN_DMS_PER_HOUR in the last hour."""
    limit = settings.ADMIN_DMS_PER_HOUR
    name = guild.name or str(guild.discord_id)
    if wanted > limit:
        raise TooManyDirectMessagesAtOnce(guild=name, limit=limit)
    now = timezone.now()
    sent = list(OutboxMessage.objects.filter(
        guild=guild, kind=OutboxMessage.Kind.DM, dedupe_key__startswith=ADMIN_DM_KEY,
        created_at__gt=now - ADMIN_DM_WINDOW,
    ).order_by("created_at").values_list("created_at", flat=True))
    over = len(sent) + wanted - limit
    if over > 0:
        # The slots come back as the oldest of the hour's messages turn an hour old.
        wait = sent[over - 1] + ADMIN_DM_WINDOW - now
        raise TooManyDirectMessages(guild=name, sent=len(sent), limit=limit,
                                    minutes=max(1, int(wait.total_seconds() // 60) + 1))


@transaction.atomic
def profile_create(*, guild_id: int, user_id: int, display_name: str = "", email: str = "") -> MemberProfile:
    """Create a member's profile by hand (before they ever used the bot), e.g. to attach their e-mail."""
    email = (email or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise InvalidEmail(email=email[:100]) from None
    config = config_row(guild_id)
    if MemberProfile.objects.filter(guild=config.guild, user_id=user_id).exists():
        raise ProfileExists()
    profile = profile_for(config.guild_id, user_id, display_name or None)
    if email:
        MemberProfile.objects.filter(pk=profile.pk).update(email=email)
        profile.refresh_from_db()
    return profile
