"""Receipt waiters for send-and-wait: registered *before* a transaction is submitted, so a
receipt published between submission and waiting is never missed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sequencer.types import MiniBlock, Receipt


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a transaction someone waits for: its receipt, or why it was dropped."""

    receipt: Receipt | None
    rejection: str | None


class ReceiptWaiters:
    """Futures waiting for transactions' receipts (send-and-wait)."""

    def __init__(self) -> None:
        self._waiting: dict[bytes, list[asyncio.Future[Outcome]]] = {}
        self._next_mini: list[asyncio.Future[None]] = []

    def __len__(self) -> int:
        return sum(len(v) for v in self._waiting.values())

    def register(self, tx_hash: bytes) -> asyncio.Future[Outcome]:
        """A future for ``tx_hash``'s outcome; register it before submitting."""
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(tx_hash, []).append(fut)
        return fut

    def release(self, tx_hash: bytes, fut: asyncio.Future[Outcome]) -> None:
        """Forget a waiter (answered or timed out)."""
        futs = self._waiting.get(tx_hash)
        if futs is None:
            return
        if fut in futs:
            futs.remove(fut)
        if not futs:
            del self._waiting[tx_hash]

    async def next_mini_block(self, timeout_s: float) -> None:
        """Return when the next mini-block is published, or after ``timeout_s``."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._next_mini.append(fut)
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout_s)
        except TimeoutError:
            pass
        finally:
            if fut in self._next_mini:
                self._next_mini.remove(fut)

    def on_mini_block(self, mb: MiniBlock) -> None:
        """A published mini-block: resolve the waiters of its transactions."""
        if self._next_mini:
            futs, self._next_mini = self._next_mini, []
            for fut in futs:
                if not fut.done():
                    fut.set_result(None)
        if not self._waiting:
            return
        for receipt in mb.receipts:
            self._resolve(receipt.tx_hash, Outcome(receipt, None))

    def on_rejected(self, tx_hash: bytes, reason: str) -> None:
        """A pooled transaction was dropped at execution: resolve its waiters."""
        self._resolve(tx_hash, Outcome(None, reason))

    def _resolve(self, tx_hash: bytes, outcome: Outcome) -> None:
        for fut in self._waiting.pop(tx_hash, ()):
            if not fut.done():
                fut.set_result(outcome)
