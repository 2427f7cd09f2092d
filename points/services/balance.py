"""The one write path of a balance change: the guarded UPDATE (or a newcomer's profile), its ledger row, its notice.

`apply` runs the statements of `statements.py` one after another in the caller's transaction (both databases).
`apply_in_one_statement` fuses the same statements into one PostgreSQL statement (data-modifying CTEs), the award's
hot path: outside a transaction block a statement is its own transaction, so an award is one round trip and the
hot member's row lock is held for that statement and its commit only (without it, BEGIN and COMMIT and a statement
each are round trips: the points benchmark's newcomers and hot members showed the difference). Only there is the
notice's balance written by SQL, as the statement alone knows it; tests hold it to Python's own formatting.
`once` answers a replayed idempotency key with the first result; `refusal` explains a change that was refused.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import IntegrityError, connection, transaction

from botproject import outbox
from botproject.models import OutboxMessage
from botproject.sql import insert_row, prepared_cursor

from ..exceptions import BalanceCapReached, InsufficientPoints
from ..models import LedgerEntry, MemberProfile
from . import statements
from .types import Change, LedgerResult, Limits, notice_text

# The result of a change and whether it met an open achievement of the member's (then they are granted next).
Applied = tuple[LedgerResult, bool]


def _fetch(sql: str, params: list) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _fetch_none(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def apply(limits: Limits, change: Change, *, verify: bool, achievements: bool, create: bool = True) -> Applied | None:
    """Apply `change` in the caller's transaction: the member's row (created, counted, if they have none and
    `create`), the ledger row and the DM notice. None: refused, nothing written (or, with `verify`, the cached
    `limits` are out of date)."""
    stamp = statements.stamp_now()
    row = _member_row(limits, change, stamp, verify=verify, achievements=achievements, create=create)
    if row is None:
        return None
    profile_pk, balance, notifications, met = row
    entry_id = insert_row(LedgerEntry, member_id=profile_pk, balance_after=balance,
                          **statements.ledger_values(limits, change, stamp))
    if change.notify and notifications:
        text = notice_text(limits, delta=change.delta, reason=change.recorded_reason, kind=change.kind,
                           balance=balance)
        outbox.enqueue_dm(guild=limits.guild_pk, user_id=change.user_id, content=text,
                          dedupe_key=f"dm:ledger:{entry_id}")
    return LedgerResult(entry_id, change.user_id, change.delta, balance, change.kind, False), bool(met)


def _member_row(limits: Limits, change: Change, stamp, *, verify: bool, achievements: bool,
                create: bool) -> tuple | None:
    """The member's row with `change` applied (see `statements.balance_update`): the guarded UPDATE, or a newcomer's
    new profile (counted). Which is tried first is `guess`'s call; either way round ends the same."""
    def update() -> tuple | None:
        return _fetch(*statements.balance_update(limits, change, stamp, verify=verify, achievements=achievements))

    if not (create and limits.admits_newcomer(change.delta) and change.expected_balance is None):
        return update()
    newcomer_first = guess.newcomer_first(limits, change.user_id)
    row = None if newcomer_first else update()
    created = False
    if row is None:
        row = _fetch(*statements.profile_insert(limits, change, stamp, verify=verify, achievements=achievements))
        if row is not None:
            created = True
            _fetch_none(*statements.count_member(limits.guild_pk, change.user_id))
        else:
            # The member has a profile after all (on PostgreSQL perhaps another first change just committed it:
            # the INSERT waited for that commit, which an UPDATE started before did not see).
            row = update()
    if row is not None:
        guess.note(limits, change.user_id, created=created)
    return row


class MemberGuess:
    """Which statement a change tries first: the UPDATE for a member whose change this process wrote; for one it has
    not seen, what the last such member turned out to be (a newcomer: their profile's INSERT first; else the
    UPDATE). A wrong guess costs one statement that finds nothing; the outcome is the same either way."""

    LIMIT = 50_000  # members remembered (then forgotten all at once: only guesses are lost)

    def __init__(self) -> None:
        self.seen: set[tuple[int, int]] = set()
        self.unseen_are_new = True

    def newcomer_first(self, limits: Limits, user_id: int) -> bool:
        return self.unseen_are_new and (limits.guild_pk, user_id) not in self.seen

    def note(self, limits: Limits, user_id: int, *, created: bool) -> None:
        """The member's change was written (`created`: with their new profile)."""
        key = (limits.guild_pk, user_id)
        if key not in self.seen:
            self.unseen_are_new = created
            if len(self.seen) >= self.LIMIT:
                self.seen.clear()
            self.seen.add(key)


guess = MemberGuess()


_BALANCE = "\x00balance\x00"  # stands for the new balance in a notice the statement completes
_PG_NUMBER = "FM9,999,999,999,999,999,999,990"  # to_char's picture of Python's f"{n:,}"


def apply_in_one_statement(limits: Limits, change: Change, *, achievements: bool, newcomer: bool) -> Applied | None:
    """PostgreSQL: `apply` (with `verify`) as one statement (outside a transaction block, its own transaction).

    `newcomer`: the member's first change (their profile with the change applied, counted); else the guarded
    UPDATE. None when it cannot apply: refused, no profile (or one after all), or the limits changed since cached.
    The notice is the one `apply` writes, its balance written by the statement the way Python writes it.
    """
    if newcomer and not (limits.admits_newcomer(change.delta) and change.expected_balance is None):
        return None
    stamp = statements.stamp_now()
    build = statements.profile_insert if newcomer else statements.balance_update
    parts = [("p", build(limits, change, stamp, verify=True, achievements=achievements))]
    ledger_sql, ledger_params = statements.insert_select(
        LedgerEntry, source="p", exprs={"member_id": ("p.id", []), "balance_after": ("p.balance", [])},
        values=statements.ledger_values(limits, change, stamp))
    parts.append(("e", (f"{ledger_sql} RETURNING id", ledger_params)))
    if change.notify:
        text = notice_text(limits, delta=change.delta, reason=change.recorded_reason, kind=change.kind,
                           balance=_BALANCE)
        before, after = text.split(_BALANCE, 1)
        outbox_sql, outbox_params = statements.insert_select(
            OutboxMessage, source="p, e", where="p.notifications_enabled",
            exprs={"content": (f"left(%s || to_char(p.balance, '{_PG_NUMBER}') || %s, 2000)", [before, after]),
                   "dedupe_key": ("'dm:ledger:' || e.id", [])},
            values={"guild_id": limits.guild_pk, "kind": OutboxMessage.Kind.DM.value, "target_id": change.user_id,
                    "available_at": stamp})
        parts.append(("o", (f"{outbox_sql} RETURNING id", outbox_params)))
    if newcomer:
        parts.append(("c", statements.count_member(limits.guild_pk, change.user_id, source="p")))
    notices = "(SELECT count(*) FROM o)" if change.notify else "0"
    sql = (f"WITH {', '.join(f'{name} AS ({part_sql})' for name, (part_sql, _params) in parts)} "
           f"SELECT e.id, p.balance, {notices}, p.met FROM p, e")
    with prepared_cursor() as cursor:  # planned once per connection: planning cost as much as running it
        cursor.execute(sql, [param for _name, (_sql, part_params) in parts for param in part_params])
        row = cursor.fetchone()
    if row is None:
        return None
    entry_id, balance, notices_written, met = row
    if notices_written:
        transaction.on_commit(outbox.wake)
    return LedgerResult(entry_id, change.user_id, change.delta, balance, change.kind, False), bool(met)


def replayed(key: str) -> LedgerResult | None:
    """The first result of the change with idempotency key `key`, if one was saved."""
    entry = LedgerEntry.objects.select_related("member").filter(idempotency_key=key).first()
    if entry is None:
        return None
    return LedgerResult(entry.pk, entry.member.user_id, entry.delta, entry.balance_after, entry.kind, True)


def once(key: str, write: Callable[[], LedgerResult]) -> LedgerResult:
    """`write()`, or the first result when the idempotency key `key` is taken.

    A replay fails in `write` — on the key's unique constraint (possibly racing the first call), or refused now
    only because the first call already moved the balance — and `write` must have undone its own writes (its
    transaction or savepoint). A failure without a saved first result is raised.
    """
    try:
        return write()
    except (IntegrityError, InsufficientPoints, BalanceCapReached):
        replay = replayed(key)
        if replay is None:
            raise
        return replay


def refusal(limits: Limits, change: Change) -> InsufficientPoints | BalanceCapReached:
    """Why `change` was refused (the guild's cap for a gain, the member's balance for a loss)."""
    member = f"<@{change.user_id}>"
    if change.delta > 0:
        return BalanceCapReached(member=member, limit=limits.max_balance)
    current = MemberProfile.objects.filter(guild_id=limits.guild_pk, user_id=change.user_id).values_list(
        "balance", flat=True).first()
    return InsufficientPoints(member=member, balance=current or 0, amount=-change.delta)


def apply_or_refuse(limits: Limits, change: Change, *, achievements: bool) -> Applied:
    """`apply` with `limits` read in the caller's transaction; a refusal is raised (nothing written)."""
    applied = apply(limits, change, verify=False, achievements=achievements)
    if applied is None:
        raise refusal(limits, change)
    return applied

