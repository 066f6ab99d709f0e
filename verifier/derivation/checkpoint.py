"""Where derivation resumes, and what it found: the checkpoint record of the verifier's state store.

:class:`DerivationState` is the derivation after one L1 block: the last L1 block processed, the
derived L2 head (and the recent hashes BLOCKHASH needs), the batcher address in force, the
channel bank, the output proposals waiting for their L2 block, the portal deposits waiting for
theirs, the finalized L2 block and the counts. The checkpoint holds the current state, the
states after the last few L1 blocks (an L1 reorg rolls back to the newest one still on the
canonical chain), every verdict, and the L1 head as last seen (for ``verifier status``). It is
the state store's checkpoint record (``verifier/store.py``), written in one durable transaction
with the flat state as of its L2 head, after the derived index (blocks and undo records) is
synced: a restarted verifier finds the state its checkpoint describes, never another.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmdb

from verifier.derivation.bank import BankedFrame, ChannelBank, OpenChannel
from verifier.derivation.blocks import L2Head
from verifier.derivation.deposits import L1Deposit
from verifier.derivation.verdict import DerivationVerdict
from verifier.header import EMPTY_TRIE_ROOT
from verifier.store import EarlierDataDir, StateStore, state_dir

FORMAT_VERSION = 2


@dataclass(frozen=True, slots=True)
class PendingOutput:
    """An output root proposed on L1 for an L2 block not derived yet."""

    l2_block: int
    output_root: bytes
    index: int
    l1_block: int
    l1_tx: bytes


@dataclass(frozen=True, slots=True)
class Counts:
    """What derivation has done so far."""

    blocks: int = 0
    txs: int = 0
    batches: int = 0
    outputs_checked: int = 0
    dropped: int = 0
    """Frames, batches and channels dropped by the OP rules (duplicates, stale, timed out)."""


@dataclass(frozen=True, slots=True)
class DerivationState:
    """The derivation after L1 block ``l1_number`` (see the module docstring)."""

    l1_number: int
    l1_hash: bytes
    head: L2Head
    recent_hashes: tuple[bytes, ...]
    batcher: bytes
    bank: ChannelBank
    outputs: tuple[PendingOutput, ...] = ()
    finalized: int = 0
    counts: Counts = field(default_factory=Counts)
    deposits: tuple[L1Deposit, ...] = ()
    """Portal deposits on L1 not yet in the derived chain, in L1 order."""


@dataclass(frozen=True, slots=True)
class DerivationCheckpoint:
    """The file's content."""

    deployment: str
    state: DerivationState
    marks: tuple[DerivationState, ...] = ()
    """States after recent L1 blocks, oldest first (without their recent hashes), for reorgs."""
    verdicts: tuple[DerivationVerdict, ...] = ()
    l1_head: int = 0
    l1_finalized: int = -1
    updated_at: float = 0.0


def _h(b: bytes) -> str:
    return "0x" + b.hex()


def _b(s: str) -> bytes:
    return bytes.fromhex(s[2:]) if s else b""


def _head_json(h: L2Head) -> dict[str, Any]:
    return {
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
    }


def _head(d: dict[str, Any]) -> L2Head:
    return L2Head(
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


def _state_json(s: DerivationState, with_hashes: bool) -> dict[str, Any]:
    return {
        "l1_number": s.l1_number,
        "l1_hash": _h(s.l1_hash),
        "head": _head_json(s.head),
        "recent_hashes": [_h(h) for h in s.recent_hashes] if with_hashes else [],
        "batcher": _h(s.batcher),
        "bank": {
            "timeout": s.bank.timeout,
            "channels": [
                {
                    "id": _h(c.channel_id),
                    "opened_at": c.opened_at,
                    "frames": [[f.number, _h(f.data), f.is_last, _h(f.l1_tx), f.l1_block] for f in c.frames],
                }
                for c in s.bank.channels
            ],
        },
        "outputs": [[o.l2_block, _h(o.output_root), o.index, o.l1_block, _h(o.l1_tx)] for o in s.outputs],
        "finalized": s.finalized,
        "deposits": [
            [d.l1_block, _h(d.l1_tx), d.log_index, _h(d.source_hash), _h(d.tx_hash)] for d in s.deposits
        ],
        "counts": [
            s.counts.blocks,
            s.counts.txs,
            s.counts.batches,
            s.counts.outputs_checked,
            s.counts.dropped,
        ],
    }


def _state(d: dict[str, Any]) -> DerivationState:
    bank = d["bank"]
    return DerivationState(
        l1_number=int(d["l1_number"]),
        l1_hash=_b(d["l1_hash"]),
        head=_head(d["head"]),
        recent_hashes=tuple(_b(h) for h in d["recent_hashes"]),
        batcher=_b(d["batcher"]),
        bank=ChannelBank(
            int(bank["timeout"]),
            tuple(
                OpenChannel(
                    _b(c["id"]),
                    int(c["opened_at"]),
                    tuple(
                        BankedFrame(int(n), _b(data), bool(last), _b(tx), int(blk))
                        for n, data, last, tx, blk in c["frames"]
                    ),
                )
                for c in bank["channels"]
            ),
        ),
        outputs=tuple(
            PendingOutput(int(n), _b(r), int(i), int(blk), _b(tx)) for n, r, i, blk, tx in d["outputs"]
        ),
        finalized=int(d["finalized"]),
        counts=Counts(*(int(c) for c in d["counts"])),
        deposits=tuple(
            L1Deposit(int(blk), _b(tx), int(i), _b(src), _b(h))
            for blk, tx, i, src, h in d.get("deposits", ())
        ),
    )


def is_derivation(record: bytes) -> bool:
    """Whether a state store's checkpoint record is a derivation verifier's."""
    try:
        d = json.loads(record)
    except ValueError:
        return False
    return isinstance(d, dict) and d.get("mode") == "derive"


def decode_derivation(record: bytes) -> DerivationCheckpoint:
    """The checkpoint a state store's record holds (see :func:`is_derivation`)."""
    d = json.loads(record)
    return DerivationCheckpoint(
        deployment=str(d["deployment"]),
        state=_state(d["state"]),
        marks=tuple(_state(m) for m in d["marks"]),
        verdicts=tuple(DerivationVerdict.from_dict(v) for v in d["verdicts"]),
        l1_head=int(d.get("l1_head", 0)),
        l1_finalized=int(d.get("l1_finalized", -1)),
        updated_at=float(d.get("updated_at", 0.0)),
    )


def encode_derivation(checkpoint: DerivationCheckpoint) -> bytes:
    """The checkpoint as the state store's record (committed with the state it describes)."""
    c = checkpoint
    data = {
        "version": FORMAT_VERSION,
        "mode": "derive",
        "deployment": c.deployment,
        "state": _state_json(c.state, with_hashes=True),
        "marks": [_state_json(m, with_hashes=False) for m in c.marks],
        "verdicts": [v.as_dict() for v in c.verdicts],
        "l1_head": c.l1_head,
        "l1_finalized": c.l1_finalized,
        "updated_at": c.updated_at,
    }
    return json.dumps(data).encode()


def load_derivation(data_dir: Path) -> DerivationCheckpoint | None:
    """The checkpoint of ``data_dir``, read without disturbing a verifier running on it, or
    ``None`` when derivation never ran there."""
    path = state_dir(data_dir)
    if not path.exists():
        return None
    try:
        store = StateStore(path, readonly=True)
    except (EarlierDataDir, lmdb.Error):
        return None
    try:
        record = store.checkpoint_record()
    finally:
        store.close()
    if record is None or not is_derivation(record):
        return None
    return decode_derivation(record)


def status_of(checkpoint: DerivationCheckpoint, now: float) -> dict[str, Any]:
    """The status dict of a derivation verifier (``GET /status``, ``verifier status``)."""
    s = checkpoint.state
    return {
        "mode": "derive",
        "height": s.head.number,
        "blockHash": _h(s.head.hash),
        "stateRoot": _h(s.head.state_root),
        "safeHeight": s.head.number,
        "finalizedHeight": s.finalized,
        "l1Height": s.l1_number,
        "l1Head": checkpoint.l1_head,
        "l1Finalized": checkpoint.l1_finalized,
        "derivedBlocks": s.counts.blocks,
        "derivedTxs": s.counts.txs,
        "batches": s.counts.batches,
        "outputsChecked": s.counts.outputs_checked,
        "dropped": s.counts.dropped,
        "pendingOutputs": len(s.outputs),
        "pendingDeposits": len(s.deposits),
        "ageS": round(max(0.0, now - checkpoint.updated_at), 3) if checkpoint.updated_at else None,
        "verdict": "mismatch" if checkpoint.verdicts else "ok",
        "mismatches": [v.as_dict() for v in checkpoint.verdicts],
    }
