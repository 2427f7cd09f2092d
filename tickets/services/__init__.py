"""Ticket writes (<entity>_<action>, keyword-only, one transaction each), by part of a ticket's life.

- `panels`: categories (the services a ticket is about) and the panels members open tickets from;
- `opening`: a reserved row before the channel exists (gating, intake answers), the channel, the welcome;
- `lifecycle`: the buttons, closing;
- `transcript`: the channel's archive as messages arrive, and the posted close note;
- `deadlines`: every timer as a row (armed, claimed with a lease, done); `automation`: firing them, the opener
  leaving; `requests`: close requests; `ratings`: ratings and the helpers' bonus; `reopen`: reopening.
"""

from .automation import Fired, deadline_dms_closed, deadline_fire, ticket_opener_left  # noqa: F401
from .deadlines import (  # noqa: F401
    DeadlineItem,
    deadline_done,
    deadline_release,
    deadlines_claim,
    deadlines_next_due,
    set_waker,
)
from .lifecycle import (  # noqa: F401
    HELP_PING_INTERVAL,
    LOG_NOTE_GRACE,
    CloseResult,
    HelpResult,
    ticket_claim,
    ticket_close,
    ticket_close_from_admin,
    ticket_member_set,
    ticket_need_help,
    ticket_works,
)
from .opening import (  # noqa: F401
    new_code,
    ticket_channel_created,
    ticket_fail,
    ticket_open,
    ticket_reopen_failed,
    ticket_welcome_sent,
)
from .panels import category_create, panel_create, panel_record_message, panel_request, panel_request_done  # noqa: F401
from .ratings import RatingResult, rating_comment, rating_set  # noqa: F401
from .reopen import ticket_reopen  # noqa: F401
from .requests import (  # noqa: F401
    CloseAnswer,
    CloseRequestView,
    close_request_answer,
    close_request_create,
    close_request_posted,
)
from .transcript import (  # noqa: F401
    ticket_log_posted,
    transcript_delete,
    transcript_edit,
    transcript_message,
    transcript_store,
)
