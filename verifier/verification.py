"""Verification, one message at a time: check it, record what it found, checkpoint boundaries.

:class:`Verification` puts each feed message through the :class:`~verifier.replay.Replay`.
A verified ``genesis`` or ``block`` is a new EVM block boundary: the state store is synced and
the checkpoint (``verifier/checkpoint.py``) rewritten to name it. A mismatch is recorded once
(the same finding found again after a restart is not recorded twice) and the checkpoint is
rewritten with it, still naming the last verified boundary; then the verifier halts, or (told
to continue) its in-memory cursor moves past the message. No I/O but the checkpoint file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from verifier.checkpoint import Boundary, Checkpoint, save_checkpoint
from verifier.replay import Message, Replay
from verifier.subscriber import FeedHead
from verifier.verdict import Mismatch, Verdict


@dataclass(frozen=True, slots=True)
class Step:
    """What one message did."""

    boundary: Boundary | None = None
    """The new boundary, when the message was a verified ``genesis`` or ``block``."""
    verdict: Verdict | None = None
    """The mismatch it was, if any."""
    recorded: bool = False
    """Whether ``verdict`` was new (recorded now) rather than found again."""
    halt: bool = False
    """Whether the verifier stops here (a mismatch, and ``--on-mismatch halt``)."""


def _nothing() -> None:
    return None


class Verification:
    """Checks messages in order from a checkpoint and keeps that checkpoint up to date."""

    def __init__(
        self,
        replay: Replay,
        data_dir: Path,
        start: Checkpoint,
        *,
        halt_on_mismatch: bool = True,
        sync_state: Callable[[], None] = _nothing,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``start``: the checkpoint ``replay`` starts from (its verdicts are kept); ``sync_state``
        makes the state store durable before a checkpoint names a new state root."""
        self.replay = replay
        self.data_dir = data_dir
        self.halt_on_mismatch = halt_on_mismatch
        self.verdicts: list[Verdict] = list(start.verdicts)
        self.head = FeedHead(start.head_seq, start.head_block)
        self._findings = {v.finding for v in self.verdicts}
        self._sync_state = sync_state
        self._clock = clock

    def handle(self, message: Message) -> Step:
        """Check the next message (see the module docstring)."""
        try:
            reached = self.replay.check(message)
        except Mismatch as exc:
            verdict = exc.verdict
            recorded = verdict.finding not in self._findings
            if recorded:
                self._findings.add(verdict.finding)
                self.verdicts.append(verdict)
                self.save()
            if not self.halt_on_mismatch:
                self.replay.skip(message)
            return Step(verdict=verdict, recorded=recorded, halt=self.halt_on_mismatch)
        if reached is None:
            return Step()
        self._sync_state()
        self.save()
        return Step(boundary=reached)

    def on_head(self, head: FeedHead) -> None:
        """The sequencer's head, as the feed last reported it."""
        self.head = head

    def checkpoint(self) -> Checkpoint:
        """The checkpoint as it stands: the last verified boundary and every recorded verdict."""
        return Checkpoint(
            boundary=self.replay.boundary,
            verdicts=tuple(self.verdicts),
            mode=self.replay.mode.label,
            head_seq=self.head.seq,
            head_block=self.head.block,
            updated_at=self._clock(),
        )

    def save(self) -> None:
        """Write :meth:`checkpoint` to the data dir."""
        save_checkpoint(self.data_dir, self.checkpoint())
