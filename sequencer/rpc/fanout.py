"""Notification fan-out off the block path: subscriptions and polling filters hear about chain
events on a task of their own.

The producer (and the submission service) only *post* an event, O(1); :meth:`Fanout.run`
delivers the events in order to their listeners, yielding to the event loop every few
milliseconds (a listener may be a generator that yields between chunks of its audience). The
fan-out and every WebSocket connection's writer share one :class:`Pacer`: together they hold
the loop at most ~2 ms before other work (sealing, requests) runs, and while a block is being
sealed (:meth:`Pacer.defer_to`) they wait for the seal to finish once their slice is spent, so a
large or slow audience delays notifications, never sealing or other requests. Until
:meth:`run` is started (an embedded node driven by hand, unit tests) events are delivered at
once, on the poster's call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

log = logging.getLogger("sequencer.rpc.fanout")

T = TypeVar("T")
Listener = Callable[[Any], Iterator[None] | None]
SLICE_S = 0.002
"""How long the fan-out runs before it lets the event loop run other work."""
DEFER_AT_MOST_S = 0.05
"""The longest the audience waits for a seal in one go (a seal stuck on a failing disk does not
starve it)."""


class Pacer:
    """A time budget per event-loop iteration shared by everything that serves the audience
    (the fan-out and every connection's writer): once spent, each of them yields at its next
    step, so together they hold the loop at most about ``budget_s`` between other work."""

    def __init__(self, budget_s: float = SLICE_S) -> None:
        self.budget_s = budget_s
        self._window_start: float | None = None
        self._reset_scheduled = False
        self._idle: asyncio.Event | None = None

    def defer_to(self, idle: asyncio.Event) -> None:
        """Once a slice is spent, wait (up to :data:`DEFER_AT_MOST_S`) while ``idle`` is clear:
        the block producer's, clear while it seals."""
        self._idle = idle

    def _reset(self) -> None:
        """Runs at the start of the next loop iteration: a fresh budget for that iteration."""
        self._reset_scheduled = False
        self._window_start = time.monotonic()

    async def step(self) -> None:
        """Call before each unit of audience work."""
        now = time.monotonic()
        if self._window_start is None:
            self._window_start = now
        elif now - self._window_start > self.budget_s:
            idle = self._idle
            if idle is not None and not idle.is_set():
                # a seal is under way: let its steps (execution, the durable write coming back
                # from its thread) run back to back
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(idle.wait(), DEFER_AT_MOST_S)
                self._window_start = time.monotonic()
                return
            if not self._reset_scheduled:
                self._reset_scheduled = True
                asyncio.get_running_loop().call_soon(self._reset)
            await asyncio.sleep(0)


class Fanout:
    """An ordered queue of (listener, event) pairs and the task that drains it."""

    def __init__(self, pacer: Pacer | None = None) -> None:
        self.pacer = pacer or Pacer()
        self._events: deque[tuple[Listener, Any]] = deque()
        self._wake = asyncio.Event()
        self._running = False
        self.delivered = 0
        """Events delivered so far."""

    @property
    def backlog(self) -> int:
        """Events posted and not yet delivered."""
        return len(self._events)

    def listener(self, deliver: Callable[[T], Iterator[None] | None]) -> Callable[[T], None]:
        """A producer-side listener that posts its event for ``deliver``."""

        def post(event: T) -> None:
            if not self._running:
                _drain(deliver(event))
                self.delivered += 1
                return
            self._events.append((deliver, event))
            self._wake.set()

        return post

    async def run(self) -> None:
        """Deliver posted events until cancelled (then deliver what is left, at once)."""
        self._running = True
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._events:
                    deliver, event = self._events.popleft()
                    try:
                        work = deliver(event)
                        if work is not None:
                            for _ in work:
                                await self.pacer.step()
                    except Exception:  # one listener's bug must not stop the others
                        log.exception("notification listener failed; event skipped")
                    self.delivered += 1
                    await self.pacer.step()
        finally:
            self._running = False
            while self._events:
                deliver, event = self._events.popleft()
                try:
                    _drain(deliver(event))
                except Exception:
                    log.exception("notification listener failed; event skipped")


def _drain(work: Iterator[None] | None) -> None:
    if work is not None:
        for _ in work:
            pass
