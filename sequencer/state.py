"""The engine-neutral state: account records, the read interface, and the committed flat state.

Storage persists it, the chain serves it, RPC reads it, and the execution adapter runs py-evm
over it (``execution/flatdb.py``); none of them needs the others' internals to agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from eth_hash.auto import keccak

from sequencer.types import StateDiff

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
