"""Order codes: redeeming them with /claim (once, ever), voiding them, and members' email addresses."""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.translation import gettext

from botproject import outbox
from botproject.exceptions import DomainError
from botproject.services import config_row

from ..exceptions import (
    AlreadyClaimed,
    AlreadyClaimedByYou,
    InvalidCode,
    InvalidEmail,
    TooManyAttempts,
    UnknownCode,
    VoidCode,
)
from ..models import ClaimAttempt, ClaimGuard, LedgerEntry, MemberProfile, Order
from .ledger import change_balance, profile_for
from .types import Change, Limits

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L, U: easy to read out and type
CODE_RE = re.compile(r"^[A-Z0-9]{8,32}$")
GUESS_WINDOW = timedelta(minutes=10)
GUESS_LIMIT = 5  # wrong codes per member in GUESS_WINDOW, counted across every guild
MIN_CODE_BITS = 40


def normalize_code(code: str) -> str:
    """Upper-case, without spaces and dashes (members paste codes in many shapes)."""
    return re.sub(r"[\s\-]", "", (code or "")).upper()


def code_hash(guild_id: int, code: str) -> str:
    """What is stored instead of the code."""
    return hashlib.sha256(f"{guild_id}:{normalize_code(code)}".encode()).hexdigest()


def code_bits(code: str) -> float:
    """A code's strength in bits, whoever chose it: length × log2(the pool its characters come from: 26
    letters, 10 digits, 36 for both); 0 when fewer than half its characters are different (AAAA1111)."""
    normalized = normalize_code(code)
    if not normalized or len(set(normalized)) * 2 < len(normalized):
        return 0.0
    pool = (26 if any(c.isalpha() for c in normalized) else 0) + (10 if any(c.isdigit() for c in normalized) else 0)
    return len(normalized) * math.log2(pool) if pool > 1 else 0.0


def code_is_strong(code: str) -> bool:
    """Whether a code is long and varied enough to resist guessing (at least MIN_CODE_BITS)."""
    return bool(CODE_RE.match(normalize_code(code))) and code_bits(code) >= MIN_CODE_BITS


def generate_code() -> str:
    """A new 12-character code (30^12, about 59 bits), shown as XXXX-XXXX-XXXX."""
    while True:
        raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))
        if code_is_strong(raw):  # a draw with too few different characters is drawn again
            return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def points_for(amount: Decimal) -> int:
    """1 currency unit = 1 point, rounded half up to a whole point."""
    return int(Decimal(amount).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class ClaimResult:
    """A redeemed order."""

    order_number: str
    points: int
    balance: int
    replayed: bool


def _claim(config, *, user_id: int, code: str, display_name: str | None) -> ClaimResult | DomainError:
    """Return the result, or the refusal (the caller records it as a failed attempt and raises it)."""
    guild = config.guild
    since = timezone.now() - GUESS_WINDOW
    # The member's guard row is locked first: a parallel claim by the same member waits here until this one
    # has recorded its outcome, so the count below cannot be passed by several guesses at once.
    ClaimGuard.objects.bulk_create([ClaimGuard(user_id=user_id)], ignore_conflicts=True)
    ClaimGuard.objects.select_for_update().get(user_id=user_id)
    failures = ClaimAttempt.objects.filter(user_id=user_id, succeeded=False, created_at__gte=since)
    if failures.count() >= GUESS_LIMIT:
        oldest = failures.order_by("created_at").values_list("created_at", flat=True)[0]
        minutes = max(1, int((oldest + GUESS_WINDOW - timezone.now()).total_seconds() // 60) + 1)
        return TooManyAttempts(minutes=minutes)
    normalized = normalize_code(code)
    if not CODE_RE.match(normalized):
        return InvalidCode()
    order = Order.objects.filter(guild=guild, code_hash=code_hash(guild.discord_id, normalized)).first()
    if order is None:
        return UnknownCode()
    if order.status == Order.Status.VOID:
        return VoidCode()
    if order.status == Order.Status.CLAIMED:
        if order.claimed_by_id == user_id:
            when = formats.date_format(timezone.localtime(order.claimed_at), "DATETIME_FORMAT")
            return AlreadyClaimedByYou(when=when)
        return AlreadyClaimed()
    # The conditional UPDATE decides between concurrent claims: exactly one sees a row change.
    claimed = Order.objects.filter(pk=order.pk, status=Order.Status.OPEN).update(
        status=Order.Status.CLAIMED, claimed_by_id=user_id, claimed_at=timezone.now()
    )
    if not claimed:
        return AlreadyClaimed()
    with translation.override(config.language):
        reason = gettext("order %(number)s") % {"number": order.order_number}
    result = change_balance(Limits.of(config), Change(
        user_id, points_for(order.amount), LedgerEntry.Kind.CLAIM, f"claim:{order.pk}", reason, actor_id=user_id,
        display_name=display_name))
    ClaimAttempt.objects.create(guild=guild, user_id=user_id, succeeded=True)
    _email_receipt(config, order, user_id, result.delta, result.balance)
    return ClaimResult(order.order_number, result.delta, result.balance, result.replayed)


def _email_receipt(config, order: Order, user_id: int, points: int, balance: int) -> None:
    profile_email = MemberProfile.objects.filter(guild=config.guild, user_id=user_id).values_list(
        "email", flat=True).first()
    to = profile_email or order.email
    if not to:
        return
    context = {"guild": config.guild.name or config.guild.discord_id, "order": order.order_number,
               "amount": order.amount, "currency": order.currency, "points": points, "balance": balance}
    with translation.override(config.language):
        subject = gettext("Your order %(number)s: %(points)s points credited") % {
            "number": order.order_number, "points": points}
        text = render_to_string("points/email/claim_receipt.txt", context)
        html = render_to_string("points/email/claim_receipt.html", context)
    outbox.enqueue_email(guild=config.guild, to=to, subject=subject, text=text, html=html,
                         dedupe_key=f"email:claim:{order.pk}")


def order_claim(*, guild_id: int, user_id: int, code: str, display_name: str | None = None) -> ClaimResult:
    """Redeem an order code for points; refusals are recorded (to slow guessing) and raised."""
    with transaction.atomic():
        config = config_row(guild_id)
        outcome = _claim(config, user_id=user_id, code=code, display_name=display_name)
        if isinstance(outcome, DomainError) and not isinstance(outcome, TooManyAttempts):
            ClaimAttempt.objects.create(guild=config.guild, user_id=user_id, succeeded=False)
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


@transaction.atomic
def order_void(*, guild_id: int, order_number: str) -> bool:
    """Cancel an open order so its code can no longer be claimed."""
    return bool(Order.objects.filter(guild__discord_id=guild_id, order_number=order_number,
                                     status=Order.Status.OPEN).update(status=Order.Status.VOID))


@transaction.atomic
def profile_set_email(*, guild_id: int, user_id: int, email: str, display_name: str | None = None) -> int:
    """Store the member's email address; return how many open orders in the guild carry it."""
    email = (email or "").strip()
    try:
        if len(email) > 254:  # the longest address SMTP allows
            raise ValidationError("too long")
        validate_email(email)
    except ValidationError:
        raise InvalidEmail(email=email[:100] or "''") from None
    config = config_row(guild_id)
    profile = profile_for(config.guild_id, user_id, display_name)
    MemberProfile.objects.filter(pk=profile.pk).update(email=email)
    return Order.objects.filter(guild=config.guild, email__iexact=email, status=Order.Status.OPEN).count()
