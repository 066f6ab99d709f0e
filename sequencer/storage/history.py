"""The state as of a past point of the chain, read lazily from the store's history tables."""

from __future__ import annotations

from eth_hash.auto import keccak

from sequencer import fastrlp
from sequencer.state import AccountRecord
from sequencer.storage.store import ChainStore
from sequencer.trie.mpt import MerklePatriciaTrie
from sequencer.trie.state import StateTrie

EMPTY_CODE_HASH = keccak(b"")


class HistoricalState:
    """A :class:`~sequencer.state.StateReader` for the state after history ``seq``.

    ``seq`` is 0 for genesis and ``n + 1`` after mini-block ``n`` (see ``storage/store.py``).
    Reads are cached for the life of the view (one RPC call).
    """

    def __init__(self, store: ChainStore, seq: int) -> None:
        self.store = store
        self._store = store
        self.seq = seq
        self._accounts: dict[bytes, AccountRecord | None] = {}
        self._slots: dict[tuple[bytes, int], int] = {}

    def get_account(self, address: bytes) -> AccountRecord | None:
        """The account as of this view's position."""
        if address not in self._accounts:
            self._accounts[address] = self._store.account_at(address, self.seq)
        return self._accounts[address]

    def get_storage(self, address: bytes, slot: int) -> int:
        """A slot's value as of this view's position."""
        key = (address, slot)
        if key not in self._slots:
            self._slots[key] = self._store.storage_at(address, slot, self.seq)
        return self._slots[key]

    def get_code_by_hash(self, code_hash: bytes) -> bytes:
        """The code with this hash."""
        if code_hash == EMPTY_CODE_HASH:
            return b""
        return self._store.get_code_by_hash(code_hash)

    def get_code(self, address: bytes) -> bytes:
        """The account's code as of this view's position."""
        account = self.get_account(address)
        return self.get_code_by_hash(account.code_hash) if account is not None else b""


def storage_trie_at(store: ChainStore, address: bytes, seq: int) -> MerklePatriciaTrie:
    """The account's storage trie as of history position ``seq`` (key ``keccak(slot)``, value
    ``rlp(value)``), rebuilt from the history tables: its root is the account's storage root
    then, and its proofs are EIP-1186 storage proofs at that point. Reads every slot the account
    ever had: meant for small accounts such as the bridge's message passer."""
    trie = MerklePatriciaTrie()
    for slot, value in store.storage_items_at(address, seq).items():
        trie.set(keccak(slot.to_bytes(32, "big")), fastrlp.encode(value))
    return trie


def state_trie_at(store: ChainStore, seq: int) -> StateTrie:
    """The whole state trie as of history position ``seq``, rebuilt from the history tables: its
    root is the state root then and its proofs are EIP-1186 proofs at that point (``eth_getProof``
    at a past block). Reads every account and slot the chain ever had, so it runs as a call
    worker's job, under the call deadline."""
    trie = StateTrie()
    for address in store.addresses_ever():
        account = store.account_at(address, seq)
        if account is None:
            continue
        trie.set_account(address, account.nonce, account.balance, account.code_hash)
        for slot, value in store.storage_items_at(address, seq).items():
            trie.set_storage(address, slot, value)
    return trie
