"""Tickets: ticket panels, private ticket channels, helpers, transcripts and metrics."""
