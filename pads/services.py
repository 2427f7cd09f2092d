"""Write services (<entity>_<action>, keyword-only, one transaction each) of pads; the app's content arrives with issue #7."""
