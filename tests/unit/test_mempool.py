"""Specification of sequencer.mempool.pool.Mempool, with real signed transactions.

A transaction is *ready* when its nonce is its sender's next one, *queued* when it is ahead of
that; ready transactions are taken first-come-first-served across senders, in nonce order per
sender; a queued transaction is promoted as soon as the gap before it fills.
"""

from __future__ import annotations

import asyncio
import random
from functools import cache
from typing import Any

import pytest
from eth_account import Account
from eth_hash.auto import keccak

from sequencer.errors import InvalidTransaction
from sequencer.execution.transactions import decode_transaction
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.mempool import pool as pool_module
from sequencer.mempool.pool import Mempool
from sequencer.rpc.formatting import format_pooled
from sequencer.rpc.txpool import txpool_methods
from sequencer.types import SignedTx

CHAIN_ID = 1337
KEYS = {
    "alice": "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "bob": "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "carol": "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
}
EXTRA = [f"extra{i}" for i in range(6)]
KEYS.update({name: "0x" + keccak(name.encode()).hex() for name in EXTRA})
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
    with pytest.raises(
        InvalidTransaction,
        match=r"^nonce too high: more than 2 ahead of the next nonce \(mempool.max_nonce_gap\)$",
    ):
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
    with pytest.raises(InvalidTransaction, match=r"^txpool is full: "):
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


def test_a_ready_newcomer_evicts_a_queued_transaction_whatever_the_tips(state: State) -> None:
    pool = Mempool(state, capacity=3)
    pool.add(priced("alice", 0, 100, 1000))
    pool.add(priced("bob", 3, 50, 1000))  # queued
    pool.add(priced("bob", 4, 80, 1000))  # queued, the last of bob's queue: the eviction candidate
    assert pool.add(priced("carol", 0, 0, 1000)) is True  # ready, tip 0: it still wins
    assert priced("bob", 4, 80, 1000).hash not in pool
    assert priced("bob", 3, 50, 1000).hash in pool, "eviction never opens a nonce gap"
    assert len(pool) == 3


def test_a_queued_newcomer_evicts_only_a_cheaper_queued_transaction(state: State) -> None:
    pool = Mempool(state, capacity=3)
    pool.add(priced("alice", 0, 1, 1000))  # ready, the cheapest of all
    pool.add(priced("bob", 3, 50, 1000))
    pool.add(priced("bob", 4, 80, 1000))
    with pytest.raises(InvalidTransaction, match=r"^txpool is full: 3 transactions \(mempool.capacity\)$"):
        pool.add(priced("carol", 5, 80, 1000))  # queued: not strictly better than bob4
    assert pool.add(priced("carol", 5, 81, 1000)) is True
    assert priced("bob", 4, 80, 1000).hash not in pool
    assert priced("alice", 0, 1, 1000).hash in pool, "a queued newcomer never evicts a ready one"


def test_queued_transactions_have_a_cap_of_their_own(state: State) -> None:
    pool = Mempool(state, capacity=10, max_queued=2)
    pool.add(priced("alice", 3, 10, 1000))
    pool.add(priced("bob", 3, 20, 1000))
    with pytest.raises(
        InvalidTransaction, match=r"^txpool is full: 2 queued transactions \(mempool.max_queued\)$"
    ):
        pool.add(priced("carol", 3, 10, 1000))
    assert pool.add(priced("carol", 3, 11, 1000)) is True  # evicts alice3, the cheapest queued one
    assert priced("alice", 3, 10, 1000).hash not in pool
    for i, who in enumerate(EXTRA):  # ready transactions are not held back by the queued cap
        assert pool.add(priced(who, 0, 0, 1000)) is True, i
    assert (pool.ready_count(), pool.queued_count()) == (6, 2)


def test_a_pool_full_of_queued_transactions_never_refuses_a_ready_one(state: State) -> None:
    pool = Mempool(state, capacity=4, max_queued=4)
    for who in ["alice", "bob", "carol", EXTRA[0]]:
        pool.add(priced(who, 1, 1, 1000))
    assert pool.queued_count() == 4
    with pytest.raises(InvalidTransaction, match="txpool is full"):
        pool.add(priced(EXTRA[1], 1, 1, 1000))  # queued, no better: refused
    assert pool.add(priced(EXTRA[1], 0, 0, 1000)) is True  # ready, tip 0: admitted
    assert (pool.ready_count(), pool.queued_count()) == (1, 3)


def test_the_pooled_bytes_are_capped(state: State) -> None:
    size = len(priced("alice", 0, 10, 1000).raw)
    pool = Mempool(state, max_bytes=2 * size + size // 2)
    pool.add(priced("alice", 0, 10, 1000))
    pool.add(priced("bob", 0, 10, 1000))
    with pytest.raises(InvalidTransaction, match=r"^txpool is full: \d+ bytes \(mempool.max_bytes\)$"):
        pool.add(priced("carol", 0, 10, 1000))
    assert pool.add(priced("carol", 0, 11, 1000)) is True  # evicts bob0, the newest of the cheapest
    assert pool.pooled_bytes() == sum(len(t.raw) for t in pool.ready_transactions())


def test_the_senders_pooled_transactions_must_not_cost_more_than_its_balance(pool: Mempool) -> None:
    one = priced("alice", 0, 10, 1000)
    balance = 2 * one.max_cost() + one.max_cost() // 2
    pool.admit(one, balance=balance)
    pool.admit(priced("alice", 1, 10, 1000), balance=balance)
    with pytest.raises(InvalidTransaction, match=r"^transaction would cause overdraft: "):
        pool.admit(priced("alice", 2, 10, 1000), balance=balance)
    assert pool.pooled_cost(sender("alice")) == 2 * one.max_cost()
    # a replacement counts instead of the transaction it replaces
    bumped = priced("alice", 1, 11, 1100)
    assert pool.admit(bumped, balance=balance).replaced == priced("alice", 1, 10, 1000)
    assert pool.pooled_cost(sender("alice")) == one.max_cost() + bumped.max_cost()
    assert pool.admit(priced("bob", 0, 10, 1000), balance=balance).new is True  # per sender


def test_queued_transactions_expire_after_their_lifetime(state: State) -> None:
    now = [1000.0]
    pool = Mempool(state, queued_lifetime_s=60, clock=lambda: now[0])
    pool.add(tx("alice", 0))
    pool.add(tx("alice", 2))  # queued at 1000
    now[0] = 1030
    pool.add(tx("bob", 5))  # queued at 1030
    now[0] = 1060
    assert pool.expire_queued() == [tx("alice", 2)]
    assert pool.expire_queued() == []
    now[0] = 1095
    pool.add(tx("alice", 1))  # ready: never expires
    assert pool.expire_queued() == [tx("bob", 5)]
    assert (pool.ready_count(), pool.queued_count(), len(pool)) == (2, 0, 2)
    assert pool.pooled_count(sender("bob")) == 0


def test_a_promoted_transaction_no_longer_expires(state: State) -> None:
    now = [0.0]
    pool = Mempool(state, queued_lifetime_s=10, clock=lambda: now[0])
    pool.add(tx("alice", 1))
    pool.add(tx("alice", 0))  # fills the gap: alice1 is ready now
    now[0] = 100
    assert pool.expire_queued() == []
    assert pool.ready_count() == 2


# -- durability: the builder waits for the journal ----------------------------------------------


@pytest.mark.asyncio
async def test_the_builder_waits_for_a_transactions_journal_write(pool: Mempool) -> None:
    pool.admit(tx("alice", 0), durable=False)
    pool.add(tx("bob", 0))
    assert names(pool.take(10)) == ["alice0", "bob0"], "taken, to execute during the fsync"
    assert not pool.is_durable(tx("alice", 0).hash) and pool.is_durable(tx("bob", 0).hash)
    waiting = asyncio.ensure_future(pool.wait_durable([tx("alice", 0).hash, tx("bob", 0).hash]))
    await asyncio.sleep(0)
    assert not waiting.done()
    pool.mark_durable(tx("alice", 0).hash)
    assert await waiting == []
    assert pool.durable_transactions() == [tx("alice", 0), tx("bob", 0)]


@pytest.mark.asyncio
async def test_a_failed_journal_write_tells_the_builder(pool: Mempool) -> None:
    admitted = pool.admit(tx("alice", 0), durable=False)
    pool.take(10)
    waiting = asyncio.ensure_future(pool.wait_durable([tx("alice", 0).hash]))
    await asyncio.sleep(0)
    pool.revert(tx("alice", 0), admitted)
    assert await waiting == [tx("alice", 0).hash]
    assert len(pool) == 0 and pool.durable_transactions() == []


def test_revert_takes_the_transaction_out_and_puts_back_what_it_replaced(pool: Mempool) -> None:
    old, new = priced("alice", 0, 10, 1000), priced("alice", 0, 20, 2000)
    pool.add(old)
    admitted = pool.admit(new, durable=False)
    assert admitted.replaced == old and old.hash not in pool
    pool.revert(new, admitted)
    assert new.hash not in pool and old.hash in pool and pool.is_ready(old.hash)
    assert pool.pooled_cost(sender("alice")) == old.max_cost()


def test_revert_puts_back_what_it_evicted(state: State) -> None:
    pool = Mempool(state, capacity=2)
    pool.add(priced("alice", 0, 10, 1000))
    pool.add(priced("bob", 3, 10, 1000))
    admitted = pool.admit(priced("carol", 0, 0, 1000), durable=False)
    assert admitted.evicted == priced("bob", 3, 10, 1000)
    pool.revert(priced("carol", 0, 0, 1000), admitted)
    assert {t.hash for t in pool.queued_transactions()} == {priced("bob", 3, 10, 1000).hash}
    assert len(pool) == 2


def test_a_full_pool_without_queued_transactions_evicts_a_senders_last_ready_one(state: State) -> None:
    pool = Mempool(state, capacity=3)
    pool.add(priced("alice", 0, 100, 1000))
    pool.add(priced("alice", 1, 10, 1000))
    pool.add(priced("bob", 0, 50, 1000))
    assert pool.add(priced("carol", 0, 60, 1000)) is True
    assert names(pool.take(10)) == ["alice0", "bob0", "carol0"]
    assert pool.next_nonce(sender("alice")) == 1, "alice's evicted nonce is free again"


# -- replacement: the exact fee-bump rule ----------------------------------------------------------


def test_a_bump_just_under_ten_percent_is_refused(pool: Mempool) -> None:
    pool.add(priced("alice", 0, 10_000, 100_000))
    with pytest.raises(InvalidTransaction, match=r"^replacement transaction underpriced$"):
        pool.add(priced("alice", 0, 10_999, 110_000))  # tip +9.99%
    with pytest.raises(InvalidTransaction, match=r"^replacement transaction underpriced$"):
        pool.add(priced("alice", 0, 11_000, 109_999))  # fee cap +9.999%
    with pytest.raises(InvalidTransaction, match=r"^replacement transaction underpriced$"):
        pool.add(priced("alice", 0, 20_000, 100_000))  # only the tip is bumped
    with pytest.raises(InvalidTransaction, match=r"^replacement transaction underpriced$"):
        pool.add(priced("alice", 0, 10_000, 200_000))  # only the fee cap is bumped
    assert pool.add(priced("alice", 0, 11_000, 110_000)) is True


def test_a_replacement_must_raise_a_zero_tip(pool: Mempool) -> None:
    # geth also requires both fees to be strictly higher: 0 * 110% is still 0.
    pool.add(priced("alice", 0, 0, 1000))
    with pytest.raises(InvalidTransaction, match=r"^replacement transaction underpriced$"):
        pool.add(priced("alice", 0, 0, 2000))
    assert pool.add(priced("alice", 0, 1, 2000)) is True


def test_a_replacement_keeps_its_place_between_other_senders(pool: Mempool) -> None:
    pool.add(priced("bob", 0, 100, 1000))
    pool.add(priced("alice", 0, 100, 1000))
    pool.add(priced("alice", 1, 100, 1000))
    pool.add(priced("carol", 0, 100, 1000))
    pool.add(priced("alice", 0, 500, 5000))
    pool.add(priced("alice", 1, 500, 5000))
    taken = pool.take(10)
    assert names(taken) == ["bob0", "alice0", "alice1", "carol0"]
    assert [t.max_priority_fee_per_gas for t in taken] == [100, 500, 500, 100]
    assert (len(pool), pool.ready_count()) == (4, 4)
    assert pool.next_nonce(sender("alice")) == 2


def test_the_replaced_transaction_is_forgotten(pool: Mempool) -> None:
    old, new = priced("alice", 3, 100, 1000), priced("alice", 3, 200, 2000)
    pool.add(old)
    pool.add(new)
    assert old.hash not in pool and pool.get(old.hash) is None
    assert pool.get(new.hash) is new
    assert pool.pooled_count(sender("alice")) == 1
    assert (len(pool), pool.ready_count(), pool.queued_count()) == (1, 0, 1)


def test_resubmitting_the_replaced_transaction_is_underpriced(pool: Mempool) -> None:
    pool.add(priced("alice", 0, 100, 1000))
    pool.add(priced("alice", 0, 200, 2000))
    with pytest.raises(InvalidTransaction, match=r"^replacement transaction underpriced$"):
        pool.add(priced("alice", 0, 100, 1000))


# -- in flight: what the builder is sealing -------------------------------------------------------


def test_take_marks_transactions_in_flight_until_released(pool: Mempool) -> None:
    a0, b0 = priced("alice", 0, 100, 1000), priced("bob", 0, 100, 1000)
    pool.add(a0)
    pool.add(b0)
    assert pool.take(1) == [a0]
    assert pool.is_in_flight(a0.hash) and not pool.is_in_flight(b0.hash)
    with pytest.raises(InvalidTransaction, match=r"^replacement transaction underpriced: .*being sealed"):
        pool.add(priced("alice", 0, 200, 2000))
    assert pool.add(priced("bob", 0, 200, 2000)) is True  # not taken: replaceable
    pool.release([a0])
    assert not pool.is_in_flight(a0.hash)
    assert pool.add(priced("alice", 0, 200, 2000)) is True


def test_an_underpriced_replacement_of_an_in_flight_transaction_says_underpriced(pool: Mempool) -> None:
    pool.add(priced("alice", 0, 100, 1000))
    pool.take(1)
    with pytest.raises(InvalidTransaction, match=r"^replacement transaction underpriced$"):
        pool.add(priced("alice", 0, 101, 1010))


def test_remove_included_and_drop_clear_the_in_flight_mark(pool: Mempool, state: State) -> None:
    a0, a1 = priced("alice", 0, 100, 1000), priced("alice", 1, 100, 1000)
    b0 = priced("bob", 0, 100, 1000)
    for t in (a0, a1, b0):
        pool.add(t)
    assert pool.take(10) == [a0, a1, b0]
    pool.drop(b0)  # failed in execution
    assert pool.add(priced("bob", 0, 200, 2000)) is True  # the fix is not in flight
    state.include(a0)
    pool.remove_included([a0])
    assert pool.is_in_flight(a1.hash)  # taken, not sealed: still in flight until end_seal
    pool.end_seal()
    assert not pool.is_in_flight(a1.hash)
    assert pool.add(priced("alice", 1, 200, 2000)) is True


def test_a_transaction_in_flight_is_never_evicted(state: State) -> None:
    pool = Mempool(state, capacity=2)
    cheap, dear = priced("alice", 0, 10, 1000), priced("bob", 0, 50, 1000)
    pool.add(cheap)
    pool.add(dear)
    pool.take(1)  # cheap is being sealed
    assert pool.add(priced("carol", 0, 60, 1000)) is True
    assert cheap.hash in pool and dear.hash not in pool
    pool.take(10)
    with pytest.raises(InvalidTransaction, match=r"^txpool is full: "):
        pool.add(priced("bob", 0, 100, 1000))  # everything is in flight
    pool.end_seal()
    assert pool.add(priced("bob", 0, 100, 1000)) is True
    assert cheap.hash not in pool


# -- caps and eviction -----------------------------------------------------------------------------


def test_the_default_account_cap_is_500(pool: Mempool) -> None:
    alice = Account.from_key(KEYS["alice"])
    for n in range(501):
        signed = alice.sign_transaction(
            {
                "type": 2,
                "chainId": CHAIN_ID,
                "nonce": n,
                "maxFeePerGas": 2 * 10**9,
                "maxPriorityFeePerGas": 10**9,
                "gas": 21_000,
                "to": TO,
                "value": 1,
            }
        )
        t = decode_transaction(bytes(signed.raw_transaction), CHAIN_ID, False)
        if n < 500:
            assert pool.add(t) is True
        else:
            with pytest.raises(
                InvalidTransaction,
                match=r"^account limit exceeded: 500 pooled transactions \(mempool.account_cap\)$",
            ):
                pool.add(t)
    assert (len(pool), pool.ready_count(), pool.pooled_count(sender("alice"))) == (500, 500, 500)
    assert pool.next_nonce(sender("alice")) == 500
    assert pool.add(tx("bob", 0)) is True  # other accounts are not affected
    pool.add(priced("alice", 499, 2 * 10**9, 4 * 10**9))  # a replacement is not a new transaction
    assert pool.pooled_count(sender("alice")) == 500


def test_the_default_capacity_is_100_000(pool: Mempool) -> None:
    assert (pool.capacity, pool.account_cap, pool.max_nonce_gap) == (100_000, 500, 64)


def test_eviction_takes_the_cheapest_last_queued_transaction_of_all_senders(state: State) -> None:
    pool = Mempool(state, capacity=5)
    pool.add(priced("alice", 0, 10, 1000))  # ready, cheapest, but a queued one goes first
    pool.add(priced("alice", 2, 70, 1000))
    pool.add(priced("bob", 1, 40, 1000))
    pool.add(priced("bob", 2, 30, 1000))  # bob's last queued one
    pool.add(priced("carol", 5, 60, 1000))
    assert pool.add(priced(EXTRA[0], 0, 31, 1000)) is True
    assert priced("bob", 2, 30, 1000).hash not in pool
    assert pool.add(priced(EXTRA[1], 0, 41, 1000)) is True
    assert priced("bob", 1, 40, 1000).hash not in pool, "bob1 became bob's last queued one"
    assert pool.queued_count() == 2
    assert pool.add(priced(EXTRA[2], 0, 1, 1000)) is True  # a ready newcomer wins at any tip
    assert priced("carol", 5, 60, 1000).hash not in pool, "carol5 was the cheapest last queued one"
    assert len(pool) == 5 and pool.queued_count() == 1


def test_eviction_never_takes_from_the_newcomers_own_sender(state: State) -> None:
    pool = Mempool(state, capacity=2)
    pool.add(priced("alice", 3, 1, 1000))
    pool.add(priced("bob", 0, 50, 1000))
    # alice's own queued transaction is not a candidate: bob0 is, and it pays more
    with pytest.raises(InvalidTransaction, match=r"^txpool is full: "):
        pool.add(priced("alice", 0, 40, 1000))
    assert pool.add(priced("alice", 0, 60, 1000)) is True
    assert priced("bob", 0, 50, 1000).hash not in pool
    assert names(pool.take(10)) == ["alice0"]


def test_equal_tips_evict_the_most_recent_arrival(state: State) -> None:
    pool = Mempool(state, capacity=3)
    pool.add(priced("alice", 0, 10, 1000))
    pool.add(priced("bob", 0, 10, 1000))
    pool.add(priced("carol", 0, 10, 1000))
    assert pool.add(priced(EXTRA[0], 0, 11, 1000)) is True
    assert names(pool.take(10)) == ["alice0", "bob0", "extra00"]


def test_a_replacement_changes_the_eviction_candidate(state: State) -> None:
    pool = Mempool(state, capacity=2)
    pool.add(priced("alice", 0, 10, 1000))
    pool.add(priced("bob", 0, 20, 1000))
    pool.add(priced("alice", 0, 30, 3000))  # alice0 is no longer the cheapest
    assert pool.add(priced("carol", 0, 25, 1000)) is True
    assert names(pool.take(10)) == ["alice0", "carol0"]


def test_evicting_a_ready_transaction_frees_its_nonce(state: State) -> None:
    pool = Mempool(state, capacity=3)
    pool.add(priced("alice", 0, 10, 1000))
    pool.add(priced("alice", 1, 10, 1000))
    pool.add(priced("bob", 0, 50, 1000))
    assert pool.add(priced("carol", 0, 60, 1000)) is True  # evicts alice1, alice's last ready
    assert pool.next_nonce(sender("alice")) == 1
    assert pool.add(priced(EXTRA[0], 0, 70, 1000)) is True  # evicts alice0, now alice's last
    assert pool.pooled_count(sender("alice")) == 0
    assert pool.next_nonce(sender("alice")) == 0
    assert names(pool.take(10)) == ["bob0", "carol0", "extra00"]
    pool.end_seal()
    with pytest.raises(InvalidTransaction, match=r"^txpool is full: "):
        pool.add(priced("alice", 1, 10, 1000))  # bob0 (50) is the cheapest candidate
    assert pool.add(priced("alice", 0, 55, 1000)) is True  # ready again at the state nonce
    assert names(pool.take(10)) == ["carol0", "extra00", "alice0"]


def test_a_queued_newcomer_never_evicts_the_last_ready_transaction(state: State) -> None:
    pool = Mempool(state, capacity=1)
    pool.add(priced("alice", 0, 10, 1000))
    with pytest.raises(InvalidTransaction, match="txpool is full"):
        pool.add(priced("bob", 5, 20, 1000))  # queued, whatever its tip
    assert (pool.ready_count(), pool.queued_count()) == (1, 0)
    assert pool.ready_event.is_set()


# -- nonce order from any arrival order ------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_twenty_transactions_in_random_order_all_end_ready_in_nonce_order(pool: Mempool, seed: int) -> None:
    order = list(range(20))
    random.Random(seed).shuffle(order)
    for i, n in enumerate(order):
        assert pool.add(tx("alice", n)) is True
        assert pool.next_nonce(sender("alice")) == next(k for k in range(21) if k not in order[: i + 1])
    assert (pool.ready_count(), pool.queued_count()) == (20, 0)
    assert [t.nonce for t in pool.take(100)] == list(range(20))


def test_senders_interleave_by_readiness_not_by_fee(pool: Mempool) -> None:
    pool.add(priced("alice", 0, 1, 1000))
    pool.add(priced("bob", 0, 900, 1000))  # a far higher tip does not jump the queue
    pool.add(priced("carol", 1, 900, 1000))
    pool.add(priced("alice", 1, 1, 1000))
    pool.add(priced("carol", 0, 900, 1000))
    assert names(pool.take(10)) == ["alice0", "bob0", "alice1", "carol0", "carol1"]


# -- invariants under a random mix of operations ------------------------------------------------------


SENDERS = ["alice", "bob", "carol", *EXTRA[:3]]
TIPS = [10, 11, 20, 30, 50]


def cheap(who: str, nonce: int, tip: int) -> SignedTx:
    return priced(who, nonce, tip, tip * 10)


def check_invariants(pool: Mempool, state: State, pooled: dict[bytes, SignedTx]) -> None:
    ready, queued = list(pool.ready_transactions()), list(pool.queued_transactions())
    assert {t.hash: t for t in ready + queued} == pooled
    assert len(ready) + len(queued) == len(pool) == len(pooled) <= pool.capacity
    assert (pool.ready_count(), pool.queued_count()) == (len(ready), len(queued))
    assert pool.ready_event.is_set() == bool(ready)
    for who in SENDERS:
        address = sender(who)
        mine = [t.nonce for t in ready if t.sender == address]
        expected_next = mine[-1] + 1 if mine else state(address)
        assert mine == list(range(state(address), expected_next)), "ready: contiguous from the state"
        waiting = sorted(t.nonce for t in queued if t.sender == address)
        assert not waiting or waiting[0] > expected_next, "a queued transaction behind no gap"
        assert pool.next_nonce(address) == expected_next
        assert pool.pooled_count(address) == len(mine) + len(waiting) <= pool.account_cap


def last_per_sender(pool: Mempool, txs: list[SignedTx], newcomer: SignedTx) -> list[SignedTx]:
    last: dict[bytes, SignedTx] = {}
    for t in txs:
        if t.sender != newcomer.sender and (t.sender not in last or t.nonce > last[t.sender].nonce):
            last[t.sender] = t
    return [t for t in last.values() if not pool.is_in_flight(t.hash)]


def eviction_candidates(pool: Mempool, newcomer: SignedTx, ready: bool) -> list[SignedTx]:
    """The reference rule, by brute force: each other sender's last queued transaction (a ready
    newcomer takes one whatever the tips; a queued one only for a strictly higher tip), else, for
    a ready newcomer only, each other sender's last ready one that pays a strictly lower tip;
    never one in flight."""
    tip = newcomer.max_priority_fee_per_gas
    queued = last_per_sender(pool, list(pool.queued_transactions()), newcomer)
    if ready:
        if queued:
            return queued
        return [
            t
            for t in last_per_sender(pool, list(pool.ready_transactions()), newcomer)
            if t.max_priority_fee_per_gas < tip
        ]
    return [t for t in queued if t.max_priority_fee_per_gas < tip]


def cheapest(candidates: list[SignedTx]) -> int:
    return min(c.max_priority_fee_per_gas for c in candidates)


@pytest.mark.parametrize(
    ("seed", "slack", "max_queued"), [(s, 1024, 8) for s in range(6)] + [(s, 0, 3) for s in range(6, 10)]
)
def test_random_operations_keep_every_invariant(
    state: State, seed: int, slack: int, max_queued: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool_module, "_HEAP_SLACK", slack)  # 0: the heaps are rebuilt often
    rng = random.Random(seed)
    pool = Mempool(state, max_nonce_gap=4, capacity=8, account_cap=5, max_queued=max_queued)
    pooled: dict[bytes, SignedTx] = {}
    taken: list[SignedTx] = []  # in flight: executed, waiting to become durable
    included: list[SignedTx] = []
    evictions = refusals = 0
    for _ in range(400):
        op = rng.random()
        if op < 0.7:
            who = rng.choice(SENDERS)
            t = cheap(who, state(sender(who)) + rng.randrange(6), rng.choice(TIPS))
            before = dict(pooled)
            mine_ready = [x for x in pool.ready_transactions() if x.sender == t.sender]
            ready = t.nonce == state(t.sender) + len(mine_ready)
            full = len(pool) >= pool.capacity or (not ready and pool.queued_count() >= pool.max_queued)
            candidates = eviction_candidates(pool, t, ready)
            in_flight = [h for h in before if pool.is_in_flight(h)]
            queued_before = pool.queued_count()  # drops demote ready ones: may be above the cap
            try:
                added = pool.add(t)
            except InvalidTransaction as exc:
                assert {x.hash for x in [*pool.ready_transactions(), *pool.queued_transactions()]} == set(
                    before
                )
                if exc.message.startswith("txpool is full"):
                    refusals += 1
                    assert full and not candidates
            else:
                pooled = {x.hash: x for x in [*pool.ready_transactions(), *pool.queued_transactions()]}
                gone = [x for h, x in before.items() if h not in pooled]
                assert added == (t.hash not in before)
                assert len(gone) <= 1 and all(h in pooled for h in in_flight)
                if gone and (gone[0].sender, gone[0].nonce) != (t.sender, t.nonce):
                    evictions += 1
                    assert full and gone[0] in candidates
                    assert gone[0].max_priority_fee_per_gas == cheapest(candidates)
                assert pool.queued_count() <= max(pool.max_queued, queued_before), "admission keeps the cap"
        elif op < 0.8 and not taken:
            # the producer: take, execute (a few fail), then wait for durability
            executed: dict[bytes, int] = {}
            for t in pool.take(rng.randrange(1, 6)):
                nonce = executed.get(t.sender, state(t.sender))
                if t.nonce != nonce or rng.random() < 0.15:
                    pool.drop(t)
                else:
                    executed[t.sender] = nonce + 1
                    included.append(t)
                taken.append(t)
            pooled = {x.hash: x for x in [*pool.ready_transactions(), *pool.queued_transactions()]}
        elif op < 0.9 and taken:
            state.include(*included)
            pool.remove_included(included)
            pool.end_seal()
            for t in included:
                pooled.pop(t.hash)
            taken, included = [], []
        check_invariants(pool, state, pooled)
    assert evictions and refusals, "the run exercised eviction"


# -- txpool_* (geth's operator views) ----------------------------------------------------------------


def fmt(t: SignedTx) -> dict[str, Any]:
    """A pooled transaction as txpool_content renders it: the transaction object, block fields null."""
    out = format_pooled(t)
    assert out["hash"] == "0x" + t.hash.hex() and out["blockHash"] is None
    return out


def checksum(who: str) -> str:
    return str(Account.from_key(KEYS[who]).address)


def test_txpool_status_counts_pending_and_queued(pool: Mempool) -> None:
    methods = txpool_methods(pool)
    assert methods["txpool_status"]([]) == {"pending": "0x0", "queued": "0x0"}
    pool.add(tx("alice", 0))
    pool.add(tx("alice", 1))
    pool.add(tx("bob", 2))
    assert methods["txpool_status"]([]) == {"pending": "0x2", "queued": "0x1"}


def test_txpool_content_groups_by_sender_and_decimal_nonce(pool: Mempool) -> None:
    for t in (tx("alice", 0), tx("alice", 1), tx("bob", 12), tx("alice", 10)):
        pool.add(t)
    content = txpool_methods(pool)["txpool_content"]([])
    alice = {"0": fmt(tx("alice", 0)), "1": fmt(tx("alice", 1))}
    assert content == {
        "pending": {checksum("alice"): alice},
        "queued": {
            checksum("alice"): {"10": fmt(tx("alice", 10))},
            checksum("bob"): {"12": fmt(tx("bob", 12))},
        },
    }


def test_txpool_content_from_one_address(pool: Mempool) -> None:
    for t in (tx("alice", 0), tx("alice", 3), tx("bob", 0)):
        pool.add(t)
    content_from = txpool_methods(pool)["txpool_contentFrom"]
    assert content_from([checksum("alice")]) == {
        "pending": {"0": fmt(tx("alice", 0))},
        "queued": {"3": fmt(tx("alice", 3))},
    }
    assert content_from([checksum("carol").lower()]) == {"pending": {}, "queued": {}}
    for bad in ([], ["0x1234"], [checksum("alice"), 1]):
        with pytest.raises(InvalidParams):
            content_from(bad)


def test_txpool_inspect_summarises_like_geth(pool: Mempool) -> None:
    pool.add(tx("alice", 0, value=7))
    inspect = txpool_methods(pool)["txpool_inspect"]([])
    line = f"{TO}: 7 wei + 21000 gas \u00d7 {2 * 10**9} wei"
    assert inspect == {"pending": {checksum("alice"): {"0": line}}, "queued": {}}


@pytest.mark.parametrize("method", ["txpool_status", "txpool_content", "txpool_inspect"])
def test_txpool_methods_take_no_params(pool: Mempool, method: str) -> None:
    handler = txpool_methods(pool)[method]
    handler([])
    with pytest.raises(InvalidParams, match="expected 0 params, got 1"):
        handler(["latest"])
    with pytest.raises(InvalidParams):
        handler({"a": 1})  # type: ignore[arg-type]


def test_a_throttled_sender_is_refused_until_its_cooldown_ends(state: State) -> None:
    now = [0.0]
    pool = Mempool(state, clock=lambda: now[0])
    pool.throttle(sender("alice"), 60)
    with pytest.raises(
        InvalidTransaction, match=r"^sender throttled: .* retry in 60 s \(execution.abort_cooldown_s\)$"
    ):
        pool.add(tx("alice", 0))
    assert pool.add(tx("bob", 0)) is True
    now[0] = 60
    assert pool.add(tx("alice", 0)) is True
    pool.throttle(sender("bob"), 0)  # no cooldown configured
    assert pool.add(tx("bob", 1)) is True
