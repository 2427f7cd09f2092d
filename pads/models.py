"""Models of pads; the app's content arrives with issue #7."""
