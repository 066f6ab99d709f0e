"""Re-execution in parallel processes (``verifier run --workers N``, N > 1).

Each mini-block's pre-state is the genesis with every earlier mini-block's *claimed* diff
applied (docs/feed.md), so mini-blocks can be re-executed out of order and apart: of ``N``
shares, share ``i`` re-executes the mini-blocks whose number mod N is ``i``. Share 0 is the
main process itself (it applies every claimed diff to its own state anyway, so it re-executes
its share inline, as one process would); shares 1..N-1 are forked workers, each applying every
other mini-block's claimed diff to keep its own copy of the state. The chain is valid when every
mini-block checks. The main process also does everything else (decoding, the hash chain,
signatures, the rules, the claimed diffs and the block roots), hands each mini-block's text to
every worker, and waits for the workers' findings at each EVM block boundary before it commits
that boundary: a boundary is never durable before every mini-block in it was re-executed.
(A first version forked N workers and re-executed nothing in the main process: three processes
on two cores, each worker decoding and applying every diff; two workers verified 1.43x the
sequencer's rate. docs/benchmarks.md, "Verifiers".)

Workers are forked from the main process once its state is loaded (they start with a copy of it,
nothing to load), talk to it over pipes (fed by one sender thread each, so the main process never
waits on a busy worker), never touch the store, and leave with ``os._exit``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import queue
import struct
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from sequencer.config import ChainConfig
from verifier.checkpoint import MAX_RECENT_HASHES
from verifier.compare import Finding, compare_diff, compare_receipts
from verifier.execution import MiniBlockExecutor
from verifier.state import FlatState
from verifier.wire import MiniBlockMessage, decode_message, decode_state_diff, impersonated_senders

_MINI = b"m"
_BLOCK = b"b"
_STOP = b"q"
_HEADER = struct.Struct(">QB")


@dataclass(frozen=True, slots=True)
class WorkerResult:
    """What re-executing one mini-block found (``finding`` ``None``: it checks)."""

    seq: int
    finding: Finding | None
    txs: int


class WorkerFailed(Exception):
    """A worker process failed (its own fault, not the stream's)."""


def _worker(conn: Connection, chain: ChainConfig, state: FlatState, recent: tuple[bytes, ...]) -> None:
    """A worker's loop (in the forked process)."""
    executor: MiniBlockExecutor | None = None
    gas = 0
    state.untracked()  # no root is computed and nothing committed here
    try:
        while True:
            data = conn.recv_bytes()
            kind = data[:1]
            if kind == _STOP:
                break
            if kind == _BLOCK:
                recent = (data[1:], *recent)[:MAX_RECENT_HASHES]
                executor, gas = None, 0
                continue
            seq, execute = _HEADER.unpack_from(data, 1)
            if not execute:
                used, claimed = decode_state_diff(data[1 + _HEADER.size :])
                state.apply(claimed)
                gas += used
                continue
            message = decode_message(data[1 + _HEADER.size :])
            assert isinstance(message, MiniBlockMessage)
            diff = message.state_diff
            if execute:
                if executor is None:
                    executor = MiniBlockExecutor(
                        state,
                        chain.chain_id,
                        message.env,
                        recent,
                        allow_unprotected=chain.allow_unprotected_txs,
                    )
                result = executor.run(message.transactions, gas, impersonated_senders(message))
                finding = compare_receipts(result.txs, message.receipts) or compare_diff(result.diff, diff)
                if finding is not None:
                    diff = result.diff  # go on from what it really did, as the main process does
                conn.send_bytes(pickle.dumps(WorkerResult(seq, finding, len(message.transactions))))
            state.apply(diff)
            gas += message.gas_used
    except BaseException as exc:  # report and leave: the main process stops on it
        with contextlib.suppress(OSError, ValueError):
            conn.send_bytes(pickle.dumps(WorkerFailed(f"{type(exc).__name__}: {exc}")))
    finally:
        os._exit(0)


def _send_all(outbox: queue.SimpleQueue[bytes], conn: Connection) -> None:
    """A sender thread: the main process's messages to one worker, in order, until the stop."""
    while True:
        data = outbox.get()
        try:
            conn.send_bytes(data)
        except (OSError, ValueError):
            return
        if data == _STOP:
            return


class WorkerPool:
    """``count`` shares of re-execution: the main process's (share 0) and ``count - 1`` forked
    workers', each re-executing the mini-blocks whose number mod ``count`` is its share."""

    def __init__(self, count: int, chain: ChainConfig, state: FlatState, recent: tuple[bytes, ...]) -> None:
        if count < 2:
            raise ValueError("a worker pool has at least two shares (one of them the main process's)")
        context = multiprocessing.get_context("fork")
        self.count = count
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        for _ in range(count - 1):
            parent, child = context.Pipe()
            proc = context.Process(target=_worker, args=(child, chain, state, recent), daemon=True)
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
        self._outstanding: dict[int, int] = {}  # seq -> worker index
        self._ready: list[WorkerResult] = []
        # one sender thread per worker: the main process never waits on a busy worker's pipe
        self._queues: list[queue.SimpleQueue[bytes]] = [queue.SimpleQueue() for _ in self._conns]
        self._senders = [
            threading.Thread(target=_send_all, args=(q, c), daemon=True, name=f"verifier-worker-{i}")
            for i, (q, c) in enumerate(zip(self._queues, self._conns, strict=True))
        ]
        for sender in self._senders:
            sender.start()

    def owner(self, mini_block: int) -> int:
        """The share that re-executes mini-block number ``mini_block`` (0: the main process)."""
        return mini_block % self.count

    def executes_here(self, mini_block: int) -> bool:
        """Whether the main process re-executes mini-block number ``mini_block`` itself."""
        return self.owner(mini_block) == 0

    def submit(self, seq: int, mini_block: int, text: bytes, execute: bool) -> None:
        """Hand a mini-block's message to every worker; its owner re-executes it if ``execute``
        (a mini-block of the main process's share is only applied by the workers)."""
        self._collect(block=False)  # a worker never waits on a full pipe of results
        owner = self.owner(mini_block)
        execute = execute and owner != 0
        for i, outbox in enumerate(self._queues, start=1):
            outbox.put(_MINI + _HEADER.pack(seq, execute and i == owner) + text)
        if execute:
            self._outstanding[seq] = owner

    def end_block(self, block_hash: bytes) -> None:
        """An EVM block ended (its hash is the newest for BLOCKHASH)."""
        for outbox in self._queues:
            outbox.put(_BLOCK + block_hash)

    @property
    def outstanding(self) -> int:
        """Mini-blocks handed out whose results have not come back."""
        return len(self._outstanding)

    def _collect(self, *, block: bool) -> None:
        while self._outstanding:
            ready = wait(self._conns, timeout=None if block else 0)
            if not ready:
                return
            for conn in ready:
                assert isinstance(conn, Connection)
                result = pickle.loads(conn.recv_bytes())
                if isinstance(result, WorkerFailed):
                    raise result
                self._outstanding.pop(result.seq, None)
                self._ready.append(result)

    def results(self, *, wait_all: bool = False) -> list[WorkerResult]:
        """The results that have come back, in the order they did (with ``wait_all``: after
        every outstanding one has)."""
        self._collect(block=wait_all)
        ready, self._ready = self._ready, []
        return ready

    def close(self) -> None:
        """Stop the workers."""
        for outbox in self._queues:
            outbox.put(_STOP)
        for sender in self._senders:
            sender.join(2)
        for proc in self._procs:
            proc.join(2)
            if proc.is_alive():
                proc.kill()
        for conn in self._conns:
            conn.close()
