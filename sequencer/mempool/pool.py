"""The transaction pool.

Ordering rule (first-come-first-served within nonce rules):
  * a transaction is *ready* when its nonce is its sender's next one (the state nonce, plus the
    sender's ready transactions before it); ready transactions go to the builder in the order
    they became ready, across all senders — fees do not reorder them;
  * within one sender, transactions always go in nonce order (a sender's transaction becomes
    ready only behind its predecessor, so it is also behind it in the arrival order);
  * a transaction with a future nonce waits in its sender's *queue* (at most ``max_nonce_gap``
    ahead of the next nonce) and is promoted, in nonce order, as soon as the gap fills; it joins
    the arrival order at that moment, behind everything already ready;
  * a same-nonce *replacement* needs both fee caps raised by at least 10% (geth's rule, integer
    math: ``new * 100 >= old * 110``, and strictly higher) and keeps the replaced transaction's
    place; a transaction the builder is sealing right now cannot be replaced.

The builder's protocol: :meth:`Mempool.take` returns ready transactions without removing them
and marks them *in flight* (not replaceable, not evictable); :meth:`Mempool.remove_included`
forgets the sealed ones once their mini-block is durable, :meth:`Mempool.drop` removes an
invalid one, and :meth:`Mempool.end_seal` (or :meth:`Mempool.release`) frees the rest.

Limits: 500 pooled transactions per account; a global capacity, beyond which a newcomer evicts
the cheapest evictable transaction if it pays a strictly higher tip (``max_priority_fee_per_gas``),
and is refused with ``txpool is full`` otherwise. Evictable are, first, the *last queued*
transaction of each sender (its highest nonce), and only when no sender has one, the *last
ready* transaction of each sender — never one in flight nor one of the newcomer's sender — so
eviction never opens a nonce gap. Equal tips: the most recent arrival goes first.

Eviction cost: two lazy min-heaps keyed by tip hold the candidates (each sender's last queued
and last ready transaction). Entries are pushed whenever a sender's last transaction changes
and are validated when popped (stale ones are discarded), so an eviction costs O(log n)
amortised plus the in-flight candidates it has to step over (at most one mini-block's worth);
the heaps are rebuilt, in O(n), when stale entries outnumber the pool, which keeps their size
O(n) and the bookkeeping O(log n) amortised per admission.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator

from sequencer.errors import (
    AccountLimitExceeded,
    NonceTooHigh,
    NonceTooLow,
    ReplacementUnderpriced,
    TxPoolFull,
)
from sequencer.types import SignedTx

DEFAULT_MAX_NONCE_GAP = 64
DEFAULT_CAPACITY = 100_000
DEFAULT_ACCOUNT_CAP = 500
PRICE_BUMP_PERCENT = 10
_HEAP_SLACK = 1024

Slot = tuple[bytes, int]  # (sender, nonce)
_Candidate = tuple[int, int, bytes]  # (tip, -arrival, tx hash): cheapest, then newest, first


class Mempool:
    """Pooled transactions: ready in arrival order, queued behind missing nonces."""

    def __init__(
        self,
        state_nonce: Callable[[bytes], int],
        max_nonce_gap: int = DEFAULT_MAX_NONCE_GAP,
        capacity: int = DEFAULT_CAPACITY,
        account_cap: int = DEFAULT_ACCOUNT_CAP,
    ) -> None:
        self._state_nonce = state_nonce
        self._ready: OrderedDict[Slot, SignedTx] = OrderedDict()
        self._ready_next: dict[bytes, int] = {}  # sender -> next nonce after its ready txs
        self._queued: dict[bytes, dict[int, SignedTx]] = {}
        self._by_hash: dict[bytes, SignedTx] = {}
        self._arrival: dict[bytes, int] = {}  # tx hash -> admission sequence number
        self._per_sender: dict[bytes, int] = {}
        self._in_flight: set[Slot] = set()
        self._queued_lasts: list[_Candidate] = []  # eviction candidates, lazily validated
        self._ready_lasts: list[_Candidate] = []
        self._counter = itertools.count()
        self.max_nonce_gap = max_nonce_gap
        self.capacity = capacity
        self.account_cap = account_cap
        self.ready_event = asyncio.Event()

    # -- queries ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._by_hash

    def get(self, tx_hash: bytes) -> SignedTx | None:
        """A pooled transaction by hash, or ``None``."""
        return self._by_hash.get(tx_hash)

    def is_ready(self, tx_hash: bytes) -> bool:
        """Whether the pooled transaction is executable now (not waiting for a missing nonce)."""
        tx = self._by_hash.get(tx_hash)
        return tx is not None and self._ready.get((tx.sender, tx.nonce)) is tx

    def is_in_flight(self, tx_hash: bytes) -> bool:
        """Whether the builder has taken the pooled transaction and not yet finished with it."""
        tx = self._by_hash.get(tx_hash)
        return tx is not None and (tx.sender, tx.nonce) in self._in_flight

    def ready_count(self) -> int:
        """How many pooled transactions are ready."""
        return len(self._ready)

    def queued_count(self) -> int:
        """How many pooled transactions wait for a missing nonce."""
        return len(self._by_hash) - len(self._ready)

    def pooled_count(self, sender: bytes) -> int:
        """How many transactions of ``sender`` are pooled (ready and queued)."""
        return self._per_sender.get(sender, 0)

    def ready_transactions(self) -> Iterator[SignedTx]:
        """Ready transactions, in the order the builder takes them."""
        return iter(list(self._ready.values()))

    def queued_transactions(self) -> Iterator[SignedTx]:
        """The queued transactions (by sender, then nonce)."""
        return iter([tx for queue in self._queued.values() for tx in queue.values()])

    def next_nonce(self, sender: bytes) -> int:
        """The nonce a new transaction of ``sender`` should use (state + pooled)."""
        nonce = self._ready_next.get(sender)
        if nonce is None:
            nonce = self._state_nonce(sender)
        queued = self._queued.get(sender)
        if queued:
            while nonce in queued:
                nonce += 1
        return nonce

    # -- admission ----------------------------------------------------------------------------
    def add(self, tx: SignedTx) -> bool:
        """Admit a validated transaction; ``False`` if it was already pooled (idempotent)."""
        if tx.hash in self._by_hash:
            return False
        slot = (tx.sender, tx.nonce)
        existing = self._ready.get(slot)
        if existing is None:
            existing = self._queued.get(tx.sender, {}).get(tx.nonce)
        if existing is not None:
            self._replace(existing, tx)
            return True
        expected = self._ready_next.get(tx.sender)
        if expected is None:
            expected = self._state_nonce(tx.sender)
        if tx.nonce < expected:
            raise NonceTooLow()
        if tx.nonce > expected + self.max_nonce_gap:
            raise NonceTooHigh(f"more than {self.max_nonce_gap} ahead of the next nonce")
        if self._per_sender.get(tx.sender, 0) >= self.account_cap:
            raise AccountLimitExceeded(f"{self.account_cap} pooled transactions")
        if len(self._by_hash) >= self.capacity:
            self._evict_for(tx)
        self._remember(tx)
        if tx.nonce == expected:
            self._make_ready(tx)
            self._promote(tx.sender)
        else:
            self._queued.setdefault(tx.sender, {})[tx.nonce] = tx
        self._note(tx.sender)
        return True

    def _replace(self, old: SignedTx, new: SignedTx) -> None:
        slot = (old.sender, old.nonce)
        bump = 100 + PRICE_BUMP_PERCENT
        if (
            new.max_fee_per_gas <= old.max_fee_per_gas
            or new.max_priority_fee_per_gas <= old.max_priority_fee_per_gas
            or new.max_fee_per_gas * 100 < old.max_fee_per_gas * bump
            or new.max_priority_fee_per_gas * 100 < old.max_priority_fee_per_gas * bump
        ):
            raise ReplacementUnderpriced()
        if slot in self._in_flight:
            raise ReplacementUnderpriced("the transaction is being sealed")
        del self._by_hash[old.hash]
        del self._arrival[old.hash]
        self._by_hash[new.hash] = new
        self._arrival[new.hash] = next(self._counter)
        if slot in self._ready:
            self._ready[slot] = new  # same key: keeps its place in the arrival order
        else:
            self._queued[old.sender][old.nonce] = new
        self._note(new.sender)

    # -- eviction -----------------------------------------------------------------------------
    def _candidate(self, tx: SignedTx) -> _Candidate:
        return (tx.max_priority_fee_per_gas, -self._arrival[tx.hash], tx.hash)

    def _note(self, sender: bytes) -> None:
        """Record ``sender``'s current last queued and last ready transactions as candidates."""
        queue = self._queued.get(sender)
        if queue:
            heapq.heappush(self._queued_lasts, self._candidate(queue[max(queue)]))
        following = self._ready_next.get(sender)
        if following is not None:
            last = self._ready.get((sender, following - 1))
            if last is not None:
                heapq.heappush(self._ready_lasts, self._candidate(last))
        if len(self._queued_lasts) + len(self._ready_lasts) > 2 * len(self._by_hash) + _HEAP_SLACK:
            self._rebuild_candidates()

    def _rebuild_candidates(self) -> None:
        self._queued_lasts = [self._candidate(q[max(q)]) for q in self._queued.values() if q]
        self._ready_lasts = []
        for sender, following in self._ready_next.items():
            last = self._ready.get((sender, following - 1))
            if last is not None:
                self._ready_lasts.append(self._candidate(last))
        heapq.heapify(self._queued_lasts)
        heapq.heapify(self._ready_lasts)

    def _is_last_queued(self, tx: SignedTx) -> bool:
        queue = self._queued.get(tx.sender)
        return queue is not None and queue.get(tx.nonce) is tx and max(queue) == tx.nonce

    def _is_last_ready(self, tx: SignedTx) -> bool:
        return (
            self._ready.get((tx.sender, tx.nonce)) is tx and self._ready_next.get(tx.sender) == tx.nonce + 1
        )

    def _cheapest(
        self, heap: list[_Candidate], is_last: Callable[[SignedTx], bool], newcomer: SignedTx
    ) -> SignedTx | None:
        """The cheapest valid candidate of ``heap``; stale entries are discarded on the way."""
        skipped: list[_Candidate] = []
        found: SignedTx | None = None
        while heap:
            tx = self._by_hash.get(heap[0][2])
            if tx is None or not is_last(tx):
                heapq.heappop(heap)  # stale: a new entry was pushed when it became last again
                continue
            if tx.sender == newcomer.sender or (tx.sender, tx.nonce) in self._in_flight:
                skipped.append(heapq.heappop(heap))  # valid, but not evictable right now
                continue
            found = tx
            break
        for entry in skipped:
            heapq.heappush(heap, entry)
        return found

    def _evict_for(self, tx: SignedTx) -> None:
        victim = self._cheapest(self._queued_lasts, self._is_last_queued, tx)
        if victim is None:
            victim = self._cheapest(self._ready_lasts, self._is_last_ready, tx)
        if victim is None or tx.max_priority_fee_per_gas <= victim.max_priority_fee_per_gas:
            raise TxPoolFull()
        self._forget(victim)
        sender = victim.sender
        slot = (sender, victim.nonce)
        if slot in self._ready:
            del self._ready[slot]
            if victim.nonce <= self._state_nonce(sender):
                self._ready_next.pop(sender, None)  # it was the sender's only ready one
            else:
                self._ready_next[sender] = victim.nonce
            if not self._ready:
                self.ready_event.clear()
        else:
            queue = self._queued[sender]
            del queue[victim.nonce]
            if not queue:
                del self._queued[sender]
        self._note(sender)

    # -- bookkeeping --------------------------------------------------------------------------
    def _remember(self, tx: SignedTx) -> None:
        self._by_hash[tx.hash] = tx
        self._arrival[tx.hash] = next(self._counter)
        self._per_sender[tx.sender] = self._per_sender.get(tx.sender, 0) + 1

    def _forget(self, tx: SignedTx) -> None:
        del self._by_hash[tx.hash]
        del self._arrival[tx.hash]
        left = self._per_sender.get(tx.sender, 1) - 1
        if left:
            self._per_sender[tx.sender] = left
        else:
            self._per_sender.pop(tx.sender, None)

    def _make_ready(self, tx: SignedTx) -> None:
        self._ready[(tx.sender, tx.nonce)] = tx
        self._ready_next[tx.sender] = tx.nonce + 1
        self.ready_event.set()

    def _promote(self, sender: bytes) -> None:
        queued = self._queued.get(sender)
        if not queued:
            return
        nonce = self._ready_next[sender]
        while nonce in queued:
            self._make_ready(queued.pop(nonce))
            nonce += 1
        if not queued:
            del self._queued[sender]

    # -- the builder's side -------------------------------------------------------------------
    def take(self, limit: int) -> list[SignedTx]:
        """Up to ``limit`` ready transactions in arrival order. They stay pooled, *in flight*
        (neither replaceable nor evictable), until :meth:`remove_included`, :meth:`drop`,
        :meth:`release` or :meth:`end_seal`."""
        out: list[SignedTx] = []
        for slot, tx in self._ready.items():
            if len(out) >= limit:
                break
            out.append(tx)
            self._in_flight.add(slot)
        return out

    def release(self, txs: Iterable[SignedTx]) -> None:
        """The builder gives back taken transactions it did not seal (they stay pooled)."""
        for tx in txs:
            self._in_flight.discard((tx.sender, tx.nonce))

    def end_seal(self) -> None:
        """The builder finished a mini-block: whatever it took and did not include is free again."""
        self._in_flight.clear()

    def remove_included(self, txs: list[SignedTx]) -> None:
        """Forget transactions sealed into a durable mini-block (after the state advanced)."""
        for tx in txs:
            slot = (tx.sender, tx.nonce)
            if self._ready.get(slot) is tx:
                del self._ready[slot]
            else:
                queued = self._queued.get(tx.sender)
                if queued is not None and queued.get(tx.nonce) is tx:
                    del queued[tx.nonce]
                    if not queued:
                        del self._queued[tx.sender]
            if tx.hash in self._by_hash:
                self._forget(tx)
            self._in_flight.discard(slot)
        for tx in txs:
            following = self._ready_next.get(tx.sender)
            if following is not None and following <= self._state_nonce(tx.sender):
                del self._ready_next[tx.sender]
        if not self._ready:
            self.ready_event.clear()

    def clear(self) -> list[SignedTx]:
        """Forget every pooled transaction (a devnet rollback); returns them."""
        dropped = list(self._by_hash.values())
        self._ready.clear()
        self._ready_next.clear()
        self._queued.clear()
        self._by_hash.clear()
        self._arrival.clear()
        self._per_sender.clear()
        self._in_flight.clear()
        self._queued_lasts.clear()
        self._ready_lasts.clear()
        self.ready_event.clear()
        return dropped

    def drop(self, tx: SignedTx) -> list[SignedTx]:
        """Remove an invalid transaction; the sender's later ready ones go back to the queue.

        Returns the demoted transactions. The sender's next nonce becomes the dropped one, so
        a replacement with that nonce is accepted and promotes the queue again.
        """
        sender = tx.sender
        slot = (sender, tx.nonce)
        self._in_flight.discard(slot)
        if tx.hash in self._by_hash:
            self._forget(tx)
        if self._ready.get(slot) is not tx:
            queued = self._queued.get(sender)
            if queued is not None and queued.get(tx.nonce) is tx:
                del queued[tx.nonce]
                if not queued:
                    del self._queued[sender]
                self._note(sender)
            return []
        del self._ready[slot]
        demoted: list[SignedTx] = []
        nonce = tx.nonce + 1
        while (sender, nonce) in self._ready:  # a sender's ready nonces are contiguous
            other = self._ready.pop((sender, nonce))
            self._queued.setdefault(sender, {})[nonce] = other
            demoted.append(other)
            nonce += 1
        state_nonce = self._state_nonce(sender)
        earlier_ready = (sender, tx.nonce - 1) in self._ready
        if earlier_ready or tx.nonce > state_nonce:
            self._ready_next[sender] = max(tx.nonce, state_nonce)
        else:
            self._ready_next.pop(sender, None)
            self._promote_from_state(sender)
        if not self._ready:
            self.ready_event.clear()
        self._note(sender)
        return demoted

    def _promote_from_state(self, sender: bytes) -> None:
        queued = self._queued.get(sender)
        if queued and self._state_nonce(sender) in queued:
            self._ready_next[sender] = self._state_nonce(sender)
            self._promote(sender)
