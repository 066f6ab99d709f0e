"""Specification of sequencer.mempool.pool.Mempool, with real signed transactions.

A transaction is *ready* when its nonce is its sender's next one, *queued* when it is ahead of
that; ready transactions are taken first-come-first-served across senders, in nonce order per
sender; a queued transaction is promoted as soon as the gap before it fills.
"""

from __future__ import annotations

from functools import cache

import pytest
from eth_account import Account

from sequencer.errors import InvalidTransaction
from sequencer.execution.transactions import SignedTx, decode_transaction
from sequencer.mempool.pool import Mempool

CHAIN_ID = 1337
KEYS = {
    "alice": "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "bob": "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "carol": "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
}
TO = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"


@cache
def tx(who: str, nonce: int, value: int = 1) -> SignedTx:
    """A signed EIP-1559 transfer of ``value`` wei; different values give different hashes."""
    signed = Account.from_key(KEYS[who]).sign_transaction(
        {
            "type": 2,
            "chainId": CHAIN_ID,
            "nonce": nonce,
            "maxFeePerGas": 2 * 10**9,
            "maxPriorityFeePerGas": 10**9,
            "gas": 21_000,
            "to": TO,
            "value": value,
        }
    )
    return decode_transaction(bytes(signed.raw_transaction), CHAIN_ID, False)


def sender(who: str) -> bytes:
    return bytes.fromhex(Account.from_key(KEYS[who]).address[2:])


class State:
    """The committed account nonces the pool consults."""

    def __init__(self) -> None:
        self.nonces: dict[bytes, int] = {}

    def __call__(self, address: bytes) -> int:
        return self.nonces.get(address, 0)

    def include(self, *txs: SignedTx) -> None:
        for t in txs:
            self.nonces[t.sender] = t.nonce + 1


@pytest.fixture
def state() -> State:
    return State()


@pytest.fixture
def pool(state: State) -> Mempool:
    return Mempool(state)


def nonces(txs: list[SignedTx]) -> list[tuple[bytes, int]]:
    return [(t.sender, t.nonce) for t in txs]


def names(txs: list[SignedTx]) -> list[str]:
    by_sender = {sender(w): w for w in KEYS}
    return [f"{by_sender[t.sender]}{t.nonce}" for t in txs]


# -- ready and queued --------------------------------------------------------------------------


def test_a_transaction_at_the_state_nonce_is_ready(pool: Mempool) -> None:
    t = tx("alice", 0)
    assert pool.add(t) is True
    assert (len(pool), pool.ready_count(), pool.queued_count()) == (1, 1, 0)
    assert t.hash in pool
    assert pool.get(t.hash) is t
    assert pool.take(10) == [t]
    assert pool.ready_event.is_set()


def test_a_future_nonce_is_queued(pool: Mempool) -> None:
    assert pool.add(tx("alice", 2)) is True
    assert (len(pool), pool.ready_count(), pool.queued_count()) == (1, 0, 1)
    assert pool.take(10) == []
    assert not pool.ready_event.is_set()


def test_ready_follows_the_state_nonce(pool: Mempool, state: State) -> None:
    state.nonces[sender("alice")] = 5
    pool.add(tx("alice", 5))
    pool.add(tx("alice", 7))
    assert names(pool.take(10)) == ["alice5"]
    assert pool.queued_count() == 1


def test_queued_transactions_are_promoted_when_the_gap_fills(pool: Mempool) -> None:
    pool.add(tx("alice", 3))
    pool.add(tx("alice", 1))
    pool.add(tx("alice", 2))
    assert pool.ready_count() == 0
    pool.add(tx("alice", 0))
    assert names(pool.take(10)) == ["alice0", "alice1", "alice2", "alice3"]
    assert pool.queued_count() == 0


def test_promotion_stops_at_the_next_gap(pool: Mempool) -> None:
    pool.add(tx("alice", 1))
    pool.add(tx("alice", 3))
    pool.add(tx("alice", 0))
    assert names(pool.take(10)) == ["alice0", "alice1"]
    assert pool.queued_count() == 1
    pool.add(tx("alice", 2))
    assert names(pool.take(10)) == ["alice0", "alice1", "alice2", "alice3"]


def test_take_is_arrival_order_across_senders_and_nonce_order_per_sender(pool: Mempool) -> None:
    pool.add(tx("alice", 1))  # queued: waits for alice0
    pool.add(tx("bob", 0))
    pool.add(tx("carol", 0))
    pool.add(tx("alice", 0))  # alice0 arrives, alice1 is promoted right behind it
    pool.add(tx("bob", 1))
    assert names(pool.take(10)) == ["bob0", "carol0", "alice0", "alice1", "bob1"]


def test_take_respects_the_limit_and_does_not_remove(pool: Mempool) -> None:
    for n in range(4):
        pool.add(tx("alice", n))
    assert names(pool.take(2)) == ["alice0", "alice1"]
    assert names(pool.take(0)) == []
    assert len(pool) == 4
    assert names(pool.take(10)) == ["alice0", "alice1", "alice2", "alice3"]


# -- rejections ----------------------------------------------------------------------------------


def test_adding_the_same_transaction_twice_is_idempotent(pool: Mempool) -> None:
    assert pool.add(tx("alice", 0)) is True
    assert pool.add(tx("alice", 0)) is False
    assert pool.add(tx("alice", 3)) is True
    assert pool.add(tx("alice", 3)) is False
    assert len(pool) == 2


def test_nonce_below_the_state_nonce_is_too_low(pool: Mempool, state: State) -> None:
    state.nonces[sender("alice")] = 3
    with pytest.raises(InvalidTransaction, match=r"^nonce too low$"):
        pool.add(tx("alice", 2))
    assert len(pool) == 0


def test_a_second_transaction_for_a_ready_nonce_is_an_underpriced_replacement(pool: Mempool) -> None:
    pool.add(tx("alice", 0))
    with pytest.raises(InvalidTransaction, match=r"^replacement transaction underpriced$"):
        pool.add(tx("alice", 0, value=2))
    assert names(pool.take(10)) == ["alice0"]
    assert pool.take(1)[0].value == 1


def test_a_second_transaction_for_a_queued_nonce_is_an_underpriced_replacement(pool: Mempool) -> None:
    pool.add(tx("alice", 4))
    with pytest.raises(InvalidTransaction, match=r"^replacement transaction underpriced$"):
        pool.add(tx("alice", 4, value=2))
    assert len(pool) == 1


def test_nonce_gap_is_limited(state: State) -> None:
    pool = Mempool(state, max_nonce_gap=2)
    assert pool.add(tx("alice", 2))  # exactly max_nonce_gap ahead
    with pytest.raises(InvalidTransaction, match=r"^nonce too high: more than 2 ahead of the next nonce$"):
        pool.add(tx("alice", 3))
    assert len(pool) == 1


def test_nonce_gap_counts_from_the_next_pooled_nonce(state: State) -> None:
    pool = Mempool(state, max_nonce_gap=2)
    pool.add(tx("alice", 0))
    pool.add(tx("alice", 1))
    assert pool.add(tx("alice", 4))  # next nonce is 2; 4 is 2 ahead
    with pytest.raises(InvalidTransaction, match="nonce too high"):
        pool.add(tx("alice", 5))


def test_capacity(state: State) -> None:
    pool = Mempool(state, capacity=2)
    pool.add(tx("alice", 0))
    pool.add(tx("bob", 0))
    with pytest.raises(InvalidTransaction, match=r"^txpool is full$"):
        pool.add(tx("carol", 0))
    assert pool.add(tx("alice", 0)) is False  # an already pooled one is still answered


# -- next_nonce ------------------------------------------------------------------------------------


def test_next_nonce_of_an_unknown_sender_is_the_state_nonce(pool: Mempool, state: State) -> None:
    assert pool.next_nonce(sender("alice")) == 0
    state.nonces[sender("alice")] = 9
    assert pool.next_nonce(sender("alice")) == 9


def test_next_nonce_counts_ready_and_contiguous_queued_transactions(pool: Mempool) -> None:
    pool.add(tx("alice", 0))
    pool.add(tx("alice", 1))
    assert pool.next_nonce(sender("alice")) == 2
    pool.add(tx("alice", 3))  # queued behind a gap at 2
    assert pool.next_nonce(sender("alice")) == 2
    pool.add(tx("alice", 2))
    assert pool.next_nonce(sender("alice")) == 4
    assert pool.next_nonce(sender("bob")) == 0


def test_next_nonce_skips_queued_transactions_at_the_state_nonce_gap(pool: Mempool) -> None:
    pool.add(tx("alice", 1))
    assert pool.next_nonce(sender("alice")) == 0


# -- removal after inclusion --------------------------------------------------------------------------


def test_remove_included_forgets_transactions_after_the_state_advanced(pool: Mempool, state: State) -> None:
    txs = [tx("alice", 0), tx("alice", 1), tx("bob", 0)]
    for t in txs:
        pool.add(t)
    state.include(*txs)
    pool.remove_included(txs)
    assert len(pool) == 0
    assert all(t.hash not in pool for t in txs)
    assert pool.take(10) == []
    assert not pool.ready_event.is_set()
    assert pool.next_nonce(sender("alice")) == 2
    assert pool.next_nonce(sender("bob")) == 1
    pool.add(tx("alice", 2))
    assert names(pool.take(10)) == ["alice2"]


def test_remove_included_keeps_the_rest_of_a_senders_transactions(pool: Mempool, state: State) -> None:
    for n in range(3):
        pool.add(tx("alice", n))
    pool.add(tx("alice", 5))
    state.include(tx("alice", 0))
    pool.remove_included([tx("alice", 0)])
    assert names(pool.take(10)) == ["alice1", "alice2"]
    assert pool.ready_event.is_set()
    assert pool.next_nonce(sender("alice")) == 3
    assert pool.queued_count() == 1
    with pytest.raises(InvalidTransaction, match=r"^nonce too low$"):
        pool.add(tx("alice", 0, value=2))
    with pytest.raises(InvalidTransaction, match=r"^replacement transaction underpriced$"):
        pool.add(tx("alice", 1, value=2))


def test_ready_event_follows_the_ready_set(pool: Mempool, state: State) -> None:
    assert not pool.ready_event.is_set()
    pool.add(tx("alice", 1))
    assert not pool.ready_event.is_set()
    pool.add(tx("alice", 0))
    assert pool.ready_event.is_set()
    state.include(tx("alice", 0), tx("alice", 1))
    pool.remove_included([tx("alice", 0), tx("alice", 1)])
    assert not pool.ready_event.is_set()


# -- drop (a transaction failed in execution) ---------------------------------------------------------


def test_drop_demotes_the_senders_later_ready_transactions(pool: Mempool) -> None:
    for n in range(3):
        pool.add(tx("alice", n))
    pool.add(tx("bob", 0))
    demoted = pool.drop(tx("alice", 0))
    assert names(demoted) == ["alice1", "alice2"]
    assert tx("alice", 0).hash not in pool
    assert names(pool.take(10)) == ["bob0"]
    assert (len(pool), pool.ready_count(), pool.queued_count()) == (3, 1, 2)
    assert pool.next_nonce(sender("alice")) == 0


def test_a_replacement_for_a_dropped_transaction_promotes_the_demoted_ones(pool: Mempool) -> None:
    for n in range(3):
        pool.add(tx("alice", n))
    pool.drop(tx("alice", 0))
    assert pool.add(tx("alice", 0, value=2)) is True
    assert names(pool.take(10)) == ["alice0", "alice1", "alice2"]
    assert pool.take(1)[0].value == 2


def test_drop_of_the_last_ready_transaction_clears_the_ready_event(pool: Mempool) -> None:
    pool.add(tx("alice", 0))
    assert pool.drop(tx("alice", 0)) == []
    assert len(pool) == 0
    assert not pool.ready_event.is_set()
    assert pool.next_nonce(sender("alice")) == 0


def test_drop_leaves_other_senders_alone(pool: Mempool) -> None:
    pool.add(tx("alice", 0))
    pool.add(tx("bob", 0))
    pool.add(tx("bob", 1))
    pool.drop(tx("alice", 0))
    assert names(pool.take(10)) == ["bob0", "bob1"]
    assert pool.next_nonce(sender("bob")) == 2


def test_drop_of_a_queued_transaction_forgets_it(pool: Mempool) -> None:
    # The producer does exactly this: after drop(alice1) demoted alice2, alice2 is still in the
    # mini-block's candidate list, fails with a nonce gap and is dropped in turn.
    for n in range(3):
        pool.add(tx("alice", n))
    pool.drop(tx("alice", 1))
    pool.drop(tx("alice", 2))
    assert len(pool) == 1
    assert pool.queued_count() == 0
    assert pool.add(tx("alice", 2, value=2)) is True  # resubmitting nonce 2 must be possible
    pool.add(tx("alice", 1, value=2))
    assert all(t.hash in pool for t in pool.take(10))  # no forgotten transaction resurfaces


def test_drop_keeps_the_nonces_of_earlier_ready_transactions(pool: Mempool, state: State) -> None:
    # Mini-block: alice0 executes, alice1 fails and is dropped; until the mini-block is durable
    # (remove_included) alice0 is still ready and the state nonce is still 0.
    for n in range(3):
        pool.add(tx("alice", n))
    pool.drop(tx("alice", 1))
    assert pool.next_nonce(sender("alice")) == 1  # alice0 is pending
    with pytest.raises(InvalidTransaction, match="replacement transaction underpriced"):
        pool.add(tx("alice", 0, value=2))
    pool.add(tx("alice", 1, value=2))  # the sender's fix for the dropped one
    assert names(pool.take(10)) == ["alice0", "alice1", "alice2"]
    state.include(tx("alice", 0))
    pool.remove_included([tx("alice", 0)])
    assert names(pool.take(10)) == ["alice1", "alice2"]


# -- replacement, caps and eviction ------------------------------------------------------------------


@cache
def priced(who: str, nonce: int, tip: int, max_fee: int) -> SignedTx:
    signed = Account.from_key(KEYS[who]).sign_transaction(
        {
            "type": 2,
            "chainId": CHAIN_ID,
            "nonce": nonce,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
            "gas": 21_000,
            "to": TO,
            "value": 1,
        }
    )
    return decode_transaction(bytes(signed.raw_transaction), CHAIN_ID, False)


def test_replacement_needs_both_fees_raised_by_ten_percent(pool: Mempool) -> None:
    pool.add(priced("alice", 0, 100, 1000))
    with pytest.raises(InvalidTransaction, match=r"^replacement transaction underpriced$"):
        pool.add(priced("alice", 0, 109, 1100))  # the tip is only 9% higher
    with pytest.raises(InvalidTransaction, match=r"^replacement transaction underpriced$"):
        pool.add(priced("alice", 0, 110, 1099))  # the fee cap is only 9.9% higher
    assert pool.add(priced("alice", 0, 110, 1100)) is True  # exactly 10% is enough
    assert priced("alice", 0, 100, 1000).hash not in pool
    assert pool.take(5) == [priced("alice", 0, 110, 1100)]


def test_a_replaced_ready_transaction_keeps_its_place(pool: Mempool) -> None:
    pool.add(priced("alice", 0, 100, 1000))
    pool.add(priced("bob", 0, 100, 1000))
    pool.add(priced("alice", 0, 200, 2000))
    assert names(pool.take(5)) == ["alice0", "bob0"]


def test_a_transaction_being_sealed_cannot_be_replaced(pool: Mempool) -> None:
    pool.add(priced("alice", 0, 100, 1000))
    pool.take(5)
    with pytest.raises(InvalidTransaction, match="being sealed"):
        pool.add(priced("alice", 0, 200, 2000))
    pool.end_seal()
    assert pool.add(priced("alice", 0, 200, 2000)) is True


def test_a_queued_transaction_can_be_replaced(pool: Mempool) -> None:
    pool.add(priced("alice", 2, 100, 1000))
    pool.add(priced("alice", 2, 120, 1200))
    assert pool.queued_count() == 1
    assert list(pool.queued_transactions()) == [priced("alice", 2, 120, 1200)]


def test_the_account_cap_counts_ready_and_queued(state: State) -> None:
    pool = Mempool(state, account_cap=3)
    pool.add(tx("alice", 0))
    pool.add(tx("alice", 1))
    pool.add(tx("alice", 5))
    with pytest.raises(InvalidTransaction, match="account limit exceeded"):
        pool.add(tx("alice", 2))
    assert pool.add(tx("bob", 0)) is True


def test_a_full_pool_evicts_the_cheapest_queued_transaction_for_a_better_one(state: State) -> None:
    pool = Mempool(state, capacity=3)
    pool.add(priced("alice", 0, 100, 1000))
    pool.add(priced("bob", 3, 50, 1000))  # queued, cheapest
    pool.add(priced("bob", 4, 80, 1000))  # queued, the last of bob's queue: the eviction candidate
    with pytest.raises(InvalidTransaction, match=r"^txpool is full$"):
        pool.add(priced("carol", 0, 80, 1000))  # not strictly better than the candidate
    assert pool.add(priced("carol", 0, 90, 1000)) is True
    assert priced("bob", 4, 80, 1000).hash not in pool
    assert priced("bob", 3, 50, 1000).hash in pool, "eviction never opens a nonce gap"
    assert len(pool) == 3


def test_a_full_pool_without_queued_transactions_evicts_a_senders_last_ready_one(state: State) -> None:
    pool = Mempool(state, capacity=3)
    pool.add(priced("alice", 0, 100, 1000))
    pool.add(priced("alice", 1, 10, 1000))
    pool.add(priced("bob", 0, 50, 1000))
    assert pool.add(priced("carol", 0, 60, 1000)) is True
    assert names(pool.take(10)) == ["alice0", "bob0", "carol0"]
    assert pool.next_nonce(sender("alice")) == 1, "alice's evicted nonce is free again"
