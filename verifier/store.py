"""The verifier's own storage: py-evm's trie nodes in LMDB, plus its progress record.

Trie nodes are content-addressed, so a crash between writing nodes and writing progress only
leaves unreferenced nodes behind; progress (JSON) is replaced atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lmdb
from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB

PROGRESS_FILE = "progress.json"


class LmdbDB(BaseDB):
    """py-evm's key-value database interface over one LMDB environment."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._env = lmdb.open(str(path), map_size=64 * 1024**3, sync=False, metasync=False, readahead=False)

    def __getitem__(self, key: bytes) -> bytes:
        with self._env.begin() as txn:
            value = txn.get(key)
        if value is None:
            raise KeyError(key)
        return bytes(value)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        with self._env.begin(write=True) as txn:
            txn.put(key, value)

    def __delitem__(self, key: bytes) -> None:
        with self._env.begin(write=True) as txn:
            if not txn.delete(key):
                raise KeyError(key)

    def _exists(self, key: bytes) -> bool:
        with self._env.begin() as txn:
            return txn.get(key) is not None

    def close(self) -> None:
        with contextlib.suppress(lmdb.Error):
            self._env.sync(True)
        self._env.close()


def open_state_db(data_dir: Path) -> tuple[AtomicDB, LmdbDB]:
    raw = LmdbDB(data_dir / "state.lmdb")
    return AtomicDB(raw), raw


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
