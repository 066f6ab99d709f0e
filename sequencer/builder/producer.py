"""The block producer: seals mini-blocks every mini-block interval and EVM blocks every EVM
block interval (also when empty), persisting each before anything about it becomes visible.

Per mini-block: take ready transactions in arrival order, execute them on the
open block's executor (for at most one interval; one transaction for at most its time budget,
``execution.tx_time_budget_ms``, after which it is aborted without a trace and dropped), drain
the overlay as the state diff (once the journal writes of its transactions are done), assemble
the mini-block, make it durable (the fsync'd log, on the writer thread), then apply the diff to the
in-memory state and the state trie, publish it, and wake everyone waiting for its receipts.
An EVM block's first mini-block starts with the L1 deposits its :class:`DepositSource` offers
(``builder/deposits.py``), in order, before any pooled transaction: one already in the chain is
skipped (a source offers it again after a crash: this makes inclusion exactly-once), the first
that does not fit what is left of the block's gas ends them (the rest go in the next block), and
one that can never fit (its gas above the block gas limit) or that the engine cannot execute is
left out with an error logged, so it cannot wedge the producer (the derivation verifier then
flags it as not included).
Per EVM block: finish the transactions and receipts roots, compute the state root, build the
standard header, make it durable, publish it, and open the next block.

Devnet controls (``builder/devchain.py``) run between two production steps through
:meth:`BlockProducer.exclusive`: sealing now, re-opening the open block in a new time, a
mini-block of state edits, a rollback; nothing else seals while one runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sequencer.builder.assembly import OpenBlock, make_mini_block, seal_block
from sequencer.builder.deposits import DepositSource
from sequencer.builder.durability import DurableWriter
from sequencer.chain import Chain
from sequencer.config import NodeConfig
from sequencer.errors import (
    ExecutionAborted,
    ExecutionTimeExceeded,
    InvalidTransaction,
    NodeShuttingDown,
    RemovedByRevert,
)
from sequencer.execution.engine import BlockExecutor, TxOutcome
from sequencer.logs import fields
from sequencer.mempool.journal import PoolJournal
from sequencer.mempool.pool import Mempool
from sequencer.metrics import Metrics
from sequencer.rules import next_block_env
from sequencer.storage.durable import PoolRecord
from sequencer.trie.state import StateTrie
from sequencer.types import DevEdit, EvmBlock, MiniBlock, SignedTx, StateDiff

log = logging.getLogger("sequencer.builder")

Rejected = Callable[[SignedTx, InvalidTransaction], None]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Executed:
    """What one mini-block's execution pass produced."""

    outcomes: tuple[TxOutcome, ...]
    full: bool
    """The EVM block's gas limit was reached: seal it now."""
    taken: int = 0
    """How many transactions it took from the pool (executed, dropped or left)."""
    aborted: bool = False
    """It ended at a transaction aborted for its time budget."""


class BlockProducer:
    """Runs the mini-block and EVM-block cadence over the chain, the pool and the data dir."""

    def __init__(
        self,
        config: NodeConfig,
        chain: Chain,
        trie: StateTrie,
        pool: Mempool,
        writer: DurableWriter,
        metrics: Metrics,
        journal: PoolJournal | None = None,
        deposits: DepositSource | None = None,
    ) -> None:
        self.config = config
        self.deposits = deposits
        """Where the deposits each EVM block starts with come from (``None``: no bridge)."""
        self._deposits_due = False
        self._unincludable: set[bytes] = set()
        self.journal = journal
        self.chain = chain
        self.trie = trie
        self.pool = pool
        self.writer = writer
        self.metrics = metrics
        self._stopping = asyncio.Event()
        self._block_deadline = 0.0
        self._last_mini_seal = 0.0
        self._mini_listeners: list[Callable[[MiniBlock], None]] = []
        self._block_listeners: list[Callable[[EvmBlock], None]] = []
        self._rejection_listeners: list[Rejected] = []
        self._exec_s_per_tx = 0.0002  # moving average, sizes what a mini-block takes from the pool
        self._executor: BlockExecutor | None = None
        self._open: OpenBlock | None = None
        self._commands: deque[tuple[Callable[[], Awaitable[Any]], asyncio.Future[Any]]] = deque()
        self._running = False
        self._rollback_listeners: list[Callable[[EvmBlock], None]] = []
        self.idle = asyncio.Event()
        """Set while no block is being sealed: work of lower priority (the notification
        fan-out) waits for it rather than delay a seal (``rpc/fanout.py:Pacer.defer_to``)."""
        self.idle.set()

    def set_deposit_source(self, source: DepositSource | None) -> None:
        """Take deposits from ``source`` from the next EVM block that opens on."""
        self.deposits = source

    # -- subscriptions ------------------------------------------------------------------------
    def on_mini_block(self, fn: Callable[[MiniBlock], None]) -> None:
        """Call ``fn`` with every published mini-block."""
        self._mini_listeners.append(fn)

    def on_block(self, fn: Callable[[EvmBlock], None]) -> None:
        """Call ``fn`` with every published EVM block."""
        self._block_listeners.append(fn)

    def on_rollback(self, fn: Callable[[EvmBlock], None]) -> None:
        """Call ``fn`` with the EVM block a devnet rollback went back to."""
        self._rollback_listeners.append(fn)

    def on_rejected(self, fn: Rejected) -> None:
        """Call ``fn`` with every pooled transaction dropped at execution, and why (once its
        removal is journaled, so a sender told "dropped" never sees it come back)."""
        self._rejection_listeners.append(fn)

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopping.is_set()

    def stop(self) -> None:
        """Finish the current step and return from :meth:`run`."""
        self._stopping.set()
        self.pool.ready_event.set()

    async def run(self) -> None:
        """Produce blocks until :meth:`stop`; then seal what is executing and return."""
        mini_s = self.config.mini_block_interval_ms / 1000
        block_s = self.config.evm_block_interval_ms / 1000
        self._open_block()
        self._block_deadline = time.monotonic() + block_s
        self._running = True
        try:
            await self._produce(mini_s, block_s)
        finally:
            self._running = False
            while self._commands:
                _fn, fut = self._commands.popleft()
                if not fut.done():
                    fut.set_exception(NodeShuttingDown())

    async def _produce(self, mini_s: float, block_s: float) -> None:
        while not self._stopping.is_set():
            if self._commands:
                fn, fut = self._commands.popleft()
                try:
                    fut.set_result(await fn())
                except Exception as exc:
                    fut.set_exception(exc)
                continue
            now = time.monotonic()
            if now >= self._block_deadline:
                await self._seal_evm_block()
                self._block_deadline = max(self._block_deadline + block_s, time.monotonic() + block_s / 10)
                continue
            if self._deposits_due or self.pool.has_takeable():
                due = self._last_mini_seal + mini_s
                if now < due:
                    await asyncio.sleep(min(due, self._block_deadline) - now)
                    continue
                executed = await self._seal_mini_block()
                if executed.full:
                    self._block_deadline = time.monotonic()
                continue
            self.pool.ready_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.pool.ready_event.wait(), self._block_deadline - now)

    async def exclusive(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` between two production steps (nothing seals while it runs) and answer
        what it answers; inline when the producer loop is not running."""
        if self._stopping.is_set():
            raise NodeShuttingDown()
        if not self._running:
            if self._executor is None:
                self._open_block()
            return await fn()
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._commands.append((fn, fut))
        self.pool.ready_event.set()
        return await fut

    # -- devnet primitives (inside exclusive) ---------------------------------------------------
    @property
    def open_mini_count(self) -> int:
        """How many mini-blocks the open EVM block has."""
        return self._open.mini_count if self._open is not None else 0

    async def seal_now(self) -> None:
        """Seal the open EVM block now; the next one opens (in the chain clock's time) and its
        interval starts now."""
        await self.seal_evm_block_now()
        self._block_deadline = time.monotonic() + self.config.evm_block_interval_ms / 1000

    def reopen_block(self) -> None:
        """Open the open EVM block again in the chain clock's time (it has no mini-blocks)."""
        assert self.open_mini_count == 0
        self.chain.open_env = None
        self._open_block()

    async def seal_dev_mini_block(
        self, edits: tuple[DevEdit, ...], diff: StateDiff | None = None, txs: tuple[SignedTx, ...] = ()
    ) -> MiniBlock | None:
        """A devnet mini-block: state edits (``diff``), or transactions sent for impersonated
        accounts (executed here; an invalid one raises its rule and changes nothing). ``None``
        when its write failed."""
        executor = self._executor
        assert executor is not None
        outcomes: list[TxOutcome] = []
        for tx in txs:
            if not executor.fits(tx):  # the open block is full: the next one takes it
                await self.seal_now()
                executor = self._executor
                assert executor is not None
            try:
                outcomes.append(executor.apply(tx))
            except InvalidTransaction:
                executor.rollback_mini_block()
                raise
        if txs:
            diff = executor.take_diff()
        assert diff is not None
        return await self._commit_mini_block(tuple(outcomes), diff=diff, dev_edits=edits)

    async def roll_back(self, block: EvmBlock, count: int) -> list[SignedTx]:
        """Roll the chain back to ``block`` (durable first), empty the pool, and open the next
        block; returns the pooled transactions that were dropped."""
        inverse = await self.writer.commit_rollback(block, count)
        chain = self.chain
        chain.world.apply_diff(inverse)
        self.trie.apply_diff(inverse)
        chain.roll_back_to(block)
        if self.trie.root() != block.state_root:  # cannot happen unless the undo is wrong
            log.error("state root after the rollback differs: rebuilding the state trie")
            self.trie.rebuild(chain.world)
        if self.journal is not None:  # commit_rollback emptied the journal with the pool
            self.journal.size = 0
        dropped = self.clear_pool()
        self._open_block()
        self._block_deadline = time.monotonic() + self.config.evm_block_interval_ms / 1000
        log.warning(
            "devnet rollback", extra=fields(to_block=block.number, hash=block.hash, dropped_txs=len(dropped))
        )
        for fn in self._rollback_listeners:
            fn(block)
        return dropped

    def clear_pool(self) -> list[SignedTx]:
        """Empty the pool (a devnet revert); whoever waits for those transactions hears why."""
        dropped = self.pool.clear()
        for tx in dropped:
            for fn in self._rejection_listeners:
                fn(tx, RemovedByRevert())
        return dropped

    async def seal_mini_block_now(self) -> None:
        """Seal one mini-block from the ready transactions immediately (used at shutdown)."""
        if self._executor is None:
            self._open_block()
        await self._seal_mini_block()

    async def seal_evm_block_now(self) -> None:
        """Seal the open EVM block immediately (used at shutdown)."""
        if self._open is None:
            self._open_block()
        await self._seal_evm_block()

    # -- EVM blocks ---------------------------------------------------------------------------
    def _open_block(self) -> None:
        chain = self.chain
        env = chain.open_env
        if env is None:
            cfg = self.config.chain
            env = next_block_env(
                chain.head,
                gas_limit=cfg.block_gas_limit,
                coinbase=cfg.coinbase,
                base_fee_floor=cfg.base_fee_floor,
                now=chain.clock.block_time(),
            )
            chain.clock.next_timestamp = None  # a one-shot timestamp is used up
            chain.open_block(env)
        self._open = opened = OpenBlock(env, chain.open_minis)
        # deposits go in a block's first mini-block only (not in one re-opened after a restart)
        self._deposits_due = self.deposits is not None and opened.mini_count == 0
        chain.follow_open_block(lambda: opened.pending(chain.head_mini_number + 1, self.trie.root()))
        self._executor = BlockExecutor(
            chain.world,
            env,
            chain.chain_id,
            list(chain.prev_hashes),
            self._open.gas_used,
            tx_time_budget_s=self.config.tx_time_budget_ms / 1000,
        )

    async def _seal_evm_block(self) -> EvmBlock | None:
        self.idle.clear()
        try:
            return await self._seal_evm_block_busy()
        finally:
            self.idle.set()

    async def _seal_evm_block_busy(self) -> EvmBlock | None:
        started = time.perf_counter()
        assert self._open is not None
        root_started = time.perf_counter()
        state_root = self.trie.root()
        root_s = time.perf_counter() - root_started
        block = seal_block(
            self._open,
            state_root=state_root,
            next_mini=self.chain.head_mini_number + 1,
            sealed_at_us=time.time_ns() // 1000,
        )
        if not await self.writer.commit_block(block):
            return None
        self.chain.publish_block(block)
        seal_s = time.perf_counter() - started
        self.metrics.evm_block_sealed(block, seal_s, root_s)
        log.info(
            "evm block sealed",
            extra=fields(
                number=block.number,
                hash=block.hash,
                txs=len(block.tx_hashes),
                mini_blocks=self._open.mini_count,
                gas_used=block.gas_used,
                base_fee=block.base_fee,
                seal_ms=round(seal_s * 1000, 3),
                state_root_ms=round(root_s * 1000, 3),
            ),
        )
        for fn in self._block_listeners:
            fn(block)
        self._open_block()
        return block

    # -- mini-blocks --------------------------------------------------------------------------
    async def _seal_mini_block(self) -> Executed:
        """Execute and persist one mini-block; says whether the EVM block is full."""
        # mini-blocks start on a fixed cadence: the next one is due an interval after this
        # one started, whatever its execution and write took
        started = time.monotonic()
        self.idle.clear()
        try:
            executed = self._execute()
            if executed.outcomes and await self.pool.wait_durable([o.tx.hash for o in executed.outcomes]):
                # a journal write failed: its transaction is out of the pool; execute the
                # others again in the next mini-block, without it
                assert self._executor is not None
                self._executor.rollback_mini_block()
                self._deposits_again()
                return Executed((), executed.full, executed.taken, executed.aborted)
            if executed.aborted:  # an interval for everything else before the next mini-block
                self._last_mini_seal = time.monotonic()
            elif executed.taken:
                self._last_mini_seal = started
            if executed.outcomes:
                await self._commit_mini_block(executed.outcomes)
            else:
                await asyncio.sleep(0)  # nothing was written: still let the event loop run
            return executed
        finally:
            self.idle.set()
            self.pool.end_seal()

    def _execute(self) -> Executed:
        """Execute ready transactions for at most one interval (the cadence holds under load);
        one transaction runs for at most its time budget (``execution.tx_time_budget_ms``). An
        abort ends the mini-block (the next one is due an interval later: the event loop serves
        what waited meanwhile) and throttles its sender (``execution.abort_cooldown_s``)."""
        executor = self._executor
        assert executor is not None
        # take about what the interval can execute (from recent execution times), not the
        # configured maximum: taken transactions are copied and marked in flight
        interval_s = self.config.mini_block_interval_ms / 1000
        expected = int(2 * interval_s / self._exec_s_per_tx) + 16
        outcomes: list[TxOutcome] = self._execute_deposits(executor) if self._deposits_due else []
        candidates = self.pool.take(min(self.config.max_txs_per_mini_block, expected))
        full = False
        observe = self.metrics.tx_execution.observe
        exec_started = time.perf_counter()
        budget_ends = exec_started + interval_s
        aborted = False
        executing_s = 0.0  # of the transactions that produced an outcome
        for i, tx in enumerate(candidates):
            # at least one transaction per mini-block; then only while the interval lasts
            if i and time.perf_counter() >= budget_ends:
                break
            if not executor.fits(tx):
                full = True
                break
            started = time.perf_counter()
            try:
                outcomes.append(executor.apply(tx))
            except ExecutionTimeExceeded as exc:
                # the budget is spent: end the mini-block here, so the event loop serves what
                # waited meanwhile before the next one runs the transactions behind
                self._reject(tx, exc)
                self.pool.throttle(tx.sender, self.config.abort_cooldown_s)
                aborted = True
                break
            except InvalidTransaction as exc:
                self._reject(tx, exc)
                continue
            except Exception as exc:  # an engine bug must not stop the chain
                log.exception("transaction failed in execution", extra=fields(hash=tx.hash))
                self._reject(tx, ExecutionAborted(type(exc).__name__))
                continue
            took = time.perf_counter() - started
            executing_s += took
            observe(took)
        if outcomes:
            # an aborted transaction's time says nothing about how many the next interval holds
            per_tx = (time.perf_counter() - exec_started if not aborted else executing_s) / len(outcomes)
            self._exec_s_per_tx = 0.8 * self._exec_s_per_tx + 0.2 * per_tx
        return Executed(tuple(outcomes), full, len(candidates), aborted)

    def _execute_deposits(self, executor: BlockExecutor) -> list[TxOutcome]:
        """The deposits the source offers for the open block, executed in order (see the
        module docstring for which are skipped and where they stop)."""
        self._deposits_due = False
        assert self.deposits is not None
        try:
            offered = list(self.deposits.pending(executor.env))
        except Exception:  # the source's failure must not stop the chain: next block, again
            log.exception("the deposit source failed")
            return []
        outcomes: list[TxOutcome] = []
        seen: set[bytes] = set()
        store = self.chain.store
        for tx in offered:
            if not tx.is_deposit or tx.hash in seen or store.get_tx_location(tx.hash) is not None:
                continue
            seen.add(tx.hash)
            if tx.gas > executor.env.gas_limit:
                self._leave_out(tx, f"its gas {tx.gas} is above the block gas limit")
                continue
            if not executor.fits(tx):
                break
            try:
                outcomes.append(executor.apply(tx))
            except Exception as exc:  # an engine bug: leave it out rather than wedge the chain
                log.exception("deposit failed in execution", extra=fields(hash=tx.hash))
                self._leave_out(tx, type(exc).__name__)
        return outcomes

    def _leave_out(self, tx: SignedTx, reason: str) -> None:
        """Log (once per deposit) a deposit that cannot be included."""
        if tx.hash in self._unincludable:
            return
        if len(self._unincludable) >= 10_000:
            self._unincludable.clear()
        self._unincludable.add(tx.hash)
        self.metrics.transaction_dropped("deposit_not_includable")
        log.error(
            "deposit cannot be included",
            extra=fields(hash=tx.hash, source_hash=tx.source_hash, sender=tx.sender, reason=reason),
        )

    def _deposits_again(self) -> None:
        """The open block's first mini-block was rolled back: its deposits are due again."""
        if self.deposits is not None and self._open is not None and self._open.mini_count == 0:
            self._deposits_due = True

    async def _commit_mini_block(
        self,
        outcomes: tuple[TxOutcome, ...],
        diff: StateDiff | None = None,
        dev_edits: tuple[DevEdit, ...] = (),
    ) -> MiniBlock | None:
        executor, block, chain = self._executor, self._open, self.chain
        assert executor is not None and block is not None
        prev = chain.head_mini
        mb = make_mini_block(
            number=prev.number + 1 if prev is not None else 0,
            parent_hash=prev.hash if prev is not None else chain.head.hash,
            block=block,
            timestamp_us=time.time_ns() // 1000,
            outcomes=outcomes,
            diff=executor.take_diff() if diff is None else diff,
            dev_edits=dev_edits,
        )
        if not await self.writer.commit_mini_block(mb):
            # Nothing of this mini-block is durable, visible or acknowledged: its transactions
            # stay in the pool to be retried.
            executor.rollback_mini_block()
            self._deposits_again()
            await self.writer.pause()
            return None
        executor.commit_mini_block()
        chain.world.apply_diff(mb.diff)
        self.trie.apply_diff(mb.diff)
        chain.publish_mini_block(mb)
        block.add(mb)
        self.pool.remove_included([o.tx for o in outcomes if not o.tx.is_deposit])
        self.metrics.mini_block_sealed(mb)
        for fn in self._mini_listeners:
            fn(mb)
        block.hash_pending()
        return mb

    def _reject(self, tx: SignedTx, exc: InvalidTransaction) -> None:
        self.metrics.transaction_dropped(exc.reason)
        log.info(
            "transaction dropped",
            extra=fields(hash=tx.hash, sender=tx.sender, nonce=tx.nonce, reason=exc.message),
        )
        self.pool.drop(tx)
        if self.journal is None:
            self._tell_rejected(tx, exc)
            return

        def journaled(error: BaseException | None) -> None:
            if error is not None:
                log.warning("a drop could not be journaled", extra=fields(hash=tx.hash, error=str(error)))
            self._tell_rejected(tx, exc)

        self.journal.enqueue([PoolRecord(removed=(tx.hash,))], journaled)

    def _tell_rejected(self, tx: SignedTx, exc: InvalidTransaction) -> None:
        for fn in self._rejection_listeners:
            fn(tx, exc)
