"""Write services (<entity>_<action>, keyword-only, one transaction each) of verification; the app's content arrives with issue #8."""
