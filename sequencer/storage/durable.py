"""The data directory: the durable block log (truth) plus the LMDB index/state store (derived),
the pool journal (``pool/``, same framing) and the lock (``LOCK``: one process per data dir).

Write order, for every mini-block and EVM block: append to the log and ``fdatasync`` it, then
update the LMDB store (not fsync'd: after a crash it is caught up from the log). Nothing is
visible to anyone before the log append returns.

Recovery at start-up (:meth:`ChainDB.recover`): scan the log (repairing a torn tail, refusing
mid-log corruption), then replay into the store every record it does not have yet. A store
that is *ahead* of the log (its tail was cut) or unreadable is rebuilt from the log. The pool
journal is replayed (adds minus removals) into the transactions to re-admit.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from eth_hash.auto import keccak

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
from sequencer.storage.lock import DataDirLock
from sequencer.storage.log import (
    KIND_EVM_BLOCK,
    KIND_GENESIS,
    KIND_MINI_BLOCK,
    KIND_POOL_ADD,
    KIND_POOL_REMOVE,
    KIND_ROLLBACK,
    SEGMENT_BYTES,
    BlockLog,
    LogCorruption,
    Record,
    TornTail,
)
from sequencer.storage.store import ChainStore, u64
from sequencer.types import EvmBlock, MiniBlock, StateDiff

log = logging.getLogger("sequencer.storage")
POOL_DIR = "pool"
POOL_SEGMENT_BYTES = 2**62  # one segment: the journal is compacted (replaced), never rotated


class IndexWriteFailed(StorageError):
    """The record is durable in the log, but the index store could not be updated."""


@dataclass(frozen=True, slots=True)
class PoolRecord:
    """One pool journal record: a transaction admitted (its raw bytes), or transactions removed
    (dropped, evicted, replaced or expired: their hashes)."""

    raw: bytes | None = None
    removed: tuple[bytes, ...] = ()

    def framed(self) -> tuple[int, bytes]:
        """The record's kind and payload in the journal."""
        if self.raw is not None:
            return KIND_POOL_ADD, self.raw
        return KIND_POOL_REMOVE, b"".join(self.removed)


@dataclass
class _Scan:
    """One pass over the log: its numbering, and the records the store does not have yet."""

    records: int = 0
    last_mini: int | None = None
    last_block: int | None = None
    genesis: bytes | None = None
    minis: list[MiniBlock] = field(default_factory=list)
    blocks: list[EvmBlock] = field(default_factory=list)
    pool_adds: list[bytes] = field(default_factory=list)
    rollbacks: int = 0


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


def encode_rollback(block: EvmBlock) -> bytes:
    """A rollback record: the EVM block the chain goes back to (number, hash, last mini-block)."""
    encoded: bytes = fastrlp.encode([block.number, block.hash, block.last_mini_block + 1])
    return encoded


def decode_rollback(payload: bytes) -> tuple[int, bytes, int]:
    """The inverse of :func:`encode_rollback`: (block number, block hash, last mini-block)."""
    number, block_hash, last_plus_one = fastrlp.decode(payload)
    return int.from_bytes(number, "big"), bytes(block_hash), int.from_bytes(last_plus_one, "big") - 1


def encode_genesis(block: EvmBlock, diff: StateDiff, chain_id: int) -> bytes:
    """The genesis record: chain id, block 0 and its allocation diff."""
    encoded: bytes = fastrlp.encode([chain_id, encode_evm_block(block), encode_diff(diff)])
    return encoded


def decode_genesis(payload: bytes) -> tuple[int, EvmBlock, StateDiff]:
    """The inverse of :func:`encode_genesis`."""
    chain_id, block, diff = fastrlp.decode(payload)
    return int.from_bytes(chain_id, "big"), decode_evm_block(block), diff_from_list(fastrlp.decode(diff))


class ChainDB:
    """One data dir: the durable log (truth), the index store derived from it, and the pool
    journal. Opening it takes the data dir's lock (``storage/lock.py``) until :meth:`close`."""

    def __init__(self, data_dir: str | Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.data_dir = Path(data_dir)
        self.lock = DataDirLock(self.data_dir)
        try:
            self.log = BlockLog(self.data_dir / "log", segment_bytes)
            self.pool = BlockLog(self.data_dir / POOL_DIR, POOL_SEGMENT_BYTES)
            self.index = ChainStore(self.data_dir)
        except BaseException:
            self.lock.release()
            raise

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
        """Log a devnet rollback to ``block`` (durable) and empty the pool journal (a rollback
        empties the pool, and what the dropped blocks included must not come back at the next
        start), then roll the index back; returns the diff back to ``block``'s state.
        :class:`StorageError`: nothing happened, or only the rollback record is durable (the
        next start replays it); :class:`IndexWriteFailed`: durable, the index is rebuilt at the
        next start."""
        self.log.append([(KIND_ROLLBACK, encode_rollback(block))])
        self.pool.replace([])
        try:
            return self.index.rollback(block, count)
        except StorageError as exc:
            raise IndexWriteFailed(str(exc)) from None

    def journal_pool(self, records: list[PoolRecord]) -> None:
        """Append pool journal records (durable when this returns)."""
        self.pool.append([record.framed() for record in records])

    def compact_pool(self, raws: list[bytes]) -> None:
        """Replace the pool journal by the adds of ``raws`` (the pooled transactions), atomically."""
        self.pool.replace([(KIND_POOL_ADD, raw) for raw in raws])

    def close(self) -> None:
        """Close the log, the pool journal and the index store, and release the lock."""
        self.log.close()
        self.pool.close()
        self.index.close()
        self.lock.release()

    # -- recovery -----------------------------------------------------------------------------
    def recover(self, progress: Callable[[int, int], None] | None = None) -> RecoveryReport:
        """Bring the store in line with the log; see the module docstring.

        The log is streamed: only the records the store does not have yet are kept in memory
        (after a clean stop, none), so start-up memory does not grow with the log.
        """
        report = RecoveryReport()

        def torn(t: TornTail) -> None:
            report.torn_tail = t

        try:
            index_mini = self.index.head_mini_block_number()
            index_block = self.index.head_block_number()
        except Exception as exc:  # an unreadable store is rebuilt from the log
            log.warning("index store unreadable: rebuilding it from the log", extra=fields(error=str(exc)))
            index_mini = index_block = None
            self._rebuild_index()
            report.rebuilt_index = True
        # pool-add records in the block log are from versions before the pool journal: they
        # count only until the pool journal exists (it is written at the first start-up)
        legacy = not self.pool.segments()
        records = self.log.scan(repair=True, on_torn=torn, progress=progress)
        scan = self._scan(records, index_mini, index_block, legacy)
        report.records = scan.records
        report.rollbacks = scan.rollbacks
        last_mini, last_block = scan.last_mini, scan.last_block
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
            scan = self._scan(self.log.scan(repair=False), None, None, legacy)

        if scan.genesis is not None and not self.index.is_initialized():
            chain_id, block, diff = decode_genesis(scan.genesis)
            self.index.write_genesis(block, diff, chain_id)
        # replay in chain order: a block's mini-blocks before the block
        pending_minis = scan.minis
        for block in scan.blocks:
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
        pooled = {keccak(raw): raw for raw in scan.pool_adds} if legacy else self._pool_journal()
        report.pool_txs = [raw for h, raw in pooled.items() if self.index.get_tx_location(h) is None]
        return report

    def _scan(
        self, records: Iterator[Record], index_mini: int | None, index_block: int | None, legacy_pool: bool
    ) -> _Scan:
        """Check the log's numbering record by record and keep what the store lacks."""
        out = _Scan()
        for rec in records:
            out.records += 1
            if rec.kind == KIND_MINI_BLOCK:
                mb = decode_mini_block(rec.payload)
                number = mb.number
                if out.last_mini is not None and number != out.last_mini + 1:
                    raise LogCorruption(f"log: mini-block {number} follows {out.last_mini} at {rec.position}")
                out.last_mini = number
                if index_mini is None or number > index_mini:
                    out.minis.append(mb)
            elif rec.kind == KIND_ROLLBACK:
                # the records after the block it names no longer count (the store, counting
                # its rollbacks, has them deleted already or is rebuilt)
                to_block, _hash, to_mini = decode_rollback(rec.payload)
                out.minis = [mb for mb in out.minis if mb.number <= to_mini]
                out.blocks = [b for b in out.blocks if b.number <= to_block]
                out.last_mini = to_mini if to_mini >= 0 else None
                out.last_block = to_block
                out.pool_adds = []  # a rollback empties the pool
                out.rollbacks += 1
            elif rec.kind == KIND_EVM_BLOCK:
                block = decode_evm_block(rec.payload)
                if out.last_block is not None and block.number != out.last_block + 1:
                    raise LogCorruption(
                        f"log: block {block.number} follows {out.last_block} at {rec.position}"
                    )
                out.last_block = block.number
                if index_block is None or block.number > index_block:
                    out.blocks.append(block)
            elif rec.kind == KIND_GENESIS:
                # decoded only if the index needs it (large with --accounts)
                out.genesis = rec.payload if index_block is None else None
                out.last_block = 0
            elif rec.kind == KIND_POOL_ADD and legacy_pool:
                out.pool_adds.append(rec.payload)
        return out

    def _pool_journal(self) -> dict[bytes, bytes]:
        """The pool journal replayed: every transaction added and not removed since, in order."""
        pooled: dict[bytes, bytes] = {}

        def torn(t: TornTail) -> None:
            log.warning(
                "recovered a torn pool journal tail",
                extra=fields(dropped_bytes=t.dropped_bytes, position=str(t.position)),
            )

        for rec in self.pool.scan(repair=True, on_torn=torn):
            if rec.kind == KIND_POOL_ADD:
                pooled[keccak(rec.payload)] = rec.payload
            elif rec.kind == KIND_POOL_REMOVE:
                for i in range(0, len(rec.payload), 32):
                    pooled.pop(rec.payload[i : i + 32], None)
        return pooled

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
