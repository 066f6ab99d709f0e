"""Calls off the event loop: ``eth_call``, ``eth_estimateGas``, ``eth_createAccessList``,
``eth_callMany``, ``eth_simulateV1`` and the ``debug_trace*`` methods run in worker processes,
each under a deadline.

py-evm holds the GIL and runs ~4M gas/s of cheap opcodes here, so a call run on the node's
thread (or any thread of its process) stalls the RPC and block production for as long as it
runs. Each worker is a process with its own read-only view of the data dir's store
(``storage/store.py``, LMDB: it sees every write the node commits); a :class:`CallJob` names
its state by history position, so the worker reads exactly the state the node would. A call
that runs past ``rpc.call_timeout_ms`` (geth's 5 s) is aborted by killing its worker, which is
replaced in the background: the caller gets ``execution aborted (timeout = 5s)``. Workers run
at a lower CPU priority (nice 10), so busy calls yield the cores to the node's own thread.
The deadline counts execution; a call waits for a free worker at most the deadline plus 10 s
(the time to replace killed workers), else ``all call workers are busy; retry later``. A worker's
heap is capped (``rpc.call_memory_mb``, ``RLIMIT_DATA``); a call that needs more is answered
as out of memory and its worker replaced. Gas is capped before a job is made
(``rpc.gas_cap``, geth's 50M).

With ``rpc.call_workers = 0`` jobs run inline (embedded and unit-test nodes; no deadline).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import pickle
import resource
import struct
import time
from multiprocessing.connection import Connection
from pathlib import Path

from sequencer.errors import CallCapacityExceeded, CallFailed, CallTimedOut
from sequencer.logs import fields
from sequencer.mempool.ingress import watch_parent
from sequencer.metrics import Metrics
from sequencer.rpc.calljobs import Job, JobOutcome, StateAt, Value, run_job
from sequencer.storage.history import HistoricalState
from sequencer.storage.store import ChainStore

log = logging.getLogger("sequencer.calls")

READY = "ready"
START_TIMEOUT_S = 120.0
OUT_OF_MEMORY = "out of memory"
WORKER_NICENESS = 10
WORKER_START_S = 10.0
CLOSE_GRACE_S = 1.0
"""At shutdown, how long idle workers get to exit by themselves once their pipe is closed (a
worker still busy with a call after that is killed)."""
READ_CHUNK = 1 << 20


def worker_main(conn: Connection, data_dir: str, memory_bytes: int, parent_pid: int) -> None:
    """A call worker: open the store read-only, then answer jobs until the pipe closes."""
    watch_parent(parent_pid)
    os.nice(WORKER_NICENESS)  # a busy call yields the CPU to the node's own thread
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
    store = ChainStore(data_dir, readonly=True)
    conn.send(READY)
    while True:
        try:
            job: Job = conn.recv()
        except (EOFError, OSError):
            return
        try:
            outcome = _answer(store, job)
        except MemoryError:
            conn.send(JobOutcome(failed=OUT_OF_MEMORY))
            os._exit(1)  # the heap may be fragmented past its cap: start afresh
        conn.send(outcome)


def _answer(store: ChainStore, job: Job) -> JobOutcome:
    indexed = store.head_mini_block_number()
    if job.seq > (-1 if indexed is None else indexed) + 1:
        return JobOutcome(failed="the state of this call is not indexed yet; retry")
    return run_job(job, lambda seq: HistoricalState(store, seq))


def _take_message(buffer: bytearray) -> bytes | None:
    """The first whole message of ``multiprocessing.Connection``'s framing (a 4-byte big-endian
    length, or -1 and an 8-byte one) taken off ``buffer``, or None while it is incomplete."""
    if len(buffer) < 4:
        return None
    (size,) = struct.unpack("!i", buffer[:4])
    start = 4
    if size == -1:
        if len(buffer) < 12:
            return None
        (size,) = struct.unpack("!Q", buffer[4:12])
        start = 12
    if len(buffer) < start + size:
        return None
    message = bytes(buffer[start : start + size])
    del buffer[: start + size]
    return message


class _Worker:
    """One worker process and the event-loop side of its pipe."""

    def __init__(self, data_dir: Path, memory_bytes: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=worker_main,
            args=(child, str(data_dir), memory_bytes, os.getpid()),
            name="call-worker",
            daemon=True,
        )
        self.proc.start()
        child.close()
        self._loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[bool] = self._loop.create_future()
        self._answer: asyncio.Future[JobOutcome] | None = None
        # the answer is read as it arrives, never with a blocking recv on the event loop: a
        # large one (a struct-logger trace) spans many reads
        self._fd = self.conn.fileno()
        os.set_blocking(self._fd, False)
        self._buffer = bytearray()
        self._loop.add_reader(self._fd, self._readable)
        self.alive = True

    def _readable(self) -> None:
        try:
            chunk = os.read(self._fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            self._gone()
            return
        if not chunk:
            self._gone()
            return
        self._buffer += chunk
        while (message := _take_message(self._buffer)) is not None:
            self._received(pickle.loads(message))

    def _received(self, message: object) -> None:
        if message == READY:
            if not self.ready.done():
                self.ready.set_result(True)
        elif self._answer is not None and not self._answer.done():
            assert isinstance(message, JobOutcome)
            self._answer.set_result(message)

    def _gone(self) -> None:
        if not self.alive:
            return
        self.alive = False
        self._loop.remove_reader(self.conn.fileno())
        if not self.ready.done():
            self.ready.set_exception(CallCapacityExceeded("the call worker failed to start"))
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(CallCapacityExceeded("the call's worker process died"))

    async def run(self, job: Job, timeout_s: float) -> JobOutcome:
        """Send ``job`` and wait for its outcome (``TimeoutError`` after ``timeout_s``)."""
        self._answer = self._loop.create_future()
        try:
            os.set_blocking(self._fd, True)  # the idle worker is reading: a large job goes at once
            try:
                self.conn.send(job)
            finally:
                os.set_blocking(self._fd, False)
        except OSError:
            self._gone()
            raise CallCapacityExceeded("the call's worker process died") from None
        return await asyncio.wait_for(self._answer, timeout_s)

    def hang_up(self) -> None:
        """Close the pipe: an idle worker reads end-of-file and exits by itself."""
        self._gone()
        self.conn.close()

    def kill(self) -> None:
        """Stop the process now (it may be deep in py-evm) and release the pipe; it is reaped
        on a thread (tearing down a large process takes a while)."""
        self._gone()
        self.proc.kill()
        self.conn.close()
        self._loop.run_in_executor(None, self.proc.join, 5.0)


class CallService:
    """Runs :class:`CallJob` values: in worker processes with a deadline, or inline."""

    def __init__(
        self,
        data_dir: Path,
        workers: int,
        timeout_ms: int,
        memory_mb: int,
        gas_cap: int,
        metrics: Metrics | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.gas_cap = gas_cap
        """The most gas a call may use (``rpc.gas_cap``); the handlers cap requests with it."""
        self.workers = workers
        self.timeout_ms = timeout_ms
        self.memory_bytes = memory_mb * 2**20
        self.metrics = metrics
        self._idle: asyncio.Queue[_Worker] | None = None
        self._up: asyncio.Event | None = None
        """Set once a worker has started: until then a call waits for one without its deadline
        running (a node that just started is not yet slow, only starting)."""
        self._all: set[_Worker] = set()
        self._starting: set[asyncio.Task[None]] = set()
        self._closed = False

    @classmethod
    def inline_only(cls, gas_cap: int = 50_000_000) -> CallService:
        """A service that runs every job inline (no data dir, no processes)."""
        return cls(Path("."), workers=0, timeout_ms=0, memory_mb=0, gas_cap=gas_cap)

    @property
    def inline(self) -> bool:
        """Whether jobs run on the caller's thread (``rpc.call_workers = 0``)."""
        return self.workers == 0

    def start(self) -> None:
        """Start the workers in the background (on the running loop); jobs wait for them."""
        if self.inline or self._idle is not None:
            return
        self._idle = asyncio.Queue()
        self._up = asyncio.Event()
        for _ in range(self.workers):
            self._spawn()

    def _spawn(self) -> None:
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._start_one(), name="call-worker-start")
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _start_one(self) -> None:
        worker = _Worker(self.data_dir, self.memory_bytes)
        self._all.add(worker)
        try:
            await asyncio.wait_for(worker.ready, START_TIMEOUT_S)
        except (TimeoutError, CallFailed):
            log.error("call worker failed to start", extra=fields(pid=worker.proc.pid))
            self._retire(worker)
            await asyncio.sleep(1.0)  # do not spin when workers cannot start at all
            self._spawn()
            return
        assert self._idle is not None and self._up is not None
        log.debug("call worker ready", extra=fields(pid=worker.proc.pid))
        self._up.set()
        self._idle.put_nowait(worker)

    def _retire(self, worker: _Worker) -> None:
        self._all.discard(worker)
        worker.kill()

    async def run(self, job: Job, inline_state_at: StateAt, timeout_ms: int | None = None) -> Value:
        """The job's value (or its domain error); ``inline_state_at`` gives the states the job
        reads in this process, used when jobs run inline. ``timeout_ms``: a shorter deadline
        than ``rpc.call_timeout_ms`` (a tracer's ``timeout``), never a longer one."""
        if self.inline:
            return run_job(job, inline_state_at).unwrap()
        deadline_ms = min(timeout_ms, self.timeout_ms) if timeout_ms else self.timeout_ms
        if self._idle is None:
            self.start()
        assert self._idle is not None and self._up is not None
        if not self._up.is_set():
            try:
                await asyncio.wait_for(self._up.wait(), START_TIMEOUT_S)
            except TimeoutError:
                raise CallCapacityExceeded("no call worker could be started") from None
        loop = asyncio.get_running_loop()
        # waiting for a free worker is bounded apart from the execution deadline: workers that
        # were killed at their deadline take a few seconds to be replaced
        wait_until = loop.time() + self.timeout_ms / 1000 + WORKER_START_S
        while True:
            try:
                worker = await asyncio.wait_for(self._idle.get(), max(wait_until - loop.time(), 0.001))
            except TimeoutError:
                self._count("queue_timeout")
                raise CallCapacityExceeded("all call workers are busy; retry later") from None
            if worker.alive:
                break
            self._retire(worker)  # it died while idle
            self._spawn()
        try:
            outcome = await worker.run(job, deadline_ms / 1000)
        except TimeoutError:
            self._count("timeout")
            log.warning("call aborted after %d ms: replacing its worker pid=%s", deadline_ms, worker.proc.pid)
            self._retire(worker)
            self._spawn()
            raise CallTimedOut(deadline_ms) from None
        except CallFailed:
            self._count("worker_died")
            self._retire(worker)
            self._spawn()
            raise
        except BaseException:  # the caller went away (cancelled): the worker's answer is unread
            self._retire(worker)
            self._spawn()
            raise
        if outcome.failed == OUT_OF_MEMORY:
            self._count("out_of_memory")
            self._retire(worker)
            self._spawn()
            limit = f"rpc.call_memory_mb ({self.memory_bytes // 2**20} MiB)"
            raise CallCapacityExceeded(f"out of memory: the call needs more than {limit}")
        self._idle.put_nowait(worker)
        return outcome.unwrap()

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.calls_aborted.labels(outcome).inc()

    async def ready(self) -> None:
        """Wait until every worker has started (for tests and warm-up)."""
        self.start()
        while self._starting:
            await asyncio.gather(*self._starting, return_exceptions=True)

    def close(self) -> None:
        """Stop every worker."""
        self._closed = True
        for task in self._starting:
            task.cancel()
        workers = list(self._all)
        self._all.clear()
        for worker in workers:
            worker.hang_up()
        deadline = time.monotonic() + CLOSE_GRACE_S
        for worker in workers:
            worker.proc.join(max(0.0, deadline - time.monotonic()))
        for worker in workers:
            if worker.proc.is_alive():
                worker.kill()

    def counts(self) -> dict[str, int]:
        """Workers by state (``sequencer_status``): ``idle`` (ready for a call), ``busy`` (running
        one) and ``starting``."""
        idle = self._idle.qsize() if self._idle is not None else 0
        started = sum(1 for w in self._all if w.alive and w.ready.done())
        return {
            "idle": idle,
            "busy": max(started - idle, 0),
            "starting": len(self._starting) - started + idle,
        }
