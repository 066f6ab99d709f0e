"""Specification of the state trie fed from diffs: after any sequence of account, storage and
deletion changes, with roots asked for in between, its root equals py-trie's over the same state."""

from __future__ import annotations

import rlp
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trie.hexary import HexaryTrie

from sequencer.trie.mpt import EMPTY_ROOT
from sequencer.trie.state import StateTrie

ADDRESSES = [bytes([i]) * 20 for i in range(1, 6)]
CODE_HASHES = [keccak(b""), keccak(b"code")]

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("account"),
            st.sampled_from(ADDRESSES),
            st.integers(0, 3),
            st.integers(0, 10**20),
            st.sampled_from(CODE_HASHES),
        ),
        st.tuples(st.just("storage"), st.sampled_from(ADDRESSES), st.integers(0, 5), st.integers(0, 3)),
        st.tuples(st.just("delete"), st.sampled_from(ADDRESSES)),
        st.tuples(st.just("root")),
    ),
    max_size=40,
)


def reference_root(
    accounts: dict[bytes, tuple[int, int, bytes]], storage: dict[bytes, dict[int, int]]
) -> bytes:
    state = HexaryTrie({})
    for address, (nonce, balance, code_hash) in accounts.items():
        slots = HexaryTrie({})
        for slot, value in storage.get(address, {}).items():
            slots[keccak(slot.to_bytes(32, "big"))] = rlp.encode(value)
        state[keccak(address)] = rlp.encode([nonce, balance, slots.root_hash, code_hash])
    return bytes(state.root_hash)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_root_equals_py_trie_after_any_changes(operations: list[tuple[object, ...]]) -> None:
    trie = StateTrie()
    accounts: dict[bytes, tuple[int, int, bytes]] = {}
    storage: dict[bytes, dict[int, int]] = {}
    for op in operations:
        if op[0] == "account":
            _, address, nonce, balance, code_hash = op
            trie.set_account(address, nonce, balance, code_hash)  # type: ignore[arg-type]
            accounts[address] = (nonce, balance, code_hash)  # type: ignore[index,assignment]
        elif op[0] == "storage":
            _, address, slot, value = op
            if address not in accounts:
                continue  # storage only exists on an existing account (as in a diff)
            trie.set_storage(address, slot, value)  # type: ignore[arg-type]
            slots = storage.setdefault(address, {})
            if value:
                slots[slot] = value  # type: ignore[index,assignment]
            else:
                slots.pop(slot, None)  # type: ignore[call-overload]
        elif op[0] == "delete":
            trie.delete_account(op[1])  # type: ignore[arg-type]
            accounts.pop(op[1], None)  # type: ignore[call-overload]
            storage.pop(op[1], None)  # type: ignore[call-overload]
        else:
            assert trie.root() == reference_root(accounts, storage)
    assert trie.root() == reference_root(accounts, storage)
    assert len(trie) == len(accounts)


def test_a_storage_only_change_keeps_the_account_fields() -> None:
    trie = StateTrie()
    address = ADDRESSES[0]
    trie.set_account(address, 7, 1234, CODE_HASHES[1])
    trie.root()
    trie.set_storage(address, 1, 99)
    assert trie.root() == reference_root({address: (7, 1234, CODE_HASHES[1])}, {address: {1: 99}})


def test_the_empty_state_has_the_empty_root() -> None:
    trie = StateTrie()
    assert trie.root() == EMPTY_ROOT
    trie.set_account(ADDRESSES[0], 0, 1, CODE_HASHES[0])
    trie.delete_account(ADDRESSES[0])
    assert trie.root() == EMPTY_ROOT
