"""The transaction pool.

Ordering rule (first-come-first-served within nonce rules):
  * a transaction is *ready* when its nonce is its sender's next one (the state nonce, plus the
    sender's ready transactions before it); ready transactions go to the builder in the order
    they became ready, across all senders — fees do not reorder them;
  * a transaction with a future nonce waits in its sender's *queue* (at most ``max_nonce_gap``
    ahead of the next nonce) and is promoted, in nonce order, as soon as the gap fills;
  * a same-nonce *replacement* needs both fee caps raised by at least 10% (geth's rule) and keeps
    the replaced transaction's place; a transaction the builder is sealing right now cannot be
    replaced.

Limits: 500 pooled transactions per account; a global capacity, beyond which a newcomer evicts
the cheapest evictable transaction (a sender's last queued, else its last ready one, so no
nonce gap appears) if it pays a strictly higher tip, and is refused otherwise. Eviction scans
the pool (O(n)); it only runs when the pool is full.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterator

from sequencer.errors import InvalidTransaction
from sequencer.execution.transactions import SignedTx

DEFAULT_MAX_NONCE_GAP = 64
DEFAULT_CAPACITY = 100_000
DEFAULT_ACCOUNT_CAP = 500
PRICE_BUMP_PERCENT = 10

Slot = tuple[bytes, int]  # (sender, nonce)


class Mempool:
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
        self._per_sender: dict[bytes, int] = {}
        self._in_flight: set[Slot] = set()
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
        return self._by_hash.get(tx_hash)

    def is_ready(self, tx_hash: bytes) -> bool:
        """Whether the pooled transaction is executable now (not waiting for a missing nonce)."""
        tx = self._by_hash.get(tx_hash)
        return tx is not None and self._ready.get((tx.sender, tx.nonce)) is tx

    def ready_count(self) -> int:
        return len(self._ready)

    def queued_count(self) -> int:
        return len(self._by_hash) - len(self._ready)

    def ready_transactions(self) -> Iterator[SignedTx]:
        return iter(list(self._ready.values()))

    def queued_transactions(self) -> Iterator[SignedTx]:
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
        existing = self._ready.get(slot) or self._queued.get(tx.sender, {}).get(tx.nonce)
        if existing is not None:
            self._replace(existing, tx)
            return True
        expected = self._ready_next.get(tx.sender)
        if expected is None:
            expected = self._state_nonce(tx.sender)
        if tx.nonce < expected:
            raise InvalidTransaction("nonce too low")
        if tx.nonce > expected + self.max_nonce_gap:
            raise InvalidTransaction(
                f"nonce too high: more than {self.max_nonce_gap} ahead of the next nonce"
            )
        if self._per_sender.get(tx.sender, 0) >= self.account_cap:
            raise InvalidTransaction(f"account limit exceeded: {self.account_cap} pooled transactions")
        if len(self._by_hash) >= self.capacity:
            self._evict_for(tx)
        self._by_hash[tx.hash] = tx
        self._per_sender[tx.sender] = self._per_sender.get(tx.sender, 0) + 1
        if tx.nonce == expected:
            self._make_ready(tx)
            self._promote(tx.sender)
        else:
            self._queued.setdefault(tx.sender, {})[tx.nonce] = tx
        return True

    def _replace(self, old: SignedTx, new: SignedTx) -> None:
        slot = (old.sender, old.nonce)
        bump = 100 + PRICE_BUMP_PERCENT
        if (
            new.max_fee_per_gas * 100 < old.max_fee_per_gas * bump
            or new.max_priority_fee_per_gas * 100 < old.max_priority_fee_per_gas * bump
        ):
            raise InvalidTransaction("replacement transaction underpriced")
        if slot in self._in_flight:
            raise InvalidTransaction("replacement transaction underpriced: the transaction is being sealed")
        del self._by_hash[old.hash]
        self._by_hash[new.hash] = new
        if slot in self._ready:
            self._ready[slot] = new  # same key: keeps its place in the arrival order
        else:
            self._queued[old.sender][old.nonce] = new

    def _evict_for(self, tx: SignedTx) -> None:
        victim: SignedTx | None = None
        for sender, queue in self._queued.items():
            if queue and sender != tx.sender:
                last = queue[max(queue)]
                if victim is None or last.max_priority_fee_per_gas < victim.max_priority_fee_per_gas:
                    victim = last
        if victim is None:
            for sender, following in self._ready_next.items():
                slot = (sender, following - 1)
                candidate = self._ready.get(slot)
                if candidate is None or slot in self._in_flight or sender == tx.sender:
                    continue
                if victim is None or candidate.max_priority_fee_per_gas < victim.max_priority_fee_per_gas:
                    victim = candidate
        if victim is None or tx.max_priority_fee_per_gas <= victim.max_priority_fee_per_gas:
            raise InvalidTransaction("txpool is full")
        self._forget(victim)
        slot = (victim.sender, victim.nonce)
        if slot in self._ready:
            del self._ready[slot]
            self._ready_next[victim.sender] = victim.nonce
        else:
            queue = self._queued[victim.sender]
            del queue[victim.nonce]
            if not queue:
                del self._queued[victim.sender]

    def _forget(self, tx: SignedTx) -> None:
        del self._by_hash[tx.hash]
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
        """Up to ``limit`` ready transactions in arrival order; they stay pooled (and cannot be
        replaced) until :meth:`remove_included`, :meth:`drop` or :meth:`end_seal`."""
        out: list[SignedTx] = []
        for slot, tx in self._ready.items():
            if len(out) >= limit:
                break
            out.append(tx)
            self._in_flight.add(slot)
        return out

    def end_seal(self) -> None:
        """The builder finished a mini-block: whatever it took and did not include is free again."""
        self._in_flight.clear()

    def remove_included(self, txs: list[SignedTx]) -> None:
        """Forget transactions sealed into a durable mini-block (after the state advanced)."""
        for tx in txs:
            slot = (tx.sender, tx.nonce)
            if self._ready.get(slot) is tx:
                del self._ready[slot]
            if tx.hash in self._by_hash:
                self._forget(tx)
            self._in_flight.discard(slot)
        for tx in txs:
            following = self._ready_next.get(tx.sender)
            if following is not None and following <= self._state_nonce(tx.sender):
                del self._ready_next[tx.sender]
        if not self._ready:
            self.ready_event.clear()

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
            return []
        del self._ready[slot]
        demoted: list[SignedTx] = []
        for other in [t for t in self._ready.values() if t.sender == sender and t.nonce > tx.nonce]:
            del self._ready[(sender, other.nonce)]
            self._queued.setdefault(sender, {})[other.nonce] = other
            demoted.append(other)
        state_nonce = self._state_nonce(sender)
        earlier_ready = any(t.sender == sender for t in self._ready.values())
        if earlier_ready or tx.nonce > state_nonce:
            self._ready_next[sender] = max(tx.nonce, state_nonce)
        else:
            self._ready_next.pop(sender, None)
            self._promote_from_state(sender)
        if not self._ready:
            self.ready_event.clear()
        return demoted

    def _promote_from_state(self, sender: bytes) -> None:
        queued = self._queued.get(sender)
        if queued and self._state_nonce(sender) in queued:
            self._ready_next[sender] = self._state_nonce(sender)
            self._promote(sender)
