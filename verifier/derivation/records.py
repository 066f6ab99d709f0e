"""What was derived, block by block: ``derived.lmdb`` in the verifier's data dir.

One record per derived L2 block (its :class:`~verifier.derivation.blocks.L2Head`, plus the L1
transaction and block its batch came in), keyed by number, and beside it the block's **undo
record**: the values the accounts and slots it wrote held before it
(:meth:`verifier.state.FlatState.undo_record`). Checking an output root reads the first; rolling
the flat state back after an L1 reorg applies the second, newest block first. A block derived
again (after a restart or a reorg) overwrites both. :meth:`DerivedIndex.sync` makes them durable
before the state store's checkpoint names a block; undo records older than the reorg window are
pruned (:meth:`DerivedIndex.prune_undo`).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

import lmdb

from sequencer import fastrlp
from verifier.derivation.blocks import L2Head
from verifier.header import EMPTY_TRIE_ROOT
from verifier.state import Account, Undo

INDEX_DIR = "derived.lmdb"
MAP_SIZE = 64 * 1024**3


@dataclass(frozen=True, slots=True)
class DerivedRecord:
    """A derived L2 block and where on L1 its batch was."""

    head: L2Head
    l1_block: int
    l1_tx: bytes


def _key(number: int) -> bytes:
    return number.to_bytes(8, "big")


def _h(b: bytes) -> str:
    return "0x" + b.hex()


def _b(s: str) -> bytes:
    return bytes.fromhex(s[2:])


def _int(b: bytes) -> int:
    return int.from_bytes(b, "big")


def encode_undo(undo: Undo) -> bytes:
    """An undo record's bytes: ``rlp([[address, exists, nonce, balance, codeHash]...,
    [[address, slot, value]...]])``."""
    accounts = [
        [a, 0, 0, 0, b""] if acc is None else [a, 1, acc.nonce, acc.balance, acc.code_hash]
        for a, acc in undo.accounts.items()
    ]
    slots = [[a, slot, value] for (a, slot), value in undo.slots.items()]
    return fastrlp.encode([accounts, slots])


def decode_undo(data: bytes) -> Undo:
    """The undo record ``data`` holds."""
    accounts, slots = fastrlp.decode(data)
    return Undo(
        {
            bytes(a): Account(_int(n), _int(bal), bytes(code)) if _int(exists) else None
            for a, exists, n, bal, code in accounts
        },
        {(bytes(a), _int(slot)): _int(value) for a, slot, value in slots},
    )


class DerivedIndex:
    """Derived blocks and their undo records, by number."""

    def __init__(self, data_dir: Path) -> None:
        path = data_dir / INDEX_DIR
        path.mkdir(parents=True, exist_ok=True)
        # durability comes from sync() before every checkpoint, not from each write
        self._env = lmdb.open(str(path), map_size=MAP_SIZE, max_dbs=2, sync=False, metasync=False)
        self._blocks = self._env.open_db(b"blocks")
        self._undo = self._env.open_db(b"undo")

    def put(self, record: DerivedRecord, undo: Undo | None = None) -> None:
        """Record a derived block (and what undoes it, for a block that is not genesis)."""
        h = record.head
        value = {
            "number": h.number,
            "hash": _h(h.hash),
            "state_root": _h(h.state_root),
            "timestamp": h.timestamp,
            "base_fee": h.base_fee,
            "gas_used": h.gas_used,
            "gas_limit": h.gas_limit,
            "epoch": h.epoch_number,
            "txs": h.txs,
            "mp_root": _h(h.message_passer_root),
            "l1_block": record.l1_block,
            "l1_tx": _h(record.l1_tx),
        }
        with self._env.begin(write=True) as txn:
            txn.put(_key(h.number), json.dumps(value).encode(), db=self._blocks)
            if undo is not None:
                txn.put(_key(h.number), encode_undo(undo), db=self._undo)

    def get(self, number: int) -> DerivedRecord | None:
        """The record of block ``number``, if derived."""
        with self._env.begin(db=self._blocks) as txn:
            raw = txn.get(_key(number))
        if raw is None:
            return None
        d = json.loads(bytes(raw))
        head = L2Head(
            int(d["number"]),
            _b(d["hash"]),
            _b(d["state_root"]),
            int(d["timestamp"]),
            int(d["base_fee"]),
            int(d["gas_used"]),
            int(d["gas_limit"]),
            int(d["epoch"]),
            int(d.get("txs", 0)),
            _b(d["mp_root"]) if "mp_root" in d else EMPTY_TRIE_ROOT,
        )
        return DerivedRecord(head, int(d["l1_block"]), _b(d["l1_tx"]) if d["l1_tx"] != "0x" else b"")

    def undo(self, number: int) -> Undo | None:
        """What undoes block ``number``, if it is still kept."""
        with self._env.begin(db=self._undo) as txn:
            raw = txn.get(_key(number))
        return None if raw is None else decode_undo(bytes(raw))

    def prune_undo(self, below: int) -> None:
        """Drop the undo records of the blocks below ``below`` (older than any rollback needs)."""
        with self._env.begin(write=True, db=self._undo) as txn:
            cursor = txn.cursor()
            while cursor.first() and _int(cursor.key()) < below:
                cursor.delete()

    def sync(self) -> None:
        """Make every record durable."""
        self._env.sync(True)

    def close(self) -> None:
        """Close the index."""
        with contextlib.suppress(lmdb.Error):
            self._env.close()
