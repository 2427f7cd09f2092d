"""Pads: training and tryout sessions on pads 1-9."""
