"""The verifier's own storage: raw bytes in LMDB (no py-evm here), plus its progress record.

The py-evm adapter (``verifier/execution.py``) keeps its trie nodes here through a thin
``BaseDB`` wrapper. Trie nodes are content-addressed, so a crash between writing nodes and
writing progress only leaves unreferenced nodes behind; progress (JSON) is replaced atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import lmdb

STATE_DIR = "state.lmdb"
PROGRESS_FILE = "progress.json"
MAP_SIZE = 64 * 1024**3


class RawStore(Protocol):
    """Bytes to bytes: what the py-evm adapter needs from a store."""

    def get(self, key: bytes) -> bytes | None:
        """The value under ``key``, or ``None``."""
        ...

    def put(self, key: bytes, value: bytes) -> None:
        """Store ``value`` under ``key``."""
        ...

    def delete(self, key: bytes) -> bool:
        """Remove ``key``; whether it was there."""
        ...


class LmdbStore:
    """One LMDB environment (written without fsync; :meth:`sync` flushes it)."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._env = lmdb.open(str(path), map_size=MAP_SIZE, sync=False, metasync=False, readahead=False)

    def get(self, key: bytes) -> bytes | None:
        """The value under ``key``, or ``None``."""
        with self._env.begin() as txn:
            value = txn.get(key)
        return None if value is None else bytes(value)

    def put(self, key: bytes, value: bytes) -> None:
        """Store ``value`` under ``key``."""
        with self._env.begin(write=True) as txn:
            txn.put(key, value)

    def delete(self, key: bytes) -> bool:
        """Remove ``key``; whether it was there."""
        with self._env.begin(write=True) as txn:
            return bool(txn.delete(key))

    def sync(self) -> None:
        """Make everything written so far durable (fsync)."""
        self._env.sync(True)

    def close(self) -> None:
        """Flush and close the environment."""
        with contextlib.suppress(lmdb.Error):
            self._env.sync(True)
        self._env.close()


class MemoryStore:
    """A store in a dict: for tests and throw-away runs."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        """The value under ``key``, or ``None``."""
        return self._data.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        """Store ``value`` under ``key``."""
        self._data[key] = value

    def delete(self, key: bytes) -> bool:
        """Remove ``key``; whether it was there."""
        return self._data.pop(key, None) is not None

    def sync(self) -> None:
        """Nothing to flush."""

    def close(self) -> None:
        """Nothing to close."""


def open_state_store(data_dir: Path) -> LmdbStore:
    """The state store of a verifier data dir."""
    return LmdbStore(data_dir / STATE_DIR)


@dataclass
class Progress:
    """Where the verifier stands; rewritten after every verified EVM block."""

    next_seq: int = 0
    block_number: int = -1
    block_hash: str = ""
    state_root: str = ""
    recent_hashes: list[str] = field(default_factory=list)  # newest first, for BLOCKHASH
    verified_blocks: int = 0
    verified_mini_blocks: int = 0
    verified_txs: int = 0
    last_mini_block_us: int = 0
    head_seq: int = 0
    head_block: int = 0
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    updated_at: float = 0.0

    @property
    def verdict(self) -> str:
        return "mismatch" if self.mismatches else "ok"


def load_progress(data_dir: Path) -> Progress:
    path = data_dir / PROGRESS_FILE
    if not path.exists():
        return Progress()
    data = json.loads(path.read_text())
    return Progress(**data)


def save_progress(data_dir: Path, progress: Progress) -> None:
    path = data_dir / PROGRESS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(progress)))
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
