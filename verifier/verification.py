"""Verification, one message at a time: decode, check, record, make boundaries durable.

:class:`Verification` takes each message's text as it arrived, decodes it once
(``verifier/wire.py``) and puts it through the :class:`~verifier.replay.Replay`:

* a message that is not what docs/feed.md says (not JSON, another version, a field missing or
  of the wrong shape, a header that is not one, larger than the size limit) is a verdict,
  ``stream.version`` or ``stream.malformed``, never a crash;
* a position already verified is ignored (a duplicate); a position after the one expected is a
  gap: the follower reconnects from the position it expected (docs/feed.md), and only a gap
  that is still there after :data:`GAP_LIMIT` connections is a verdict (``stream.seq``);
* a verified ``genesis`` or ``block`` is a new EVM block boundary: the state changes and the
  checkpoint are committed together (``verifier/store.py``), at every boundary at the live
  edge and at most once a second while catching up;
* a mismatch is recorded once (the same finding found again after a restart is not recorded
  twice), committed with the checkpoint (still naming the last verified boundary), and its
  evidence (the signed mini-block headers it contradicts) written to ``evidence/``; then the
  verifier halts, or (told to continue) adopts the message's claims and goes on.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sequencer.logs import fields
from verifier.checkpoint import Boundary, Checkpoint, Rotation, encode_checkpoint
from verifier.replay import Replay
from verifier.signatures import scheduled_signer
from verifier.state import Changes
from verifier.store import StateStore
from verifier.subscriber import OVERSIZE, FeedHead
from verifier.verdict import Mismatch, Verdict
from verifier.wire import BlockMessage, Malformed, Message, ReorgMessage, decode_stream_message

log = logging.getLogger("verifier")
GAP_LIMIT = 3
COMMIT_EVERY_S = 1.0
WELL_FORMED = "a message as docs/feed.md defines it (version 2)"
EVIDENCE_DIR = "evidence"


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
    reconnect: bool = False
    """Whether the follower should reconnect from the cursor (a gap; a malformed message)."""
    ignored: bool = False
    """A duplicate of a position already verified."""
    reorg: ReorgMessage | None = None
    """A devnet feed's ``reorg``: the chain was rolled back past this verifier's tip."""


class Verification:
    """Checks messages in order from a checkpoint and keeps that checkpoint durable."""

    def __init__(
        self,
        replay: Replay,
        store: StateStore,
        data_dir: Path,
        start: Checkpoint,
        *,
        max_message_bytes: int,
        halt_on_mismatch: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.replay = replay
        self.store = store
        self.data_dir = data_dir
        self.max_message_bytes = max_message_bytes
        self.halt_on_mismatch = halt_on_mismatch
        self.verdicts: list[Verdict] = list(start.verdicts)
        self.rotations: list[Rotation] = list(start.rotations)
        self.head = FeedHead(start.head_seq, start.head_block)
        self.duplicates = 0
        self._findings = {v.finding for v in self.verdicts}
        self._gaps: dict[int, int] = {}
        self._clock = clock
        self._committed_at = 0.0
        self._pending: Changes | None = None

    # -- messages -----------------------------------------------------------------------------
    def handle_text(self, text: str | bytes) -> Step:
        """Decode and check the next message's text (see the module docstring)."""
        if text is OVERSIZE or text == OVERSIZE:
            return self._malformed(
                Malformed("message", f"larger than feed.max_message_bytes ({self.max_message_bytes} bytes)")
            )
        try:
            message = decode_stream_message(text)
        except Malformed as exc:
            return self._malformed(exc)
        if isinstance(message, ReorgMessage):
            if not self.replay.chain.devnet:  # a production chain never rolls back
                return self._malformed(Malformed("message.type", "a reorg on a chain that is not a devnet"))
            return Step(reorg=message)
        return self.handle(message, text.encode() if isinstance(text, str) else text)

    def handle(self, message: Message, raw: bytes = b"") -> Step:
        """Check a decoded message (``raw``: its text, for worker processes)."""
        replay = self.replay
        expected = replay.next_seq
        if message.seq < expected:
            self.duplicates += 1
            return Step(ignored=True)
        if message.seq > expected:
            return self._gap(message.seq, expected)
        self._gaps.pop(expected, None)
        late = self._late(wait_all=isinstance(message, BlockMessage))
        if late is not None:
            return late
        try:
            reached = replay.check(message, raw)
        except Mismatch as exc:
            return self._mismatch(exc, message)
        except Malformed as exc:  # a header that is not one
            return self._malformed(exc)
        if reached is None:
            return self._late(wait_all=False) or Step()
        self._note_rotation(reached)
        self._commit_boundary(reached)
        return Step(boundary=reached)

    def _commit_boundary(self, reached: Boundary) -> None:
        """Commit at every boundary at the live edge; while catching up, at most every
        :data:`COMMIT_EVERY_S` (one fsync per EVM block would bound catch-up speed): a restart
        re-verifies from the last committed boundary, so either way it gives the same verdicts."""
        delta = self.replay.state.take_changes()  # sealed apart from the next block's changes
        if self._pending is None:
            self._pending = delta
        else:
            self._pending.merge(delta)
        now = self._clock()
        if reached.next_seq > self.head.seq or now - self._committed_at >= COMMIT_EVERY_S:
            self.commit()

    def _late(self, *, wait_all: bool) -> Step | None:
        """Record what worker processes found since (``wait_all``: before a block is checked,
        every mini-block of it re-executed); the step of the first finding, if any."""
        first: Step | None = None
        for exc in self.replay.late_findings(wait_all=wait_all):
            recorded = self._record(exc.verdict, exc.evidence)
            first = first or Step(verdict=exc.verdict, recorded=recorded, halt=self.halt_on_mismatch)
        return first

    def _gap(self, seq: int, expected: int) -> Step:
        seen = self._gaps[expected] = self._gaps.get(expected, 0) + 1
        log.warning("gap in the feed; resuming", extra=fields(got_seq=seq, expected_seq=expected, times=seen))
        if seen < GAP_LIMIT:
            return Step(reconnect=True)
        verdict = Verdict(expected, None, None, None, "stream.seq", str(seq), str(expected), self._clock())
        recorded = self._record(verdict, ())
        return Step(verdict=verdict, recorded=recorded, halt=self.halt_on_mismatch, reconnect=True)

    def _malformed(self, exc: Malformed) -> Step:
        field = "stream.version" if exc.where == "version" else "stream.malformed"
        seq = self.replay.next_seq
        verdict = Verdict(
            seq,
            None,
            None,
            None,
            field,
            str(exc)[:300],
            "a message as docs/feed.md defines it (version 2)",
            self._clock(),
        )
        recorded = self._record(verdict, ())
        return Step(verdict=verdict, recorded=recorded, halt=self.halt_on_mismatch, reconnect=True)

    def _mismatch(self, exc: Mismatch, message: Message) -> Step:
        recorded = self._record(exc.verdict, exc.evidence)
        if self.halt_on_mismatch:
            return Step(verdict=exc.verdict, recorded=recorded, halt=True)
        try:
            reached = self.replay.adopt(message)
        except Malformed:
            return Step(verdict=exc.verdict, recorded=recorded, reconnect=True)
        if reached is not None:
            self._commit_boundary(reached)
        return Step(boundary=reached, verdict=exc.verdict, recorded=recorded)

    def _record(self, verdict: Verdict, evidence: tuple[dict[str, object], ...]) -> bool:
        if verdict.finding in self._findings:
            return False
        self._findings.add(verdict.finding)
        self.verdicts.append(verdict)
        if evidence:
            self._write_evidence(verdict, evidence)
        self.commit()  # with the boundary's state, if it was not committed yet
        return True

    def _write_evidence(self, verdict: Verdict, evidence: tuple[dict[str, object], ...]) -> None:
        directory = self.data_dir / EVIDENCE_DIR
        directory.mkdir(exist_ok=True)
        path = directory / f"seq-{verdict.seq}-{verdict.field}.json"
        tmp = path.with_suffix(".tmp")
        body = {"verdict": verdict.as_dict(), "signedMiniBlocks": list(evidence)}
        with open(tmp, "w") as f:
            f.write(json.dumps(body, indent=1, sort_keys=True))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        log.error("evidence kept", extra=fields(signed_mini_blocks=len(evidence), path=str(path)))

    def _note_rotation(self, reached: Boundary) -> None:
        schedule = self.replay.chain.sequencer_signers
        number = reached.block_number
        if not schedule or number < 1:
            return
        signer, before = scheduled_signer(schedule, number), scheduled_signer(schedule, number - 1)
        if signer is not None and signer != before:
            self.rotations.append(Rotation(number, signer))
            log.info(
                "sequencer signing key in effect" if before is None else "sequencer signing key rotated",
                extra=fields(block=number, signer=signer, previous=before),
            )

    # -- the checkpoint -----------------------------------------------------------------------
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
            rotations=tuple(self.rotations),
        )

    def flush(self) -> None:
        """Commit the last verified boundary if it is not yet (at a clean stop)."""
        if self._pending is not None:
            self.commit()

    def commit(self) -> None:
        """Make the last boundary durable: the state changes up to it (sealed at each boundary)
        and the checkpoint naming it, in one transaction."""
        changes, self._pending = self._pending, None
        self.store.commit(changes, encode_checkpoint(self.checkpoint()))
        self._committed_at = self._clock()
