"""Admin pages of tickets; the app's content arrives with issue #6."""
