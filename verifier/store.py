"""The verifier's durable storage: its flat state and its checkpoint, in one LMDB environment.

Accounts (``address -> rlp([nonce, balance, codeHash])``), storage (``address || slot ->
value``) and code (``hash -> code``) are the state as of the checkpoint's boundary; the
checkpoint itself (``verifier/checkpoint.py``) is a record in the same environment. Both are
written in **one transaction** (:meth:`StateStore.commit`), committed with fsync: after a crash
or a power loss the data dir holds either the old boundary and its state or the new boundary
and its state, never a mix, so a restarted verifier never judges a block against the wrong
state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import lmdb

from sequencer import fastrlp
from verifier.state import Account, Changes

STATE_DIR = "state.lmdb"
MAP_SIZE = 64 * 1024**3
FORMAT = b"flat-state/1"
_CHECKPOINT = b"checkpoint"
_FORMAT = b"format"


class EarlierDataDir(Exception):
    """The data dir was written by an earlier verifier (py-evm's trie-backed state)."""


def _int(b: bytes) -> int:
    return int.from_bytes(b, "big")


class StateStore:
    """One LMDB environment: the flat state, the code, and the checkpoint record."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        existed = path.exists() and any(path.iterdir())
        if not readonly:
            path.mkdir(parents=True, exist_ok=True)
        self._env = lmdb.open(
            str(path), map_size=MAP_SIZE, max_dbs=4, readonly=readonly, sync=True, metasync=True
        )
        self._accounts = self._env.open_db(b"accounts", create=not readonly)
        self._storage = self._env.open_db(b"storage", create=not readonly)
        self._code = self._env.open_db(b"code", create=not readonly)
        self._meta = self._env.open_db(b"meta", create=not readonly)
        with self._env.begin(db=self._meta) as txn:
            found = txn.get(_FORMAT)
        if found is None and existed:
            self._env.close()
            raise EarlierDataDir(f"{path} holds an earlier verifier's state")
        if found is None:
            with self._env.begin(write=True, db=self._meta) as txn:
                txn.put(_FORMAT, FORMAT)

    # -- reading ---------------------------------------------------------------------------------
    def checkpoint_record(self) -> bytes | None:
        """The checkpoint as last committed, or ``None`` for a fresh store."""
        with self._env.begin(db=self._meta) as txn:
            value = txn.get(_CHECKPOINT)
        return None if value is None else bytes(value)

    def accounts(self) -> Iterator[tuple[bytes, Account]]:
        """Every account."""
        with self._env.begin(db=self._accounts) as txn:
            for key, value in txn.cursor():
                nonce, balance, code_hash = fastrlp.decode(bytes(value))
                yield bytes(key), Account(_int(nonce), _int(balance), code_hash)

    def slots(self) -> Iterator[tuple[bytes, int, int]]:
        """Every non-zero storage slot."""
        with self._env.begin(db=self._storage) as txn:
            for key, value in txn.cursor():
                yield bytes(key[:20]), _int(key[20:]), _int(value)

    def codes(self) -> Iterator[tuple[bytes, bytes]]:
        """Every code, by hash."""
        with self._env.begin(db=self._code) as txn:
            for key, value in txn.cursor():
                yield bytes(key), bytes(value)

    # -- writing ---------------------------------------------------------------------------------
    def commit(self, changes: Changes | None, checkpoint: bytes) -> None:
        """Write the state changes and the checkpoint record in one durable transaction."""
        with self._env.begin(write=True) as txn:
            if changes:
                for address in changes.wiped:
                    cursor = txn.cursor(db=self._storage)
                    if cursor.set_range(address):
                        while cursor.key()[:20] == address:
                            if not cursor.delete():
                                break
                for address, account in changes.accounts.items():
                    if account is None:
                        txn.delete(address, db=self._accounts)
                    else:
                        record = fastrlp.encode([account.nonce, account.balance, account.code_hash])
                        txn.put(address, record, db=self._accounts)
                for (address, slot), value in changes.slots.items():
                    key = address + slot.to_bytes(32, "big")
                    if value:
                        txn.put(key, value.to_bytes((value.bit_length() + 7) // 8, "big"), db=self._storage)
                    else:
                        txn.delete(key, db=self._storage)
                for code_hash, code in changes.code.items():
                    txn.put(code_hash, code, db=self._code)
            txn.put(_CHECKPOINT, checkpoint, db=self._meta)

    def close(self) -> None:
        """Close the environment."""
        with contextlib.suppress(lmdb.Error):
            self._env.close()


def state_dir(data_dir: Path) -> Path:
    """Where a data dir's state store lives."""
    return data_dir / STATE_DIR
