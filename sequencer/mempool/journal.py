"""The pool journal: admitted transactions are appended to the durable block log before the
node acknowledges them, so a crash never loses an acknowledged transaction.

Appends are group-committed: concurrent admissions share one log append (one fdatasync).
At start-up the node re-admits journaled transactions that no block includes (see
docs/storage.md, "Crash safety").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class PoolJournal:
    """Group-committed durable writes of admitted transactions."""

    def __init__(self, write: Callable[[list[bytes]], Awaitable[None]]) -> None:
        self._write = write
        self._pending: list[bytes] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def persist(self, raw: bytes) -> None:
        """Return once ``raw`` is durable; raises the write's error otherwise."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(raw)
        self._waiters.append(fut)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await fut

    async def _flush(self) -> None:
        while self._pending:
            batch, waiters = self._pending, self._waiters
            self._pending, self._waiters = [], []
            try:
                await self._write(batch)
            except Exception as exc:
                for fut in waiters:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)
