"""The executor's side of the RPC front ends: start them on the port, keep them up, stop them.

With ``rpc.frontends = N`` the executor does not serve the JSON-RPC port itself. It binds the
port first (``SO_REUSEPORT``, without listening: the port is held for the front ends, and a
port of 0 is resolved to a free one), serves its full JSON-RPC app on a private Unix socket
(in a fresh directory only the node's user can open), and spawns N front-end processes
(``process.py``) that listen on the port. A front end that exits is started again (counted in
``sequencer_rpc_frontend_restarts_total``); the others keep serving meanwhile. Front ends exit
by themselves when the executor is gone (killed -9 included), and hold nothing that is not
durable: a transaction is acknowledged only by the executor, after its journal write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from sequencer.errors import SequencerError
from sequencer.frontend.process import READY, frontend_main
from sequencer.frontend.spec import FrontendSpec
from sequencer.logs import JsonFormatter, fields
from sequencer.metrics import Metrics
from sequencer.serving import BoundAddress

log = logging.getLogger("sequencer.frontend")
START_TIMEOUT_S = 20.0
"""A front end that has not said it listens by then is killed and started again (spawning a
Python process with py-evm takes about a second; a loaded machine may take several)."""
START_ATTEMPTS = 3
WATCH_EVERY_S = 0.5
RESTART_BACKOFF_S = 1.0
STOP_TIMEOUT_S = 8.0


class FrontendStartFailed(SequencerError):
    """A front end did not start listening."""


def logging_setup() -> tuple[str, str]:
    """The level and format the node logs in, for its front ends to log the same way."""
    root = logging.getLogger()
    fmt = "json" if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers) else "kv"
    return logging.getLevelName(root.level).lower(), fmt


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind ``host:port`` with ``SO_REUSEPORT`` and without listening: no one else can take the
    port, and the kernel gives its connections only to the listening front ends."""
    family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


class FrontEnds:
    """N front-end processes serving the RPC port for this executor."""

    def __init__(self, count: int, make_spec: Callable[[int], FrontendSpec], metrics: Metrics) -> None:
        """``make_spec(index)``: front end ``index``'s rules (where it listens and where the
        executor is are filled in here)."""
        self.count = count
        self._make_spec = make_spec
        self.metrics = metrics
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess | None] = [None] * count
        self._specs: list[FrontendSpec] = []
        self._reserved: socket.socket | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="megapy-rpc-"))  # mode 0700: this user only
        self.executor_socket = str(self._dir / "executor.sock")
        self.handoff_socket = str(self._dir / "handoff.sock")
        self.address: BoundAddress | None = None
        self._stopping = False

    async def start(self, host: str, port: int) -> BoundAddress:
        """Hold the port and start every front end on it; their shared address."""
        self._reserved = reserve_port(host, port)
        bound_host, bound_port = self._reserved.getsockname()[:2]
        self._specs = [
            replace(
                self._make_spec(i),
                host=bound_host,
                port=bound_port,
                executor_socket=self.executor_socket,
                handoff_socket=self.handoff_socket,
            )
            for i in range(self.count)
        ]
        await asyncio.gather(*(self._spawn(i) for i in range(self.count)))
        self.address = BoundAddress(bound_host, bound_port)
        log.info("RPC front ends listening", extra=fields(count=self.count, rpc=self.address.url))
        return self.address

    async def _spawn(self, index: int) -> None:
        for attempt in range(1, START_ATTEMPTS + 1):
            said = await self._start_one(index)
            if said == READY:
                return
            if attempt == START_ATTEMPTS:
                raise FrontendStartFailed(f"RPC front end {index} did not start: {said}")
            log.warning(
                "RPC front end did not start: starting it again",
                extra=fields(frontend=index, attempt=attempt, why=said),
            )

    async def _start_one(self, index: int) -> str:
        """Start front end ``index``; what it said (``READY``), or why it said nothing (it is
        killed then)."""
        receive, send = self._context.Pipe(duplex=False)
        spec = replace(self._specs[index], parent_pid=os.getpid())
        process = self._context.Process(
            target=frontend_main, args=(spec, send), name=f"rpc-frontend-{index}", daemon=True
        )
        process.start()
        send.close()
        self._processes[index] = process
        try:
            said = await asyncio.get_running_loop().run_in_executor(None, _wait_ready, receive, process)
        finally:
            receive.close()
        if said != READY:
            process.kill()
            process.join(1.0)
            return said
        log.info("RPC front end started", extra=fields(frontend=index, pid=process.pid))
        self._report()
        return said

    def _report(self) -> None:
        self.metrics.frontends.set(self.alive())

    def alive(self) -> int:
        """How many front ends are running."""
        return sum(1 for p in self._processes if p is not None and p.is_alive())

    def pids(self) -> list[int]:
        """The front ends' process ids (for operators and tests)."""
        return [p.pid for p in self._processes if p is not None and p.pid is not None]

    async def run(self) -> None:
        """Start again every front end that exits, until cancelled."""
        while True:
            await asyncio.sleep(WATCH_EVERY_S)
            for index, process in enumerate(self._processes):
                if self._stopping or process is None or process.is_alive():
                    continue
                log.warning(
                    "RPC front end exited: starting it again",
                    extra=fields(frontend=index, exitcode=process.exitcode),
                )
                self._report()
                self.metrics.frontend_restarts.inc()
                try:
                    await self._spawn(index)
                except (FrontendStartFailed, OSError) as exc:
                    log.error(
                        "RPC front end did not start again", extra=fields(frontend=index, error=str(exc))
                    )
                    await asyncio.sleep(RESTART_BACKOFF_S)

    async def stop(self) -> None:
        """Stop every front end (SIGTERM: each closes its connections) and free the port."""
        self._stopping = True
        running = [p for p in self._processes if p is not None and p.is_alive()]
        for process in running:
            process.terminate()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_TIMEOUT_S
        while any(p.is_alive() for p in running) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for process in running:
            if process.is_alive():
                process.kill()
            process.join(1.0)
        self._report()
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None
        with contextlib.suppress(OSError):
            shutil.rmtree(self._dir)


def _wait_ready(receive: Connection, process: BaseProcess) -> str:
    """What a starting front end says (``READY``), or why it said nothing."""
    if receive.poll(START_TIMEOUT_S):
        try:
            said = receive.recv()
        except EOFError:
            return f"it exited (code {process.exitcode})"
        return str(said)
    if not process.is_alive():
        return f"it exited (code {process.exitcode})"
    return f"no answer within {START_TIMEOUT_S:.0f} s"
