"""HTTP and WebSocket transport for JSON-RPC (aiohttp, one port for both).

Browsers: CORS (with preflight) for the configured origins (``rpc.cors_origins``, through
aiohttp-cors), and an ``Origin`` check on WebSocket upgrades (``rpc.ws_origins``). A POST must
say ``Content-Type: application/json`` (geth's rule: a form post from any web page is refused).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from typing import Any

import aiohttp_cors
import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from sequencer.config import RpcPolicy
from sequencer.jsonrpc.dispatch import Dispatcher, error_response
from sequencer.jsonrpc.errors import InvalidRequest
from sequencer.logs import fields
from sequencer.rpc.context import client_address
from sequencer.rpc.fanout import Pacer
from sequencer.rpc.subscriptions import DEFAULT_MAX_SUBSCRIPTIONS, Session, SubscriptionHub
from sequencer.serving import WebSocketRegistry

log = logging.getLogger("sequencer.rpc")
DEFAULT_MAX_BODY = 5 * 1024 * 1024  # geth's default HTTP body limit
JSON_HEADERS = {"Content-Type": "application/json"}
TOO_LARGE = orjson.dumps(error_response(InvalidRequest("request body too large"), None))
WRONG_CONTENT_TYPE = orjson.dumps(
    error_response(InvalidRequest("invalid content type: only application/json is supported"), None)
)
BODY_TIMEOUT = orjson.dumps(error_response(InvalidRequest("request body not received in time"), None))
JSON_CONTENT_TYPES = ("application/json", "application/json-rpc", "application/jsonrequest")
FORWARDED_FOR = "X-Forwarded-For"


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without its port (``[::1]:8551`` -> ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _host_check(allowed: frozenset[str]) -> Any:
    """A middleware answering 403 to a request whose ``Host`` is not allowed (DNS rebinding)."""

    @web.middleware
    async def check(request: web.Request, handler: Any) -> web.StreamResponse:
        if host_name(request.headers.get("Host", "")) not in allowed:
            return web.json_response({"error": "host not allowed (admin.allowed_hosts)"}, status=403)
        response: web.StreamResponse = await handler(request)
        return response

    return check


def make_app(
    dispatcher: Dispatcher,
    health: Callable[[], bool],
    hub: SubscriptionHub | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    max_subscriptions: int = DEFAULT_MAX_SUBSCRIPTIONS,
    admin: tuple[Dispatcher, str] | None = None,
    on_connections: Callable[[int], None] | None = None,
    policy: RpcPolicy | None = None,
    pacer: Pacer | None = None,
    body_timeout_s: float = 30.0,
    allowed_hosts: tuple[str, ...] | None = None,
    behind_frontends: bool = False,
) -> web.Application:
    """``admin``: a dispatcher with the operator methods and the token that unlocks it on this
    port (``Authorization: Bearer TOKEN``); without the token those methods do not exist here.
    ``policy``: which browser origins may call (CORS) and open WebSockets.
    ``behind_frontends``: served on the executor's private socket to the RPC front ends
    (``frontend/``): the client's address is the one they forward (``X-Forwarded-For``)."""
    policy = policy or RpcPolicy()
    app = web.Application(client_max_size=max_body)
    if allowed_hosts is not None and "*" not in allowed_hosts:
        app.middlewares.append(_host_check(frozenset(allowed_hosts)))
    admin_header = f"Bearer {admin[1]}".encode() if admin is not None else b""
    hub = hub or SubscriptionHub()
    pacer = pacer or Pacer()  # shared with the fan-out: the audience's share of the loop
    sockets = WebSocketRegistry(app, on_connections)

    def client_of(request: web.Request) -> str | None:
        if behind_frontends:
            return request.headers.get(FORWARDED_FOR, request.remote)
        return request.remote

    async def rpc_http(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await rpc_ws(request)
        if request.method == "GET":
            return web.json_response({"client": "megapy sequencer", "rpc": "POST JSON-RPC 2.0 here"})
        if request.content_type not in JSON_CONTENT_TYPES:
            return web.Response(status=415, body=WRONG_CONTENT_TYPE, headers=JSON_HEADERS)
        try:
            body = await asyncio.wait_for(request.read(), body_timeout_s)
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, body=TOO_LARGE, headers=JSON_HEADERS)
        except TimeoutError:
            return web.Response(
                status=408, body=BODY_TIMEOUT, headers={**JSON_HEADERS, "Connection": "close"}
            )
        client_address.set(client_of(request))
        chosen = dispatcher
        if admin is not None and hmac.compare_digest(
            request.headers.get("Authorization", "").encode("utf-8", "surrogateescape"), admin_header
        ):
            chosen = admin[0]
        answer = await chosen.handle_body(body)
        if answer is None:
            return web.Response(status=200, body=b"", headers=JSON_HEADERS)
        return web.Response(body=answer, headers=JSON_HEADERS)

    async def rpc_ws(request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")  # a page of this server's own origin (the dashboard) may
        if origin != f"{request.scheme}://{request.host}" and not policy.allows_ws_origin(origin):
            return web.json_response({"error": "origin not allowed (rpc.ws_origins)"}, status=403)
        ws = web.WebSocketResponse(max_msg_size=max_body, heartbeat=30)
        await ws.prepare(request)
        sockets.add(ws)
        client = client_of(request)
        client_address.set(client)
        session = Session(hub, max_subscriptions=max_subscriptions, client=client)
        session_dispatcher = dispatcher.with_methods(session.methods())

        async def writer() -> None:
            while True:
                message = await session.queue.get()
                await pacer.step()
                await ws.send_str(message.decode())

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
                    log.debug("websocket closed with error", extra=fields(error=str(ws.exception())))
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

    routes = [
        app.router.add_route("POST", "/", rpc_http),
        app.router.add_route("GET", "/", rpc_http),
        app.router.add_route("GET", "/health", health_check),
    ]
    if policy.cors_origins:
        options = aiohttp_cors.ResourceOptions(  # type: ignore[no-untyped-call]
            allow_headers="*", max_age=3600
        )
        cors = aiohttp_cors.setup(app, defaults=dict.fromkeys(policy.cors_origins, options))
        for route in routes:
            cors.add(route)
    return app
