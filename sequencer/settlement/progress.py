"""The batcher's durable progress: which L2 blocks went out in which L1 transactions.

``DATA_DIR/settlement/batcher.json`` (replaced atomically: written, fsync'd, renamed, directory
fsync'd) holds the next L2 block to batch, the next L1 nonce, the last L1 origin given, and every
channel not yet on finalized L1: its L2 block range and, per frame, the L1 nonce and every signed
version of its transaction (fee bumps), and where it was included. A channel's transactions are
signed and recorded **before** any is broadcast, so a restart re-sends exactly those (same nonces,
same bytes) and never batches a block twice; an L2 block is on L1 at most once because each nonce
is. Once a channel's L1 blocks are finalized it moves to ``posted.jsonl`` (one JSON line per
channel, appended and fsync'd: the audit trail) and ``finalized_block`` advances past it.

The progress names its deployment (L1 chain id, inbox, batcher): a data dir settled on one
deployment refuses another.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sequencer.errors import ConfigError, StorageError

SETTLEMENT_DIR = "settlement"
PROGRESS_FILE = "batcher.json"
POSTED_FILE = "posted.jsonl"
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Origin:
    """An L1 origin (epoch): the L1 block an L2 block was batched against."""

    number: int
    hash: bytes
    timestamp: int


@dataclass(frozen=True, slots=True)
class Inclusion:
    """Where an L1 transaction was included."""

    tx_hash: bytes
    block_number: int
    block_hash: bytes


@dataclass(frozen=True, slots=True)
class FrameTx:
    """One batcher transaction (one frame): its nonce and every signed version of it."""

    nonce: int
    frame_number: int
    raws: tuple[bytes, ...]
    """Every signed version, oldest first (fee bumps re-sign the same calldata at the same nonce)."""
    tx_hashes: tuple[bytes, ...]
    max_fee: int
    """The newest version's fee cap and tip (the next bump starts from them)."""
    max_tip: int
    sent_at: float
    included: Inclusion | None = None
    calldata_bytes: int = 0


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    """One channel: the L2 blocks it carries and the transactions carrying it."""

    channel_id: bytes
    first_block: int
    last_block: int
    last_origin: Origin
    txs: tuple[FrameTx, ...]
    l2_txs: int = 0
    payload_bytes: int = 0
    compressed_bytes: int = 0

    @property
    def complete(self) -> bool:
        """Every frame is included on L1 (as last seen)."""
        return all(t.included is not None for t in self.txs)

    @property
    def included_at(self) -> int | None:
        """The L1 block that completed the channel, when it is complete."""
        if not self.complete:
            return None
        return max(t.included.block_number for t in self.txs if t.included is not None)


@dataclass(frozen=True, slots=True)
class BatcherProgress:
    """Everything the batcher must not forget."""

    deployment: str
    next_block: int = 1
    next_nonce: int | None = None
    last_origin: Origin | None = None
    finalized_block: int = 0
    """The newest L2 block whose channel is on finalized L1 (its records moved to posted.jsonl)."""
    channels: tuple[ChannelRecord, ...] = field(default_factory=tuple)

    def safe_block(self) -> int:
        """The newest L2 block that it and every block before it are in channels included on L1."""
        safe = self.finalized_block
        for ch in self.channels:
            if not ch.complete:
                break
            safe = ch.last_block
        return safe

    def finalized_at(self, l1_finalized: int) -> int:
        """The newest L2 block fully in channels included at or below L1 block ``l1_finalized``."""
        done = self.finalized_block
        for ch in self.channels:
            at = ch.included_at
            if at is None or at > l1_finalized:
                break
            done = ch.last_block
        return done


def deployment_id(l1_chain_id: int, inbox: bytes, batcher: bytes) -> str:
    """What names a deployment in the progress file."""
    return f"{l1_chain_id}:0x{inbox.hex()}:0x{batcher.hex()}"


def _h(b: bytes) -> str:
    return "0x" + b.hex()


def _b(s: str) -> bytes:
    return bytes.fromhex(s[2:])


def _origin_json(o: Origin | None) -> dict[str, Any] | None:
    return None if o is None else {"number": o.number, "hash": _h(o.hash), "timestamp": o.timestamp}


def _origin(d: dict[str, Any] | None) -> Origin | None:
    return None if d is None else Origin(int(d["number"]), _b(d["hash"]), int(d["timestamp"]))


def _tx_json(t: FrameTx, raws: bool) -> dict[str, Any]:
    inc = t.included
    return {
        "nonce": t.nonce,
        "frame": t.frame_number,
        "raws": [_h(r) for r in t.raws] if raws else [],
        "hashes": [_h(h) for h in t.tx_hashes],
        "max_fee": t.max_fee,
        "max_tip": t.max_tip,
        "sent_at": t.sent_at,
        "calldata_bytes": t.calldata_bytes,
        "included": None
        if inc is None
        else {"tx": _h(inc.tx_hash), "block": inc.block_number, "block_hash": _h(inc.block_hash)},
    }


def _tx(d: dict[str, Any]) -> FrameTx:
    inc = d.get("included")
    return FrameTx(
        nonce=int(d["nonce"]),
        frame_number=int(d["frame"]),
        raws=tuple(_b(r) for r in d["raws"]),
        tx_hashes=tuple(_b(h) for h in d["hashes"]),
        max_fee=int(d["max_fee"]),
        max_tip=int(d["max_tip"]),
        sent_at=float(d["sent_at"]),
        included=None if inc is None else Inclusion(_b(inc["tx"]), int(inc["block"]), _b(inc["block_hash"])),
        calldata_bytes=int(d.get("calldata_bytes", 0)),
    )


def channel_json(ch: ChannelRecord, *, raws: bool = True) -> dict[str, Any]:
    """A channel record as JSON (``posted.jsonl`` gets it without the signed transactions)."""
    return {
        "channel": _h(ch.channel_id),
        "first_block": ch.first_block,
        "last_block": ch.last_block,
        "last_origin": _origin_json(ch.last_origin),
        "l2_txs": ch.l2_txs,
        "payload_bytes": ch.payload_bytes,
        "compressed_bytes": ch.compressed_bytes,
        "txs": [_tx_json(t, raws) for t in ch.txs],
    }


def _channel(d: dict[str, Any]) -> ChannelRecord:
    origin = _origin(d["last_origin"])
    assert origin is not None
    return ChannelRecord(
        channel_id=_b(d["channel"]),
        first_block=int(d["first_block"]),
        last_block=int(d["last_block"]),
        last_origin=origin,
        txs=tuple(_tx(t) for t in d["txs"]),
        l2_txs=int(d.get("l2_txs", 0)),
        payload_bytes=int(d.get("payload_bytes", 0)),
        compressed_bytes=int(d.get("compressed_bytes", 0)),
    )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ProgressStore:
    """The progress file and the posted log of one data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / SETTLEMENT_DIR
        self.path = self.dir / PROGRESS_FILE
        self.posted_path = self.dir / POSTED_FILE

    def load(self, deployment: str) -> BatcherProgress:
        """The recorded progress (a fresh one for a data dir that never settled)."""
        if not self.path.exists():
            return BatcherProgress(deployment)
        try:
            data = json.loads(self.path.read_text())
            recorded = str(data["deployment"])
            if recorded != deployment:
                raise ConfigError(
                    f"{self.path} records settlement on another deployment ({recorded}); this settlement "
                    f"file is {deployment}. Move {self.dir} away to settle this data dir's chain from scratch"
                )
            return BatcherProgress(
                deployment=recorded,
                next_block=int(data["next_block"]),
                next_nonce=None if data.get("next_nonce") is None else int(data["next_nonce"]),
                last_origin=_origin(data.get("last_origin")),
                finalized_block=int(data.get("finalized_block", 0)),
                channels=tuple(_channel(c) for c in data.get("channels", ())),
            )
        except (KeyError, ValueError, TypeError, AssertionError) as exc:
            raise StorageError(f"{self.path} is damaged: {type(exc).__name__}: {exc}") from None

    def save(self, progress: BatcherProgress) -> None:
        """Replace the progress file atomically and durably."""
        self.dir.mkdir(parents=True, exist_ok=True)
        data = {
            "version": FORMAT_VERSION,
            "deployment": progress.deployment,
            "next_block": progress.next_block,
            "next_nonce": progress.next_nonce,
            "last_origin": _origin_json(progress.last_origin),
            "finalized_block": progress.finalized_block,
            "channels": [channel_json(c) for c in progress.channels],
        }
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write(json.dumps(data))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.dir)

    def append_posted(self, channels: list[ChannelRecord]) -> None:
        """Append finalized channels to the posted log (fsync'd before the progress drops them)."""
        if not channels:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.posted_path, "a") as f:
            for ch in channels:
                f.write(json.dumps(channel_json(ch, raws=False)) + "\n")
            f.flush()
            os.fsync(f.fileno())
