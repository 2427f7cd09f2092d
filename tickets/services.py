"""Write services (<entity>_<action>, keyword-only, one transaction each) of tickets; the app's content arrives with issue #6."""
