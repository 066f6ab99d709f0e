"""The verifier's key-value storage: raw bytes in LMDB (no py-evm here).

The py-evm adapter (``verifier/execution.py``) keeps its trie nodes here through a thin
``BaseDB`` wrapper. Trie nodes are content-addressed, so writing them is idempotent and a crash
only ever leaves unreferenced nodes behind; :meth:`LmdbStore.sync` makes what was written
durable before a checkpoint names a state root in it (``verifier/checkpoint.py``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Protocol

import lmdb

STATE_DIR = "state.lmdb"
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
