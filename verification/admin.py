"""Admin pages of verification; the app's content arrives with issue #8."""
