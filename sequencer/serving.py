"""Serving HTTP and WebSocket apps: the pieces every port of the node shares.

The JSON-RPC port, the feed port, the metrics port and the verifier's status port all start
the same way, report their bound address the same way, and close their WebSocket connections
the same way at shutdown.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import WSCloseCode, web


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


async def start_server(
    app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, BoundAddress]:
    """Serve ``app`` on ``host:port`` (0 picks a free port; TLS with ``ssl_context``); the runner
    (to clean up) and the address."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, BoundAddress(bound_host, bound_port)


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
        return web.Response(body=metrics_text(), content_type="text/plain")

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
