"""A flat account database for py-evm: execution without any trie on the hot path.

py-evm's own ``AccountDB`` keeps accounts in a hexary trie and clears its caches at every state
root, so each block re-walks the trie. Here the sequencer's state is a flat in-memory map
(:class:`~sequencer.state.WorldState`, persisted by ``storage/``), and :class:`FlatAccountDB` is a journaled
overlay on top of it that implements py-evm's ``AccountDatabaseAPI``. The overlay's contents at
the end of a mini-block *are* the state diff; the state root is computed elsewhere, from the
diffs, off the mini-block path (``sequencer/trie``).

Journal semantics follow geth: ``record()`` returns a checkpoint, ``discard()`` undoes every
write after it, ``commit()`` keeps them. Checkpoints are transaction-local: ``lock_changes()``
(called by py-evm at the start of each transaction) drops the journal, the warm sets and the
transaction's original storage values (EIP-2200).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from eth.abc import AccountDatabaseAPI, AtomicDatabaseAPI, MetaWitnessAPI
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.db.journal import get_next_checkpoint
from eth.typing import JournalDBCheckpoint
from eth_hash.auto import keccak
from eth_typing import Address, Hash32

from sequencer.state import EMPTY_ACCOUNT, AccountRecord, StateReader, WorldState
from sequencer.types import AccountDiff, StateDiff

_MISSING: Any = object()
UINT256_CEILING = 2**256


class FlatAccountDB(AccountDatabaseAPI):
    """py-evm ``AccountDatabaseAPI`` over a :class:`WorldState`, with a journaled overlay."""

    def __init__(self, db: AtomicDatabaseAPI | StateReader, state_root: Hash32 = BLANK_ROOT_HASH) -> None:
        if not hasattr(db, "get_code_by_hash"):
            raise TypeError("FlatAccountDB runs over a StateReader (WorldState), not a py-evm database")
        self._base: StateReader = cast(StateReader, db)
        self._accounts: dict[bytes, AccountRecord | None] = {}
        self._storage: dict[bytes, dict[int, int]] = {}
        self._wiped: set[bytes] = set()
        self._code: dict[bytes, bytes] = {}
        self._journal: list[tuple[Any, ...]] = []
        self._checkpoints: dict[int, int] = {}
        self._warm: set[Any] = set()
        self._tx_original: dict[tuple[bytes, int], int] = {}
        self._tx_pre_wipe: dict[bytes, tuple[dict[int, int] | None, bool]] = {}

    # -- state root: not ours to compute ---------------------------------------------------
    @property
    def state_root(self) -> Hash32:
        """A constant placeholder: py-evm's snapshots read it and reverts write it back, so a
        constant keeps them consistent; the real root comes from the diffs (``sequencer.trie``)."""
        return BLANK_ROOT_HASH

    @state_root.setter
    def state_root(self, value: Hash32) -> None:
        """Ignored (see the getter)."""
        pass

    def has_root(self, state_root: bytes) -> bool:
        """No trie here: never."""
        return False

    def make_state_root(self) -> Hash32:
        """Not computed here: state roots come from the diffs (``sequencer.trie``)."""
        raise NotImplementedError("state roots are computed from state diffs (sequencer.trie)")

    def persist(self) -> MetaWitnessAPI:
        """Not used: the overlay is drained with :meth:`take_diff`."""
        raise NotImplementedError("the overlay is drained with take_diff(), not persisted")

    # -- accounts ---------------------------------------------------------------------------
    def _get(self, address: bytes) -> AccountRecord:
        acc = self._accounts.get(address, _MISSING)
        if acc is _MISSING:
            acc = self._base.get_account(address)
        return acc if acc is not None else EMPTY_ACCOUNT

    def _set(self, address: bytes, record: AccountRecord) -> None:
        self._journal.append(("acct", address, self._accounts.get(address, _MISSING)))
        self._accounts[address] = record

    def account_exists(self, address: Address) -> bool:
        """Whether the account exists in the overlay, else in the base state."""
        acc = self._accounts.get(address, _MISSING)
        if acc is _MISSING:
            return self._base.get_account(address) is not None
        return acc is not None

    def get_balance(self, address: Address) -> int:
        """The account's balance."""
        return self._get(address).balance

    def set_balance(self, address: Address, balance: int) -> None:
        """Set the balance (journaled)."""
        if not 0 <= balance < UINT256_CEILING:
            raise ValueError(f"balance out of range: {balance}")
        acc = self._get(address)
        self._set(address, AccountRecord(acc.nonce, balance, acc.code_hash))

    def get_nonce(self, address: Address) -> int:
        """The account's nonce."""
        return self._get(address).nonce

    def set_nonce(self, address: Address, nonce: int) -> None:
        """Set the nonce (journaled)."""
        acc = self._get(address)
        self._set(address, AccountRecord(nonce, acc.balance, acc.code_hash))

    def increment_nonce(self, address: Address) -> None:
        """Add one to the nonce (journaled)."""
        self.set_nonce(address, self.get_nonce(address) + 1)

    def get_code_hash(self, address: Address) -> Hash32:
        """The account's code hash."""
        return Hash32(self._get(address).code_hash)

    def get_code(self, address: Address) -> bytes:
        """The account's code."""
        code_hash = self._get(address).code_hash
        if code_hash == EMPTY_SHA3:
            return b""
        code = self._code.get(code_hash)
        return code if code is not None else self._base.get_code_by_hash(code_hash)

    def set_code(self, address: Address, code: bytes) -> None:
        """Set the code (content-addressed; the account's code hash is journaled)."""
        code_hash = keccak(code)
        self._code[code_hash] = code  # content-addressed: never needs undoing
        acc = self._get(address)
        self._set(address, AccountRecord(acc.nonce, acc.balance, code_hash))

    def delete_code(self, address: Address) -> None:
        """Drop the account's code (journaled)."""
        acc = self._get(address)
        self._set(address, AccountRecord(acc.nonce, acc.balance, EMPTY_SHA3))

    def account_has_code_or_nonce(self, address: Address) -> bool:
        """Whether the account has code or a non-zero nonce (EIP-7610 collision rule)."""
        acc = self._get(address)
        return acc.nonce != 0 or acc.code_hash != EMPTY_SHA3

    def account_is_empty(self, address: Address) -> bool:
        """EIP-161: no code, nonce 0, balance 0."""
        acc = self._get(address)
        return acc.nonce == 0 and acc.balance == 0 and acc.code_hash == EMPTY_SHA3

    def touch_account(self, address: Address) -> None:
        """Mark the account as touched (it appears in the overlay)."""
        self._set(address, self._get(address))

    def delete_account(self, address: Address) -> None:
        """Delete the account and its storage (journaled)."""
        self._wipe_storage(address)
        self._journal.append(("acct", address, self._accounts.get(address, _MISSING)))
        self._accounts[address] = None

    # -- storage ----------------------------------------------------------------------------
    def _read_slot(self, address: bytes, slot: int) -> int:
        slots = self._storage.get(address)
        if slots is not None:
            value = slots.get(slot, _MISSING)
            if value is not _MISSING:
                return cast(int, value)
        if address in self._wiped:
            return 0
        return self._base.get_storage(address, slot)

    def get_storage(self, address: Address, slot: int, from_journal: bool = True) -> int:
        """A slot's value; with ``from_journal=False``, its value when the transaction started
        (EIP-2200)."""
        if from_journal:
            return self._read_slot(address, slot)
        original = self._tx_original.get((address, slot), _MISSING)
        if original is not _MISSING:
            return cast(int, original)
        pre_wipe = self._tx_pre_wipe.get(address)
        if pre_wipe is not None:
            slots, was_wiped = pre_wipe
            if slots is not None and slot in slots:
                return slots[slot]
            return 0 if was_wiped else self._base.get_storage(address, slot)
        return self._read_slot(address, slot)

    def set_storage(self, address: Address, slot: int, value: int) -> None:
        """Set a slot (journaled); remembers the slot's original value for EIP-2200."""
        if not 0 <= value < UINT256_CEILING:
            raise ValueError(f"storage value out of range: {value}")
        key = (address, slot)
        if key not in self._tx_original:
            self._tx_original[key] = self.get_storage(address, slot, from_journal=False)
        slots = self._storage.get(address)
        if slots is None:
            slots = self._storage[address] = {}
            self._journal.append(("slots", address))
        self._journal.append(("slot", address, slot, slots.get(slot, _MISSING)))
        slots[slot] = value

    def delete_storage(self, address: Address) -> None:
        """Clear all of the account's storage (journaled)."""
        self._wipe_storage(address)

    def _wipe_storage(self, address: bytes) -> None:
        previous = self._storage.get(address)
        was_wiped = address in self._wiped
        if address not in self._tx_pre_wipe:
            self._tx_pre_wipe[address] = (dict(previous) if previous else previous, was_wiped)
        self._journal.append(("wipe", address, previous, was_wiped))
        self._storage[address] = {}
        self._wiped.add(address)

    # -- EIP-2929 access lists ----------------------------------------------------------------
    def is_address_warm(self, address: Address) -> bool:
        """EIP-2929: whether the address was accessed in this transaction."""
        return address in self._warm

    def mark_address_warm(self, address: Address) -> None:
        """EIP-2929: the address is accessed (journaled)."""
        if address not in self._warm:
            self._warm.add(address)
            self._journal.append(("warm", address))

    def is_storage_warm(self, address: Address, slot: int) -> bool:
        """EIP-2929: whether the slot was accessed in this transaction."""
        return (address, slot) in self._warm

    def mark_storage_warm(self, address: Address, slot: int) -> None:
        """EIP-2929: the slot is accessed (journaled)."""
        key = (address, slot)
        if key not in self._warm:
            self._warm.add(key)
            self._journal.append(("warm", key))

    def warm_set(self) -> frozenset[Any]:
        """Every address and ``(address, slot)`` warm in the current transaction."""
        return frozenset(self._warm)

    # -- journal ----------------------------------------------------------------------------
    def record(self) -> JournalDBCheckpoint:
        """A checkpoint to :meth:`discard` back to or :meth:`commit`."""
        # py-evm's journals (e.g. transient storage) share one checkpoint namespace: draw
        # from its global counter so our checkpoints never collide with theirs.
        checkpoint = get_next_checkpoint()
        self._checkpoints[checkpoint] = len(self._journal)
        return checkpoint

    def commit(self, checkpoint: JournalDBCheckpoint) -> None:
        """Keep every write since ``checkpoint``."""
        self._checkpoints.pop(checkpoint, None)

    def discard(self, checkpoint: JournalDBCheckpoint) -> None:
        """Undo every write since ``checkpoint``."""
        target = self._checkpoints.pop(checkpoint)
        journal = self._journal
        while len(journal) > target:
            entry = journal.pop()
            kind = entry[0]
            if kind == "acct":
                _, address, previous = entry
                if previous is _MISSING:
                    del self._accounts[address]
                else:
                    self._accounts[address] = previous
            elif kind == "slot":
                _, address, slot, previous = entry
                if previous is _MISSING:
                    del self._storage[address][slot]
                else:
                    self._storage[address][slot] = previous
            elif kind == "slots":
                del self._storage[entry[1]]
            elif kind == "wipe":
                _, address, previous, was_wiped = entry
                if previous is None:
                    del self._storage[address]
                else:
                    self._storage[address] = previous
                if not was_wiped:
                    self._wiped.discard(address)
            else:  # warm
                self._warm.discard(entry[1])
        for cp in [cp for cp, pos in self._checkpoints.items() if pos > target]:
            del self._checkpoints[cp]

    def lock_changes(self) -> None:
        """A transaction starts: drop the journal, the warm sets and the original slot values."""
        self._journal.clear()
        self._checkpoints.clear()
        self._warm.clear()
        self._tx_original.clear()
        self._tx_pre_wipe.clear()

    # -- draining ---------------------------------------------------------------------------
    def touched_addresses(self) -> Iterator[bytes]:
        """Every address the overlay holds a change for."""
        yield from self._accounts.keys() | self._storage.keys()

    def take_diff(self) -> StateDiff:
        """The canonical diff of the overlay against the base; empties the overlay.

        An account appears iff its post-state differs from its pre-state (existence, nonce,
        balance, code or any storage slot); a slot appears iff its value changed.
        """
        base = self._base
        if not isinstance(base, WorldState):
            raise TypeError("only an overlay over the live WorldState yields state diffs")
        out: list[AccountDiff] = []
        for address in sorted(self._accounts.keys() | self._storage.keys()):
            pre = base.accounts.get(address)
            post = self._accounts.get(address, pre) if address in self._accounts else pre
            if post is None:
                if pre is not None:
                    out.append(AccountDiff(address, 0, 0, EMPTY_SHA3, None, (), True))
                continue
            changed: dict[int, int] = {}
            base_slots = base.storage.get(address, {})
            if address in self._wiped:
                for slot in base_slots:
                    changed[slot] = 0
            for slot, value in self._storage.get(address, {}).items():
                changed[slot] = value
            storage = tuple(sorted((s, v) for s, v in changed.items() if base_slots.get(s, 0) != v))
            code_changed = pre is None or pre.code_hash != post.code_hash
            if pre is not None and not storage and pre == post:
                continue
            code = None
            if code_changed and post.code_hash != EMPTY_SHA3:
                code = self._code.get(post.code_hash) or base.code[post.code_hash]
            out.append(AccountDiff(address, post.nonce, post.balance, post.code_hash, code, storage, False))
        self.reset()
        return StateDiff(tuple(out))

    def reset(self) -> None:
        """Drop every uncommitted change (the overlay returns to the base state)."""
        self._accounts.clear()
        self._storage.clear()
        self._wiped.clear()
        self._code.clear()
        self.lock_changes()
