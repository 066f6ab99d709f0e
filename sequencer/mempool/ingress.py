"""Ingress on the second core: batches of raw transactions decoded and signature-checked in a
worker process.

Decoding through py-evm's sedes and recovering the sender cost ~100-140 µs per transaction,
about a third of the node's main thread under load. A JSON-RPC batch of
``eth_sendRawTransaction`` calls is decoded here in one worker call while the main thread goes
on producing blocks; the worker returns the decoded :class:`SignedTx` values (py-evm's
transaction with its sender and hash cached), which unpickle in ~8 µs. Single requests are
decoded inline: a round trip to another process would only add latency.

The worker is started by the first batch big enough to use it; batches are decoded inline
until it is up (starting a Python process with py-evm takes about a second). If it has not
answered within ``start_timeout_s`` (a hung start), it is killed and started again; if it dies,
batches are decoded inline and a new worker is started; nothing is lost (admission itself
always runs on the main thread, in arrival order). The submission service
(``mempool/submission.py``) decides what goes here.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sequencer.errors import InvalidTransaction
from sequencer.execution.transactions import decode_transaction
from sequencer.logs import fields
from sequencer.types import SignedTx

log = logging.getLogger("sequencer.ingress")

DEFAULT_MIN_BATCH = 16
DEFAULT_START_TIMEOUT_S = 10.0

Decoded = SignedTx | InvalidTransaction


def watch_parent(parent_pid: int) -> None:
    """Worker initializer: exit when the node is gone, even if it was killed (-9) and never
    shut the pool down (the worker would otherwise wait on its queue forever)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def decode_batch(raws: list[bytes], chain_id: int, allow_unprotected: bool) -> list[Decoded]:
    """Decode each raw transaction: the :class:`SignedTx`, or the rule it breaks (picklable)."""
    out: list[Decoded] = []
    for raw in raws:
        try:
            out.append(decode_transaction(raw, chain_id, allow_unprotected))
        except InvalidTransaction as exc:
            out.append(exc)
    return out


class IngressDecoder:
    """Decodes batches of raw transactions in worker processes, inline when they are not up."""

    def __init__(
        self,
        chain_id: int,
        allow_unprotected: bool,
        workers: int = 1,
        min_batch: int = DEFAULT_MIN_BATCH,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
    ) -> None:
        self.chain_id = chain_id
        self.allow_unprotected = allow_unprotected
        self.workers = workers
        self.min_batch = min_batch
        self.start_timeout_s = start_timeout_s
        self._pool: ProcessPoolExecutor | None = None
        self._warm: asyncio.Future[Any] | None = None
        self._started_at = 0.0
        self._watchdog: asyncio.TimerHandle | None = None
        self.restarts = 0
        """Workers killed because they did not answer within ``start_timeout_s``."""
        self.offloaded = 0
        """Transactions decoded in the worker so far."""

    @property
    def enabled(self) -> bool:
        """Whether batches may go to a worker at all (``rpc.ingress_workers`` > 0)."""
        return self.workers > 0

    def _start(self) -> None:
        """Start the worker(s) in the background; :meth:`decode` uses them once they answer."""
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=watch_parent,
            initargs=(os.getpid(),),
        )
        loop = asyncio.get_running_loop()
        self._started_at = time.monotonic()
        self._warm = loop.run_in_executor(self._pool, decode_batch, [], 0, False)
        self._warm.add_done_callback(self._started)
        # checked again once the timeout has passed, whether or not another batch comes
        self._watchdog = loop.call_later(self.start_timeout_s, self._watch)

    def _watch(self) -> None:
        """The start's timer: a worker still silent is restarted whether or not another batch
        came; looked at again later if the timeout was raised meanwhile."""
        left = self._restart_if_hung()
        if left:
            self._watchdog = asyncio.get_running_loop().call_later(left, self._watch)

    def _restart_if_hung(self) -> float:
        """Kill a worker that has not answered within ``start_timeout_s`` and start another;
        the seconds it has left, if it is starting and not yet late."""
        warm = self._warm
        if warm is None or warm.done():
            return 0.0
        left = self._started_at + self.start_timeout_s - time.monotonic()
        if left > 0.001:
            return left
        self._restart()
        return 0.0

    def _restart(self) -> None:
        log.warning(
            "ingress worker did not start in time: restarting it",
            extra=fields(timeout_s=self.start_timeout_s),
        )
        self.restarts += 1
        self._drop_pool(kill=True)
        self._start()

    def _started(self, fut: asyncio.Future[Any]) -> None:
        if fut is not self._warm:
            return  # an earlier worker's start-up, since replaced
        if fut.cancelled() or fut.exception() is not None:
            log.warning("ingress worker failed to start: decoding inline")
            self._drop_pool()
        else:
            log.info("ingress worker started", extra=fields(workers=self.workers))

    async def ready(self) -> bool:
        """Start the worker if needed and wait until it answers (for tests and warm-up)."""
        if self._pool is None:
            self._start()
        assert self._warm is not None
        await asyncio.wait([self._warm], timeout=self.start_timeout_s)
        self._restart_if_hung()
        return self._pool is not None and self._warm is not None and self._warm.done()

    def decode_inline(self, raws: list[bytes]) -> list[Decoded]:
        """Decode on this thread."""
        return decode_batch(raws, self.chain_id, self.allow_unprotected)

    async def decode(self, raws: list[bytes]) -> list[Decoded]:
        """Decode ``raws`` (in the worker when the batch is big enough), in order."""
        if not self.enabled or len(raws) < self.min_batch:
            return self.decode_inline(raws)
        if self._pool is None:
            self._start()
        self._restart_if_hung()
        pool, warm = self._pool, self._warm
        if pool is None or warm is None or not warm.done():
            return self.decode_inline(raws)
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(
                pool, decode_batch, raws, self.chain_id, self.allow_unprotected
            )
        except BrokenProcessPool:
            log.warning("ingress worker died: decoding this batch inline, restarting the worker")
            self._drop_pool()
            return self.decode_inline(raws)
        self.offloaded += len(raws)
        return list(results)

    def _drop_pool(self, kill: bool = False) -> None:
        pool, self._pool = self._pool, None
        self._warm = None
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if pool is None:
            return
        # a hung worker never reads the shutdown request: kill its process (the pool keeps them
        # in a private map; there is no public way to reach them)
        processes = list(getattr(pool, "_processes", {}).values()) if kill else []
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()

    def close(self) -> None:
        """Stop the workers."""
        self._drop_pool()
