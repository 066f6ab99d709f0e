"""Serving HTTP and WebSocket apps: the pieces every port of the node shares.

The JSON-RPC port, the feed port, the metrics port and the verifier's status port all start
the same way, report their bound address the same way, and close their WebSocket connections
the same way at shutdown.

Every port guards its connections (:class:`~sequencer.config.ConnectionLimits`): at most
``max_connections`` open, ``max_per_ip`` from one client address (a newcomer beyond either is
answered 503 and closed at once), and a connection that does not complete a request's headers
or sits idle for ``idle_timeout_s`` is closed (aiohttp's keep-alive timer, which runs from the
moment a connection opens). The caps are kept below the process's file-descriptor limit, which
start-up raises to its hard maximum (:func:`raise_fd_limit`).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import WSCloseCode, web

from sequencer.config import ConnectionLimits
from sequencer.logs import fields

log = logging.getLogger("sequencer.serving")
FD_RESERVE = 256
"""File descriptors kept for the data dir, worker pipes and the like, beyond connections."""
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The text exposition format every Prometheus reads (what ``generate_latest`` writes)."""


@dataclass(frozen=True, slots=True)
class BoundAddress:
    """Where a server listens (the real port when 0 was asked for)."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """``http://HOST:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://HOST:PORT``."""
        return f"ws://{self.host}:{self.port}"


def raise_fd_limit() -> int:
    """Raise the soft file-descriptor limit to the hard one (as geth does); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def fitted(limits: ConnectionLimits, ports: int = 1) -> ConnectionLimits:
    """``limits`` with the connection cap lowered so ``ports`` ports fit the fd limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = max((soft - FD_RESERVE) // max(ports, 1), 16)
    if limits.max_connections <= room:
        return limits
    log.warning(
        "connection cap lowered to fit the file-descriptor limit",
        extra=fields(max_connections=room, fd_limit=soft, ports=ports),
    )
    return replace(limits, max_connections=room, max_per_ip=min(limits.max_per_ip, room))


class ConnectionGuard:
    """Counts a port's open connections, in all and by client address, and refuses beyond the
    caps: a refused connection is answered 503 (naming the limit) if it sends a request within
    a second, and closed after that second either way. Hooked on the aiohttp server's
    connection manager (``Server.connection_made``) and the app's middlewares."""

    REFUSED_GRACE_S = 1.0

    def __init__(self, limits: ConnectionLimits, local_exempt: bool = False) -> None:
        """``local_exempt``: connections over a Unix socket (the node's own front ends) are not
        capped per address; TCP connections handed over to this server still are."""
        self.limits = limits
        self.local_exempt = local_exempt
        self.open = 0
        self.by_ip: Counter[str] = Counter()
        self.refused = 0
        self._peers: dict[int, str] = {}
        self._refused: dict[int, str] = {}
        """Refused connections (by handler) and the limit each hit."""

    def install(self, app: web.Application) -> None:
        """Add the refusal middleware (before the app is set up)."""
        app.middlewares.insert(0, self._middleware)

    def hook(self, server: web.Server) -> None:
        """Wrap ``server``'s connection hooks (one guard per server)."""
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            made(handler, transport)
            peer = transport.get_extra_info("peername")
            ip = str(peer[0]) if peer else "?"
            if not peer and self.local_exempt:
                return
            if self.open >= self.limits.max_connections:
                self._refuse(handler, transport, ip, "rpc.max_connections")
            elif self.by_ip[ip] >= self.limits.max_per_ip:
                self._refuse(handler, transport, ip, "rpc.max_connections_per_ip")
            else:
                self.open += 1
                self.by_ip[ip] += 1
                self._peers[id(handler)] = ip

        def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
            self._refused.pop(id(handler), None)
            ip = self._peers.pop(id(handler), None)
            if ip is not None:
                self.open -= 1
                self.by_ip[ip] -= 1
                if self.by_ip[ip] <= 0:
                    del self.by_ip[ip]
            lost(handler, exc)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]

    def _refuse(self, handler: Any, transport: asyncio.Transport, ip: str, limit: str) -> None:
        self.refused += 1
        self._refused[id(handler)] = limit
        if self.refused == 1 or self.refused % 1000 == 0:
            log.warning(
                "connection refused: limit reached",
                extra=fields(limit=limit, client=ip, refused=self.refused),
            )
        asyncio.get_running_loop().call_later(self.REFUSED_GRACE_S, transport.close)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        limit = self._refused.get(id(request.protocol))
        if limit is None:
            response: web.StreamResponse = await handler(request)
            return response
        refused = web.json_response({"error": f"too many connections ({limit})"}, status=503)
        refused.force_close()
        return refused


async def start_server(
    app: web.Application,
    host: str,
    port: int,
    limits: ConnectionLimits | None = None,
    ssl_context: ssl.SSLContext | None = None,
    reuse_port: bool = False,
) -> tuple[web.AppRunner, BoundAddress]:
    """Serve ``app`` on ``host:port`` (0 picks a free port; TLS with ``ssl_context``) under
    ``limits`` (the defaults when ``None``); the runner (to clean up) and the address.
    ``reuse_port``: share the port with other processes (``SO_REUSEPORT``: the kernel spreads
    new connections over them; the RPC front ends)."""
    runner = await _guarded_runner(app, limits)
    site = web.TCPSite(
        runner, host, port, reuse_address=True, reuse_port=reuse_port or None, ssl_context=ssl_context
    )
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, BoundAddress(bound_host, bound_port)


async def start_unix_server(app: web.Application, path: str, limits: ConnectionLimits) -> web.AppRunner:
    """Serve ``app`` on the Unix socket ``path`` (the executor's side of the RPC front ends):
    its own connections are not capped; the TCP connections handed over to it are, by ``limits``."""
    runner = await _guarded_runner(app, limits, local_exempt=True)
    await web.UnixSite(runner, path).start()
    return runner


async def _guarded_runner(
    app: web.Application, limits: ConnectionLimits | None, local_exempt: bool = False
) -> web.AppRunner:
    limits = limits or ConnectionLimits()
    guard = ConnectionGuard(limits, local_exempt)
    guard.install(app)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, keepalive_timeout=limits.idle_timeout_s
    )
    await runner.setup()
    assert runner.server is not None
    guard.hook(runner.server)
    return runner


class WebSocketRegistry:
    """The open WebSocket connections of one app: counted, and closed when the app shuts down."""

    def __init__(
        self,
        app: web.Application,
        on_count: Callable[[int], None] | None = None,
        close_message: bytes = b"server shutting down",
    ) -> None:
        self._sockets: set[web.WebSocketResponse] = set()
        self._on_count = on_count
        self._close_message = close_message
        app.on_shutdown.append(self._close_all)

    def __len__(self) -> int:
        return len(self._sockets)

    def add(self, ws: web.WebSocketResponse) -> None:
        """A connection opened."""
        self._sockets.add(ws)
        self._report()

    def discard(self, ws: web.WebSocketResponse) -> None:
        """A connection closed."""
        self._sockets.discard(ws)
        self._report()

    def _report(self) -> None:
        if self._on_count is not None:
            self._on_count(len(self._sockets))

    async def _close_all(self, _app: web.Application) -> None:
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=self._close_message)


def make_probe_app(
    metrics_text: Callable[[], bytes], healthy: Callable[[], bool], ready: Callable[[], bool] | None = None
) -> web.Application:
    """Prometheus ``/metrics``, ``/health`` (200 or 503) and, when given, ``/ready``."""
    app = web.Application()

    async def scrape(_request: web.Request) -> web.Response:
        return web.Response(body=metrics_text(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})

    async def health(_request: web.Request) -> web.Response:
        ok = healthy()
        return web.json_response({"healthy": ok}, status=200 if ok else 503)

    app.router.add_get("/metrics", scrape)
    app.router.add_get("/health", health)
    if ready is not None:
        is_ready = ready

        async def readiness(_request: web.Request) -> web.Response:
            ok = is_ready()
            return web.json_response({"ready": ok}, status=200 if ok else 503)

        app.router.add_get("/ready", readiness)
    return app
