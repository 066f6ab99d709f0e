"""The node's health gate: whether it accepts work, and why not.

Two conditions close the gate: a graceful stop under way (nothing new is accepted, for good),
and failing storage writes (sealing pauses; the gate reopens by itself when a write succeeds).
The submission service asks it before admitting anything, the producer reports storage
outcomes to it, and ``/health``, ``/ready`` and the metrics read it.
"""

from __future__ import annotations

import logging

from sequencer.errors import NodeShuttingDown, NodeUnhealthy
from sequencer.logs import fields

log = logging.getLogger("sequencer.health")


class HealthGate:
    """Accepting, storage healthy, or not (see the module docstring)."""

    def __init__(self) -> None:
        self._stopping = False
        self._storage_ok = True

    @property
    def storage_ok(self) -> bool:
        """Whether the last storage write succeeded."""
        return self._storage_ok

    @property
    def accepting(self) -> bool:
        """Whether no stop has been requested."""
        return not self._stopping

    @property
    def healthy(self) -> bool:
        """Accepting work and able to write it."""
        return not self._stopping and self._storage_ok

    def check_accepting(self) -> None:
        """Raise the reason the node cannot take a transaction now, if there is one."""
        if self._stopping:
            raise NodeShuttingDown()
        if not self._storage_ok:
            raise NodeUnhealthy()

    def stop_accepting(self) -> None:
        """A graceful stop begins."""
        self._stopping = True

    def storage_failed(self, exc: Exception) -> None:
        """A storage write failed: sealing pauses and transactions are refused."""
        if self._storage_ok:
            log.error("storage write failed, sealing paused", extra=fields(error=str(exc)))
        self._storage_ok = False

    def storage_succeeded(self) -> None:
        """A storage write succeeded: the node resumes if it had paused."""
        if not self._storage_ok:
            log.info("storage writes succeed again, sealing resumed")
        self._storage_ok = True
