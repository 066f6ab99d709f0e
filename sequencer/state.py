"""The engine-neutral state: account records, the read interface, and the committed flat state.

Storage persists it, the chain serves it, RPC reads it, and the execution adapter runs py-evm
over it (``execution/flatdb.py``); none of them needs the others' internals to agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from eth_hash.auto import keccak

from sequencer.types import AccountDiff, StateDiff

EMPTY_CODE_HASH = keccak(b"")


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """An account's fields other than its storage."""

    nonce: int
    balance: int
    code_hash: bytes


EMPTY_ACCOUNT = AccountRecord(0, 0, EMPTY_CODE_HASH)


class StateReader(Protocol):
    """Read access to a state: the live :class:`WorldState` or a historical view of it."""

    def get_account(self, address: bytes) -> AccountRecord | None:
        """The account, or ``None`` when it does not exist."""

    def get_storage(self, address: bytes, slot: int) -> int:
        """A storage slot's value (0 when never written)."""

    def get_code_by_hash(self, code_hash: bytes) -> bytes:
        """The code with this hash."""

    def get_code(self, address: bytes) -> bytes:
        """The account's code (empty for none)."""


class WorldState:
    """The committed flat state: accounts, storage and code, all in memory.

    Mutated only by :meth:`apply_diff`, i.e. once per sealed (durable) mini-block.
    """

    __slots__ = ("accounts", "code", "storage")

    def __init__(self) -> None:
        self.accounts: dict[bytes, AccountRecord] = {}
        self.storage: dict[bytes, dict[int, int]] = {}
        self.code: dict[bytes, bytes] = {EMPTY_CODE_HASH: b""}

    def get_account(self, address: bytes) -> AccountRecord | None:
        """The account, or ``None`` when it does not exist."""
        return self.accounts.get(address)

    def get_storage(self, address: bytes, slot: int) -> int:
        """A storage slot's value (0 when never written)."""
        slots = self.storage.get(address)
        return slots.get(slot, 0) if slots else 0

    def get_code(self, address: bytes) -> bytes:
        """The account's code (empty for none)."""
        account = self.accounts.get(address)
        if account is None:
            return b""
        return self.code[account.code_hash]

    def get_code_by_hash(self, code_hash: bytes) -> bytes:
        """The code with this hash."""
        return self.code[code_hash]

    def nonce_of(self, address: bytes) -> int:
        """The account's nonce (0 when it does not exist)."""
        account = self.accounts.get(address)
        return account.nonce if account is not None else 0

    def undo_of(self, diff: StateDiff) -> StateDiff:
        """The diff that puts back what ``diff`` changes, from this state (before ``diff`` is
        applied): a devnet rollback replays these backwards."""
        out = []
        for acc in diff.accounts:
            pre = self.accounts.get(acc.address)
            if pre is None:
                out.append(AccountDiff(acc.address, 0, 0, EMPTY_CODE_HASH, None, (), True))
                continue
            slots = self.storage.get(acc.address, {})
            changed = {slot for slot, _ in acc.storage} | (set(slots) if acc.deleted else set())
            storage = tuple(sorted((slot, slots.get(slot, 0)) for slot in changed))
            code = self.code.get(pre.code_hash) if pre.code_hash != acc.code_hash or acc.deleted else None
            out.append(AccountDiff(acc.address, pre.nonce, pre.balance, pre.code_hash, code, storage, False))
        return StateDiff(tuple(out))

    def apply_diff(self, diff: StateDiff) -> None:
        """Advance the state by one mini-block's diff."""
        for acc in diff.accounts:
            if acc.deleted:
                self.accounts.pop(acc.address, None)
                self.storage.pop(acc.address, None)
                continue
            self.accounts[acc.address] = AccountRecord(acc.nonce, acc.balance, acc.code_hash)
            if acc.code is not None:
                self.code[acc.code_hash] = acc.code
            if acc.storage:
                slots = self.storage.setdefault(acc.address, {})
                for slot, value in acc.storage:
                    if value:
                        slots[slot] = value
                    else:
                        slots.pop(slot, None)
                if not slots:
                    del self.storage[acc.address]


@dataclass(frozen=True, slots=True)
class AccountOverride:
    """A temporary change to one account for a simulated call (geth's ``stateOverride`` entry).

    ``storage`` replaces the whole storage (geth's ``state``); ``storage_diff`` patches slots
    (``stateDiff``). ``None`` leaves a field as it is.
    """

    balance: int | None = None
    nonce: int | None = None
    code: bytes | None = None
    storage: tuple[tuple[int, int], ...] | None = None
    storage_diff: tuple[tuple[int, int], ...] = ()


class OverlayState:
    """A :class:`StateReader` that reads ``base`` through a set of :class:`AccountOverride`."""

    def __init__(self, base: StateReader, overrides: dict[bytes, AccountOverride]) -> None:
        self._base = base
        self._overrides = overrides
        self._code: dict[bytes, bytes] = {
            keccak(o.code): o.code for o in overrides.values() if o.code is not None
        }
        self._storage = {
            address: dict(o.storage) if o.storage is not None else None for address, o in overrides.items()
        }
        self._diffs = {address: dict(o.storage_diff) for address, o in overrides.items()}

    def get_account(self, address: bytes) -> AccountRecord | None:
        """The account as overridden (an override creates an account that did not exist)."""
        record = self._base.get_account(address)
        override = self._overrides.get(address)
        if override is None:
            return record
        base = record or EMPTY_ACCOUNT
        return AccountRecord(
            nonce=base.nonce if override.nonce is None else override.nonce,
            balance=base.balance if override.balance is None else override.balance,
            code_hash=base.code_hash if override.code is None else keccak(override.code),
        )

    def get_storage(self, address: bytes, slot: int) -> int:
        """A slot as overridden."""
        diff = self._diffs.get(address)
        if diff is not None and slot in diff:
            return diff[slot]
        replaced = self._storage.get(address)
        if replaced is not None:
            return replaced.get(slot, 0)
        return self._base.get_storage(address, slot)

    def get_code_by_hash(self, code_hash: bytes) -> bytes:
        """The code with this hash (an overriding code first)."""
        code = self._code.get(code_hash)
        return code if code is not None else self._base.get_code_by_hash(code_hash)

    def get_code(self, address: bytes) -> bytes:
        """The account's code as overridden."""
        account = self.get_account(address)
        return self.get_code_by_hash(account.code_hash) if account is not None else b""
