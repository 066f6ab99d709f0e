"""The verifier process: its trust anchors, state store, checkpoint, feed subscriber, status port.

:class:`VerifierNode` takes its trust anchors from its own config (the genesis, the chain id, the
fork's rules, the gas limit, the base fee rule, the coinbase, the signing schedule: never from
the stream) and resumes from the data dir's checkpoint (genesis the first time): a restarted
verifier starts at its last verified EVM block boundary, over the state committed with it, and
re-verifies the mini-blocks of a block it had not finished. At start-up the state's root is
recomputed and compared with the checkpoint's (with py-trie too in audit mode, and every
``audit_every`` blocks after).

Each message goes through :class:`~verifier.verification.Verification`; a mismatch is logged as
one ``VERDICT`` line (the verdict as its fields), recorded (``verifier status``), counted in
``verifier_mismatches_total``, and stops the process with exit code 3 unless it was told to
continue. A stream that stops flowing is an ``ALARM`` (``verifier/health.py``).
:meth:`VerifierNode.stop` (SIGINT, SIGTERM) ends it cleanly with exit code 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import ssl
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from sequencer.config import DEFAULT_FEED_MAX_MESSAGE_BYTES, ChainConfig
from sequencer.logs import fields
from sequencer.serving import BoundAddress, start_server
from verifier.checkpoint import Checkpoint, decode_checkpoint, load_legacy_checkpoint
from verifier.genesis import build_genesis
from verifier.health import FeedHealth
from verifier.metrics import VerifierMetrics
from verifier.reads import VerifiedState, read_dispatcher
from verifier.replay import EVERYTHING, Mode, Replay
from verifier.state import FlatState, reference_root
from verifier.status import STATUS_HOST, StatusView, make_status_app, status_info
from verifier.store import EarlierDataDir, StateStore, state_dir
from verifier.subscriber import FeedHead, FeedSubscriber, Next
from verifier.verdict import announce
from verifier.verification import Verification
from verifier.wire import ReorgMessage
from verifier.workers import WorkerPool

log = logging.getLogger("verifier")
EXIT_OK = 0
EXIT_MISMATCH = 3
HEALTH_EVERY_S = 1.0


class StateCorrupt(Exception):
    """The verifier's own state does not match its checkpoint (a local fault, not a verdict)."""


class VerifierNode:
    """One verifier (or shard, or replica) following one feed."""

    def __init__(
        self,
        feed: str,
        chain: ChainConfig,
        data_dir: Path,
        *,
        halt_on_mismatch: bool = True,
        status_port: int | None = None,
        mode: Mode = EVERYTHING,
        status_host: str = STATUS_HOST,
        max_message_bytes: int = DEFAULT_FEED_MAX_MESSAGE_BYTES,
        token: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        audit_every: int = 0,
        workers: int = 1,
    ) -> None:
        """``workers`` > 1: re-execute in that many forked processes (``verifier/workers.py``)."""
        data_dir.mkdir(parents=True, exist_ok=True)
        if load_legacy_checkpoint(data_dir) is not None:
            raise EarlierDataDir(
                f"{data_dir} was written by an earlier verifier (py-evm's trie-backed state); "
                "verify again from genesis with a new --data-dir"
            )
        self.feed = feed.rstrip("/")
        self.chain = chain
        self.data_dir = data_dir
        self.mode = mode
        self.workers = workers
        self.halt_on_mismatch = halt_on_mismatch
        self.resyncs = 0
        """Re-syncs from genesis after a devnet reorg."""
        self.status_port = status_port
        self.status_host = status_host
        self.audit_every = audit_every
        self.max_message_bytes = max_message_bytes
        self.token = token
        self.ssl_context = ssl_context
        self.store = StateStore(state_dir(data_dir))
        record = self.store.checkpoint_record()
        start = decode_checkpoint(record) if record is not None else Checkpoint()
        self.state = FlatState()
        genesis = None
        try:
            if start.boundary.started:
                self._load_state(start)
            else:
                genesis = build_genesis(chain, self.state)
        except BaseException:
            self.store.close()
            raise
        self.pool = (
            WorkerPool(workers, chain, self.state, start.boundary.recent_hashes) if workers > 1 else None
        )
        self.replay = Replay(chain, self.state, start.boundary, mode, genesis=genesis, pool=self.pool)
        self.verification = Verification(
            self.replay,
            self.store,
            data_dir,
            start,
            max_message_bytes=max_message_bytes,
            halt_on_mismatch=halt_on_mismatch,
        )
        self.health = FeedHealth()
        self.metrics = VerifierMetrics(start.boundary.counts)
        self.exit_code = EXIT_OK
        self.status_address: BoundAddress | None = None
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._audited_block = start.boundary.block_number

    def _load_state(self, start: Checkpoint) -> None:
        store, boundary = self.store, start.boundary
        began = time.perf_counter()
        self.state.load(store.accounts(), store.slots(), store.codes())
        root = self.state.root()
        if root != boundary.state_root:
            raise StateCorrupt(
                f"the verifier's state has root 0x{root.hex()}, its checkpoint (block "
                f"{boundary.block_number}) names 0x{boundary.state_root.hex()}"
            )
        log.info(
            "state loaded",
            extra=fields(
                block=boundary.block_number,
                accounts=len(self.state.accounts),
                seconds=round(time.perf_counter() - began, 3),
            ),
        )
        if self.audit_every:
            self.audit(boundary.block_number, boundary.state_root)

    def audit(self, block_number: int, expected: bytes) -> None:
        """Recompute the state root with py-trie and compare (raises :class:`StateCorrupt`)."""
        began = time.perf_counter()
        reference = reference_root(self.state)
        if reference != expected:
            raise StateCorrupt(
                f"audit: py-trie computes state root 0x{reference.hex()} at block {block_number}, "
                f"the verifier's trie 0x{expected.hex()}"
            )
        log.info(
            "audit ok",
            extra=fields(block=block_number, root=reference, seconds=round(time.perf_counter() - began, 3)),
        )
        self._audited_block = block_number

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
            self.health.state.reason,
        )

    def status(self) -> dict[str, Any]:
        """The status dict of ``GET /status``."""
        return status_info(self.status_view(), time.time())

    def verified_state(self) -> VerifiedState:
        """The state the read-only JSON-RPC answers from (the last verified boundary's)."""
        return VerifiedState(self.replay.boundary, self.state)

    async def start(self) -> BoundAddress | None:
        """Open the status port (when one was asked for); its address."""
        if self.status_port is not None and self._runner is None:
            app = make_status_app(
                self.status, self.metrics.render, read_dispatcher(self.verified_state), self.healthy
            )
            self._runner, self.status_address = await start_server(app, self.status_host, self.status_port)
        return self.status_address

    def healthy(self) -> bool:
        """Following a flowing stream, with no mismatch recorded."""
        return self.health.state.ok and not self.verification.verdicts

    async def run(self) -> int:
        """Follow the feed until stopped or halted; the exit code (0, or 3 after a mismatch)."""
        try:
            await self.start()
            async with aiohttp.ClientSession() as session:
                subscriber = FeedSubscriber(
                    self.feed,
                    session,
                    self._stopping,
                    max_message_bytes=self.max_message_bytes,
                    health=self.health,
                    token=self.token,
                    ssl_context=self.ssl_context,
                )
                tasks = [
                    asyncio.create_task(subscriber.watch_head(self._on_head)),
                    asyncio.create_task(self._watch_health()),
                ]
                try:
                    await subscriber.follow(lambda: self.replay.next_seq, self.deliver, self.tip)
                finally:
                    for task in tasks:
                        task.cancel()
                    for task in tasks:
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
        finally:
            await self.shutdown()
        return self.exit_code

    async def _watch_health(self) -> None:
        while not self._stopping.is_set():
            state = self.health.evaluate()
            self.metrics.health(state.ok, self.health.reconnects_total)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), HEALTH_EVERY_S)

    async def shutdown(self) -> None:
        """Close the status port and the state store (:meth:`run` does, when it ends)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.close()

    def close(self) -> None:
        """Commit the last verified boundary, stop the workers, close the state store."""
        try:
            self.verification.flush()
        finally:
            if self.pool is not None:
                self.pool.close()
            self.store.close()

    def _on_head(self, head: FeedHead) -> None:
        self.verification.on_head(head)
        self.health.on_head(head.seq >= self.replay.next_seq)
        self.metrics.lag(blocks=max(0, head.block - self.replay.boundary.block_number))

    def tip(self) -> bytes | None:
        """The hash of the last message verified: the open block's last mini-block's, else the
        boundary's block's (None before genesis)."""
        replay = self.replay
        if replay.next_seq == 0:
            return None
        if replay.open is not None and replay.open.last_hash:
            return replay.open.last_hash
        return replay.boundary.block_hash or None

    def resync(self, reorg: ReorgMessage) -> None:
        """A devnet reorg: the chain this verifier followed was rolled back past its tip. Its
        state and checkpoint are dropped and it verifies the chain again from genesis (it keeps
        no undo of its state; a devnet is short), keeping the verdicts it recorded."""
        self.resyncs += 1
        log.warning(
            "feed reorg: the devnet chain was rolled back past this verifier's tip; re-syncing from genesis",
            extra=fields(
                at_seq=reorg.seq,
                to_block=reorg.to_block,
                rollbacks=reorg.rollbacks,
                verified_block=self.replay.boundary.block_number,
                resyncs=self.resyncs,
            ),
        )
        verdicts = tuple(self.verification.verdicts)
        if self.pool is not None:
            self.pool.close()
        self.store.close()
        shutil.rmtree(state_dir(self.data_dir))
        self.store = StateStore(state_dir(self.data_dir))
        self.state = FlatState()
        genesis = build_genesis(self.chain, self.state)
        start = Checkpoint(verdicts=verdicts)
        self.pool = (
            WorkerPool(self.workers, self.chain, self.state, start.boundary.recent_hashes)
            if self.workers > 1
            else None
        )
        self.replay = Replay(
            self.chain, self.state, start.boundary, self.mode, genesis=genesis, pool=self.pool
        )
        self.verification = Verification(
            self.replay,
            self.store,
            self.data_dir,
            start,
            max_message_bytes=self.max_message_bytes,
            halt_on_mismatch=self.halt_on_mismatch,
        )
        self._audited_block = 0
        self.metrics.resynced()

    def deliver(self, text: str) -> Next:
        """Verify the next feed message: log, count and checkpoint what it did; stop on a
        mismatch unless told to continue; ask for a reconnect on a gap; re-sync from genesis
        after a devnet reorg."""
        step = self.verification.handle_text(text)
        if step.reorg is not None:
            self.resync(step.reorg)
            return Next.RECONNECT
        if step.verdict is not None:
            if step.recorded:
                self.metrics.mismatch()
                announce(step.verdict)
            if step.halt:
                self.exit_code = EXIT_MISMATCH
                self.stop()
                return Next.GO
        if step.boundary is not None:
            self.metrics.block_verified(self.replay.counts)
            boundary = step.boundary
            if boundary.block_number > 0:
                log.info(
                    "verified block",
                    extra=fields(
                        number=boundary.block_number, hash=boundary.block_hash, txs=boundary.counts.txs
                    ),
                )
            if self.audit_every and boundary.block_number - self._audited_block >= self.audit_every:
                self.audit(boundary.block_number, boundary.state_root)
        last_us = self.replay.counts.last_mini_block_us
        if last_us:
            self.metrics.lag(ms=max(0.0, time.time() * 1000 - last_us / 1000))
        return Next.RECONNECT if step.reconnect else Next.GO
