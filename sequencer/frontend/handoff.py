"""WebSocket connections handed from the front ends to the executor, socket and all.

A WebSocket is a long-lived connection whose traffic is almost all the executor's (its
subscriptions and their notifications): relaying every message through a front end would cost
two processes per message instead of one. So a front end that receives an upgrade request passes
the client's socket itself to the executor (``SCM_RIGHTS`` over a ``SOCK_SEQPACKET`` Unix socket,
with the request's head), closes its own copy and forgets the connection; the executor adopts the
socket into its JSON-RPC server (``loop.connect_accepted_socket``) and replays the head, so the
upgrade is answered by the executor's own WebSocket code, under its connection caps, with the
client's real address. Clients send nothing before the handshake's answer (RFC 6455 4.1), so
nothing is buffered in the front end when it lets go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable

from aiohttp import web

from sequencer.logs import fields

log = logging.getLogger("sequencer.frontend")
MAX_HEAD = 64 * 1024
"""The longest request head handed over (aiohttp's own header limits are far below)."""


def request_head(request: web.Request, forwarded_for: str) -> bytes:
    """The request's head as it came (method, target, headers), the client's address added."""
    lines = [f"{request.method} {request.raw_path} HTTP/{request.version.major}.{request.version.minor}"]
    for name, value in request.raw_headers:
        if name.lower() != b"x-forwarded-for":
            lines.append(f"{name.decode('latin-1')}: {value.decode('latin-1')}")
    lines.append(f"X-Forwarded-For: {forwarded_for}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class HandoffSender:
    """A front end's side: one connected ``SOCK_SEQPACKET`` socket to the executor."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.connect(path)

    def hand_over(self, request: web.Request) -> bool:
        """Pass the request's connection to the executor; False if it could not be (the caller
        answers 503). The connection is this process's no more either way."""
        transport = request.transport
        raw = transport.get_extra_info("socket") if transport is not None else None
        if transport is None or raw is None:
            return False
        transport.pause_reading()
        head = request_head(request, request.remote or "")
        try:
            socket.send_fds(self.sock, [head], [raw.fileno()])
        except OSError as exc:
            log.warning("WebSocket hand-over failed", extra=fields(error=str(exc)))
            return False
        transport.close()  # our copy of the socket only: the executor holds the connection now
        return True

    def close(self) -> None:
        """Stop handing over."""
        self.sock.close()


class HandoffReceiver:
    """The executor's side: adopts handed-over sockets into ``server`` (its aiohttp server)."""

    def __init__(self, path: str, server: Callable[[], asyncio.Protocol]) -> None:
        self.path = path
        self.server = server
        self.adopted = 0
        self._listener: socket.socket | None = None
        self._peers: set[socket.socket] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Listen for front ends."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(self.path)
        os.chmod(self.path, 0o600)
        listener.listen(64)
        listener.setblocking(False)
        self._listener = listener
        asyncio.get_running_loop().add_reader(listener.fileno(), self._accept)

    def _accept(self) -> None:
        assert self._listener is not None
        with contextlib.suppress(BlockingIOError):
            peer, _ = self._listener.accept()
            peer.setblocking(False)
            self._peers.add(peer)
            asyncio.get_running_loop().add_reader(peer.fileno(), self._receive, peer)

    def _receive(self, peer: socket.socket) -> None:
        try:
            head, fds, _flags, _addr = socket.recv_fds(peer, MAX_HEAD, 1)
        except BlockingIOError:
            return
        except OSError:
            head, fds = b"", []
        if not head:  # the front end is gone
            for fd in fds:
                os.close(fd)
            self._drop(peer)
            return
        for fd in fds:
            task = asyncio.ensure_future(self._adopt(socket.socket(fileno=fd), head))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _adopt(self, sock: socket.socket, head: bytes) -> None:
        sock.setblocking(False)
        try:
            _transport, protocol = await asyncio.get_running_loop().connect_accepted_socket(self.server, sock)
        except OSError as exc:
            log.info("a handed-over connection was gone", extra=fields(error=str(exc)))
            sock.close()
            return
        self.adopted += 1
        protocol.data_received(head)

    def _drop(self, peer: socket.socket) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(peer.fileno())
        self._peers.discard(peer)
        peer.close()

    def close(self) -> None:
        """Stop adopting."""
        for peer in list(self._peers):
            self._drop(peer)
        if self._listener is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
