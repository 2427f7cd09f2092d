"""Admin pages of points; the app's content arrives with issue #4."""
