"""The follower's health: is the stream flowing? Red, with one alarm line, within seconds when not.

:class:`FeedHealth` hears what the subscriber sees (connected, a message, a disconnect and why)
and the sequencer's head as its ``/status`` reports it, and is evaluated every second
(:meth:`FeedHealth.evaluate`). It is red when

* ``feed.down``: not connected for :data:`DOWN_AFTER_S` (the feed is unreachable, refuses the
  token, is full, or closes at once);
* ``feed.reconnecting``: :data:`RECONNECT_LIMIT` or more reconnects within
  :data:`RECONNECT_WINDOW_S` (a connection loop: a gap that will not heal, a message it cannot
  send, a proxy resetting it);
* ``feed.stalled``: connected, the head ahead of the verifier, and no message for
  :data:`STALL_AFTER_S`.

Each change to red logs one ``ALARM`` line (level error; ``alarm`` names the reason and
``detail`` what was seen, as its fields); a change back logs one line at info. ``/health`` on
the status port answers 503 while red.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sequencer.logs import fields

log = logging.getLogger("verifier")
DOWN_AFTER_S = 3.0
STALL_AFTER_S = 3.0
RECONNECT_WINDOW_S = 30.0
RECONNECT_LIMIT = 5


@dataclass(frozen=True, slots=True)
class HealthState:
    """The verdict on the stream: ``ok`` or a reason, with what was seen."""

    ok: bool
    reason: str | None = None
    detail: str = ""


class FeedHealth:
    """Tracks the stream (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        now = clock()
        self.connected = False
        self._since = now  # when the connection state last changed
        self._last_message = now
        self._reconnects: deque[float] = deque()
        self.reconnects_total = 0
        self.last_disconnect = ""
        self._head_ahead = False
        self.state = HealthState(True)
        self._ever_connected = False

    def on_connected(self) -> None:
        """A connection opened."""
        now = self._clock()
        if self._ever_connected:
            self._reconnects.append(now)
            self.reconnects_total += 1
        self._ever_connected = True
        self.connected = True
        self._since = self._last_message = now

    def on_disconnected(self, reason: str) -> None:
        """The connection ended (or could not be opened), for ``reason``."""
        if self.connected:
            self._since = self._clock()
        self.connected = False
        self.last_disconnect = reason

    def on_message(self) -> None:
        """A message arrived."""
        self._last_message = self._clock()

    def on_head(self, head_ahead: bool) -> None:
        """Whether the sequencer's head is ahead of what the verifier has received."""
        self._head_ahead = head_ahead

    def evaluate(self) -> HealthState:
        """The stream's health now; logs an alarm when it turns red (and a line when it heals)."""
        now = self._clock()
        while self._reconnects and now - self._reconnects[0] > RECONNECT_WINDOW_S:
            self._reconnects.popleft()
        state = HealthState(True)
        if not self.connected and now - self._since >= DOWN_AFTER_S:
            state = HealthState(
                False, "feed.down", f"not connected for {now - self._since:.1f} s: {self.last_disconnect}"
            )
        elif len(self._reconnects) >= RECONNECT_LIMIT:
            state = HealthState(
                False,
                "feed.reconnecting",
                f"{len(self._reconnects)} reconnects in {RECONNECT_WINDOW_S:g} s; "
                f"last: {self.last_disconnect}",
            )
        elif self.connected and self._head_ahead and now - self._last_message >= STALL_AFTER_S:
            state = HealthState(
                False,
                "feed.stalled",
                f"no message for {now - self._last_message:.1f} s while the head is ahead",
            )
        if state.ok != self.state.ok or state.reason != self.state.reason:
            if state.ok:
                log.info("feed healthy again")
            else:
                log.error("ALARM", extra=fields(alarm=state.reason, detail=state.detail))
        self.state = state
        return state
