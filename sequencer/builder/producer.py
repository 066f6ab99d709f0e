"""The block producer: seals mini-blocks every mini-block interval and EVM blocks every EVM
block interval (also when empty), persisting each before anything about it becomes visible.

Per mini-block: take ready transactions in arrival order, execute them on the open block's
executor, drain the overlay as the state diff, write the mini-block durably (LMDB commit with
fsync, in a writer thread), then apply the diff to the in-memory state and the state trie,
publish it, and wake everyone waiting for its receipts.
Per EVM block: compute the transactions root, receipts root and state root, build the standard
header, persist it, and open the next block.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sequencer import fastrlp
from sequencer.chain import Chain
from sequencer.codec import mini_block_hash
from sequencer.config import NodeConfig
from sequencer.errors import InvalidTransaction, StorageError
from sequencer.execution.engine import BlockExecutor, TxOutcome
from sequencer.execution.headers import make_header, next_base_fee
from sequencer.execution.transactions import SignedTx
from sequencer.mempool.pool import Mempool
from sequencer.storage.durable import ChainDB, IndexWriteFailed
from sequencer.trie.mpt import MerklePatriciaTrie
from sequencer.trie.state import StateTrie
from sequencer.types import BlockEnv, EvmBlock, MiniBlock, Receipt

log = logging.getLogger("sequencer.builder")
RETRY_S = 0.2  # pause between attempts while storage writes fail


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class ProducerStats:
    """Rolling timings for the status call and logs (milliseconds)."""

    mini_intervals: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    block_intervals: deque[float] = field(default_factory=lambda: deque(maxlen=100))
    block_seal_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100))
    state_root_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100))
    included_txs: int = 0
    dropped_txs: int = 0
    mini_blocks: int = 0
    blocks: int = 0
    last_mini_at: float | None = None
    last_block_at: float | None = None

    def summary(self) -> dict[str, float | int]:
        minis, blocks = list(self.mini_intervals), list(self.block_intervals)
        return {
            "miniBlockIntervalP50Ms": round(_percentile(minis, 0.5), 3),
            "miniBlockIntervalP99Ms": round(_percentile(minis, 0.99), 3),
            "evmBlockIntervalP50Ms": round(_percentile(blocks, 0.5), 3),
            "evmBlockIntervalP99Ms": round(_percentile(blocks, 0.99), 3),
            "evmBlockSealP50Ms": round(_percentile(list(self.block_seal_ms), 0.5), 3),
            "evmBlockSealMaxMs": round(max(self.block_seal_ms, default=0.0), 3),
            "stateRootP50Ms": round(_percentile(list(self.state_root_ms), 0.5), 3),
            "stateRootMaxMs": round(max(self.state_root_ms, default=0.0), 3),
            "includedTxs": self.included_txs,
            "droppedTxs": self.dropped_txs,
            "miniBlocks": self.mini_blocks,
            "evmBlocks": self.blocks,
        }


class BlockProducer:
    def __init__(self, config: NodeConfig, chain: Chain, trie: StateTrie, pool: Mempool, db: ChainDB) -> None:
        self.config = config
        self.db = db
        self.chain = chain
        self.trie = trie
        self.pool = pool
        self.stats = ProducerStats()
        self.healthy = True
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chain-writer")
        self._executor: BlockExecutor | None = None
        self._stopping = asyncio.Event()
        self._block_deadline = 0.0
        self._last_mini_seal = 0.0
        self._mini_listeners: list[Callable[[MiniBlock], None]] = []
        self._block_listeners: list[Callable[[EvmBlock], None]] = []
        self._rejection_listeners: list[Callable[[SignedTx, str], None]] = []
        self.exec_observer: Callable[[float], None] | None = None
        self._exec_s_per_tx = 0.0002  # moving average, sizes what a mini-block takes from the pool
        self._tx_trie = MerklePatriciaTrie()
        self._receipt_trie = MerklePatriciaTrie()
        self._block_txs = self._block_logs = self._block_bloom = 0

    # -- subscriptions ------------------------------------------------------------------------
    def on_mini_block(self, fn: Callable[[MiniBlock], None]) -> None:
        self._mini_listeners.append(fn)

    def on_block(self, fn: Callable[[EvmBlock], None]) -> None:
        self._block_listeners.append(fn)

    def on_rejected(self, fn: Callable[[SignedTx, str], None]) -> None:
        self._rejection_listeners.append(fn)

    # -- lifecycle ----------------------------------------------------------------------------
    def stop(self) -> None:
        self._stopping.set()
        self.pool.ready_event.set()

    async def run(self) -> None:
        """Produce blocks until :meth:`stop`; then seal what is executing and return."""
        mini_s = self.config.mini_block_interval_ms / 1000
        block_s = self.config.evm_block_interval_ms / 1000
        self._open_block()
        self._block_deadline = time.monotonic() + block_s
        while not self._stopping.is_set():
            now = time.monotonic()
            if now >= self._block_deadline:
                await self._seal_evm_block()
                self._block_deadline = max(self._block_deadline + block_s, time.monotonic() + block_s / 10)
                continue
            if self.pool.ready_count():
                due = self._last_mini_seal + mini_s
                if now < due:
                    await asyncio.sleep(min(due, self._block_deadline) - now)
                    continue
                full = await self._seal_mini_block()
                if full:
                    self._block_deadline = time.monotonic()
                continue
            self.pool.ready_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.pool.ready_event.wait(), self._block_deadline - now)

    async def seal_mini_block_now(self) -> None:
        """Seal one mini-block from the ready transactions immediately (used at shutdown)."""
        if self._executor is None:
            self._open_block()
        await self._seal_mini_block()

    async def seal_evm_block_now(self) -> None:
        await self._seal_evm_block()

    def close(self) -> None:
        self._writer.shutdown(wait=True)

    async def write(self, fn: Callable[..., None], *args: object) -> None:
        """Run a storage write on the single writer thread (writes never run concurrently)."""
        await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    # -- EVM blocks ---------------------------------------------------------------------------
    def _open_block(self) -> None:
        chain = self.chain
        parent = chain.head
        env = chain.open_env
        gas_used = sum(mb.gas_used for mb in chain.open_minis)
        if env is None:
            cfg = self.config.chain
            env = BlockEnv(
                number=parent.number + 1,
                timestamp=max(parent.timestamp + 1, int(time.time())),
                parent_hash=parent.hash,
                base_fee=next_base_fee(
                    parent.base_fee, parent.gas_used, parent.gas_limit, cfg.base_fee_floor
                ),
                gas_limit=cfg.block_gas_limit,
                coinbase=cfg.coinbase,
                prev_randao=parent.hash,
            )
            chain.open_block(env)
        self._executor = BlockExecutor(chain.world, env, chain.chain_id, list(chain.prev_hashes), gas_used)
        # the block's transactions and receipts tries grow mini-block by mini-block, so sealing
        # the EVM block only finishes their hashing
        self._tx_trie = MerklePatriciaTrie()
        self._receipt_trie = MerklePatriciaTrie()
        self._block_txs = self._block_logs = self._block_bloom = 0
        for mb in chain.open_minis:
            self._add_to_block_tries(mb)

    def _add_to_block_tries(self, mb: MiniBlock) -> None:
        index = self._block_txs
        for raw, receipt in zip(mb.raw_txs, mb.receipts, strict=True):
            key = fastrlp.encode(index)
            self._tx_trie.set(key, raw)
            self._receipt_trie.set(key, receipt.encoded)
            index += 1
            if receipt.logs:
                self._block_logs += len(receipt.logs)
                self._block_bloom |= int.from_bytes(receipt.bloom, "big")
        self._block_txs = index

    async def _seal_evm_block(self) -> EvmBlock | None:
        started = time.perf_counter()
        chain = self.chain
        env = chain.open_env
        assert env is not None
        minis = list(chain.open_minis)
        tx_root = self._tx_trie.root_hash()
        receipts_root = self._receipt_trie.root_hash()
        bloom = self._block_bloom
        root_started = time.perf_counter()
        state_root = self.trie.root()
        self.stats.state_root_ms.append((time.perf_counter() - root_started) * 1000)
        gas_used = sum(mb.gas_used for mb in minis)
        header_rlp, block_hash = make_header(
            number=env.number,
            parent_hash=env.parent_hash,
            coinbase=env.coinbase,
            state_root=state_root,
            transactions_root=tx_root,
            receipts_root=receipts_root,
            logs_bloom=bloom,
            gas_limit=env.gas_limit,
            gas_used=gas_used,
            timestamp=env.timestamp,
            prev_randao=env.prev_randao,
            base_fee=env.base_fee,
        )
        first = minis[0].number if minis else chain.head_mini_number + 1
        block = EvmBlock(
            number=env.number,
            hash=block_hash,
            parent_hash=env.parent_hash,
            timestamp=env.timestamp,
            state_root=state_root,
            transactions_root=tx_root,
            receipts_root=receipts_root,
            logs_bloom=bloom.to_bytes(256, "big"),
            gas_used=gas_used,
            gas_limit=env.gas_limit,
            base_fee=env.base_fee,
            coinbase=env.coinbase,
            prev_randao=env.prev_randao,
            header_rlp=header_rlp,
            tx_hashes=tuple(h for mb in minis for h in mb.tx_hashes),
            first_mini_block=first,
            last_mini_block=first + len(minis) - 1,
            sealed_at_us=time.time_ns() // 1000,
        )
        while not await self._make_durable(self.db.commit_block, self.db.index.write_evm_block, block):
            if self._stopping.is_set():
                log.error("stopping while block writes fail: the open block is sealed at the next start")
                return None
            await asyncio.sleep(RETRY_S)
        chain.publish_block(block)
        now = time.monotonic()
        if self.stats.last_block_at is not None:
            self.stats.block_intervals.append((now - self.stats.last_block_at) * 1000)
        self.stats.last_block_at = now
        self.stats.blocks += 1
        seal_ms = (time.perf_counter() - started) * 1000
        self.stats.block_seal_ms.append(seal_ms)
        log.info(
            "evm block sealed number=%d hash=0x%s txs=%d mini_blocks=%d gas_used=%d base_fee=%d "
            "seal_ms=%.2f state_root_ms=%.2f",
            block.number,
            block.hash.hex(),
            len(block.tx_hashes),
            len(minis),
            gas_used,
            block.base_fee,
            seal_ms,
            self.stats.state_root_ms[-1],
        )
        for fn in self._block_listeners:
            fn(block)
        self._open_block()
        return block

    # -- mini-blocks --------------------------------------------------------------------------
    async def _seal_mini_block(self) -> bool:
        """Execute and persist one mini-block; returns True when the EVM block is full."""
        # mini-blocks start on a fixed cadence: the next one is due an interval after this
        # one started, whatever its execution and write took
        self._last_mini_seal = time.monotonic()
        try:
            return await self._build_mini_block()
        finally:
            self.pool.end_seal()

    async def _build_mini_block(self) -> bool:
        executor = self._executor
        chain = self.chain
        assert executor is not None and chain.open_env is not None
        # take about what the interval can execute (from recent execution times), not the
        # configured maximum: taken transactions are copied and marked in flight
        interval_s = self.config.mini_block_interval_ms / 1000
        expected = int(2 * interval_s / self._exec_s_per_tx) + 16
        candidates = self.pool.take(min(self.config.max_txs_per_mini_block, expected))
        included: list[SignedTx] = []
        outcomes: list[TxOutcome] = []
        full = False
        # execution time per mini-block is bounded by the interval, so the cadence holds under load
        exec_started = time.perf_counter()
        budget_ends = exec_started + interval_s
        for tx in candidates:
            if included and time.perf_counter() >= budget_ends:
                break
            if not executor.fits(tx):
                full = True
                break
            try:
                started = time.perf_counter()
                outcomes.append(executor.apply(tx))
                if self.exec_observer is not None:
                    self.exec_observer(time.perf_counter() - started)
                included.append(tx)
            except InvalidTransaction as exc:
                self._reject(tx, exc.message)
            except Exception as exc:  # an engine bug must not stop the chain
                log.exception("transaction 0x%s failed in execution", tx.hash.hex())
                self._reject(tx, f"internal error: {type(exc).__name__}")
        if not included:
            return full
        per_tx = (time.perf_counter() - exec_started) / len(included)
        self._exec_s_per_tx = 0.8 * self._exec_s_per_tx + 0.2 * per_tx

        diff = executor.take_diff()
        prev = chain.head_mini
        number = prev.number + 1 if prev is not None else 0
        parent_hash = prev.hash if prev is not None else chain.head.hash
        block_tx_offset = self._block_txs
        log_offset = self._block_logs
        receipts = []
        for i, o in enumerate(outcomes):
            receipts.append(
                Receipt(
                    tx_hash=o.tx.hash,
                    tx_type=o.tx.type,
                    sender=o.tx.sender,
                    to=o.tx.to,
                    status=o.status,
                    gas_used=o.gas_used,
                    cumulative_gas_used=o.cumulative_gas_used,
                    effective_gas_price=o.effective_gas_price,
                    logs=o.logs,
                    bloom=o.bloom,
                    contract_address=o.contract_address,
                    block_number=chain.open_env.number,
                    mini_block_number=number,
                    tx_index=block_tx_offset + i,
                    first_log_index=log_offset,
                    encoded=o.encoded_receipt,
                )
            )
            log_offset += len(o.logs)
        timestamp_us = time.time_ns() // 1000
        mini_gas = sum(o.gas_used for o in outcomes)
        tx_hashes = tuple(tx.hash for tx in included)
        receipts_t = tuple(receipts)
        mb = MiniBlock(
            number=number,
            block_number=chain.open_env.number,
            index=len(chain.open_minis),
            timestamp_us=timestamp_us,
            parent_hash=parent_hash,
            hash=mini_block_hash(
                number,
                chain.open_env.number,
                len(chain.open_minis),
                timestamp_us,
                parent_hash,
                chain.open_env,
                tx_hashes,
                receipts_t,
                diff,
                mini_gas,
            ),
            block_env=chain.open_env,
            raw_txs=tuple(tx.raw for tx in included),
            tx_hashes=tx_hashes,
            receipts=receipts_t,
            diff=diff,
            gas_used=mini_gas,
        )
        if not await self._make_durable(self.db.commit_mini_blocks, self.db.index.write_mini_blocks, [mb]):
            # Nothing of this mini-block is durable, visible or acknowledged: roll the executor
            # back and leave its transactions in the pool to be retried.
            executor.discard_pending()
            executor.gas_used -= mb.gas_used
            await asyncio.sleep(RETRY_S)
            return False
        chain.world.apply_diff(diff)
        self.trie.apply_diff(diff)
        chain.publish_mini_block(mb)
        self._add_to_block_tries(mb)
        self.pool.remove_included(included)
        now = time.monotonic()
        if self.stats.last_mini_at is not None:
            self.stats.mini_intervals.append((now - self.stats.last_mini_at) * 1000)
        self.stats.last_mini_at = now
        self.stats.mini_blocks += 1
        self.stats.included_txs += len(included)
        for fn in self._mini_listeners:
            fn(mb)
        # hash the tries' new paths now, after the receipts are out, rather than all at the seal
        self._tx_trie.root_hash()
        self._receipt_trie.root_hash()
        return full

    async def _make_durable(
        self, commit: Callable[[Any], None], index_only: Callable[[Any], None], item: Any
    ) -> bool:
        """Commit through the log; False if nothing became durable (the caller may retry).

        If the log append succeeded but the index store failed, the record *is* durable: the
        index write alone is retried until it succeeds (or the node stops, after which the
        index is caught up from the log at the next start), and True is returned.
        """
        try:
            await self.write(commit, item)
        except IndexWriteFailed as exc:
            self._set_unhealthy(exc)
            while True:
                await asyncio.sleep(RETRY_S)
                try:
                    await self.write(index_only, item)
                    break
                except StorageError as again:
                    if self._stopping.is_set():
                        log.error("index store still failing at shutdown (caught up at start): %s", again)
                        return True
        except StorageError as exc:
            self._set_unhealthy(exc)
            return False
        self._set_healthy()
        return True

    def _reject(self, tx: SignedTx, reason: str) -> None:
        self.stats.dropped_txs += 1
        log.info(
            "transaction dropped hash=0x%s sender=0x%s nonce=%d reason=%r",
            tx.hash.hex(),
            tx.sender.hex(),
            tx.nonce,
            reason,
        )
        self.pool.drop(tx)
        for fn in self._rejection_listeners:
            fn(tx, reason)

    def _set_unhealthy(self, exc: Exception) -> None:
        if self.healthy:
            log.error("storage write failed, sealing paused: %s", exc)
        self.healthy = False

    def _set_healthy(self) -> None:
        if not self.healthy:
            log.info("storage writes succeed again, sealing resumed")
        self.healthy = True
