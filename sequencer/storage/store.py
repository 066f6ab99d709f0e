"""The index and state store: one LMDB environment holding blocks, mini-blocks, indexes and state.

It is derived from the durable block log (``log.py``), which is written and fsync'd first; so
the store itself is not fsync'd per commit (``sync=False``) and is caught up from the log (or
rebuilt) at start-up by ``durable.py``.

Why LMDB: it is an embedded, memory-mapped B+tree with ACID transactions and a single writer
(reth uses MDBX, its descendant). Readers never block the writer and see a consistent
snapshot; there is no write-ahead log to replay and no compaction stalls (the LSM trees of
LevelDB/Pebble, as in geth, trade those for write throughput we don't need at this scale). A
mini-block, its transaction index entries and its state diff are written in one transaction,
so the state on disk always matches the last durable mini-block.

Tables (LMDB named databases):
  meta        schema version, chain id, genesis hash
  mini        u64 mini-block number -> encoded mini-block
  blocks      u64 EVM block number  -> encoded EVM block (header RLP, tx hashes, mini range)
  block_hash  block hash            -> u64 block number
  tx_index    tx hash               -> (block, mini-block, index in block, index in mini-block)
  accounts    address               -> rlp([nonce, balance, code_hash])
  storage     address ++ slot (32)  -> value (big-endian, never zero)
  code        code hash             -> code
  canon       u64 block number      -> block hash
  acct_hist   address ++ u64 seq    -> rlp([nonce, balance, code_hash]), b"" when deleted
  slot_hist   address ++ slot ++ u64 seq -> value (b"" = zero)
  acct_wipe   address ++ u64 seq    -> b"" (the account and its storage were deleted)

A devnet rollback (``evm_revert``, :meth:`ChainStore.rollback`) deletes everything after an
EVM block in one transaction and counts itself in ``meta`` (``rollbacks``), so start-up can
tell whether the store has seen every rollback the log holds.

History tables make the state at any block readable (``storage/history.py``): ``seq`` is 0 for
genesis and ``n + 1`` for mini-block ``n``; the state after EVM block N is the newest entry with
``seq <= last_mini_block(N) + 1``.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path

import lmdb

from sequencer import fastrlp
from sequencer.codec import (
    decode_evm_block,
    decode_location,
    decode_mini_block,
    encode_evm_block,
    encode_location,
    encode_mini_block,
)
from sequencer.errors import StorageError
from sequencer.state import EMPTY_CODE_HASH, AccountRecord, WorldState
from sequencer.types import AccountDiff, EvmBlock, MiniBlock, StateDiff, TxLocation

SCHEMA_VERSION = 1
_U64 = struct.Struct(">Q")
DEFAULT_MAP_SIZE = 64 * 1024**3  # sparse: address space, not disk


def u64(n: int) -> bytes:
    """A big-endian 8-byte key."""
    return _U64.pack(n)


class ChainStore:
    """Durable storage of one sequencer's chain and state (see module docstring)."""

    def __init__(self, path: str | Path, map_size: int = DEFAULT_MAP_SIZE, readonly: bool = False) -> None:
        """Open (or create) the store; ``readonly``: another process's view of a live store (the
        call workers'), which sees every write the node commits."""
        self.path = Path(path)
        try:
            if not readonly:
                self.path.mkdir(parents=True, exist_ok=True)
            self._env = lmdb.open(
                str(self.path / "chain.lmdb"),
                map_size=map_size,
                max_dbs=16,
                subdir=True,
                sync=False,
                metasync=False,
                readahead=False,
                lock=True,
                readonly=readonly,
            )
        except lmdb.Error as exc:
            raise StorageError(f"cannot open data dir {self.path}: {exc}") from None
        except OSError as exc:
            raise StorageError(f"cannot open data dir {self.path}: {exc.strerror}") from None
        env = self._env
        self._meta = env.open_db(b"meta")
        self._mini = env.open_db(b"mini")
        self._blocks = env.open_db(b"blocks")
        self._block_hash = env.open_db(b"block_hash")
        self._tx_index = env.open_db(b"tx_index")
        self._accounts = env.open_db(b"accounts")
        self._storage = env.open_db(b"storage")
        self._code = env.open_db(b"code")
        self._canon = env.open_db(b"canon")
        self._acct_hist = env.open_db(b"acct_hist")
        self._slot_hist = env.open_db(b"slot_hist")
        self._acct_wipe = env.open_db(b"acct_wipe")

    def close(self) -> None:
        """Flush and close the environment."""
        with contextlib.suppress(lmdb.Error):
            self._env.sync(True)
        self._env.close()

    # -- metadata -------------------------------------------------------------------------
    def get_meta(self, key: str) -> bytes | None:
        """A metadata value, or ``None``."""
        with self._env.begin(db=self._meta) as txn:
            value = txn.get(key.encode())
            return bytes(value) if value is not None else None

    def put_meta(self, key: str, value: bytes) -> None:
        """Set a metadata value."""
        with self._env.begin(write=True, db=self._meta) as txn:
            txn.put(key.encode(), value)

    def is_initialized(self) -> bool:
        """Whether a genesis was written."""
        return self.get_meta("genesis_hash") is not None

    # -- writes -----------------------------------------------------------------------------
    def write_genesis(self, block: EvmBlock, diff: StateDiff, chain_id: int) -> None:
        """Write block 0 and the genesis state (one transaction)."""
        with self._env.begin(write=True) as txn:
            txn.put(b"schema", u64(SCHEMA_VERSION), db=self._meta)
            txn.put(b"chain_id", u64(chain_id), db=self._meta)
            txn.put(b"genesis_hash", block.hash, db=self._meta)
            self._put_block(txn, block)
            self._put_diff(txn, diff, 0)

    def write_mini_blocks(self, minis: Sequence[MiniBlock], encoded: Sequence[bytes] | None = None) -> None:
        """Commit mini-blocks with their tx index entries and state diffs (one txn);
        ``encoded``: their encodings when the caller has them already."""
        try:
            with self._env.begin(write=True) as txn:
                for n, mb in enumerate(minis):
                    data = encoded[n] if encoded is not None else encode_mini_block(mb)
                    txn.put(u64(mb.number), data, db=self._mini)
                    for i, (tx_hash, receipt) in enumerate(zip(mb.tx_hashes, mb.receipts, strict=True)):
                        loc = TxLocation(mb.block_number, mb.number, receipt.tx_index, i)
                        txn.put(tx_hash, encode_location(loc), db=self._tx_index)
                    self._put_diff(txn, mb.diff, mb.number + 1)
        except lmdb.Error as exc:
            raise StorageError(f"mini-block write failed: {exc}") from None

    def write_evm_block(self, block: EvmBlock) -> None:
        """Index a sealed EVM block (by number, hash and canonical number)."""
        try:
            with self._env.begin(write=True) as txn:
                self._put_block(txn, block)
        except lmdb.Error as exc:
            raise StorageError(f"block write failed: {exc}") from None

    def _put_block(self, txn: lmdb.Transaction, block: EvmBlock) -> None:
        txn.put(u64(block.number), encode_evm_block(block), db=self._blocks)
        txn.put(block.hash, u64(block.number), db=self._block_hash)
        txn.put(u64(block.number), block.hash, db=self._canon)

    def _put_diff(self, txn: lmdb.Transaction, diff: StateDiff, seq: int) -> None:
        tag = u64(seq)
        for acc in diff.accounts:
            if acc.deleted:
                txn.delete(acc.address, db=self._accounts)
                self._delete_storage_of(txn, acc.address)
                txn.put(acc.address + tag, b"", db=self._acct_hist)
                txn.put(acc.address + tag, b"", db=self._acct_wipe)
                continue
            record = fastrlp.encode([acc.nonce, acc.balance, acc.code_hash])
            txn.put(acc.address, record, db=self._accounts)
            txn.put(acc.address + tag, record, db=self._acct_hist)
            if acc.code is not None:
                txn.put(acc.code_hash, acc.code, db=self._code)
            for slot, value in acc.storage:
                key = acc.address + slot.to_bytes(32, "big")
                encoded = value.to_bytes((value.bit_length() + 7) // 8, "big")
                if value:
                    txn.put(key, encoded, db=self._storage)
                else:
                    txn.delete(key, db=self._storage)
                txn.put(key + tag, encoded, db=self._slot_hist)

    def _delete_storage_of(self, txn: lmdb.Transaction, address: bytes) -> None:
        cursor = txn.cursor(db=self._storage)
        if not cursor.set_range(address):
            return
        while cursor.key()[:20] == address:
            if not cursor.delete():
                break

    def rollbacks(self) -> int:
        """How many rollbacks the store has applied."""
        value = self.get_meta("rollbacks")
        return _U64.unpack(value)[0] if value is not None else 0

    def rollback(self, block: EvmBlock, count: int) -> StateDiff:
        """Drop every mini-block and EVM block after ``block`` (a devnet ``evm_revert``), with
        their transactions' index entries and history, and put the flat state back to the state
        after ``block``; ``count`` is the number of rollbacks with this one. One transaction.

        Returns the diff that takes the state as it was before the rollback to the state after
        ``block`` (for the in-memory state and trie)."""
        seq = block.last_mini_block + 1
        head = self.head_mini_block_number()
        dropped = list(self.iter_mini_blocks(seq, head)) if head is not None and head >= seq else []
        touched: dict[bytes, set[int]] = {}
        wiped: set[bytes] = set()
        for mb in dropped:
            for acc in mb.diff.accounts:
                touched.setdefault(acc.address, set()).update(slot for slot, _ in acc.storage)
                if acc.deleted:
                    wiped.add(acc.address)
        inverse: list[AccountDiff] = []
        try:
            with self._env.begin(write=True) as txn:
                for address in sorted(touched):
                    inverse.append(self._restore(txn, address, touched[address], address in wiped, seq))
                for mb in dropped:
                    tag = u64(mb.number + 1)
                    for acc in mb.diff.accounts:
                        txn.delete(acc.address + tag, db=self._acct_hist)
                        txn.delete(acc.address + tag, db=self._acct_wipe)
                        for slot, _ in acc.storage:
                            txn.delete(acc.address + slot.to_bytes(32, "big") + tag, db=self._slot_hist)
                    for tx_hash in mb.tx_hashes:
                        txn.delete(tx_hash, db=self._tx_index)
                    txn.delete(u64(mb.number), db=self._mini)
                cursor = txn.cursor(db=self._blocks)
                later = (
                    [bytes(k) for k, _ in cursor.iternext()]
                    if cursor.set_range(u64(block.number + 1))
                    else []
                )
                for key in later:
                    old_hash = txn.get(key, db=self._canon)
                    if old_hash is not None:
                        txn.delete(bytes(old_hash), db=self._block_hash)
                    txn.delete(key, db=self._canon)
                    txn.delete(key, db=self._blocks)
                txn.put(b"rollbacks", u64(count), db=self._meta)
        except lmdb.Error as exc:
            raise StorageError(f"rollback write failed: {exc}") from None
        return StateDiff(tuple(inverse))

    def _restore(
        self, txn: lmdb.Transaction, address: bytes, slots: set[int], wiped: bool, seq: int
    ) -> AccountDiff:
        """Put one account back as it was at history ``seq`` (inside the rollback's txn)."""
        record = self.account_at(address, seq)
        current: set[int] = set()
        if wiped or record is None:
            cursor = txn.cursor(db=self._storage)
            if cursor.set_range(address):
                while cursor.key()[:20] == address:
                    current.add(int.from_bytes(cursor.key()[20:], "big"))
                    if not cursor.delete():
                        break
        if record is None:
            txn.delete(address, db=self._accounts)
            return AccountDiff(address, 0, 0, EMPTY_CODE_HASH, None, (), True)
        txn.put(address, fastrlp.encode([record.nonce, record.balance, record.code_hash]), db=self._accounts)
        if wiped:  # every slot it had at seq comes back
            slots = slots | current | self._slots_ever(txn, address)
        values = {slot: self.storage_at(address, slot, seq) for slot in slots | current}
        for slot, value in values.items():
            key = address + slot.to_bytes(32, "big")
            if value:
                txn.put(key, value.to_bytes((value.bit_length() + 7) // 8, "big"), db=self._storage)
            else:
                txn.delete(key, db=self._storage)
        code = self.get_code_by_hash(record.code_hash) if record.code_hash != EMPTY_CODE_HASH else None
        storage = tuple(sorted(values.items()))
        return AccountDiff(address, record.nonce, record.balance, record.code_hash, code, storage, False)

    def _slots_ever(self, txn: lmdb.Transaction, address: bytes) -> set[int]:
        out: set[int] = set()
        cursor = txn.cursor(db=self._slot_hist)
        if cursor.set_range(address):
            for key, _ in cursor:
                if key[:20] != address:
                    break
                out.add(int.from_bytes(key[20:52], "big"))
        return out

    # -- reads ------------------------------------------------------------------------------
    def head_mini_block_number(self) -> int | None:
        """The newest indexed mini-block's number, or ``None``."""
        with self._env.begin(db=self._mini) as txn:
            cursor = txn.cursor()
            return _U64.unpack(cursor.key())[0] if cursor.last() else None

    def head_block_number(self) -> int | None:
        """The newest indexed EVM block's number, or ``None``."""
        with self._env.begin(db=self._blocks) as txn:
            cursor = txn.cursor()
            return _U64.unpack(cursor.key())[0] if cursor.last() else None

    def get_mini_block(self, number: int) -> MiniBlock | None:
        """An indexed mini-block, or ``None``."""
        with self._env.begin(db=self._mini) as txn:
            data = txn.get(u64(number))
            return decode_mini_block(bytes(data)) if data is not None else None

    def iter_mini_blocks(self, start: int, stop: int) -> Iterator[MiniBlock]:
        """Mini-blocks ``start <= n <= stop`` in order."""
        with self._env.begin(db=self._mini) as txn:
            cursor = txn.cursor()
            if not cursor.set_range(u64(start)):
                return
            for key, value in cursor:
                if _U64.unpack(key)[0] > stop:
                    break
                yield decode_mini_block(bytes(value))

    def get_block(self, number: int) -> EvmBlock | None:
        """An indexed EVM block, or ``None``."""
        with self._env.begin(db=self._blocks) as txn:
            data = txn.get(u64(number))
            return decode_evm_block(bytes(data)) if data is not None else None

    def get_block_hash(self, number: int) -> bytes | None:
        """The canonical hash of block ``number``, or ``None``."""
        with self._env.begin(db=self._canon) as txn:
            data = txn.get(u64(number))
            return bytes(data) if data is not None else None

    def get_block_number_by_hash(self, block_hash: bytes) -> int | None:
        """The number of the block with this hash, or ``None``."""
        with self._env.begin(db=self._block_hash) as txn:
            data = txn.get(block_hash)
            return _U64.unpack(data)[0] if data is not None else None

    def get_tx_location(self, tx_hash: bytes) -> TxLocation | None:
        """Where an included transaction is, or ``None``."""
        with self._env.begin(db=self._tx_index) as txn:
            data = txn.get(tx_hash)
            return decode_location(bytes(data)) if data is not None else None

    # -- history ----------------------------------------------------------------------------
    def _latest_at(self, db: object, prefix: bytes, seq: int) -> tuple[int, bytes] | None:
        """The newest (seq, value) under ``prefix`` with seq <= ``seq``."""
        with self._env.begin(db=db) as txn:  # type: ignore[call-overload]
            cursor = txn.cursor()
            found = cursor.prev() if cursor.set_range(prefix + u64(seq + 1)) else cursor.last()
            if not found:
                return None
            key = bytes(cursor.key())
            if len(key) != len(prefix) + 8 or key[: len(prefix)] != prefix:
                return None
            return _U64.unpack(key[-8:])[0], bytes(cursor.value())

    def addresses_ever(self) -> Iterator[bytes]:
        """Every address the account history names (each once, ascending), existing now or not."""
        with self._env.begin(db=self._acct_hist) as txn:
            cursor = txn.cursor()
            found = cursor.first()
            while found:
                address = bytes(cursor.key())[:-8]
                yield address
                found = cursor.set_range(address + b"\xff" * 8)  # past its last history entry

    def account_at(self, address: bytes, seq: int) -> AccountRecord | None:
        """An account as of history position ``seq``, or ``None`` if it did not exist."""
        found = self._latest_at(self._acct_hist, address, seq)
        if found is None or not found[1]:
            return None
        nonce, balance, code_hash = fastrlp.decode(found[1])
        return AccountRecord(int.from_bytes(nonce, "big"), int.from_bytes(balance, "big"), bytes(code_hash))

    def storage_at(self, address: bytes, slot: int, seq: int) -> int:
        """A slot's value as of history position ``seq``."""
        written = self._latest_at(self._slot_hist, address + slot.to_bytes(32, "big"), seq)
        wiped = self._latest_at(self._acct_wipe, address, seq)
        if written is None or (wiped is not None and wiped[0] > written[0]):
            return 0
        return int.from_bytes(written[1], "big")

    def storage_items_at(self, address: bytes, seq: int) -> dict[int, int]:
        """Every non-zero slot of the account as of history position ``seq``."""
        with self._env.begin() as txn:
            slots = self._slots_ever(txn, address)
        values = {slot: self.storage_at(address, slot, seq) for slot in slots}
        return {slot: value for slot, value in values.items() if value}

    def get_code_by_hash(self, code_hash: bytes) -> bytes:
        """The code with this hash (empty when unknown)."""
        with self._env.begin(db=self._code) as txn:
            data = txn.get(code_hash)
            return bytes(data) if data is not None else b""

    def load_state(self) -> WorldState:
        """Read the whole flat state into memory (at start-up)."""
        world = WorldState()
        with self._env.begin() as txn:
            for key, value in txn.cursor(db=self._accounts):
                nonce, balance, code_hash = fastrlp.decode(bytes(value))
                world.accounts[bytes(key)] = AccountRecord(
                    int.from_bytes(nonce, "big"), int.from_bytes(balance, "big"), bytes(code_hash)
                )
            for key, value in txn.cursor(db=self._storage):
                k = bytes(key)
                world.storage.setdefault(k[:20], {})[int.from_bytes(k[20:], "big")] = int.from_bytes(
                    value, "big"
                )
            for key, value in txn.cursor(db=self._code):
                world.code[bytes(key)] = bytes(value)
        return world
