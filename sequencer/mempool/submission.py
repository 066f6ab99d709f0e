"""The submission service: how a raw transaction gets into the node.

For every submission, in arrival order: the health gate (is the node accepting?), decoding
and signature recovery, admission against the state, the journal write (the transaction is
acknowledged only once it is durable), then the events (subscriptions, filters) and metrics.

Decoding is coalesced: submissions that arrive together (a JSON-RPC batch, whose requests
start one event-loop iteration apart, or concurrent requests) are decoded in one call once a
loop iteration passes without a new one (at most 1,024 of them, waiting at most 2 ms), in the
ingress worker when there are enough of them (``mempool/ingress.py``), and admitted in the
order they arrived; their journal writes are group-committed (``mempool/journal.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
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
from sequencer.mempool.ingress import Decoded, IngressDecoder
from sequencer.mempool.journal import PoolJournal
from sequencer.mempool.pool import Mempool
from sequencer.metrics import Metrics
from sequencer.types import SignedTx

log = logging.getLogger("sequencer.mempool")
MAX_COALESCED = 1024
"""At most this many submissions are decoded in one call."""
MAX_COALESCE_WAIT_S = 0.002
"""A submission waits at most this long for others to join it."""


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
    ) -> None:
        self.chain = chain
        self.pool = pool
        self.config = config
        self.journal = journal
        self.gate = gate
        self.ingress = ingress
        self.metrics = metrics
        self._admitted: list[Callable[[SignedTx], None]] = []
        self._waiting: list[tuple[bytes, asyncio.Future[Decoded]]] = []
        self._decoding: set[asyncio.Task[None]] = set()
        self._in_order: deque[_Decoding] = deque()
        self._first_at = 0.0
        self._seen = 0

    def on_admitted(self, fn: Callable[[SignedTx], None]) -> None:
        """Call ``fn`` with every transaction newly admitted (and journaled)."""
        self._admitted.append(fn)

    async def submit(self, raw: bytes) -> SignedTx:
        """Admit ``raw`` and return once it is durable; raises why it is refused.

        A transaction already pooled or included is answered idempotently.
        """
        metrics = self.metrics
        metrics.tx_received.inc()
        try:
            self.gate.check_accepting()
            decoded = await self._decode(raw)
            if isinstance(decoded, InvalidTransaction):
                raise decoded
            tx = decoded
            new = admit(tx, self.chain, self.pool, self.config, self.chain.pending_base_fee())
        except (InvalidTransaction, NodeUnavailable) as exc:
            metrics.tx_rejected.labels(exc.reason).inc()
            raise
        if new:
            try:
                await self.journal.persist(raw)
            except StorageError:
                metrics.tx_rejected.labels(JournalUnavailable.reason).inc()
                raise JournalUnavailable() from None
            metrics.tx_accepted.inc()
            for fn in self._admitted:
                fn(tx)
        return tx

    def restore(self, raws: Iterable[bytes]) -> tuple[int, int]:
        """Re-admit journaled transactions at start-up (they are durable already).

        Returns (restored, dropped): those that are no longer valid are dropped with a log line.
        """
        restored = dropped = 0
        base_fee = self.chain.pending_base_fee()
        for raw in raws:
            try:
                tx = decode_transaction(raw, self.config.chain_id, self.config.allow_unprotected_txs)
                admit(tx, self.chain, self.pool, self.config, base_fee)
                restored += 1
            except InvalidTransaction as exc:
                dropped += 1
                log.info("journaled transaction no longer valid, dropped", extra=fields(reason=exc.message))
        if restored or dropped:
            log.info("mempool restored from the journal", extra=fields(restored=restored, dropped=dropped))
        return restored, dropped

    # -- coalesced decoding ---------------------------------------------------------------------
    async def _decode(self, raw: bytes) -> Decoded:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Decoded] = loop.create_future()
        if not self._waiting:
            self._first_at = time.monotonic()
            self._seen = 0
            loop.call_soon(self._decode_when_quiet)
        self._waiting.append((raw, fut))
        return await fut

    def _decode_when_quiet(self) -> None:
        """Decode what waits once a loop iteration passes without a new submission (a batch's
        requests start one iteration apart), or when enough waits or it has waited long enough."""
        waiting = len(self._waiting)
        if (
            waiting > self._seen
            and waiting < MAX_COALESCED
            and time.monotonic() - self._first_at < MAX_COALESCE_WAIT_S
        ):
            self._seen = waiting
            asyncio.get_running_loop().call_soon(self._decode_when_quiet)
            return
        batch, self._waiting = self._waiting, []
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
