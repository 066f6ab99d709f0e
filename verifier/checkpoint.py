"""The checkpoint: the verifier's on-disk record of where it can resume, and what it found.

A checkpoint only ever names an **EVM block boundary**: the position right after a verified
``genesis`` or ``block`` message, with that boundary's state root (its trie nodes are in the
verifier's store), the recent block hashes BLOCKHASH needs, the hash of the block's last
mini-block, and the verified counts as of that position. Mini-blocks of a block not yet
verified are never part of it: a restarted verifier opens that block afresh from the boundary
and re-verifies its mini-blocks. The checkpoint also holds every verdict recorded so far (a
verdict found after the boundary is recorded, while the resume position stays at the boundary),
the mode and the sequencer's head as last seen (for ``verifier status``).

It is separate from the in-memory cursor (``verifier/replay.py``), which goes on past a
mismatch in ``--on-mismatch continue`` mode. The file (``checkpoint.json``) is replaced
atomically: written to a temporary file, fsync'd, renamed, and the directory fsync'd. A data
dir written by an earlier version (``progress.json``, flat fields) is read when there is no
``checkpoint.json``; it is never written again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verifier.verdict import Verdict

CHECKPOINT_FILE = "checkpoint.json"
LEGACY_PROGRESS_FILE = "progress.json"
FORMAT_VERSION = 1
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
    """The hash of the block's last mini-block (the next mini-block's parent); ``None``: unknown."""
    counts: Counts = field(default_factory=Counts)

    @property
    def started(self) -> bool:
        """Whether genesis has been verified (there is a state)."""
        return self.block_number >= 0


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


def load_checkpoint(data_dir: Path) -> Checkpoint:
    """The checkpoint of ``data_dir`` (an earlier version's ``progress.json`` if that is all there
    is; the start when there is neither)."""
    for name in (CHECKPOINT_FILE, LEGACY_PROGRESS_FILE):
        path = data_dir / name
        if path.exists():
            return _from_json(json.loads(path.read_text()))
    return Checkpoint()


def save_checkpoint(data_dir: Path, checkpoint: Checkpoint) -> None:
    """Replace the checkpoint of ``data_dir`` atomically and durably."""
    path = data_dir / CHECKPOINT_FILE
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps(_to_json(checkpoint)))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    directory = os.open(data_dir, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _hex(b: bytes) -> str:
    return "0x" + b.hex() if b else ""


def _bytes(text: str | None) -> bytes:
    return bytes.fromhex(text[2:]) if text else b""


def _to_json(c: Checkpoint) -> dict[str, Any]:
    b = c.boundary
    return {
        "version": FORMAT_VERSION,
        "next_seq": b.next_seq,
        "block_number": b.block_number,
        "block_hash": _hex(b.block_hash),
        "state_root": _hex(b.state_root),
        "recent_hashes": [_hex(h) for h in b.recent_hashes],
        "last_mini_hash": _hex(b.last_mini_hash) if b.last_mini_hash else None,
        "verified_blocks": b.counts.blocks,
        "verified_mini_blocks": b.counts.mini_blocks,
        "verified_txs": b.counts.txs,
        "last_mini_block_us": b.counts.last_mini_block_us,
        "mode": c.mode,
        "head_seq": c.head_seq,
        "head_block": c.head_block,
        "mismatches": [v.as_dict() for v in c.verdicts],
        "updated_at": c.updated_at,
    }


def _from_json(data: Mapping[str, Any]) -> Checkpoint:
    """Both formats: this one, and the earlier flat ``progress.json`` (same keys, fewer of them)."""
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
    )
    return Checkpoint(
        boundary=boundary,
        verdicts=tuple(Verdict.from_dict(v) for v in data.get("mismatches", ())),
        mode=data.get("mode"),
        head_seq=int(data.get("head_seq", 0)),
        head_block=int(data.get("head_block", 0)),
        updated_at=float(data.get("updated_at", 0.0)),
    )
