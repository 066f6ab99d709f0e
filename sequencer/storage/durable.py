"""The data directory: the durable block log (truth) plus the LMDB index/state store (derived).

Write order, for every mini-block and EVM block: append to the log and ``fdatasync`` it, then
update the LMDB store (not fsync'd: after a crash it is caught up from the log). Nothing is
visible to anyone before the log append returns.

Recovery at start-up (:meth:`ChainDB.recover`): scan the log (repairing a torn tail, refusing
mid-log corruption), then replay into the store every record it does not have yet. A store
that is *ahead* of the log (its tail was cut) or unreadable is rebuilt from the log.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sequencer import fastrlp
from sequencer.codec import (
    decode_evm_block,
    decode_mini_block,
    diff_from_list,
    encode_diff,
    encode_evm_block,
    encode_mini_block,
)
from sequencer.errors import StorageError
from sequencer.logs import fields
from sequencer.storage.log import (
    KIND_EVM_BLOCK,
    KIND_GENESIS,
    KIND_MINI_BLOCK,
    KIND_POOL_ADD,
    KIND_ROLLBACK,
    BlockLog,
    LogCorruption,
    TornTail,
)
from sequencer.storage.store import ChainStore, u64
from sequencer.types import EvmBlock, MiniBlock, StateDiff

log = logging.getLogger("sequencer.storage")


class IndexWriteFailed(StorageError):
    """The record is durable in the log, but the index store could not be updated."""


@dataclass
class RecoveryReport:
    """What start-up recovery found and did."""

    records: int = 0
    torn_tail: TornTail | None = None
    rebuilt_index: bool = False
    replayed_mini_blocks: int = 0
    replayed_blocks: int = 0
    last_mini_block: int | None = None
    last_block: int | None = None
    pool_txs: list[bytes] = field(default_factory=list)
    rollbacks: int = 0
    """Devnet rollbacks (``evm_revert``) in the log."""
    dev_horizon: int | None = None
    """The feed position of the chain's first devnet event (a state edit, an impersonated
    transaction, or the first position a rollback dropped), if any: feed version 1 cannot carry
    it, so it serves nothing from there on."""


def encode_rollback(block: EvmBlock) -> bytes:
    """A rollback record: the EVM block the chain goes back to (number, hash, last mini-block)."""
    encoded: bytes = fastrlp.encode([block.number, block.hash, block.last_mini_block + 1])
    return encoded


def decode_rollback(payload: bytes) -> tuple[int, bytes, int]:
    """The inverse of :func:`encode_rollback`: (block number, block hash, last mini-block)."""
    number, block_hash, last_plus_one = fastrlp.decode(payload)
    return int.from_bytes(number, "big"), bytes(block_hash), int.from_bytes(last_plus_one, "big") - 1


def _first_position(current: int | None, seq: int) -> int:
    return seq if current is None else min(current, seq)


def encode_genesis(block: EvmBlock, diff: StateDiff, chain_id: int) -> bytes:
    """The genesis record: chain id, block 0 and its allocation diff."""
    encoded: bytes = fastrlp.encode([chain_id, encode_evm_block(block), encode_diff(diff)])
    return encoded


def decode_genesis(payload: bytes) -> tuple[int, EvmBlock, StateDiff]:
    """The inverse of :func:`encode_genesis`."""
    chain_id, block, diff = fastrlp.decode(payload)
    return int.from_bytes(chain_id, "big"), decode_evm_block(block), diff_from_list(fastrlp.decode(diff))


class ChainDB:
    """One data dir: the durable log (truth) and the index store derived from it."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.log = BlockLog(self.data_dir / "log")
        self.index = ChainStore(self.data_dir)

    # -- writes (from the single writer thread) -----------------------------------------------
    def commit_genesis(self, block: EvmBlock, diff: StateDiff, chain_id: int) -> None:
        """Make the genesis durable, then index it."""
        self.log.append([(KIND_GENESIS, encode_genesis(block, diff, chain_id))])
        self.index.write_genesis(block, diff, chain_id)

    def commit_mini_blocks(self, minis: list[MiniBlock]) -> None:
        """Log (durable) then index. :class:`StorageError`: nothing is durable;
        :class:`IndexWriteFailed`: durable, retry :meth:`ChainStore.write_mini_blocks` only."""
        encoded = [encode_mini_block(mb) for mb in minis]
        self.log.append([(KIND_MINI_BLOCK, data) for data in encoded])
        try:
            self.index.write_mini_blocks(minis, encoded)
        except StorageError as exc:
            raise IndexWriteFailed(str(exc)) from None

    def commit_block(self, block: EvmBlock) -> None:
        """Like :meth:`commit_mini_blocks`, for an EVM block."""
        self.log.append([(KIND_EVM_BLOCK, encode_evm_block(block))])
        try:
            self.index.write_evm_block(block)
        except StorageError as exc:
            raise IndexWriteFailed(str(exc)) from None

    def commit_rollback(self, block: EvmBlock, count: int) -> StateDiff:
        """Log a devnet rollback to ``block`` (durable), then roll the index back; returns the
        diff back to ``block``'s state. :class:`StorageError`: nothing happened;
        :class:`IndexWriteFailed`: durable, the index is rebuilt at the next start."""
        self.log.append([(KIND_ROLLBACK, encode_rollback(block))])
        try:
            return self.index.rollback(block, count)
        except StorageError as exc:
            raise IndexWriteFailed(str(exc)) from None

    def persist_pool_txs(self, raws: list[bytes]) -> None:
        """Journal admitted transactions (durable when this returns)."""
        self.log.append([(KIND_POOL_ADD, raw) for raw in raws])

    def close(self) -> None:
        """Close the log and the index store."""
        self.log.close()
        self.index.close()

    # -- recovery -----------------------------------------------------------------------------
    def recover(self, progress: Callable[[int, int], None] | None = None) -> RecoveryReport:
        """Bring the store in line with the log; see the module docstring."""
        report = RecoveryReport()

        def torn(t: TornTail) -> None:
            report.torn_tail = t

        records = list(self.log.scan(repair=True, on_torn=torn, progress=progress))
        report.records = len(records)
        last_mini = last_block = None
        minis: list[MiniBlock] = []
        blocks: list[EvmBlock] = []
        genesis: bytes | None = None  # decoded only if the index needs it (large with --accounts)
        pool: list[bytes] = []
        for rec in records:
            if rec.kind == KIND_MINI_BLOCK:
                mb = decode_mini_block(rec.payload)
                if last_mini is not None and mb.number != last_mini + 1:
                    raise LogCorruption(f"log: mini-block {mb.number} follows {last_mini} at {rec.position}")
                last_mini = mb.number
                minis.append(mb)
                if mb.dev_edits:
                    report.dev_horizon = _first_position(report.dev_horizon, mb.number + mb.block_number)
            elif rec.kind == KIND_ROLLBACK:
                to_block, _hash, to_mini = decode_rollback(rec.payload)
                minis = [mb for mb in minis if mb.number <= to_mini]
                blocks = [b for b in blocks if b.number <= to_block]
                last_mini = to_mini if to_mini >= 0 else None
                last_block = to_block
                pool = []  # a rollback empties the pool
                report.rollbacks += 1
                report.dev_horizon = _first_position(report.dev_horizon, to_mini + 1 + to_block + 1)
            elif rec.kind == KIND_EVM_BLOCK:
                block = decode_evm_block(rec.payload)
                if last_block is not None and block.number != last_block + 1:
                    raise LogCorruption(f"log: block {block.number} follows {last_block} at {rec.position}")
                last_block = block.number
                blocks.append(block)
            elif rec.kind == KIND_GENESIS:
                genesis = rec.payload
                last_block = 0
            elif rec.kind == KIND_POOL_ADD:
                pool.append(rec.payload)
        report.last_mini_block, report.last_block = last_mini, last_block
        if report.torn_tail is not None:
            log.warning(
                "recovered a torn log tail",
                extra=fields(
                    dropped_bytes=report.torn_tail.dropped_bytes,
                    position=str(report.torn_tail.position),
                    resumes_after_mini_block=last_mini,
                ),
            )

        try:
            index_mini = self.index.head_mini_block_number()
            index_block = self.index.head_block_number()
        except Exception as exc:  # an unreadable store is rebuilt from the log
            log.warning("index store unreadable: rebuilding it from the log", extra=fields(error=str(exc)))
            index_mini = index_block = None
            self._rebuild_index()
            report.rebuilt_index = True
        ahead = (index_mini is not None and (last_mini is None or index_mini > last_mini)) or (
            index_block is not None and (last_block is None or index_block > last_block)
        )
        if not report.rebuilt_index and self.index.rollbacks() != report.rollbacks:
            log.warning(
                "index store missed a rollback: rebuilding it",
                extra=fields(index_rollbacks=self.index.rollbacks(), log_rollbacks=report.rollbacks),
            )
            ahead = True
        if ahead:
            log.warning(
                "index store is ahead of the log: rebuilding it",
                extra=fields(
                    index_mini_block=index_mini,
                    log_mini_block=last_mini,
                    index_block=index_block,
                    log_block=last_block,
                ),
            )
            self._rebuild_index()
            report.rebuilt_index = True
            index_mini = index_block = None

        if genesis is not None and not self.index.is_initialized():
            chain_id, block, diff = decode_genesis(genesis)
            self.index.write_genesis(block, diff, chain_id)
            index_block = 0
        pending_minis = [mb for mb in minis if index_mini is None or mb.number > index_mini]
        pending_blocks = [b for b in blocks if index_block is None or b.number > index_block]
        # replay in chain order: a block's mini-blocks before the block
        for block in pending_blocks:
            these = [mb for mb in pending_minis if mb.number <= block.last_mini_block]
            if these:
                self.index.write_mini_blocks(these)
                report.replayed_mini_blocks += len(these)
                pending_minis = pending_minis[len(these) :]
            self.index.write_evm_block(block)
            report.replayed_blocks += 1
        if pending_minis:
            self.index.write_mini_blocks(pending_minis)
            report.replayed_mini_blocks += len(pending_minis)
        if report.rollbacks and self.index.rollbacks() != report.rollbacks:
            self.index.put_meta("rollbacks", u64(report.rollbacks))
        if report.replayed_mini_blocks or report.replayed_blocks:
            log.info(
                "caught the index store up from the log",
                extra=fields(mini_blocks=report.replayed_mini_blocks, blocks=report.replayed_blocks),
            )
        report.pool_txs = [raw for raw in pool if self._not_included(raw)]
        return report

    def _not_included(self, raw: bytes) -> bool:
        from eth_hash.auto import keccak

        return self.index.get_tx_location(keccak(raw)) is None

    def _rebuild_index(self) -> None:
        self.index.close()
        path = self.index.path / "chain.lmdb"
        try:
            shutil.rmtree(path, ignore_errors=False)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageError(f"cannot rebuild {path}: {exc.strerror}") from None
        self.index = ChainStore(self.data_dir)
