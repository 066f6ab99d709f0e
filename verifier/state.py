"""The verifier's own state: flat maps of accounts, storage and code, and the state trie beside them.

:class:`FlatState` is what re-execution reads (through the py-evm adapter, ``verifier/execution/``)
and what every mini-block's state diff is applied to, verified or (for mini-blocks another
shard re-executes) claimed. Its state root comes from an incremental Merkle-Patricia trie fed
from the same diffs (``sequencer.trie.state.StateTrie``, a shared pure primitive); the audit
mode recomputes it with py-trie (:func:`reference_root`) to guard against a bug both share.
What changed since the last boundary is tracked (:meth:`FlatState.take_changes`) so the store
(``verifier/store.py``) writes only that, in the same transaction as the checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sequencer import fastrlp
from sequencer.trie.state import StateTrie
from verifier.commitments import keccak
from verifier.wire import AccountChange

EMPTY_CODE_HASH = keccak(b"")


@dataclass(frozen=True, slots=True)
class Account:
    """An account's fields other than its storage."""

    nonce: int
    balance: int
    code_hash: bytes


@dataclass(slots=True)
class Changes:
    """What changed since the last :meth:`FlatState.take_changes`: accounts whose storage was
    wiped (deleted; applied first), accounts written (``None``: deleted), slots written after
    any wipe (0: cleared), code added."""

    wiped: set[bytes] = field(default_factory=set)
    accounts: dict[bytes, Account | None] = field(default_factory=dict)
    slots: dict[tuple[bytes, int], int] = field(default_factory=dict)
    code: dict[bytes, bytes] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.accounts or self.slots or self.code)

    def merge(self, later: Changes) -> None:
        """Fold ``later`` (what changed after these) into these, as if they were one."""
        if later.wiped:
            self.slots = {key: v for key, v in self.slots.items() if key[0] not in later.wiped}
            self.wiped |= later.wiped
        self.accounts.update(later.accounts)
        self.slots.update(later.slots)
        self.code.update(later.code)


@dataclass(frozen=True, slots=True)
class Undo:
    """The values written accounts and slots held before (see :meth:`FlatState.undo_record`)."""

    accounts: dict[bytes, Account | None]
    slots: dict[tuple[bytes, int], int]


class FlatState:
    """Accounts, storage and code in memory, with the state trie kept beside them."""

    def __init__(self) -> None:
        self.tracking = True
        """Whether the trie, the changes and the boundary view follow the writes (a worker
        process, which never computes a root nor commits, turns it off: :meth:`untracked`)."""
        self.accounts: dict[bytes, Account] = {}
        self.storage: dict[bytes, dict[int, int]] = {}
        self.code: dict[bytes, bytes] = {EMPTY_CODE_HASH: b""}
        self.trie = StateTrie()
        self._changes = Changes()
        # the values at the last boundary of everything written since (for BoundaryView)
        self._undo_accounts: dict[bytes, Account | None] = {}
        self._undo_slots: dict[tuple[bytes, int], int] = {}

    # -- reads ----------------------------------------------------------------------------------
    def get_account(self, address: bytes) -> Account | None:
        """The account, or ``None`` when it does not exist."""
        return self.accounts.get(address)

    def get_storage(self, address: bytes, slot: int) -> int:
        """A slot's value (0 when never written)."""
        slots = self.storage.get(address)
        return slots.get(slot, 0) if slots else 0

    def get_code_by_hash(self, code_hash: bytes) -> bytes:
        """The code with this hash (``KeyError`` when unknown)."""
        return self.code[code_hash]

    # -- writes ---------------------------------------------------------------------------------
    def set_account(self, address: bytes, account: Account) -> None:
        """Create or overwrite an account's fields."""
        if not self.tracking:
            self.accounts[address] = account
            return
        if address not in self._undo_accounts:
            self._undo_accounts[address] = self.accounts.get(address)
        self.accounts[address] = account
        self.trie.set_account(address, account.nonce, account.balance, account.code_hash)
        self._changes.accounts[address] = account

    def set_slot(self, address: bytes, slot: int, value: int) -> None:
        """Write a storage slot (0 clears it)."""
        slots = self.storage.get(address)
        key = (address, slot)
        if self.tracking and key not in self._undo_slots:
            self._undo_slots[key] = slots.get(slot, 0) if slots else 0
        if value:
            if slots is None:
                slots = self.storage[address] = {}
            slots[slot] = value
        elif slots is not None:
            slots.pop(slot, None)
            if not slots:
                del self.storage[address]
        if self.tracking:
            self.trie.set_storage(address, slot, value)
            self._changes.slots[key] = value

    def add_code(self, code: bytes) -> bytes:
        """Keep ``code`` (content-addressed); its hash."""
        code_hash = keccak(code)
        if code_hash not in self.code:
            self.code[code_hash] = code
            if self.tracking:
                self._changes.code[code_hash] = code
        return code_hash

    def delete_account(self, address: bytes) -> None:
        """The account and all its storage are gone."""
        if not self.tracking:
            self.accounts.pop(address, None)
            self.storage.pop(address, None)
            return
        if address not in self._undo_accounts:
            self._undo_accounts[address] = self.accounts.get(address)
        for slot, value in self.storage.get(address, {}).items():
            self._undo_slots.setdefault((address, slot), value)
        self.accounts.pop(address, None)
        self.storage.pop(address, None)
        changes = self._changes
        for key in [key for key in changes.slots if key[0] == address] if changes.slots else ():
            del changes.slots[key]
        self.trie.delete_account(address)
        changes.wiped.add(address)
        changes.accounts[address] = None

    def apply(self, diff: Iterable[AccountChange]) -> None:
        """Apply one mini-block's state diff."""
        for change in diff:
            if change.deleted:
                self.delete_account(change.address)
                continue
            if change.code is not None:
                self.add_code(change.code)
            self.set_account(change.address, Account(change.nonce, change.balance, change.code_hash))
            for slot, value in change.storage:
                self.set_slot(change.address, slot, value)

    def untracked(self) -> None:
        """From now on, keep the flat maps only (no trie, no changes, no boundary view)."""
        self.tracking = False
        self.trie = StateTrie()
        self._changes = Changes()
        self._undo_accounts.clear()
        self._undo_slots.clear()

    def root(self) -> bytes:
        """The state root after everything applied so far."""
        return self.trie.root()

    def take_changes(self) -> Changes:
        """Everything changed since the last call (for the store), and start afresh."""
        changes, self._changes = self._changes, Changes()
        self._undo_accounts.clear()
        self._undo_slots.clear()
        return changes

    def undo_record(self) -> Undo:
        """What undoes everything written since the last :meth:`take_changes`: the values those
        accounts and slots held at that boundary (``None``: the account did not exist). Taken
        before :meth:`take_changes`, it lets a caller keep boundaries it can go back to (the
        derivation verifier, after an L1 reorg: :meth:`restore`)."""
        return Undo(dict(self._undo_accounts), dict(self._undo_slots))

    def restore(self, undo: Undo) -> None:
        """Put back the values ``undo`` holds (as tracked writes, so the store follows)."""
        for address, account in undo.accounts.items():
            if account is not None:
                self.set_account(address, account)
        for (address, slot), value in undo.slots.items():
            # an account that did not exist loses all its storage when it is deleted below
            if undo.accounts.get(address, self.accounts.get(address)) is not None:
                self.set_slot(address, slot, value)
        for address, account in undo.accounts.items():
            if account is None:
                self.delete_account(address)

    def at_boundary(self) -> BoundaryView:
        """The state as of the last :meth:`take_changes` (the last verified boundary), however
        far the open block's diffs have moved it since."""
        return BoundaryView(self, self._undo_accounts, self._undo_slots)

    def load(
        self,
        accounts: Iterable[tuple[bytes, Account]],
        slots: Iterable[tuple[bytes, int, int]],
        code: Iterable[tuple[bytes, bytes]],
    ) -> None:
        """Fill an empty state from the store (no changes recorded)."""
        for address, account in accounts:
            self.accounts[address] = account
            self.trie.set_account(address, account.nonce, account.balance, account.code_hash)
        for address, slot, value in slots:
            self.storage.setdefault(address, {})[slot] = value
            self.trie.set_storage(address, slot, value)
        self.code.update(code)
        self._changes = Changes()
        self._undo_accounts.clear()
        self._undo_slots.clear()


class BoundaryView:
    """Reads of a :class:`FlatState` as it was at its last boundary."""

    def __init__(
        self, state: FlatState, accounts: dict[bytes, Account | None], slots: dict[tuple[bytes, int], int]
    ) -> None:
        self._state, self._accounts, self._slots = state, accounts, slots

    def get_account(self, address: bytes) -> Account | None:
        """The account, or ``None`` when it did not exist."""
        if address in self._accounts:
            return self._accounts[address]
        return self._state.accounts.get(address)

    def get_storage(self, address: bytes, slot: int) -> int:
        """A slot's value."""
        key = (address, slot)
        if key in self._slots:
            return self._slots[key]
        return self._state.get_storage(address, slot)

    def get_code_by_hash(self, code_hash: bytes) -> bytes:
        """The code with this hash."""
        return self._state.get_code_by_hash(code_hash)


def reference_root(state: FlatState) -> bytes:
    """The state root of ``state`` computed from scratch with py-trie (the audit's reference)."""
    from trie.hexary import HexaryTrie

    accounts = HexaryTrie({})
    with accounts.squash_changes() as batch:
        for address, account in state.accounts.items():
            storage_root = HexaryTrie.BLANK_NODE_HASH
            slots = state.storage.get(address)
            if slots:
                storage = HexaryTrie({})
                with storage.squash_changes() as storage_batch:
                    for slot, value in slots.items():
                        storage_batch[keccak(slot.to_bytes(32, "big"))] = fastrlp.encode(value)
                storage_root = storage.root_hash
            batch[keccak(address)] = fastrlp.encode(
                [account.nonce, account.balance, storage_root, account.code_hash]
            )
    return bytes(accounts.root_hash)
