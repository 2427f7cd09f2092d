"""Pad writes: start a session on a free pad (the database refuses a second one), end it by hand or by time."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from botproject import outbox
from botproject.services import config_row

from .exceptions import InvalidPad, InvalidStarts, NoSessionOnPad, NotYourSession, PadBusy
from .models import PAD_MAX, PAD_MIN, PadSession
from .selectors import SessionView

_MENTION = re.compile(r"<(@[!&]?|#)\d+>|@(everyone|here)")


def clean_starts(text: str) -> str:
    """Trim, and neutralise mentions so an announcement cannot ping anyone."""
    text = " ".join((text or "").split())
    text = _MENTION.sub(lambda m: m.group(0).replace("@", "@\u200b").replace("#", "#\u200b"), text)
    if not 1 <= len(text) <= 200:
        raise InvalidStarts()
    return text


def _check_pad(pad) -> int:
    if not isinstance(pad, int) or isinstance(pad, bool) or not PAD_MIN <= pad <= PAD_MAX:
        raise InvalidPad()
    return pad


@transaction.atomic
def session_start(*, guild_id: int, pad: int, kind: str, host_id: int, starts: str,
                  host_name: str = "", channel_id: int | None = None) -> SessionView:
    """Announce a session on a free pad; a busy pad is refused naming who holds it.

    `channel_id` is where the announcement is about to be posted: stored first, so a bot killed before it
    recorded the message finds the announcement (or posts it) after its restart.
    """
    pad = _check_pad(pad)
    starts = clean_starts(starts)
    if kind not in PadSession.Kind.values:
        raise InvalidPad()
    config = config_row(guild_id)
    try:
        with transaction.atomic():
            session = PadSession.objects.create(
                guild=config.guild, pad=pad, kind=kind, host_id=host_id, host_name=host_name[:100], starts=starts,
                ends_at=timezone.now() + timedelta(minutes=config.pads_max_duration_minutes), channel_id=channel_id,
            )
    except IntegrityError:
        holder = PadSession.objects.filter(guild=config.guild, pad=pad, ended_at__isnull=True).first()
        if holder is None:  # it ended between our insert and this read
            raise PadBusy(pad=pad, kind="?", host="?", starts="?") from None
        raise PadBusy(pad=pad, kind=holder.get_kind_display(), host=f"<@{holder.host_id}>",
                      starts=holder.starts) from None
    return SessionView.of(session)


@transaction.atomic
def session_record_announcement(*, session_id: int, channel_id: int, message_id: int) -> None:
    """Remember where the public announcement is, to edit it when the session ends.

    A session that ended before its announcement was recorded (a restart in between) gets the edit now.
    """
    PadSession.objects.filter(pk=session_id).update(channel_id=channel_id, message_id=message_id)
    session = PadSession.objects.select_related("guild").filter(pk=session_id, ended_at__isnull=False).first()
    if session is not None:
        config = config_row(session.guild.discord_id)
        with translation.override(config.language):
            outbox.enqueue_message_edit(guild=session.guild, channel_id=channel_id, message_id=message_id,
                                        content=_ended_text(session), embed=None, dedupe_key=f"pad:ended:{session.pk}")


@transaction.atomic
def session_announcement_lost(*, session_id: int) -> None:
    """The announcement's channel is gone, or an ended session's announcement was never posted: nothing to edit."""
    PadSession.objects.filter(pk=session_id, message_id__isnull=True).update(channel_id=None)


def _ended_text(session: PadSession) -> str:
    """The announcement's and the host's DM's text for an ended session, in the active language."""
    return gettext("Pad %(pad)s: %(kind)s by <@%(host)s> has ended (%(reason)s).") % {
        "pad": session.pad, "kind": session.get_kind_display(), "host": session.host_id,
        "reason": session.get_end_reason_display()}


def _end(session: PadSession, *, reason: str, actor_id: int | None) -> SessionView:
    ended = PadSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(
        ended_at=timezone.now(), ended_by_id=actor_id, end_reason=reason)
    session.refresh_from_db()
    if not ended:
        return SessionView.of(session)  # someone else ended it a moment ago: nothing more to do
    config = config_row(session.guild.discord_id)
    with translation.override(config.language):
        text = _ended_text(session)
        if session.channel_id and session.message_id:
            outbox.enqueue_message_edit(guild=session.guild, channel_id=session.channel_id,
                                        message_id=session.message_id, content=text, embed=None,
                                        dedupe_key=f"pad:ended:{session.pk}")
        if reason in (PadSession.EndReason.TIMEOUT, PadSession.EndReason.ADMIN, PadSession.EndReason.STAFF):
            outbox.enqueue_dm(guild=session.guild, user_id=session.host_id, content=text,
                              dedupe_key=f"pad:ended:dm:{session.pk}")
    return SessionView.of(session)


@transaction.atomic
def session_end(*, guild_id: int, actor_id: int, is_staff: bool, pad: int | None = None,
                session_id: int | None = None) -> SessionView:
    """End the session on `pad` (or with `session_id`): its host may, and staff may."""
    sessions = PadSession.objects.select_related("guild").filter(guild__discord_id=guild_id)
    if session_id is not None:
        session = sessions.filter(pk=session_id).first()
        if session is None or session.ended_at is not None:
            raise NoSessionOnPad(pad=session.pad if session else "?")
    else:
        session = sessions.filter(pad=_check_pad(pad), ended_at__isnull=True).first()
        if session is None:
            raise NoSessionOnPad(pad=pad)
    if session.host_id != actor_id and not is_staff:
        raise NotYourSession(host=f"<@{session.host_id}>")
    reason = PadSession.EndReason.HOST if session.host_id == actor_id else PadSession.EndReason.STAFF
    return _end(session, reason=reason, actor_id=actor_id)


@transaction.atomic
def session_end_from_admin(*, session_id: int) -> SessionView:
    """End a session from the admin site (the announcement is updated by the bot through the outbox)."""
    session = PadSession.objects.select_related("guild").get(pk=session_id)
    return _end(session, reason=PadSession.EndReason.ADMIN, actor_id=None)


@transaction.atomic
def sessions_expire(*, now: datetime | None = None) -> list[SessionView]:
    """End every session whose deadline has passed (the bot calls this; it works across restarts)."""
    due = PadSession.objects.select_related("guild").filter(ended_at__isnull=True, ends_at__lte=now or timezone.now())
    return [_end(session, reason=PadSession.EndReason.TIMEOUT, actor_id=None) for session in due]
