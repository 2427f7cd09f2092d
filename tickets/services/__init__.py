"""Ticket writes (<entity>_<action>, keyword-only, one transaction each), by part of a ticket's life.

- `panels`: categories (the services a ticket is about) and the panels members open tickets from;
- `lifecycle`: opening (a reserved row before the channel exists), the buttons, closing;
- `transcript`: the channel's archive as messages arrive, and the posted close note.
"""

from .lifecycle import (  # noqa: F401
    HELP_PING_INTERVAL,
    LOG_NOTE_GRACE,
    CloseResult,
    HelpResult,
    new_code,
    ticket_channel_created,
    ticket_claim,
    ticket_close,
    ticket_close_from_admin,
    ticket_fail,
    ticket_member_set,
    ticket_need_help,
    ticket_open,
    ticket_welcome_sent,
    ticket_works,
)
from .panels import category_create, panel_create, panel_record_message, panel_request, panel_request_done  # noqa: F401
from .transcript import (  # noqa: F401
    ticket_log_posted,
    transcript_delete,
    transcript_edit,
    transcript_message,
    transcript_store,
)
