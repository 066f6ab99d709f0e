"""The submission service: how a raw transaction gets into the node.

For every submission, in arrival order: the health gate (is the node accepting?), decoding
and signature recovery, admission against the state, the journal write (the transaction is
acknowledged only once it is durable), then the events (subscriptions, filters) and metrics.

Admission puts the transaction in the pool *undurable* (the builder does not take it yet); the
journal write, group-committed with the removal of whatever it replaced or evicted, then marks
it durable, or takes it back out and puts back what it displaced, and the sender is told the
node cannot write. A duplicate arriving while the first one's write is under way waits for that
write and gets the same answer. Queued transactions past their lifetime are expired by
:meth:`Submitter.run_expiry`, and their removal journaled.

Decoding is coalesced: submissions that arrive together (a JSON-RPC batch, whose requests
start one event-loop iteration apart, or concurrent requests) are decoded in one call once a
loop iteration passes without a new one (at most 1,024 of them, waiting at most 2 ms), in the
ingress worker when there are enough of them (``mempool/ingress.py``), and admitted in the
order they arrived; their journal writes are group-committed (``mempool/journal.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sequencer.chain import Chain
from sequencer.config import ChainConfig
from sequencer.errors import InvalidTransaction, JournalUnavailable, NodeUnavailable, StorageError
from sequencer.execution.transactions import decode_transaction
from sequencer.health import HealthGate
from sequencer.logs import fields
from sequencer.mempool.admission import admit
from sequencer.mempool.coalescing import Coalescer
from sequencer.mempool.ingress import Decoded, IngressDecoder
from sequencer.mempool.journal import PoolJournal
from sequencer.mempool.pool import Admitted, Mempool
from sequencer.metrics import Metrics
from sequencer.storage.durable import PoolRecord
from sequencer.types import SignedTx

log = logging.getLogger("sequencer.mempool")


class Submitter:
    """Accept check, decoding, admission, journal and events for submitted transactions."""

    def __init__(
        self,
        chain: Chain,
        pool: Mempool,
        config: ChainConfig,
        journal: PoolJournal,
        gate: HealthGate,
        ingress: IngressDecoder,
        metrics: Metrics,
        max_tx_gas: int | None = None,
    ) -> None:
        self.chain = chain
        self.max_tx_gas = max_tx_gas
        self.pool = pool
        self.config = config
        self.journal = journal
        self.gate = gate
        self.ingress = ingress
        self.metrics = metrics
        self._admitted: list[Callable[[SignedTx], None]] = []
        self._coalescer: Coalescer[tuple[bytes, asyncio.Future[Decoded]]] = Coalescer(self._decode_group)
        self._decoding: set[asyncio.Task[None]] = set()
        self._in_order: deque[_Decoding] = deque()
        self._journaling: dict[bytes, asyncio.Future[bool]] = {}  # tx hash -> its write went well

    def on_admitted(self, fn: Callable[[SignedTx], None]) -> None:
        """Call ``fn`` with every transaction newly admitted (and journaled)."""
        self._admitted.append(fn)

    async def submit(self, raw: bytes) -> SignedTx:
        """Admit ``raw`` and return once it is durable; raises why it is refused.

        A transaction already pooled or included is answered idempotently (once it is durable).
        """
        self.metrics.tx_received.inc()
        try:
            self.gate.check_accepting()
            decoded = await self._decode(raw)
            if isinstance(decoded, InvalidTransaction):
                raise decoded
        except (InvalidTransaction, NodeUnavailable) as exc:
            self.metrics.tx_rejected.labels(exc.reason).inc()
            raise
        return await self._admit(decoded)

    async def submit_decoded(self, txs: list[SignedTx]) -> list[Exception | None]:
        """:meth:`submit` for transactions a front end has decoded and signature-checked already
        (``frontend/``), as one group: admitted in order, their journal records written in one
        group-commit entry, answered once that write is durable. Per transaction: ``None``
        (accepted, or a duplicate of one pooled or included), or why it is refused."""
        metrics = self.metrics
        metrics.tx_received.inc(len(txs))
        try:
            self.gate.check_accepting()
        except NodeUnavailable as exc:
            metrics.tx_rejected.labels(exc.reason).inc(len(txs))
            return [exc] * len(txs)
        outcomes: list[Exception | None] = [None] * len(txs)
        written: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        new: list[tuple[int, SignedTx, Admitted]] = []
        waits: list[tuple[int, asyncio.Future[bool]]] = []
        base_fee = self.chain.pending_base_fee()
        for i, tx in enumerate(txs):
            journaling = self._journaling.get(tx.hash)
            if journaling is not None:  # its write is under way (maybe in this group): its answer
                waits.append((i, journaling))
                continue
            try:
                admitted = admit(
                    tx, self.chain, self.pool, self.config, base_fee, self.max_tx_gas, durable=False
                )
            except (InvalidTransaction, NodeUnavailable) as exc:
                metrics.tx_rejected.labels(exc.reason).inc()
                outcomes[i] = exc
                continue
            if admitted.new:
                new.append((i, tx, admitted))
                self._journaling[tx.hash] = written
        if new:
            await self._journal_group(new, written)
            for i, tx, admitted in new:
                if not written.result():
                    outcomes[i] = JournalUnavailable()
                    continue
                metrics.tx_accepted.inc()
                for removed in admitted.removed:
                    metrics.pool_removed("replaced" if removed is admitted.replaced else "evicted")
                for fn in self._admitted:
                    fn(tx)
        for i, journaling in waits:
            if not await asyncio.shield(journaling):
                outcomes[i] = JournalUnavailable()
        for outcome in outcomes:
            if isinstance(outcome, JournalUnavailable):
                metrics.tx_rejected.labels(JournalUnavailable.reason).inc()
        return outcomes

    def count_refused(self, reasons: list[str]) -> None:
        """Count submissions a front end refused before they reached the node, by rule."""
        for reason in reasons:
            self.metrics.tx_received.inc()
            self.metrics.tx_rejected.labels(reason).inc()

    async def _journal_group(
        self, new: list[tuple[int, SignedTx, Admitted]], written: asyncio.Future[bool]
    ) -> None:
        """Journal a group of admissions in one write (each one's removals first); undo them all,
        newest first, if it fails. ``written`` says how it went."""
        pool = self.pool

        def done(error: BaseException | None) -> None:
            if error is None:
                for _i, tx, _admitted in new:
                    pool.mark_durable(tx.hash)
            else:
                for _i, tx, admitted in reversed(new):
                    pool.revert(tx, admitted)

        records: list[PoolRecord] = []
        for _i, tx, admitted in new:
            if admitted.removed:
                records.append(PoolRecord(removed=tuple(t.hash for t in admitted.removed)))
            records.append(PoolRecord(raw=tx.raw))
        try:
            await self.journal.persist(records, done)
        except StorageError:
            written.set_result(False)
        else:
            written.set_result(True)
        finally:
            for _i, tx, _admitted in new:
                if self._journaling.get(tx.hash) is written:
                    del self._journaling[tx.hash]

    async def _admit(self, tx: SignedTx) -> SignedTx:
        metrics = self.metrics
        try:
            journaling = self._journaling.get(tx.hash)
            if journaling is None:
                admitted = admit(
                    tx,
                    self.chain,
                    self.pool,
                    self.config,
                    self.chain.pending_base_fee(),
                    self.max_tx_gas,
                    durable=False,
                )
        except (InvalidTransaction, NodeUnavailable) as exc:
            metrics.tx_rejected.labels(exc.reason).inc()
            raise
        if journaling is not None:  # a duplicate of one being written: the same answer
            if not await asyncio.shield(journaling):
                metrics.tx_rejected.labels(JournalUnavailable.reason).inc()
                raise JournalUnavailable()
            return tx
        if admitted.new:
            await self._journal(tx, admitted)
            metrics.tx_accepted.inc()
            for removed in admitted.removed:
                self.metrics.pool_removed("replaced" if removed is admitted.replaced else "evicted")
            for fn in self._admitted:
                fn(tx)
        return tx

    async def _journal(self, tx: SignedTx, admitted: Admitted) -> None:
        """Journal an admission (the removals it caused first); undo it if that fails."""
        outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._journaling[tx.hash] = outcome
        pool = self.pool

        def done(error: BaseException | None) -> None:
            if error is None:
                pool.mark_durable(tx.hash)
            else:
                pool.revert(tx, admitted)

        records = [PoolRecord(removed=tuple(t.hash for t in admitted.removed))] if admitted.removed else []
        records.append(PoolRecord(raw=tx.raw))
        try:
            await self.journal.persist(records, done)
        except StorageError:
            self.metrics.tx_rejected.labels(JournalUnavailable.reason).inc()
            outcome.set_result(False)
            raise JournalUnavailable() from None
        else:
            outcome.set_result(True)
        finally:
            del self._journaling[tx.hash]

    def restore(self, raws: Iterable[bytes]) -> tuple[int, int]:
        """Re-admit journaled transactions at start-up (they are durable already).

        Returns (restored, dropped): those that are no longer valid are dropped with a log line
        (the caller then rewrites the journal from the pool, so they are gone for good).
        """
        restored = dropped = 0
        base_fee = self.chain.pending_base_fee()
        for raw in raws:
            try:
                tx = decode_transaction(raw, self.config.chain_id, self.config.allow_unprotected_txs)
                admit(tx, self.chain, self.pool, self.config, base_fee, self.max_tx_gas)
                restored += 1
            except InvalidTransaction as exc:
                dropped += 1
                log.info("journaled transaction no longer valid, dropped", extra=fields(reason=exc.message))
        if restored or dropped:
            log.info("mempool restored from the journal", extra=fields(restored=restored, dropped=dropped))
        return restored, dropped

    def expire_queued(self) -> list[SignedTx]:
        """Drop the queued transactions past ``mempool.queued_lifetime_s``; their removal is
        journaled (so they do not come back at the next start)."""
        expired = self.pool.expire_queued()
        if expired:
            self.journal.enqueue([PoolRecord(removed=tuple(t.hash for t in expired))])
            for _ in expired:
                self.metrics.pool_removed("expired")
            log.info("queued transactions expired", extra=fields(count=len(expired)))
        return expired

    async def run_expiry(self, every_s: float | None = None) -> None:
        """Expire queued transactions every ``every_s`` (a tenth of their lifetime, at most a
        minute), and look at the journal's size, until cancelled."""
        period = every_s if every_s is not None else min(60.0, self.pool.queued_lifetime_s / 10)
        while True:
            await asyncio.sleep(period)
            self.expire_queued()
            self.journal.check_compaction()

    # -- coalesced decoding ---------------------------------------------------------------------
    async def _decode(self, raw: bytes) -> Decoded:
        fut: asyncio.Future[Decoded] = asyncio.get_running_loop().create_future()
        self._coalescer.add((raw, fut))
        return await fut

    def _decode_group(self, batch: list[tuple[bytes, asyncio.Future[Decoded]]]) -> None:
        """Decode a group of submissions that arrived together (``coalescing.py``)."""
        raws = [raw for raw, _ in batch]
        # batches are admitted in the order they arrived, however long each one's decoding takes
        slot = _Decoding(batch)
        self._in_order.append(slot)
        if self.ingress.enabled and len(raws) >= self.ingress.min_batch:
            task = asyncio.ensure_future(self._decode_in_worker(raws, slot))
            self._decoding.add(task)
            task.add_done_callback(self._decoding.discard)
        else:
            slot.results = self.ingress.decode_inline(raws)
            self._deliver()

    async def _decode_in_worker(self, raws: list[bytes], slot: _Decoding) -> None:
        try:
            slot.results = await self.ingress.decode(raws)
        except Exception:  # the worker path failed as a whole: decode here instead
            log.exception("batch decoding failed; decoding inline")
            slot.results = self.ingress.decode_inline(raws)
        self._deliver()

    def _deliver(self) -> None:
        """Hand decoded batches to their submitters, oldest first, up to the first still decoding."""
        while self._in_order and self._in_order[0].results is not None:
            slot = self._in_order.popleft()
            assert slot.results is not None
            for (_raw, fut), result in zip(slot.batch, slot.results, strict=True):
                if not fut.done():
                    fut.set_result(result)


@dataclass(slots=True)
class _Decoding:
    """One coalesced batch: its submissions, and their decoding once it is done."""

    batch: list[tuple[bytes, asyncio.Future[Decoded]]]
    results: list[Decoded] | None = None
