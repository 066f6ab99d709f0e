"""The transaction pool: per-sender nonce order, first-come-first-served across senders.

A transaction is *ready* when its nonce is the sender's next one (state nonce plus the ready
transactions before it); ready transactions are handed to the builder in arrival order.
A transaction with a future nonce waits in the sender's *queue* (at most ``max_nonce_gap``
ahead) and is promoted, in nonce order, as soon as the gap fills.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable

from sequencer.errors import InvalidTransaction
from sequencer.execution.transactions import SignedTx

DEFAULT_MAX_NONCE_GAP = 64
DEFAULT_CAPACITY = 100_000


class Mempool:
    def __init__(
        self,
        state_nonce: Callable[[bytes], int],
        max_nonce_gap: int = DEFAULT_MAX_NONCE_GAP,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self._state_nonce = state_nonce
        self._ready: OrderedDict[bytes, SignedTx] = OrderedDict()
        self._ready_next: dict[bytes, int] = {}  # sender -> next nonce after its ready txs
        self._queued: dict[bytes, dict[int, SignedTx]] = {}
        self._by_hash: dict[bytes, SignedTx] = {}
        self.max_nonce_gap = max_nonce_gap
        self.capacity = capacity
        self.ready_event = asyncio.Event()

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._by_hash

    def get(self, tx_hash: bytes) -> SignedTx | None:
        return self._by_hash.get(tx_hash)

    def is_ready(self, tx_hash: bytes) -> bool:
        """Whether the pooled transaction is executable now (not waiting for a missing nonce)."""
        return tx_hash in self._ready

    def ready_count(self) -> int:
        return len(self._ready)

    def queued_count(self) -> int:
        return len(self._by_hash) - len(self._ready)

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

    def add(self, tx: SignedTx) -> bool:
        """Admit a validated transaction; ``False`` if it was already pooled (idempotent)."""
        if tx.hash in self._by_hash:
            return False
        if len(self._by_hash) >= self.capacity:
            raise InvalidTransaction("txpool is full")
        expected = self._ready_next.get(tx.sender)
        if expected is None:
            expected = self._state_nonce(tx.sender)
        if tx.nonce < expected:
            if tx.nonce < self._state_nonce(tx.sender):
                raise InvalidTransaction("nonce too low")
            raise InvalidTransaction("replacement transaction underpriced")
        if tx.nonce > expected + self.max_nonce_gap:
            raise InvalidTransaction(
                f"nonce too high: more than {self.max_nonce_gap} ahead of the next nonce"
            )
        queued = self._queued.setdefault(tx.sender, {})
        if tx.nonce in queued:
            raise InvalidTransaction("replacement transaction underpriced")
        self._by_hash[tx.hash] = tx
        if tx.nonce == expected:
            self._make_ready(tx)
            self._promote(tx.sender)
        else:
            queued[tx.nonce] = tx
        if not queued:
            self._queued.pop(tx.sender, None)
        return True

    def _make_ready(self, tx: SignedTx) -> None:
        self._ready[tx.hash] = tx
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

    def take(self, limit: int) -> list[SignedTx]:
        """Up to ``limit`` ready transactions in arrival order (they stay pooled until removed)."""
        out: list[SignedTx] = []
        for tx in self._ready.values():
            if len(out) >= limit:
                break
            out.append(tx)
        return out

    def remove_included(self, txs: list[SignedTx]) -> None:
        """Forget transactions sealed into a durable mini-block (after the state advanced)."""
        for tx in txs:
            self._by_hash.pop(tx.hash, None)
            self._ready.pop(tx.hash, None)
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
        self._by_hash.pop(tx.hash, None)
        sender = tx.sender
        if self._ready.pop(tx.hash, None) is None:
            queued = self._queued.get(sender)
            if queued is not None and queued.get(tx.nonce) is tx:
                del queued[tx.nonce]
                if not queued:
                    del self._queued[sender]
            return []
        demoted: list[SignedTx] = []
        for other in [t for t in self._ready.values() if t.sender == sender and t.nonce > tx.nonce]:
            del self._ready[other.hash]
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
