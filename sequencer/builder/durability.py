"""Durability: every write to the data dir on one writer thread, and what happens when one fails.

A mini-block or EVM block is durable once its log append returned (``storage/durable.py``).
When the append fails, nothing is durable: the caller may roll back and retry. When the append
succeeded but the index store failed, the record *is* durable: the index write alone is retried
until it succeeds (or the node stops; the index is caught up from the log at the next start).
Either failure closes the health gate until a write succeeds again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sequencer.errors import StorageError
from sequencer.execution.deadline import block_alarm_signal
from sequencer.health import HealthGate
from sequencer.logs import fields
from sequencer.storage.durable import ChainDB, IndexWriteFailed
from sequencer.types import EvmBlock, MiniBlock, StateDiff

log = logging.getLogger("sequencer.builder")
RETRY_S = 0.2  # pause between attempts while storage writes fail
T = TypeVar("T")


class DurableWriter:
    """The single writer of one data dir (writes never run concurrently)."""

    def __init__(self, db: ChainDB, gate: HealthGate, stopping: Callable[[], bool]) -> None:
        self.db = db
        self._gate = gate
        self._stopping = stopping
        # the execution time budget's SIGALRM is for the main thread: never interrupt an fsync
        self._thread = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="chain-writer", initializer=block_alarm_signal
        )

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run one storage write on the writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def commit_mini_block(self, mb: MiniBlock) -> bool:
        """Make ``mb`` durable; False if nothing of it became durable (roll back, retry later)."""
        return await self._make_durable(self.db.commit_mini_blocks, self.db.index.write_mini_blocks, [mb])

    async def commit_block(self, block: EvmBlock) -> bool:
        """Make ``block`` durable, retrying while writes fail; False if the node stops first."""
        while not await self._make_durable(self.db.commit_block, self.db.index.write_evm_block, block):
            if self._stopping():
                log.error("stopping while block writes fail: the open block is sealed at the next start")
                return False
            await asyncio.sleep(RETRY_S)
        return True

    async def commit_rollback(self, block: EvmBlock, count: int) -> StateDiff:
        """Make a devnet rollback to ``block`` durable and roll the index back (retrying the
        index while it fails); returns the diff back to ``block``'s state. Raises
        :class:`StorageError` when the log write failed (nothing happened)."""
        try:
            return await self.run(self.db.commit_rollback, block, count)
        except IndexWriteFailed as exc:
            self._gate.storage_failed(exc)
            while True:
                await asyncio.sleep(RETRY_S)
                try:
                    diff = await self.run(self.db.index.rollback, block, count)
                    self._gate.storage_succeeded()
                    return diff
                except StorageError:
                    if self._stopping():
                        raise
        except StorageError as exc:
            self._gate.storage_failed(exc)
            raise

    async def pause(self) -> None:
        """Wait before retrying a failed write."""
        await asyncio.sleep(RETRY_S)

    async def _make_durable(
        self, commit: Callable[[Any], None], index_only: Callable[[Any], None], item: Any
    ) -> bool:
        try:
            await self.run(commit, item)
        except IndexWriteFailed as exc:
            self._gate.storage_failed(exc)
            while True:
                await asyncio.sleep(RETRY_S)
                try:
                    await self.run(index_only, item)
                    break
                except StorageError as again:
                    if self._stopping():
                        log.error(
                            "index store still failing at shutdown (caught up at start)",
                            extra=fields(error=str(again)),
                        )
                        return True
        except StorageError as exc:
            self._gate.storage_failed(exc)
            return False
        self._gate.storage_succeeded()
        return True

    def close(self) -> None:
        """Wait for the last write and stop the writer thread."""
        self._thread.shutdown(wait=True)
