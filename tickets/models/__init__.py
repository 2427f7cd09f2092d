"""The tickets app's models: categories, panels, tickets and claims (`core`), the channel archive and stored
transcript (`transcript`), and what makes tickets run themselves (`automation`)."""

from .automation import (  # noqa: F401
    MAX_QUESTIONS,
    TicketAnswer,
    TicketClose,
    TicketCloseRequest,
    TicketDeadline,
    TicketQuestion,
    TicketRating,
)
from .core import (  # noqa: F401
    OPEN_STATUSES,
    OutsideHours,
    Ticket,
    TicketCategory,
    TicketClaim,
    TicketCounter,
    TicketManager,
    TicketPanel,
    TicketPanelManager,
)
from .transcript import TicketTranscript, TranscriptMessage  # noqa: F401
