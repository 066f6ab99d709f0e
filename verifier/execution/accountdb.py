"""py-evm's account database over the verifier's flat state: a journaled overlay whose
contents at the end of a mini-block are the diff execution produced."""

from __future__ import annotations

from typing import Any, cast

from eth.abc import AccountDatabaseAPI, MetaWitnessAPI
from eth.constants import BLANK_ROOT_HASH
from eth.db.journal import get_next_checkpoint
from eth.typing import JournalDBCheckpoint
from eth_typing import Address, Hash32
from eth_utils.exceptions import ValidationError

from verifier.commitments import keccak
from verifier.state import EMPTY_CODE_HASH, Account, FlatState
from verifier.wire import AccountChange

_MISSING: Any = object()
_EMPTY = Account(0, 0, EMPTY_CODE_HASH)
UINT256_CEILING = 2**256


class OverlayAccountDB(AccountDatabaseAPI):
    """py-evm's account database over a :class:`FlatState`, with a journaled overlay.

    ``record``/``discard``/``commit`` checkpoints are transaction-local (``lock_changes``, called
    by py-evm as each transaction starts, forgets them, the warm sets, and the transaction's
    original slot values that EIP-2200 charges by).
    """

    def __init__(self, db: Any, state_root: Hash32 = BLANK_ROOT_HASH) -> None:
        if not isinstance(db, FlatState):
            raise TypeError("OverlayAccountDB runs over the verifier's FlatState")
        self._base: FlatState = db
        self._accounts: dict[bytes, Account | None] = {}
        self._storage: dict[bytes, dict[int, int]] = {}
        self._wiped: set[bytes] = set()
        self._code: dict[bytes, bytes] = {}
        self._journal: list[tuple[Any, ...]] = []
        self._checkpoints: dict[int, int] = {}
        self._warm: set[Any] = set()
        self._tx_original: dict[tuple[bytes, int], int] = {}
        self._tx_pre_wipe: dict[bytes, tuple[dict[int, int] | None, bool]] = {}

    # -- the state root is the flat state's business ------------------------------------------
    @property
    def state_root(self) -> Hash32:
        """A constant (py-evm's snapshots read it and reverts write it back)."""
        return BLANK_ROOT_HASH

    @state_root.setter
    def state_root(self, value: Hash32) -> None:
        """Ignored (see the getter)."""

    def has_root(self, state_root: bytes) -> bool:
        """No trie here."""
        return False

    def make_state_root(self) -> Hash32:
        """Not computed here: the flat state's trie does (``verifier/state.py``)."""
        raise NotImplementedError("state roots come from the verifier's FlatState")

    def persist(self) -> MetaWitnessAPI:
        """Not used: the overlay is drained with :meth:`take_diff`."""
        raise NotImplementedError("the overlay is drained with take_diff()")

    # -- accounts ---------------------------------------------------------------------------------
    def _get(self, address: bytes) -> Account:
        account = self._accounts.get(address, _MISSING)
        if account is _MISSING:
            account = self._base.accounts.get(address)
        return account if account is not None else _EMPTY

    def _set(self, address: bytes, account: Account | None) -> None:
        self._journal.append(("acct", address, self._accounts.get(address, _MISSING)))
        self._accounts[address] = account

    def account_exists(self, address: Address) -> bool:
        """Whether the account exists."""
        account = self._accounts.get(address, _MISSING)
        if account is _MISSING:
            return address in self._base.accounts
        return account is not None

    def get_balance(self, address: Address) -> int:
        """The balance."""
        return self._get(address).balance

    def set_balance(self, address: Address, balance: int) -> None:
        """Set the balance."""
        if not 0 <= balance < UINT256_CEILING:
            raise ValidationError(f"balance out of range: {balance}")
        a = self._get(address)
        self._set(address, Account(a.nonce, balance, a.code_hash))

    def get_nonce(self, address: Address) -> int:
        """The nonce."""
        return self._get(address).nonce

    def set_nonce(self, address: Address, nonce: int) -> None:
        """Set the nonce."""
        a = self._get(address)
        self._set(address, Account(nonce, a.balance, a.code_hash))

    def increment_nonce(self, address: Address) -> None:
        """Add one to the nonce."""
        self.set_nonce(address, self.get_nonce(address) + 1)

    def get_code_hash(self, address: Address) -> Hash32:
        """The code hash."""
        return Hash32(self._get(address).code_hash)

    def get_code(self, address: Address) -> bytes:
        """The code."""
        code_hash = self._get(address).code_hash
        if code_hash == EMPTY_CODE_HASH:
            return b""
        code = self._code.get(code_hash)
        return code if code is not None else self._base.get_code_by_hash(code_hash)

    def set_code(self, address: Address, code: bytes) -> None:
        """Set the code (content-addressed, so only the account's hash is journaled)."""
        code_hash = keccak(code)
        self._code[code_hash] = code
        a = self._get(address)
        self._set(address, Account(a.nonce, a.balance, code_hash))

    def delete_code(self, address: Address) -> None:
        """Drop the code."""
        a = self._get(address)
        self._set(address, Account(a.nonce, a.balance, EMPTY_CODE_HASH))

    def account_has_code_or_nonce(self, address: Address) -> bool:
        """EIP-7610's collision rule."""
        a = self._get(address)
        return a.nonce != 0 or a.code_hash != EMPTY_CODE_HASH

    def account_is_empty(self, address: Address) -> bool:
        """EIP-161: no code, nonce 0, balance 0."""
        a = self._get(address)
        return a.nonce == 0 and a.balance == 0 and a.code_hash == EMPTY_CODE_HASH

    def touch_account(self, address: Address) -> None:
        """The account is touched (it exists from now on)."""
        self._set(address, self._get(address))

    def delete_account(self, address: Address) -> None:
        """Delete the account and its storage."""
        self._wipe(address)
        self._set(address, None)

    # -- storage ------------------------------------------------------------------------------------
    def _slot(self, address: bytes, slot: int) -> int:
        slots = self._storage.get(address)
        if slots is not None:
            value = slots.get(slot, _MISSING)
            if value is not _MISSING:
                return cast(int, value)
        if address in self._wiped:
            return 0
        return self._base.get_storage(address, slot)

    def get_storage(self, address: Address, slot: int, from_journal: bool = True) -> int:
        """A slot's value; ``from_journal=False``: its value when the transaction started."""
        if from_journal:
            return self._slot(address, slot)
        original = self._tx_original.get((address, slot), _MISSING)
        if original is not _MISSING:
            return cast(int, original)
        pre_wipe = self._tx_pre_wipe.get(address)
        if pre_wipe is not None:
            slots, was_wiped = pre_wipe
            if slots is not None and slot in slots:
                return slots[slot]
            return 0 if was_wiped else self._base.get_storage(address, slot)
        return self._slot(address, slot)

    def set_storage(self, address: Address, slot: int, value: int) -> None:
        """Write a slot."""
        if not 0 <= value < UINT256_CEILING:
            raise ValidationError(f"storage value out of range: {value}")
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
        """Clear all the account's storage."""
        self._wipe(address)

    def _wipe(self, address: bytes) -> None:
        previous = self._storage.get(address)
        was_wiped = address in self._wiped
        if address not in self._tx_pre_wipe:
            self._tx_pre_wipe[address] = (dict(previous) if previous else previous, was_wiped)
        self._journal.append(("wipe", address, previous, was_wiped))
        self._storage[address] = {}
        self._wiped.add(address)

    # -- EIP-2929 ---------------------------------------------------------------------------------
    def is_address_warm(self, address: Address) -> bool:
        """Whether the address was accessed in this transaction."""
        return address in self._warm

    def mark_address_warm(self, address: Address) -> None:
        """The address is accessed."""
        if address not in self._warm:
            self._warm.add(address)
            self._journal.append(("warm", address))

    def is_storage_warm(self, address: Address, slot: int) -> bool:
        """Whether the slot was accessed in this transaction."""
        return (address, slot) in self._warm

    def mark_storage_warm(self, address: Address, slot: int) -> None:
        """The slot is accessed."""
        key = (address, slot)
        if key not in self._warm:
            self._warm.add(key)
            self._journal.append(("warm", key))

    # -- the journal ------------------------------------------------------------------------------
    def record(self) -> JournalDBCheckpoint:
        """A checkpoint (from py-evm's shared counter, so it never collides with its journals)."""
        checkpoint = get_next_checkpoint()
        self._checkpoints[checkpoint] = len(self._journal)
        return checkpoint

    def commit(self, checkpoint: JournalDBCheckpoint) -> None:
        """Keep what was written since ``checkpoint``."""
        self._checkpoints.pop(checkpoint, None)

    def discard(self, checkpoint: JournalDBCheckpoint) -> None:
        """Undo what was written since ``checkpoint``."""
        target = self._checkpoints.pop(checkpoint)
        journal = self._journal
        while len(journal) > target:
            entry = journal.pop()
            kind = entry[0]
            if kind == "acct":
                if entry[2] is _MISSING:
                    del self._accounts[entry[1]]
                else:
                    self._accounts[entry[1]] = entry[2]
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
            else:
                self._warm.discard(entry[1])
        for cp in [cp for cp, at in self._checkpoints.items() if at > target]:
            del self._checkpoints[cp]

    def lock_changes(self) -> None:
        """A transaction starts."""
        self._journal.clear()
        self._checkpoints.clear()
        self._warm.clear()
        self._tx_original.clear()
        self._tx_pre_wipe.clear()

    # -- draining ---------------------------------------------------------------------------------
    def take_diff(self) -> tuple[AccountChange, ...]:
        """The canonical diff of the overlay against the flat state (docs/feed.md): an account
        is listed iff its post-state differs (existence, nonce, balance, code, a slot), a slot
        iff its value changed; the overlay is emptied."""
        base = self._base
        out: list[AccountChange] = []
        for address in sorted(self._accounts.keys() | self._storage.keys()):
            pre = base.accounts.get(address)
            post = self._accounts.get(address, pre)
            if post is None:
                if pre is not None:
                    out.append(AccountChange(address, 0, 0, EMPTY_CODE_HASH, None, (), True))
                continue
            base_slots = base.storage.get(address, {})
            written: dict[int, int] = dict.fromkeys(base_slots, 0) if address in self._wiped else {}
            written.update(self._storage.get(address, {}))
            storage = tuple(sorted((s, v) for s, v in written.items() if base_slots.get(s, 0) != v))
            if pre is not None and not storage and pre == post:
                continue
            code = None
            if (pre is None or pre.code_hash != post.code_hash) and post.code_hash != EMPTY_CODE_HASH:
                code = self._code.get(post.code_hash) or base.code[post.code_hash]
            out.append(AccountChange(address, post.nonce, post.balance, post.code_hash, code, storage, False))
        self._accounts.clear()
        self._storage.clear()
        self._wiped.clear()
        self._code.clear()
        self.lock_changes()
        return tuple(out)
