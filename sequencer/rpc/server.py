"""HTTP and WebSocket transport for JSON-RPC (aiohttp, one port for both)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import WSMsgType, web

from sequencer.rpc.dispatch import Dispatcher

log = logging.getLogger("sequencer.rpc")
DEFAULT_MAX_BODY = 5 * 1024 * 1024  # geth's default HTTP body limit
JSON_HEADERS = {"Content-Type": "application/json"}
TOO_LARGE = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"request body too large"}}'


def make_app(
    dispatcher: Dispatcher,
    health: Callable[[], bool],
    max_body: int = DEFAULT_MAX_BODY,
) -> web.Application:
    app = web.Application(client_max_size=max_body)

    async def rpc_http(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await rpc_ws(request)
        if request.method == "GET":
            return web.json_response({"client": "megapy sequencer", "rpc": "POST JSON-RPC 2.0 here"})
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(
                status=413,
                body=TOO_LARGE,
                headers=JSON_HEADERS,
            )
        answer = await dispatcher.handle_body(body)
        if answer is None:
            return web.Response(status=200, body=b"", headers=JSON_HEADERS)
        return web.Response(body=answer, headers=JSON_HEADERS)

    async def rpc_ws(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=max_body, heartbeat=30)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                answer = await dispatcher.handle_body(msg.data)
                if answer is not None:
                    await ws.send_bytes(answer) if msg.type == WSMsgType.BINARY else await ws.send_str(
                        answer.decode()
                    )
            elif msg.type == WSMsgType.ERROR:
                log.debug("websocket closed with error: %s", ws.exception())
        return ws

    async def health_check(_request: web.Request) -> web.Response:
        ok = health()
        return web.json_response({"healthy": ok}, status=200 if ok else 503)

    app.router.add_route("POST", "/", rpc_http)
    app.router.add_route("GET", "/", rpc_http)
    app.router.add_route("GET", "/health", health_check)
    return app
