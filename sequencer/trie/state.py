"""The Ethereum state trie, maintained incrementally from state diffs.

Accounts live in a secure trie (key ``keccak(address)``, value ``rlp([nonce, balance,
storage_root, code_hash])``); each account's storage in its own secure trie (key
``keccak(slot)``, value ``rlp(value)``). :meth:`StateTrie.apply_diff` only records changes in
the in-memory tries (cheap); :meth:`StateTrie.root` re-hashes the dirty paths, once per EVM
block, off the mini-block path.
"""

from __future__ import annotations

from eth_hash.auto import keccak

from sequencer import fastrlp
from sequencer.state import WorldState
from sequencer.trie.mpt import EMPTY_ROOT, MerklePatriciaTrie
from sequencer.types import StateDiff

EMPTY_CODE_HASH = keccak(b"")


class StateTrie:
    """Accounts trie plus per-account storage tries, fed from state diffs."""

    def __init__(self) -> None:
        self._accounts = MerklePatriciaTrie()
        self._storage: dict[bytes, MerklePatriciaTrie] = {}
        # changed since the last root: new (nonce, balance, code_hash), or None if deleted; an
        # address dirty only through its storage keeps the fields of its leaf in the trie
        self._changed: dict[bytes, tuple[int, int, bytes] | None] = {}
        self._dirty: set[bytes] = set()

    def set_account(self, address: bytes, nonce: int, balance: int, code_hash: bytes) -> None:
        """An account's new fields (its storage root is computed at :meth:`root`)."""
        self._changed[address] = (nonce, balance, code_hash)
        self._dirty.add(address)

    def set_storage(self, address: bytes, slot: int, value: int) -> None:
        """A slot's new value (0 deletes it)."""
        trie = self._storage.get(address)
        if trie is None:
            if not value:
                return
            trie = self._storage[address] = MerklePatriciaTrie()
        key = keccak(slot.to_bytes(32, "big"))
        if value:
            trie.set(key, fastrlp.encode(value))
        else:
            trie.delete(key)
        self._dirty.add(address)

    def delete_account(self, address: bytes) -> None:
        """The account and its storage are gone."""
        self._changed[address] = None
        self._storage.pop(address, None)
        self._dirty.add(address)

    def apply_diff(self, diff: StateDiff) -> None:
        """Record one mini-block's changes."""
        for acc in diff.accounts:
            if acc.deleted:
                self.delete_account(acc.address)
                continue
            self.set_account(acc.address, acc.nonce, acc.balance, acc.code_hash)
            for slot, value in acc.storage:
                self.set_storage(acc.address, slot, value)

    def rebuild(self, world: WorldState) -> None:
        """Start over from a whole flat state (accounts, their storage)."""
        self._accounts = MerklePatriciaTrie()
        self._storage = {}
        self._changed = {}
        self._dirty = set()
        for address, record in world.accounts.items():
            self.set_account(address, record.nonce, record.balance, record.code_hash)
        for address, slots in world.storage.items():
            for slot, value in slots.items():
                self.set_storage(address, slot, value)

    def root(self) -> bytes:
        """The state root after every diff applied so far."""
        changed = self._changed
        for address in self._dirty:
            key = keccak(address)
            record = changed[address] if address in changed else self._leaf_fields(key)
            if record is None:
                if key in self._accounts:
                    self._accounts.delete(key)
                continue
            storage = self._storage.get(address)
            storage_root = storage.root_hash() if storage is not None and len(storage) else EMPTY_ROOT
            nonce, balance, code_hash = record
            self._accounts.set(key, fastrlp.encode([nonce, balance, storage_root, code_hash]))
        self._dirty.clear()
        changed.clear()
        return self._accounts.root_hash()

    def _leaf_fields(self, key: bytes) -> tuple[int, int, bytes] | None:
        leaf = self._accounts.get(key)
        if leaf is None:
            return None
        nonce, balance, _storage_root, code_hash = fastrlp.decode(leaf)
        return int.from_bytes(nonce, "big"), int.from_bytes(balance, "big"), code_hash

    def storage_root(self, address: bytes) -> bytes:
        """The root of the account's storage trie as it stands (the empty trie's root when none)."""
        storage = self._storage.get(address)
        return storage.root_hash() if storage is not None and len(storage) else EMPTY_ROOT

    def proof(self, address: bytes, slots: list[int]) -> tuple[list[bytes], bytes, list[list[bytes]]]:
        """EIP-1186 proofs against :meth:`root`: the account's proof, its storage root, and one
        proof per slot."""
        self.root()
        account_proof = self._accounts.proof(keccak(address))
        storage = self._storage.get(address)
        storage_root = storage.root_hash() if storage is not None and len(storage) else EMPTY_ROOT
        slot_proofs = [
            storage.proof(keccak(slot.to_bytes(32, "big"))) if storage is not None and len(storage) else []
            for slot in slots
        ]
        return account_proof, storage_root, slot_proofs

    def __len__(self) -> int:
        """Accounts in the trie as of the last :meth:`root`."""
        return len(self._accounts)
