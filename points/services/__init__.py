"""Points writes. `ledger`: balance changes; `orders`: order codes, /claim and email addresses."""

from .ledger import (  # noqa: F401
    Kind,
    LedgerResult,
    notifications_set,
    points_award,
    points_bonus_settle,
    points_deduct,
    points_recount_members,
    points_reverse,
    points_season_reset,
    points_set,
    points_transfer,
)
from .messages import ProfileExists, members_direct_message, profile_create  # noqa: F401
from .orders import (  # noqa: F401
    CODE_ALPHABET,
    GUESS_LIMIT,
    ClaimResult,
    code_bits,
    code_hash,
    code_is_strong,
    generate_code,
    normalize_code,
    order_claim,
    order_void,
    profile_set_email,
)
