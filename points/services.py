"""Write services (<entity>_<action>, keyword-only, one transaction each) of points; the app's content arrives with issue #4."""
