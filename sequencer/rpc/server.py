"""HTTP and WebSocket transport for JSON-RPC (aiohttp, one port for both)."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from sequencer.jsonrpc.dispatch import Dispatcher, error_response
from sequencer.jsonrpc.errors import InvalidRequest
from sequencer.rpc.subscriptions import DEFAULT_MAX_SUBSCRIPTIONS, Session, SubscriptionHub
from sequencer.serving import WebSocketRegistry

log = logging.getLogger("sequencer.rpc")
DEFAULT_MAX_BODY = 5 * 1024 * 1024  # geth's default HTTP body limit
JSON_HEADERS = {"Content-Type": "application/json"}
TOO_LARGE = orjson.dumps(error_response(InvalidRequest("request body too large"), None))


def make_app(
    dispatcher: Dispatcher,
    health: Callable[[], bool],
    hub: SubscriptionHub | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    max_subscriptions: int = DEFAULT_MAX_SUBSCRIPTIONS,
    admin: tuple[Dispatcher, str] | None = None,
    on_connections: Callable[[int], None] | None = None,
) -> web.Application:
    """``admin``: a dispatcher with the operator methods and the token that unlocks it on this
    port (``Authorization: Bearer TOKEN``); without the token those methods do not exist here."""
    app = web.Application(client_max_size=max_body)
    hub = hub or SubscriptionHub()
    sockets = WebSocketRegistry(app, on_connections)

    async def rpc_http(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await rpc_ws(request)
        if request.method == "GET":
            return web.json_response({"client": "megapy sequencer", "rpc": "POST JSON-RPC 2.0 here"})
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, body=TOO_LARGE, headers=JSON_HEADERS)
        chosen = dispatcher
        if admin is not None and hmac.compare_digest(
            request.headers.get("Authorization", ""), f"Bearer {admin[1]}"
        ):
            chosen = admin[0]
        answer = await chosen.handle_body(body)
        if answer is None:
            return web.Response(status=200, body=b"", headers=JSON_HEADERS)
        return web.Response(body=answer, headers=JSON_HEADERS)

    async def rpc_ws(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=max_body, heartbeat=30)
        await ws.prepare(request)
        sockets.add(ws)
        session = Session(hub, max_subscriptions=max_subscriptions)
        session_dispatcher = dispatcher.with_methods(session.methods())

        async def writer() -> None:
            while True:
                message = await session.queue.get()
                await ws.send_str(orjson.dumps(message).decode())

        async def watchdog() -> None:
            await session.overflowed.wait()
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"subscriber too slow")

        tasks = [asyncio.create_task(writer()), asyncio.create_task(watchdog())]
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    answer = await session_dispatcher.handle_body(msg.data)
                    if answer is not None:
                        await ws.send_str(answer.decode())
                elif msg.type == WSMsgType.BINARY:
                    answer = await session_dispatcher.handle_body(msg.data)
                    if answer is not None:
                        await ws.send_bytes(answer)
                elif msg.type == WSMsgType.ERROR:
                    log.debug("websocket closed with error: %s", ws.exception())
        finally:
            sockets.discard(ws)
            session.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return ws

    async def health_check(_request: web.Request) -> web.Response:
        ok = health()
        return web.json_response({"healthy": ok}, status=200 if ok else 503)

    app.router.add_route("POST", "/", rpc_http)
    app.router.add_route("GET", "/", rpc_http)
    app.router.add_route("GET", "/health", health_check)
    return app
