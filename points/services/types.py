"""What the ledger's write path takes and gives: a change, the guild's limits, the result, and the members' notices."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from ..models import LedgerEntry


@dataclass(frozen=True)
class LedgerResult:
    """What a balance change did."""

    entry_id: int
    user_id: int
    delta: int
    balance: int
    kind: str
    replayed: bool
    achievements: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Change:
    """One balance change as the write path takes it (amounts already validated)."""

    user_id: int
    delta: int
    kind: str
    key: str  # the idempotency key: replaying it changes nothing
    reason: str = ""
    actor_id: int | None = None
    actor_user_id: int | None = None
    display_name: str | None = None
    notify: bool = True  # a DM notice, unless the member turned notices off
    expected_balance: int | None = None  # refused unless the balance is exactly this (set, season reset)
    reverses_id: int | None = None

    @property
    def recorded_reason(self) -> str:
        """The reason as the ledger keeps it (and the notice repeats it)."""
        return self.reason[:500]


@dataclass(frozen=True)
class Limits:
    """What a balance change needs from the guild's configuration (a cached copy is verified on use)."""

    guild_pk: int
    guild_id: int
    name: str
    language: str
    max_adjustment: int
    max_balance: int
    allow_negative: bool

    @classmethod
    def of(cls, config) -> Limits:
        """The limits of a GuildConfig row (with its guild) read in the caller's transaction."""
        guild = config.guild
        return cls(guild.pk, guild.discord_id, guild.name, config.language, config.points_max_adjustment,
                   config.points_max_balance, bool(config.points_allow_negative))

    @property
    def guild_name(self) -> str:
        return self.name or str(self.guild_id)

    def admits_newcomer(self, delta: int) -> bool:
        """Whether a member without a profile can start with `delta` (else the refusal needs explaining)."""
        return (delta >= 0 or self.allow_negative) and delta <= self.max_balance


NOTICE = gettext_noop("%(delta)s points in %(guild)s (%(reason)s). Your balance: %(balance)s.")
ACHIEVEMENT_NOTICE = gettext_noop("🏆 Achievement unlocked in %(guild)s: %(name)s")
ACHIEVEMENT_BONUS = gettext_noop("(+%(bonus)s points)")


@cache
def translated(language: str, message: str) -> str:
    """`message` (a msgid) in `language`, looked up once per process (an award's notice is on the hot path)."""
    with translation.override(language):
        return gettext(message)


@cache
def kind_label(language: str, kind: str) -> str:
    """A ledger kind's label in `language` (the reason a notice gives when the change has none)."""
    with translation.override(language):
        return str(LedgerEntry.Kind(kind).label)


def notice_text(limits: Limits, *, delta: int, reason: str, kind: str, balance: int | str) -> str:
    """The member's DM about a balance change, in the guild's language (`balance` a number, or text to stand in)."""
    reason = reason or kind_label(limits.language, kind)
    return translated(limits.language, NOTICE) % {
        "delta": f"{delta:+,}", "guild": limits.guild_name, "reason": reason,
        "balance": f"{balance:,}" if isinstance(balance, int) else balance,
    }


def achievement_text(limits: Limits, *, name: str, bonus: int) -> str:
    """The member's DM about an achievement they unlocked."""
    text = translated(limits.language, ACHIEVEMENT_NOTICE) % {"guild": limits.guild_name, "name": name}
    if bonus:
        text += " " + translated(limits.language, ACHIEVEMENT_BONUS) % {"bonus": bonus}
    return text
