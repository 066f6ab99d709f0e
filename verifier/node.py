"""The verifier process: its state store, checkpoint, feed subscriber, status port and stop.

:class:`VerifierNode` resumes from the data dir's checkpoint (genesis the first time): a
restarted verifier starts at its last verified EVM block boundary and re-verifies the
mini-blocks of a block it had not finished, nothing before. Each message goes through
:class:`~verifier.verification.Verification`; a mismatch is logged as one ``VERDICT`` line
(the verdict as its fields), recorded (``verifier status``), counted in
``verifier_mismatches_total``, and stops the process with exit code 3 unless it was told to
continue. :meth:`VerifierNode.stop` (SIGINT, SIGTERM) ends it cleanly with exit code 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from sequencer.logs import fields
from sequencer.serving import BoundAddress, start_server
from verifier.checkpoint import load_checkpoint
from verifier.execution import Executor
from verifier.metrics import VerifierMetrics
from verifier.reads import VerifiedState, read_dispatcher
from verifier.replay import EVERYTHING, Message, Mode, Replay
from verifier.status import STATUS_HOST, StatusView, make_status_app, status_info
from verifier.store import open_state_store
from verifier.subscriber import FeedHead, FeedSubscriber
from verifier.verdict import announce
from verifier.verification import Verification

log = logging.getLogger("verifier")
EXIT_OK = 0
EXIT_MISMATCH = 3


class VerifierNode:
    """One verifier (or shard, or replica) following one feed."""

    def __init__(
        self,
        feed: str,
        chain_id: int,
        data_dir: Path,
        *,
        halt_on_mismatch: bool = True,
        status_port: int | None = None,
        mode: Mode = EVERYTHING,
        status_host: str = STATUS_HOST,
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.feed = feed.rstrip("/")
        self.status_port = status_port
        self.status_host = status_host
        self.store = open_state_store(data_dir)
        self.executor = Executor(self.store, chain_id)
        start = load_checkpoint(data_dir)
        self.replay = Replay(self.executor, start.boundary, mode)
        self.verification = Verification(
            self.replay, data_dir, start, halt_on_mismatch=halt_on_mismatch, sync_state=self.store.sync
        )
        self.metrics = VerifierMetrics(start.boundary.counts)
        self.exit_code = EXIT_OK
        self.status_address: BoundAddress | None = None
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Stop following (the current message is finished first)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called (or a mismatch halted the verifier)."""
        return self._stopping.is_set()

    def status_view(self) -> StatusView:
        """Where this verifier stands now (the in-memory cursor and counts)."""
        replay, verification = self.replay, self.verification
        return StatusView(
            replay.mode.label,
            replay.next_seq,
            replay.boundary.block_number,
            replay.boundary.block_hash,
            replay.counts,
            verification.head.block,
            tuple(verification.verdicts),
        )

    def status(self) -> dict[str, Any]:
        """The status dict of ``GET /status``."""
        return status_info(self.status_view(), time.time())

    def verified_state(self) -> VerifiedState:
        """The state the read-only JSON-RPC answers from."""
        return VerifiedState(self.replay.boundary, self.executor)

    async def start(self) -> BoundAddress | None:
        """Open the status port (when one was asked for); its address."""
        if self.status_port is not None and self._runner is None:
            app = make_status_app(self.status, self.metrics.render, read_dispatcher(self.verified_state))
            self._runner, self.status_address = await start_server(app, self.status_host, self.status_port)
        return self.status_address

    async def run(self) -> int:
        """Follow the feed until stopped or halted; the exit code (0, or 3 after a mismatch)."""
        try:
            await self.start()
            async with aiohttp.ClientSession() as session:
                subscriber = FeedSubscriber(self.feed, session, self._stopping)
                head = asyncio.create_task(subscriber.watch_head(self._on_head))
                try:
                    await subscriber.follow(lambda: self.replay.next_seq, self.deliver)
                finally:
                    head.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await head
        finally:
            await self.shutdown()
        return self.exit_code

    async def shutdown(self) -> None:
        """Close the status port and the state store (:meth:`run` does, when it ends)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.close()

    def close(self) -> None:
        """Close the state store."""
        self.store.close()

    def _on_head(self, head: FeedHead) -> None:
        self.verification.on_head(head)
        self.metrics.lag(blocks=max(0, head.block - self.replay.boundary.block_number))

    def deliver(self, message: Message) -> None:
        """Verify the next feed message: log, count and checkpoint what it did; stop on a
        mismatch unless told to continue."""
        step = self.verification.handle(message)
        if step.verdict is not None:
            self.metrics.mismatch()
            announce(step.verdict)
            if step.halt:
                self.exit_code = EXIT_MISMATCH
                self.stop()
            return
        if step.boundary is not None:
            self.metrics.block_verified(self.replay.counts)
            if message.get("type") == "block":
                log.info(
                    "verified block",
                    extra=fields(
                        number=step.boundary.block_number,
                        hash=step.boundary.block_hash,
                        txs=step.boundary.counts.txs,
                    ),
                )
        last_us = self.replay.counts.last_mini_block_us
        if last_us:
            self.metrics.lag(ms=max(0.0, time.time() * 1000 - last_us / 1000))
