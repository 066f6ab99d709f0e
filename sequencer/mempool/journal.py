"""The pool journal: every change to the pool that must survive a restart, written durably
before the node acts on it, and compacted so its size stays bounded.

Records (``storage/durable.py``: :class:`~sequencer.storage.durable.PoolRecord`, in
``<data>/pool/``): a transaction *added* (its raw bytes; the node acknowledges it only once this
is durable), and transactions *removed* (dropped at execution, evicted, replaced or expired:
their hashes), so none of them comes back at the next start. Included transactions need no
record: the index says they are included.

Appends are group-committed: records queued together share one append (one fdatasync). Each
queued group can carry a ``done`` callback, called the moment its write returned (or failed),
before anything else runs: so the pool's "durable" marks always match what the journal holds.

Compaction: once the journal has grown past ``compact_bytes`` and twice the pool's live size,
it is replaced (atomically: a new file, fsync'd, renamed into place) by one add record per
durable pooled transaction. It runs in the flusher between two writes, when every write before
it has returned and been marked: the snapshot holds exactly the journaled transactions still
pooled, so compaction never loses an acknowledged, pooled transaction. While the journal is
mostly live it is looked at again after every quarter threshold of growth, so it stays below
about ``max(compact_bytes, 2 x live) + compact_bytes / 4 + one group`` (live as of that write);
:meth:`PoolJournal.check_compaction`, called periodically, lets an idle journal shrink too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sequencer.logs import fields
from sequencer.storage.durable import PoolRecord
from sequencer.storage.log import HEADER_SIZE

log = logging.getLogger("sequencer.mempool")

Done = Callable[[BaseException | None], None]


class PoolJournal:
    """Group-committed durable writes of pool records, and the journal's compaction."""

    def __init__(
        self,
        write: Callable[[list[PoolRecord]], Awaitable[None]],
        replace: Callable[[list[bytes]], Awaitable[None]] | None = None,
        snapshot: Callable[[], list[bytes]] | None = None,
        compact_bytes: int = 64 * 1024 * 1024,
        size: int = 0,
    ) -> None:
        self._write = write
        self._replace = replace
        self._snapshot = snapshot
        self.compact_bytes = compact_bytes
        self.size = size
        """Bytes in the journal now (as far as this process wrote them)."""
        self.compactions = 0
        self._next_compaction_at = compact_bytes
        self._check_due = False
        self._pending: list[tuple[list[PoolRecord], asyncio.Future[None] | None, Done | None]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def persist(self, records: list[PoolRecord], done: Done | None = None) -> None:
        """Return once ``records`` are durable; raises the write's error otherwise. ``done`` is
        called first, as soon as the write returned (with its error, or None)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue(records, fut, done)
        await fut

    def enqueue(self, records: list[PoolRecord], done: Done | None = None) -> None:
        """Write ``records`` without waiting; ``done`` hears how it went."""
        self._queue(records, None, done)

    def check_compaction(self) -> None:
        """Look at the journal's size now (between writes, like every compaction), even if no
        write is coming: an idle journal whose transactions were all included shrinks too."""
        self._check_due = True
        self._queue([], None, None)

    def _queue(self, records: list[PoolRecord], fut: asyncio.Future[None] | None, done: Done | None) -> None:
        self._pending.append((records, fut, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            records = [record for records, _fut, _done in batch for record in records]
            error: BaseException | None = None
            try:
                if records:
                    await self._write(records)
            except Exception as exc:
                error = exc
            else:
                self.size += sum(HEADER_SIZE + len(r.framed()[1]) for r in records)
            for _records, fut, done in batch:
                if done is not None:
                    try:
                        done(error)
                    except Exception:  # one caller's bookkeeping must not break the others'
                        log.exception("pool journal callback failed")
                if fut is not None and not fut.done():
                    if error is None:
                        fut.set_result(None)
                    else:
                        fut.set_exception(error)
            if error is None:
                await self._maybe_compact()

    async def _maybe_compact(self) -> None:
        """Compact now if the journal has outgrown its bound (see the module docstring)."""
        due, self._check_due = self._check_due, False
        if self._replace is None or self._snapshot is None or self.size < self.compact_bytes:
            return
        if not due and self.size < self._next_compaction_at:
            return
        raws = self._snapshot()
        live = sum(HEADER_SIZE + len(raw) for raw in raws)
        if self.size < 2 * live:  # mostly live: look again after a quarter threshold's growth
            self._next_compaction_at = max(self.compact_bytes, self.size + self.compact_bytes // 4)
            return
        try:
            await self._replace(raws)
        except Exception as exc:
            log.warning("pool journal compaction failed (retried later)", extra=fields(error=str(exc)))
            self._next_compaction_at = self.size + self.compact_bytes
            return
        before, self.size = self.size, live
        self.compactions += 1
        self._next_compaction_at = max(self.compact_bytes, 2 * live)
        log.info(
            "pool journal compacted",
            extra=fields(bytes_before=before, bytes_after=live, transactions=len(raws)),
        )
