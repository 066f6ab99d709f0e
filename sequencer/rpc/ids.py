"""Identifiers handed to clients: filter ids and subscription ids, one scheme for both."""

from __future__ import annotations

import secrets


def new_id() -> str:
    """A fresh id: a QUANTITY (the spec's type for filter ids) of 128 random bits, top bit set so
    its 32 hex digits never start with a zero."""
    return hex(secrets.randbits(128) | (1 << 127))
