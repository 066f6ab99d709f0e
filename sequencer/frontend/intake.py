"""The executor's side of the front ends' accept path: decoded transactions in, outcomes out.

A front end has parsed the HTTP request and the JSON, decoded each raw transaction and
recovered its sender; it posts the decoded transactions of one or more client requests as one
pickled list to ``POST /frontend/submit`` on the executor's private Unix socket, with the
reasons of those it refused itself (counted here, so the node's metrics see every submission). Here they go
through admission in the list's order, their pool journal records are written together (one
group-commit entry) and the events follow, as :meth:`Submitter.submit` does after decoding
(:meth:`Submitter.submit_decoded`); the answer is, per transaction, ``None``
(accepted and durable) or the JSON-RPC ``error`` member the front end answers with (the same
error table as every other method). Only processes of the node's user can reach the socket, so
the pickles come from the node's own front ends.
"""

from __future__ import annotations

import logging
import pickle
import time
from typing import Any

from aiohttp import web

from sequencer.jsonrpc.dispatch import Translate
from sequencer.jsonrpc.errors import InternalError, JsonRpcError
from sequencer.logs import fields
from sequencer.mempool.submission import Submitter
from sequencer.metrics import Metrics
from sequencer.types import SignedTx

log = logging.getLogger("sequencer.frontend")
SUBMIT_PATH = "/frontend/submit"
METHOD = "eth_sendRawTransaction"
Outcome = dict[str, Any] | None
"""``None``: accepted and durable; else the JSON-RPC ``error`` member."""


def add_intake(app: web.Application, submitter: Submitter, metrics: Metrics, translate: Translate) -> None:
    """Add ``POST /frontend/submit`` to the executor's private app."""
    # each submission counts as one eth_sendRawTransaction request, as on the executor's own port
    # (the labelled series looked up once: a lookup per transaction was ~2% of the thread)
    requests = metrics.rpc_requests.labels(METHOD)
    latency = metrics.rpc_latency.labels(METHOD)
    errors = metrics.rpc_errors.labels(METHOD)

    def outcome(error: Exception | None) -> Outcome:
        if error is None:
            return None
        if isinstance(error, JsonRpcError):
            return error.as_object()
        answer = translate(error)
        if answer is None:
            log.error(
                "unanswerable error admitting a front end's transaction", extra=fields(error=repr(error))
            )
            answer = InternalError("internal error")
        return answer.as_object()

    async def submit(request: web.Request) -> web.Response:
        txs: list[SignedTx]
        refused_there: list[str]
        txs, refused_there = pickle.loads(await request.read())
        submitter.count_refused(refused_there)
        started = time.perf_counter()
        refusals = await submitter.submit_decoded(txs) if txs else []
        seconds = time.perf_counter() - started
        requests.inc(len(txs))
        for _ in txs:
            latency.observe(seconds)
        failed = sum(1 for e in refusals if e is not None)
        if failed:
            errors.inc(failed)
        return web.Response(
            body=pickle.dumps([outcome(e) for e in refusals]), content_type="application/octet-stream"
        )

    app.router.add_post(SUBMIT_PATH, submit)
