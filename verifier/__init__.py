"""A verifier: follows a sequencer's state-diff feed and re-executes everything it streams."""

__version__ = "0.1.0"
