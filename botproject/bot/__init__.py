"""Shared Discord plumbing: client, async bridge, error edge, checks, i18n and shared UI. No domain logic."""
