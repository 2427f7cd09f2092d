"""Messages staff send to members from the admin, and profiles staff create by hand."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from botproject import outbox
from botproject.services import config_row

from ..exceptions import InvalidEmail, PointsError
from ..models import MemberProfile
from .ledger import _profile


class ProfileExists(PointsError):
    """The member already has a profile in that guild."""

    message = _("That member already has a profile in this server.")


@transaction.atomic
def members_direct_message(*, profile_ids: list[int], text: str, token: str) -> int:
    """Queue one DM per member (delivered by the bot through the outbox); the form's token makes a resubmit a no-op."""
    text = (text or "").strip()
    if not 1 <= len(text) <= 2000:
        raise PointsError()
    queued = 0
    for profile in MemberProfile.objects.select_related("guild").filter(pk__in=profile_ids).order_by("pk"):
        key = f"dm:admin:{token}:{profile.pk}"
        try:
            with transaction.atomic():
                outbox.enqueue_dm(guild=profile.guild, user_id=profile.user_id, content=text, dedupe_key=key)
        except IntegrityError:
            continue  # the same form was submitted twice
        queued += 1
    return queued


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
    profile = _profile(config.guild, user_id, display_name or None)
    if email:
        MemberProfile.objects.filter(pk=profile.pk).update(email=email)
        profile.refresh_from_db()
    return profile
