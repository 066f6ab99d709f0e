"""A front-end process: owns a share of the JSON-RPC port and the accept path.

Each front end listens on the node's RPC port with ``SO_REUSEPORT`` (the kernel spreads new
connections over them) and does, for every request it can, the work that would otherwise
take the executor's thread: HTTP parsing, JSON decoding, and for ``eth_sendRawTransaction``
the raw transaction's decoding, sender recovery and stateless checks (chain id, signature,
size); the decoded transactions of the requests in flight go to the executor in one pickled
list (``intake.py``), which admits and journals them and answers once they are durable. The
reads clients poll hardest are answered from the store here (``reads.py``).

A body is answered here when every request in it is one of those methods; anything else
(other methods, a mixed batch, admin calls, browser requests with an ``Origin``, the dashboard)
is passed to the executor unchanged, with the client's address in ``X-Forwarded-For``, and its
answer passed back: so each method is answered by one code path. A WebSocket connection is handed
to the executor whole (``handoff.py``).
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import signal
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict

from sequencer.errors import InvalidTransaction
from sequencer.execution.transactions import decode_transaction
from sequencer.frontend.handoff import HandoffSender
from sequencer.frontend.intake import SUBMIT_PATH, Outcome
from sequencer.frontend.reads import StoreReads
from sequencer.frontend.spec import FrontendSpec
from sequencer.jsonrpc.dispatch import Dispatcher, decode_body, error_response
from sequencer.jsonrpc.encoding import d, params_list
from sequencer.jsonrpc.errors import JsonRpcError
from sequencer.logs import fields, setup_logging
from sequencer.mempool.coalescing import Coalescer
from sequencer.mempool.ingress import watch_parent
from sequencer.rpc.errors import translate
from sequencer.rpc.server import (
    BODY_TIMEOUT,
    FORWARDED_FOR,
    JSON_CONTENT_TYPES,
    JSON_HEADERS,
    TOO_LARGE,
)
from sequencer.rpc.transactions import parse_raw_transaction
from sequencer.serving import start_server
from sequencer.storage.store import ChainStore
from sequencer.types import SignedTx

log = logging.getLogger("sequencer.frontend")
READY = "ready"
EXECUTOR = "http://executor"
"""The executor's base URL (the host is a placeholder: the connector names the socket)."""
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Content-Length",
    )
)
EXECUTOR_GONE = JsonRpcError("node unavailable: the executor did not answer; retry", code=-32000)
STOP_GRACE_S = 5.0


class Submissions:
    """Decoded transactions on their way to the executor: those that arrive together (a batch's
    requests start one loop iteration apart) go in one post, in arrival order, with the reasons of
    the submissions refused here meanwhile (``mempool/coalescing.py``)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self._coalescer: Coalescer[tuple[SignedTx, asyncio.Future[Outcome]] | str] = Coalescer(self._group)
        self._posts: set[asyncio.Task[None]] = set()

    async def submit(self, tx: SignedTx) -> Outcome:
        """The executor's answer for ``tx``: ``None`` once it is durable, else the error."""
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._coalescer.add((tx, fut))
        return await fut

    def refused(self, reason: str) -> None:
        """A transaction refused here (undecodable, another chain, a bad signature...): the
        executor counts it with the next post (``sequencer_transactions_rejected_total``)."""
        self._coalescer.add(reason)

    def _group(self, items: list[tuple[SignedTx, asyncio.Future[Outcome]] | str]) -> None:
        batch = [item for item in items if not isinstance(item, str)]
        refusals = [item for item in items if isinstance(item, str)]
        task = asyncio.ensure_future(self._post(batch, refusals))
        self._posts.add(task)
        task.add_done_callback(self._posts.discard)

    async def _post(self, batch: list[tuple[SignedTx, asyncio.Future[Outcome]]], refusals: list[str]) -> None:
        body = pickle.dumps(([tx for tx, _ in batch], refusals))
        try:
            async with self.session.post(EXECUTOR + SUBMIT_PATH, data=body) as response:
                response.raise_for_status()
                outcomes: list[Outcome] = pickle.loads(await response.read())
        except (aiohttp.ClientError, OSError, EOFError, pickle.UnpicklingError) as exc:
            log.warning("the executor did not take a batch", extra=fields(error=str(exc), txs=len(batch)))
            outcomes = [EXECUTOR_GONE.as_object()] * len(batch)
        for (_tx, fut), outcome in zip(batch, outcomes, strict=True):
            if not fut.done():
                fut.set_result(outcome)


def local_methods(spec: FrontendSpec, reads: StoreReads, submissions: Submissions) -> dict[str, Any]:
    """The methods a front end answers: its reads, and the accept path."""

    async def eth_send_raw_transaction(params: list[Any]) -> str:
        (raw_hex,) = params_list(params, "eth_sendRawTransaction", 1, 1)
        raw = parse_raw_transaction(raw_hex)
        try:
            tx = decode_transaction(raw, spec.chain_id, spec.allow_unprotected)
        except InvalidTransaction as exc:
            submissions.refused(exc.reason)
            raise
        error = await submissions.submit(tx)
        if error is not None:
            raise JsonRpcError(error["message"], error.get("data"), code=error["code"])
        return d(tx.hash)

    return {**reads.methods(), "eth_sendRawTransaction": eth_send_raw_transaction}


def answers_here(payload: Any, methods: dict[str, Any]) -> bool:
    """Whether every request of a decoded body is one of ``methods``."""
    requests = payload if isinstance(payload, list) else [payload]
    return bool(requests) and all(
        isinstance(r, dict) and isinstance(r.get("method"), str) and r["method"] in methods for r in requests
    )


class FrontEnd:
    """One front end's app: local answers, and the pass-through to the executor."""

    def __init__(
        self, spec: FrontendSpec, session: aiohttp.ClientSession, store: ChainStore, handoff: HandoffSender
    ) -> None:
        self.spec = spec
        self.session = session
        self.handoff = handoff
        self.submissions = Submissions(session)
        self.methods = local_methods(spec, StoreReads(store, spec.chain_id), self.submissions)
        self.dispatcher = Dispatcher(
            self.methods,
            max_batch=spec.max_batch,
            max_response_bytes=spec.max_response_bytes,
            translate=translate,
        )

    def app(self) -> web.Application:
        """Every path and method: answered here or passed to the executor."""
        app = web.Application(client_max_size=self.spec.max_body)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """One request: a body of local methods answered here, anything else passed on."""
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return self.hand_over_websocket(request)
        try:
            body = await asyncio.wait_for(request.read(), self.spec.limits.body_timeout_s)
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, body=TOO_LARGE, headers=JSON_HEADERS)
        except TimeoutError:
            return web.Response(
                status=408, body=BODY_TIMEOUT, headers={**JSON_HEADERS, "Connection": "close"}
            )
        if (
            request.method == "POST"
            and request.path == "/"
            and request.content_type in JSON_CONTENT_TYPES
            and "Origin" not in request.headers
            and "Authorization" not in request.headers
        ):
            try:
                payload = decode_body(body)
            except orjson.JSONDecodeError:
                payload = None  # the executor answers the parse error, as for any other body
            if payload is not None and answers_here(payload, self.methods):
                answer = await self.dispatcher.handle_payload(payload)
                return web.Response(status=200, body=answer or b"", headers=JSON_HEADERS)
        return await self.pass_http(request, body)

    def _forwarded(self, request: web.Request) -> CIMultiDict[str]:
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP)
        headers[FORWARDED_FOR] = request.remote or ""
        return headers

    async def pass_http(self, request: web.Request, body: bytes) -> web.StreamResponse:
        """The executor's answer to ``request``, passed back as it came."""
        try:
            async with self.session.request(
                request.method,
                EXECUTOR + request.path_qs,
                headers=self._forwarded(request),
                data=body,
                allow_redirects=False,
            ) as upstream:
                content = await upstream.read()
                headers = CIMultiDict(
                    (k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP
                )
                return web.Response(status=upstream.status, body=content, headers=headers)
        except (aiohttp.ClientError, OSError) as exc:
            log.warning("the executor did not answer", extra=fields(error=str(exc)))
            return web.Response(
                status=503, body=orjson.dumps(error_response(EXECUTOR_GONE, None)), headers=JSON_HEADERS
            )

    def hand_over_websocket(self, request: web.Request) -> web.StreamResponse:
        """A WebSocket upgrade: the connection is handed to the executor (``handoff.py``), which
        answers the handshake itself; nothing more is written here."""
        if self.handoff.hand_over(request):
            return web.Response(status=101)  # never sent: the connection is not ours any more
        return web.json_response({"error": "the node did not take the connection; retry"}, status=503)


async def serve(spec: FrontendSpec, conn: Connection) -> None:
    """Listen, tell the executor, and serve until SIGTERM (then close within a grace)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    store = ChainStore(spec.data_dir, readonly=True)
    connector = aiohttp.UnixConnector(path=spec.executor_socket, limit=0)
    session = aiohttp.ClientSession(
        connector=connector, auto_decompress=False, timeout=aiohttp.ClientTimeout()
    )
    handoff = HandoffSender(spec.handoff_socket)
    try:
        front = FrontEnd(spec, session, store, handoff)
        runner, _address = await start_server(front.app(), spec.host, spec.port, spec.limits, reuse_port=True)
        conn.send(READY)
        await stop.wait()
        await asyncio.wait_for(runner.cleanup(), STOP_GRACE_S)
    finally:
        await session.close()
        handoff.close()
        store.close()


def frontend_main(spec: FrontendSpec, conn: Connection) -> None:
    """The process's entry point (spawned by ``supervisor.py``)."""
    watch_parent(spec.parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the executor stops us, after its final seal
    setup_logging(spec.log_level, spec.log_format)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(spec, conn))
    else:
        uvloop.run(serve(spec, conn))
