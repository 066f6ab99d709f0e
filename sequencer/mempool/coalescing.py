"""Gathering what arrives together into one group: the requests of a JSON-RPC batch start one
event-loop iteration apart, and concurrent requests within a few; each group is handed on once
a loop iteration passes without a new arrival (at most ``max_items`` of them, waiting at most
``max_wait_s``). The submission service decodes its groups in one call (``submission.py``); the
RPC front ends post theirs to the executor in one request (``frontend/process.py``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
MAX_ITEMS = 1024
"""At most this many items go in one group."""
MAX_WAIT_S = 0.002
"""An item waits at most this long for others to join it."""


class Coalescer(Generic[T]):
    """Collects items and calls ``flush`` with each group, in arrival order."""

    def __init__(
        self, flush: Callable[[list[T]], None], max_items: int = MAX_ITEMS, max_wait_s: float = MAX_WAIT_S
    ) -> None:
        self._flush = flush
        self.max_items = max_items
        self.max_wait_s = max_wait_s
        self._items: list[T] = []
        self._first_at = 0.0
        self._seen = 0

    def add(self, item: T) -> None:
        """Add ``item`` to the group being gathered (a new one starts if none is)."""
        if not self._items:
            self._first_at = time.monotonic()
            self._seen = 0
            asyncio.get_running_loop().call_soon(self._when_quiet)
        self._items.append(item)

    def _when_quiet(self) -> None:
        waiting = len(self._items)
        if (
            waiting > self._seen
            and waiting < self.max_items
            and time.monotonic() - self._first_at < self.max_wait_s
        ):
            self._seen = waiting
            asyncio.get_running_loop().call_soon(self._when_quiet)
            return
        group, self._items = self._items, []
        self._flush(group)
