"""What was derived, block by block: ``derived.lmdb`` in the verifier's data dir.

One record per derived L2 block (its :class:`~verifier.derivation.blocks.L2Head`, plus the L1
transaction and block its batch came in), keyed by number. Rolling back after an L1 reorg and
checking an output root read it; a block derived again (after a restart or a reorg) overwrites
its record. :meth:`DerivedIndex.sync` makes it durable before the checkpoint names a block.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from verifier.derivation.blocks import L2Head
from verifier.store import LmdbStore

INDEX_DIR = "derived.lmdb"


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


class DerivedIndex:
    """Derived blocks by number."""

    def __init__(self, data_dir: Path) -> None:
        self._store = LmdbStore(data_dir / INDEX_DIR)

    def put(self, record: DerivedRecord) -> None:
        """Record a derived block."""
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
            "l1_block": record.l1_block,
            "l1_tx": _h(record.l1_tx),
        }
        self._store.put(_key(h.number), json.dumps(value).encode())

    def get(self, number: int) -> DerivedRecord | None:
        """The record of block ``number``, if derived."""
        raw = self._store.get(_key(number))
        if raw is None:
            return None
        d = json.loads(raw)
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
        )
        return DerivedRecord(head, int(d["l1_block"]), _b(d["l1_tx"]) if d["l1_tx"] != "0x" else b"")

    def sync(self) -> None:
        """Make every record durable."""
        self._store.sync()

    def close(self) -> None:
        """Close the index."""
        self._store.close()
