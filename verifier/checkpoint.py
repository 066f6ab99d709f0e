"""The checkpoint: the verifier's record of where it can resume, and what it found.

A checkpoint only ever names an **EVM block boundary**: the position right after a verified
``genesis`` or ``block`` message, with what the rules need of that block (hash, state root,
timestamp, base fee, gas), the recent block hashes BLOCKHASH needs, the hash of its last
mini-block and the next mini-block number (the next mini-block's parent and number), and the
verified counts. Mini-blocks of a block not yet verified are never part of it: a restarted
verifier opens that block afresh from the boundary and re-verifies its mini-blocks. The
checkpoint also holds every verdict recorded so far (a verdict found after the boundary is
recorded, while the resume position stays at the boundary), every signing-key rotation seen,
the mode and the sequencer's head as last seen (for ``verifier status``).

It lives in the state store, written in the same transaction as the state it names
(``verifier/store.py``). Earlier verifiers wrote ``checkpoint.json`` / ``progress.json`` in the
data dir; those are still read (for ``verifier status``), never written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verifier.rules import Parent
from verifier.verdict import Verdict

LEGACY_FILES = ("checkpoint.json", "progress.json")
FORMAT_VERSION = 2
MAX_RECENT_HASHES = 256


@dataclass(frozen=True, slots=True)
class Counts:
    """What has been verified: EVM blocks, mini-blocks, transactions re-executed, and the
    sealing time of the newest verified mini-block (microseconds since the epoch; 0: none)."""

    blocks: int = 0
    mini_blocks: int = 0
    txs: int = 0
    last_mini_block_us: int = 0


NOTHING_YET = Counts()


@dataclass(frozen=True, slots=True)
class Rotation:
    """A signing key taking effect: from EVM block ``block`` on, ``signer`` signs."""

    block: int
    signer: bytes


@dataclass(frozen=True, slots=True)
class Boundary:
    """An EVM block boundary: the position right after a verified ``genesis`` or ``block``.

    The default is the start: nothing verified, genesis (position 0) next.
    """

    next_seq: int = 0
    block_number: int = -1
    block_hash: bytes = b""
    state_root: bytes = b""
    recent_hashes: tuple[bytes, ...] = ()
    """Newest first, at most :data:`MAX_RECENT_HASHES` (for BLOCKHASH)."""
    last_mini_hash: bytes | None = None
    """The next mini-block's parent: the last verified mini-block's hash (genesis's before any)."""
    counts: Counts = field(default_factory=Counts)
    next_mini_block: int = 0
    timestamp: int = 0
    base_fee: int = 0
    gas_used: int = 0
    gas_limit: int = 0

    @property
    def started(self) -> bool:
        """Whether genesis has been verified (there is a state)."""
        return self.block_number >= 0

    @property
    def parent(self) -> Parent:
        """The verified block, as the rules see the next block's parent."""
        return Parent(
            self.block_number, self.block_hash, self.timestamp, self.base_fee, self.gas_used, self.gas_limit
        )


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The on-disk record: a resume boundary, the recorded verdicts, and what status reports."""

    boundary: Boundary = field(default_factory=Boundary)
    verdicts: tuple[Verdict, ...] = ()
    mode: str | None = None
    """``shard I/N`` or ``replica``, as the process that wrote it ran; ``None``: not recorded."""
    head_seq: int = 0
    head_block: int = 0
    updated_at: float = 0.0
    rotations: tuple[Rotation, ...] = ()


def _hex(b: bytes) -> str:
    return "0x" + b.hex() if b else ""


def _bytes(text: str | None) -> bytes:
    return bytes.fromhex(text[2:]) if text else b""


def encode_checkpoint(c: Checkpoint) -> bytes:
    """The checkpoint's record (JSON)."""
    b = c.boundary
    record = {
        "version": FORMAT_VERSION,
        "next_seq": b.next_seq,
        "block_number": b.block_number,
        "block_hash": _hex(b.block_hash),
        "state_root": _hex(b.state_root),
        "recent_hashes": [_hex(h) for h in b.recent_hashes],
        "last_mini_hash": _hex(b.last_mini_hash) if b.last_mini_hash else None,
        "next_mini_block": b.next_mini_block,
        "timestamp": b.timestamp,
        "base_fee": b.base_fee,
        "gas_used": b.gas_used,
        "gas_limit": b.gas_limit,
        "verified_blocks": b.counts.blocks,
        "verified_mini_blocks": b.counts.mini_blocks,
        "verified_txs": b.counts.txs,
        "last_mini_block_us": b.counts.last_mini_block_us,
        "mode": c.mode,
        "head_seq": c.head_seq,
        "head_block": c.head_block,
        "mismatches": [v.as_dict() for v in c.verdicts],
        "rotations": [{"block": r.block, "signer": _hex(r.signer)} for r in c.rotations],
        "updated_at": c.updated_at,
    }
    return json.dumps(record).encode()


def decode_checkpoint(data: bytes | str) -> Checkpoint:
    """The checkpoint a record holds (this format, or the flat JSON of earlier verifiers)."""
    return _from_json(json.loads(data))


def load_legacy_checkpoint(data_dir: Path) -> Checkpoint | None:
    """An earlier verifier's checkpoint file in ``data_dir``, if there is one."""
    for name in LEGACY_FILES:
        path = data_dir / name
        if path.exists():
            return decode_checkpoint(path.read_text())
    return None


def _from_json(data: Mapping[str, Any]) -> Checkpoint:
    last_mini = data.get("last_mini_hash")
    boundary = Boundary(
        next_seq=int(data.get("next_seq", 0)),
        block_number=int(data.get("block_number", -1)),
        block_hash=_bytes(data.get("block_hash")),
        state_root=_bytes(data.get("state_root")),
        recent_hashes=tuple(_bytes(h) for h in data.get("recent_hashes", ())),
        last_mini_hash=_bytes(last_mini) if last_mini else None,
        counts=Counts(
            int(data.get("verified_blocks", 0)),
            int(data.get("verified_mini_blocks", 0)),
            int(data.get("verified_txs", 0)),
            int(data.get("last_mini_block_us", 0)),
        ),
        next_mini_block=int(data.get("next_mini_block", 0)),
        timestamp=int(data.get("timestamp", 0)),
        base_fee=int(data.get("base_fee", 0)),
        gas_used=int(data.get("gas_used", 0)),
        gas_limit=int(data.get("gas_limit", 0)),
    )
    return Checkpoint(
        boundary=boundary,
        verdicts=tuple(Verdict.from_dict(v) for v in data.get("mismatches", ())),
        mode=data.get("mode"),
        head_seq=int(data.get("head_seq", 0)),
        head_block=int(data.get("head_block", 0)),
        updated_at=float(data.get("updated_at", 0.0)),
        rotations=tuple(Rotation(int(r["block"]), _bytes(r["signer"])) for r in data.get("rotations", ())),
    )
