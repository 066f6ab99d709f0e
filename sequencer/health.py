"""The node's health gate: whether it accepts work, and why not.

Two conditions close the gate: a graceful stop under way (nothing new is accepted, for good),
and failing storage writes (sealing pauses; the gate reopens by itself when a write succeeds).
The submission service asks it before admitting anything, the producer reports storage
outcomes to it, and ``/health``, ``/ready`` and the metrics read it.

With L1 settlement on, two more: a settlement backlog over its limit (too many L2 blocks not yet
on L1: transactions are refused until posting catches up) and a settlement alarm (e.g. the
batcher is out of funds: health turns red, transactions are still accepted).
"""

from __future__ import annotations

import logging

from sequencer.errors import NodeShuttingDown, NodeUnhealthy, SettlementBacklogFull
from sequencer.logs import fields

log = logging.getLogger("sequencer.health")


class HealthGate:
    """Accepting, storage healthy, or not (see the module docstring)."""

    def __init__(self) -> None:
        self._stopping = False
        self._storage_ok = True
        self._backlog: str | None = None
        self._alarm: str | None = None

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
        """Accepting work and able to write it (and, when settling, no settlement alarm)."""
        return not self._stopping and self._storage_ok and self._backlog is None and self._alarm is None

    @property
    def problems(self) -> list[str]:
        """Why the node is not healthy, in words (empty when it is)."""
        found = ["shutting down"] if self._stopping else []
        if not self._storage_ok:
            found.append("storage writes are failing")
        return found + [p for p in (self._backlog, self._alarm) if p is not None]

    def check_accepting(self) -> None:
        """Raise the reason the node cannot take a transaction now, if there is one."""
        if self._stopping:
            raise NodeShuttingDown()
        if not self._storage_ok:
            raise NodeUnhealthy()
        if self._backlog is not None:
            raise SettlementBacklogFull(self._backlog)

    def settlement_backlog(self, problem: str | None) -> None:
        """The settlement backlog is over its limit (``problem`` says how far), or no longer (``None``)."""
        if problem is not None and self._backlog is None:
            log.error("refusing transactions: settlement backlog full", extra=fields(problem=problem))
        elif problem is None and self._backlog is not None:
            log.info("settlement caught up: accepting transactions again")
        self._backlog = problem

    def settlement_alarm(self, problem: str | None) -> None:
        """A settlement alarm is raised (``problem``), or cleared (``None``)."""
        if problem is not None and problem != self._alarm:
            log.error("settlement alarm", extra=fields(problem=problem))
        elif problem is None and self._alarm is not None:
            log.info("settlement alarm cleared")
        self._alarm = problem

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
