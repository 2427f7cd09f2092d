"""Verification writes: start an attempt, complete it (link or reverify), unlink; one transaction each.

The cog talks to Roblox (verification/roblox.py) and hands the results in; nothing here does network I/O
or touches Discord. The database holds the rules: one pending attempt and one active link per member, and
one member per Roblox account unless the guild allows shared accounts.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from botproject import outbox
from botproject.models import GuildConfig
from botproject.services import config_row

from .exceptions import (
    AccountBanned,
    AccountTaken,
    AlreadyThatAccount,
    AlreadyVerified,
    AttemptClosed,
    CodeFiltered,
    CodeNotFound,
    LinkInactive,
    MemberNotVerified,
    NotVerified,
    VerificationError,
)
from .models import ATTEMPT_MINUTES, LinkEvent, Purpose, RobloxLink, VerificationAttempt
from .selectors import AttemptView, LinkView, check_attempt
from .words import WORDS

CODE_WORDS = 5
_WORD = re.compile(r"[a-z]+")


# --- the code ---------------------------------------------------------------------------------------
def code_make() -> str:
    """Five common words, e.g. 'maple otter candle brave river' (about 41 bits from the 299-word list)."""
    return " ".join(secrets.choice(WORDS) for _ in range(CODE_WORDS))


def code_in_description(description: str, code: str) -> bool:
    """Whether the code's words appear in this order in the description (any case, spacing or punctuation)."""
    wanted = " ".join(_WORD.findall(code.lower()))
    found = " ".join(_WORD.findall((description or "").lower()))
    return bool(wanted) and f" {wanted} " in f" {found} "


def _quote(description: str, limit: int = 300):
    """The description as a member can read it back: one line, inline code (no markdown, no pings)."""
    text = " ".join((description or "").split()).replace("`", "'")
    if not text:
        return _("(empty)")
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    return f"`{text}`"


# --- helpers ----------------------------------------------------------------------------------------
def _active_link(config: GuildConfig, user_id: int) -> RobloxLink | None:
    return (RobloxLink.objects.select_for_update().select_related("guild")
            .filter(guild=config.guild, user_id=user_id, unlinked_at__isnull=True).first())


def _check_account_free(config: GuildConfig, *, roblox_id: int, roblox_name: str, user_id: int) -> None:
    if config.verification_allow_shared_accounts:
        return
    taken = RobloxLink.objects.filter(guild=config.guild, roblox_id=roblox_id, unlinked_at__isnull=True).exclude(
        user_id=user_id).exists()
    if taken:
        raise AccountTaken(name=roblox_name)


def _note(config: GuildConfig, text: str) -> None:
    """A note in the guild's log channel (when one is set), delivered by the bot through the outbox."""
    if config.log_channel_id:
        outbox.enqueue_log(guild=config.guild, channel_id=config.log_channel_id, content=text)


def _close_pending(config: GuildConfig, user_id: int, status: str) -> None:
    VerificationAttempt.objects.filter(guild=config.guild, user_id=user_id,
                                       status=VerificationAttempt.Status.PENDING).update(
        status=status, closed_at=timezone.now())


# --- writes -----------------------------------------------------------------------------------------
@transaction.atomic
def attempt_start(*, guild_id: int, user_id: int, purpose: str, roblox_id: int, roblox_name: str,
                  roblox_display_name: str = "") -> AttemptView:
    """Start a /verify or /reverify: a new word code for 15 minutes; an earlier pending attempt is replaced."""
    if purpose not in Purpose.values:
        raise VerificationError()
    config = config_row(guild_id)
    current = _active_link(config, user_id)
    if purpose == Purpose.VERIFY and current is not None:
        raise AlreadyVerified(name=current.roblox_name)
    if purpose == Purpose.REVERIFY:
        if current is None:
            raise NotVerified()
        if current.roblox_id == roblox_id:
            raise AlreadyThatAccount(name=current.roblox_name)
    _check_account_free(config, roblox_id=roblox_id, roblox_name=roblox_name, user_id=user_id)
    now = timezone.now()
    for _try in range(2):  # a second /verify of the same member committing in between: replace it too
        _close_pending(config, user_id, VerificationAttempt.Status.REPLACED)
        try:
            with transaction.atomic():
                attempt = VerificationAttempt.objects.create(
                    guild=config.guild, user_id=user_id, purpose=purpose, roblox_id=roblox_id,
                    roblox_name=roblox_name[:20], roblox_display_name=roblox_display_name[:50], code=code_make(),
                    expires_at=now + timedelta(minutes=ATTEMPT_MINUTES),
                )
            return AttemptView.of(attempt)
        except IntegrityError:
            continue
    raise AttemptClosed()


@transaction.atomic
def attempt_complete(*, attempt_id: int, guild_id: int, user_id: int, roblox_id: int, roblox_name: str,
                     roblox_display_name: str, description: str, is_banned: bool) -> LinkView:
    """The Verify button: with the profile just read from Roblox, link the account when the code is there.

    Only the member who started the attempt may complete it; a reverify replaces the member's link, and
    the earlier link stays (ended) in the history.
    """
    attempt = (VerificationAttempt.objects.select_for_update().select_related("guild")
               .filter(pk=attempt_id, guild__discord_id=guild_id).first())
    attempt_view = check_attempt(attempt, user_id=user_id)
    if roblox_id != attempt_view.roblox_id:
        raise AttemptClosed()
    name = roblox_name or attempt.roblox_name
    if is_banned:
        raise AccountBanned(name=name)
    # What the member cannot fix by editing the profile comes first.
    config = config_row(guild_id)
    current = _active_link(config, user_id)
    if current is not None and attempt.purpose == Purpose.VERIFY:
        raise AlreadyVerified(name=current.roblox_name)
    if current is not None and current.roblox_id == roblox_id:
        raise AlreadyThatAccount(name=current.roblox_name)
    _check_account_free(config, roblox_id=roblox_id, roblox_name=name, user_id=user_id)
    if not code_in_description(description, attempt.code):
        if "#" in (description or ""):
            raise CodeFiltered(name=name, found=_quote(description))
        raise CodeNotFound(name=name, found=_quote(description), code=f"`{attempt.code}`")
    now = timezone.now()
    if current is not None:
        current.unlinked_at, current.unlinked_by_id = now, user_id
        current.unlink_reason = RobloxLink.UnlinkReason.REVERIFY
        current.save(update_fields=["unlinked_at", "unlinked_by_id", "unlink_reason"])
    try:
        with transaction.atomic():
            link = RobloxLink.objects.create(
                guild=config.guild, user_id=user_id, roblox_id=roblox_id, roblox_name=name[:20],
                roblox_display_name=(roblox_display_name or attempt.roblox_display_name)[:50],
                shared=config.verification_allow_shared_accounts, attempt=attempt,
            )
    except IntegrityError:
        raise AccountTaken(name=name) from None  # another member linked it a moment ago
    action = LinkEvent.Action.REVERIFY if current is not None else LinkEvent.Action.VERIFY
    LinkEvent.objects.create(guild=config.guild, user_id=user_id, action=action, link=link, previous_link=current,
                             roblox_id=roblox_id, roblox_name=link.roblox_name, actor_id=user_id)
    attempt.status, attempt.closed_at = VerificationAttempt.Status.VERIFIED, now
    attempt.save(update_fields=["status", "closed_at"])
    if config.verified_role_id:
        # Unlinked on the admin site and linked again before the bot took the role away: the role stays.
        outbox.cancel_role_remove(guild=config.guild, user_id=user_id, role_id=config.verified_role_id,
                                  reason="the member linked an account again")
    with translation.override(config.language):
        if current is not None:
            text = gettext("🔁 <@%(user)s> reverified: %(old)s → %(new)s (Roblox id %(id)s).") % {
                "user": user_id, "old": current.roblox_name, "new": link.roblox_name, "id": roblox_id}
        else:
            text = gettext("🔗 <@%(user)s> verified as %(name)s (Roblox id %(id)s).") % {
                "user": user_id, "name": link.roblox_name, "id": roblox_id}
    _note(config, text)
    return LinkView.of(link)


def _unlink(config: GuildConfig, link: RobloxLink, *, action: str, actor_id: int | None = None,
            actor_user=None) -> LinkView:
    now = timezone.now()
    link.unlinked_at, link.unlinked_by_id, link.unlinked_by_user = now, actor_id, actor_user
    link.unlink_reason = action
    link.save(update_fields=["unlinked_at", "unlinked_by_id", "unlinked_by_user", "unlink_reason"])
    LinkEvent.objects.create(guild=config.guild, user_id=link.user_id, action=action, link=link,
                             roblox_id=link.roblox_id, roblox_name=link.roblox_name, actor_id=actor_id,
                             actor_user=actor_user)
    _close_pending(config, link.user_id, VerificationAttempt.Status.CANCELLED)
    with translation.override(config.language):
        values = {"user": link.user_id, "name": link.roblox_name, "id": link.roblox_id, "actor": actor_id,
                  "admin": actor_user.get_username() if actor_user is not None else gettext("someone")}
        if action == LinkEvent.Action.UNVERIFY:
            text = gettext("✂️ <@%(user)s> unlinked %(name)s (Roblox id %(id)s).") % values
        elif action == LinkEvent.Action.STAFF:
            text = gettext("✂️ <@%(actor)s> unlinked %(name)s (Roblox id %(id)s) from <@%(user)s>.") % values
        else:
            text = gettext("✂️ %(admin)s (admin site) unlinked %(name)s (Roblox id %(id)s) from <@%(user)s>; "
                           "the bot takes the verified role away.") % values
    _note(config, text)
    return LinkView.of(link)


@transaction.atomic
def link_unlink(*, guild_id: int, user_id: int, actor_id: int) -> LinkView:
    """/unverify: the member unlinks themselves, or staff unlink a member (`actor_id` is someone else)."""
    config = config_row(guild_id)
    link = _active_link(config, user_id)
    if link is None:
        if actor_id == user_id:
            raise NotVerified()
        raise MemberNotVerified(member=f"<@{user_id}>")
    action = LinkEvent.Action.UNVERIFY if actor_id == user_id else LinkEvent.Action.STAFF
    return _unlink(config, link, action=action, actor_id=actor_id)


@transaction.atomic
def link_unlink_from_admin(*, link_id: int, actor_user=None) -> LinkView:
    """Unlink from the admin site; the bot takes the verified role away (and the nickname it set) through the outbox.

    The outbox row is written with the unlink, so the removal survives a restart of either process; the
    bot does it as soon as it is woken (at once when it runs, else when it starts).
    """
    link = RobloxLink.objects.select_for_update().select_related("guild").filter(pk=link_id).first()
    if link is None or link.unlinked_at is not None:
        raise LinkInactive()
    config = config_row(link.guild.discord_id)
    view = _unlink(config, link, action=LinkEvent.Action.ADMIN, actor_user=actor_user)
    if config.verified_role_id:
        outbox.enqueue_role_remove(
            guild=config.guild, user_id=link.user_id, role_id=config.verified_role_id,
            reason=f"unlinked Roblox {link.roblox_name} on the admin site",
            nick_to_clear=link.roblox_name if config.verification_set_nickname else None,
            dedupe_key=f"verify:unlink:{link.pk}",
        )
    return view
