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

Limits (``[mempool]`` in the config; every refusal names the key it hit): ``account_cap``
pooled transactions per sender; ``max_nonce_gap``; a global ``capacity`` and ``max_bytes`` (raw
bytes); ``max_queued`` queued transactions, a share of the capacity they can never exceed; and a
queued transaction older than ``queued_lifetime_s`` expires (:meth:`Mempool.expire_queued`). The
sender's pooled transactions together must not cost more than its balance (``gas * maxFeePerGas
+ value`` each, checked when a balance is given).

Eviction, when a newcomer finds the pool full, always lets an honest sender in: a newcomer that
is *ready* (its nonce is its sender's next one) evicts the cheapest evictable *queued*
transaction whatever the tips, and a ready one only if it pays a strictly higher tip
(``max_priority_fee_per_gas``); a *queued* newcomer evicts only a queued transaction, and only
for a strictly higher tip, never a ready one. Evictable are each sender's *last queued*
transaction (its highest nonce) and each sender's *last ready* one — never one in flight nor one
of the newcomer's sender — so eviction never opens a nonce gap. Equal tips: the most recent
arrival goes first. A pool full of future-nonce transactions therefore never refuses a ready
one, and queued transactions can never crowd out ready ones beyond ``max_queued``.

Durability: the submission service admits a transaction *undurable* (``durable=False``), then
journals it and calls :meth:`Mempool.mark_durable`; the builder may execute it meanwhile (in
parallel with the fsync) but waits for :meth:`Mempool.wait_durable` before it writes a
mini-block holding it, and :meth:`Mempool.revert` takes a transaction whose journal write failed
back out (its waiters hear so), putting back what it replaced or evicted: nothing is included
that its sender was told was not accepted.

Eviction cost: two lazy min-heaps keyed by tip hold the candidates (each sender's last queued
and last ready transaction). Entries are pushed whenever a sender's last transaction changes
and are validated when popped (stale ones are discarded), so an eviction costs O(log n)
amortised plus the in-flight candidates it has to step over (at most one mini-block's worth);
the heaps are rebuilt, in O(n), when stale entries outnumber the pool, which keeps their size
O(n) and the bookkeeping O(log n) amortised per admission.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sequencer.config import MempoolConfig
from sequencer.errors import (
    AccountLimitExceeded,
    InvalidTransaction,
    NonceTooHigh,
    NonceTooLow,
    Overdraft,
    ReplacementUnderpriced,
    SenderThrottled,
    TxPoolFull,
)
from sequencer.types import SignedTx

_DEFAULTS = MempoolConfig()
DEFAULT_MAX_NONCE_GAP = _DEFAULTS.max_nonce_gap
DEFAULT_CAPACITY = _DEFAULTS.capacity
DEFAULT_ACCOUNT_CAP = _DEFAULTS.account_cap
DEFAULT_MAX_QUEUED = _DEFAULTS.max_queued
DEFAULT_MAX_BYTES = _DEFAULTS.max_bytes
DEFAULT_QUEUED_LIFETIME_S = _DEFAULTS.queued_lifetime_s
PRICE_BUMP_PERCENT = 10
_HEAP_SLACK = 1024

Slot = tuple[bytes, int]  # (sender, nonce)
_Candidate = tuple[int, int, bytes]  # (tip, -arrival, tx hash): cheapest, then newest, first


@dataclass(frozen=True, slots=True)
class Admitted:
    """What admitting one transaction did to the pool."""

    new: bool
    """Newly pooled (a replacement counts); False: it was pooled already."""
    replaced: SignedTx | None = None
    """The same-nonce transaction it replaced."""
    evicted: SignedTx | None = None
    """The transaction evicted to make room for it."""

    @property
    def removed(self) -> tuple[SignedTx, ...]:
        """The transactions it took out of the pool."""
        return tuple(t for t in (self.replaced, self.evicted) if t is not None)


class Mempool:
    """Pooled transactions: ready in arrival order, queued behind missing nonces."""

    def __init__(
        self,
        state_nonce: Callable[[bytes], int],
        max_nonce_gap: int = DEFAULT_MAX_NONCE_GAP,
        capacity: int = DEFAULT_CAPACITY,
        account_cap: int = DEFAULT_ACCOUNT_CAP,
        *,
        max_queued: int | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        queued_lifetime_s: float = DEFAULT_QUEUED_LIFETIME_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._state_nonce = state_nonce
        self._ready: OrderedDict[Slot, SignedTx] = OrderedDict()
        self._ready_next: dict[bytes, int] = {}  # sender -> next nonce after its ready txs
        self._queued: dict[bytes, dict[int, SignedTx]] = {}
        self._queued_at: OrderedDict[bytes, float] = OrderedDict()  # queued tx hash -> since, oldest first
        self._by_hash: dict[bytes, SignedTx] = {}
        self._arrival: dict[bytes, int] = {}  # tx hash -> admission sequence number
        self._per_sender: dict[bytes, int] = {}
        self._cost: dict[bytes, int] = {}  # sender -> what its pooled transactions may cost at most
        self._bytes = 0
        # admitted, journal write not done yet -> a future for whoever waits for it (lazily)
        self._undurable: dict[bytes, asyncio.Future[bool] | None] = {}
        self._throttled: dict[bytes, float] = {}  # sender -> refused until (clock time)
        self._in_flight: set[Slot] = set()
        self._queued_lasts: list[_Candidate] = []  # eviction candidates, lazily validated
        self._ready_lasts: list[_Candidate] = []
        self._counter = itertools.count()
        self.max_nonce_gap = max_nonce_gap
        self.capacity = capacity
        self.account_cap = account_cap
        self.max_queued = min(capacity, DEFAULT_MAX_QUEUED if max_queued is None else max_queued)
        self.max_bytes = max_bytes
        self.queued_lifetime_s = queued_lifetime_s
        self._clock = clock
        self.ready_event = asyncio.Event()

    @classmethod
    def from_config(cls, config: MempoolConfig, state_nonce: Callable[[bytes], int]) -> Mempool:
        """A pool with the configured limits."""
        return cls(
            state_nonce,
            config.max_nonce_gap,
            config.capacity,
            config.account_cap,
            max_queued=config.max_queued,
            max_bytes=config.max_bytes,
            queued_lifetime_s=config.queued_lifetime_s,
        )

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

    def pooled_cost(self, sender: bytes) -> int:
        """What ``sender``'s pooled transactions may cost at most (``gas * maxFeePerGas + value``)."""
        return self._cost.get(sender, 0)

    def pooled_bytes(self) -> int:
        """Raw bytes of every pooled transaction."""
        return self._bytes

    def durable_transactions(self) -> list[SignedTx]:
        """Every pooled transaction whose journal write is done, in admission order (what a
        compacted journal holds)."""
        arrival = self._arrival
        txs = [tx for h, tx in self._by_hash.items() if h not in self._undurable]
        txs.sort(key=lambda tx: arrival[tx.hash])
        return txs

    def is_durable(self, tx_hash: bytes) -> bool:
        """Whether the pooled transaction's journal write is done (False while it is pending)."""
        return tx_hash in self._by_hash and tx_hash not in self._undurable

    def has_takeable(self) -> bool:
        """Whether a ready transaction can be taken now."""
        return bool(self._ready)

    async def wait_durable(self, hashes: Iterable[bytes]) -> list[bytes]:
        """Wait until the journal writes of ``hashes`` are done; returns those that failed (the
        submission service took them back out). Durable ones return at once."""
        waiting: list[tuple[bytes, asyncio.Future[bool]]] = []
        for tx_hash in hashes:
            if tx_hash in self._undurable:
                fut = self._undurable[tx_hash]
                if fut is None:
                    fut = self._undurable[tx_hash] = asyncio.get_running_loop().create_future()
                waiting.append((tx_hash, fut))
        return [tx_hash for tx_hash, fut in waiting if not await asyncio.shield(fut)]

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
        return self.admit(tx).new

    def admit(
        self, tx: SignedTx, *, durable: bool = True, balance: int | None = None, evict: bool = True
    ) -> Admitted:
        """Admit a validated transaction and say what it replaced or evicted.

        ``durable=False``: its journal write is pending; it is not taken until
        :meth:`mark_durable`. ``balance``: the sender's, checked against the cost of all its
        pooled transactions with this one. ``evict=False``: refuse rather than evict.
        Raises the rule's :class:`~sequencer.errors.InvalidTransaction`; nothing changes then.
        """
        if tx.hash in self._by_hash:
            return Admitted(False)
        if self._throttled:
            self._check_throttle(tx.sender)
        slot = (tx.sender, tx.nonce)
        existing = self._ready.get(slot)
        if existing is None:
            existing = self._queued.get(tx.sender, {}).get(tx.nonce)
        if balance is not None:
            cost = self._cost.get(tx.sender, 0) + tx.max_cost()
            if existing is not None:
                cost -= existing.max_cost()
            if cost > balance:
                raise Overdraft(f"pooled transactions of the sender would cost {cost}, balance {balance}")
        if existing is not None:
            self._replace(existing, tx)
            self._remember_durability(tx, durable)
            return Admitted(True, replaced=existing)
        expected = self._ready_next.get(tx.sender)
        if expected is None:
            expected = self._state_nonce(tx.sender)
        if tx.nonce < expected:
            raise NonceTooLow()
        if tx.nonce > expected + self.max_nonce_gap:
            raise NonceTooHigh(
                f"more than {self.max_nonce_gap} ahead of the next nonce (mempool.max_nonce_gap)"
            )
        if self._per_sender.get(tx.sender, 0) >= self.account_cap:
            raise AccountLimitExceeded(f"{self.account_cap} pooled transactions (mempool.account_cap)")
        ready = tx.nonce == expected
        evicted = self._make_room(tx, ready, evict)
        self._remember(tx)
        self._remember_durability(tx, durable)
        if ready:
            self._make_ready(tx)
            self._promote(tx.sender)
        else:
            self._queued.setdefault(tx.sender, {})[tx.nonce] = tx
            self._queued_at[tx.hash] = self._clock()
        self._note(tx.sender)
        return Admitted(True, evicted=evicted)

    def throttle(self, sender: bytes, seconds: float) -> None:
        """Refuse ``sender``'s new transactions for ``seconds`` (its last one ran past the
        execution time budget)."""
        if seconds > 0:
            self._throttled[sender] = self._clock() + seconds

    def _check_throttle(self, sender: bytes) -> None:
        until = self._throttled.get(sender)
        if until is None:
            return
        left = until - self._clock()
        if left <= 0:
            del self._throttled[sender]
            return
        raise SenderThrottled(
            "its last transaction exceeded the execution time budget; "
            f"retry in {left:.0f} s (execution.abort_cooldown_s)"
        )

    def _remember_durability(self, tx: SignedTx, durable: bool) -> None:
        if not durable:
            self._undurable[tx.hash] = None

    def mark_durable(self, tx_hash: bytes) -> None:
        """The transaction's journal write is done: the builder may take it."""
        fut = self._undurable.pop(tx_hash, None)
        if fut is not None and not fut.done():
            fut.set_result(True)
        tx = self._by_hash.get(tx_hash)
        if tx is not None and self._ready.get((tx.sender, tx.nonce)) is tx:
            self.ready_event.set()

    def revert(self, tx: SignedTx, admitted: Admitted) -> None:
        """Undo an admission whose journal write failed: take ``tx`` out, and put back what it
        replaced or evicted where that is still possible (without evicting anything else)."""
        if self._by_hash.get(tx.hash) is tx:
            self.drop(tx)
        for old in admitted.removed:
            with contextlib.suppress(InvalidTransaction):  # its place was taken meanwhile
                self.admit(old, evict=False)

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
        if self._bytes - len(old.raw) + len(new.raw) > self.max_bytes:
            raise TxPoolFull(f"{self.max_bytes} bytes (mempool.max_bytes)")
        queued = slot not in self._ready
        self._forget(old)
        self._remember(new)
        if not queued:
            self._ready[slot] = new  # same key: keeps its place in the arrival order
        else:
            self._queued[old.sender][old.nonce] = new
            self._queued_at[new.hash] = self._clock()
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

    def _make_room(self, tx: SignedTx, ready: bool, evict: bool) -> SignedTx | None:
        """Evict one transaction if ``tx`` does not fit (see the module docstring); returns it.
        Raises :class:`TxPoolFull` naming the limit when nothing may be evicted for ``tx``."""
        if len(self._by_hash) >= self.capacity:
            limit = f"{self.capacity} transactions (mempool.capacity)"
        elif self._bytes + len(tx.raw) > self.max_bytes:
            limit = f"{self.max_bytes} bytes (mempool.max_bytes)"
        elif not ready and self.queued_count() >= self.max_queued:
            limit = f"{self.max_queued} queued transactions (mempool.max_queued)"
        else:
            return None
        if not evict:
            raise TxPoolFull(limit)
        tip = tx.max_priority_fee_per_gas
        victim = self._cheapest(self._queued_lasts, self._is_last_queued, tx)
        if victim is not None and not ready and victim.max_priority_fee_per_gas >= tip:
            victim = None  # a queued newcomer needs a strictly higher tip
        if victim is None and ready:
            victim = self._cheapest(self._ready_lasts, self._is_last_ready, tx)
            if victim is not None and victim.max_priority_fee_per_gas >= tip:
                victim = None
        if victim is None:
            raise TxPoolFull(limit)
        if self._bytes - len(victim.raw) + len(tx.raw) > self.max_bytes:
            raise TxPoolFull(f"{self.max_bytes} bytes (mempool.max_bytes)")
        self._evict(victim)
        return victim

    def _evict(self, victim: SignedTx) -> None:
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

    def expire_queued(self) -> list[SignedTx]:
        """Remove the queued transactions that have waited longer than ``queued_lifetime_s``
        (oldest first); returns them."""
        now = self._clock()
        for sender in [s for s, until in self._throttled.items() if until <= now]:
            del self._throttled[sender]
        cutoff = now - self.queued_lifetime_s
        expired: list[SignedTx] = []
        while self._queued_at:
            tx_hash, since = next(iter(self._queued_at.items()))
            if since > cutoff:
                break
            tx = self._by_hash[tx_hash]
            self._forget(tx)
            queue = self._queued[tx.sender]
            del queue[tx.nonce]
            if not queue:
                del self._queued[tx.sender]
            self._note(tx.sender)
            expired.append(tx)
        return expired

    # -- bookkeeping --------------------------------------------------------------------------
    def _remember(self, tx: SignedTx) -> None:
        self._by_hash[tx.hash] = tx
        self._arrival[tx.hash] = next(self._counter)
        self._per_sender[tx.sender] = self._per_sender.get(tx.sender, 0) + 1
        self._cost[tx.sender] = self._cost.get(tx.sender, 0) + tx.max_cost()
        self._bytes += len(tx.raw)

    def _forget(self, tx: SignedTx) -> None:
        del self._by_hash[tx.hash]
        del self._arrival[tx.hash]
        undurable = self._undurable.pop(tx.hash, None)
        if undurable is not None and not undurable.done():
            undurable.set_result(False)  # gone before its journal write was done
        self._queued_at.pop(tx.hash, None)
        self._bytes -= len(tx.raw)
        left = self._per_sender.get(tx.sender, 1) - 1
        if left:
            self._per_sender[tx.sender] = left
            self._cost[tx.sender] -= tx.max_cost()
        else:
            self._per_sender.pop(tx.sender, None)
            self._cost.pop(tx.sender, None)

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
            tx = queued.pop(nonce)
            self._queued_at.pop(tx.hash, None)
            self._make_ready(tx)
            nonce += 1
        if not queued:
            del self._queued[sender]

    # -- the builder's side -------------------------------------------------------------------
    def take(self, limit: int) -> list[SignedTx]:
        """Up to ``limit`` ready transactions in arrival order. They stay pooled, *in flight*
        (neither replaceable nor evictable), until :meth:`remove_included`, :meth:`drop`,
        :meth:`release` or :meth:`end_seal`. One whose journal write is still pending may be
        taken: the builder waits for it (:meth:`wait_durable`) before anything of it is written."""
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
        now = self._clock()
        while (sender, nonce) in self._ready:  # a sender's ready nonces are contiguous
            other = self._ready.pop((sender, nonce))
            self._queued.setdefault(sender, {})[nonce] = other
            self._queued_at[other.hash] = now
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
