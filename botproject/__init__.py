"""Core of the community bot: settings, per-guild configuration, access control and the Discord plumbing."""
