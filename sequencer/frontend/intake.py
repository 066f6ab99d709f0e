"""The executor's side of the front ends' accept path: decoded transactions in, outcomes out.

A front end has parsed the HTTP request and the JSON, decoded each raw transaction and
recovered its sender; it posts the decoded transactions of one or more client requests as one
pickled list to ``POST /frontend/submit`` on the executor's private Unix socket. Here each goes
through admission, the pool journal (group-committed) and the events, in the list's order, as
:meth:`Submitter.submit` would after decoding; the answer is, per transaction, ``None``
(accepted and durable) or the JSON-RPC ``error`` member the front end answers with (the same
error table as every other method). Only processes of the node's user can reach the socket, so
the pickles come from the node's own front ends.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import time
from typing import Any

from aiohttp import web

from sequencer.jsonrpc.dispatch import Translate
from sequencer.jsonrpc.errors import InternalError, JsonRpcError
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

    async def one(tx: SignedTx) -> Outcome:
        started = time.perf_counter()
        ok = False
        try:
            await submitter.submit_decoded(tx)
            ok = True
            return None
        except JsonRpcError as exc:
            return exc.as_object()
        except Exception as exc:
            answer = translate(exc)
            if answer is None:
                log.exception("internal error admitting a front end's transaction")
                answer = InternalError("internal error")
            return answer.as_object()
        finally:
            requests.inc()
            latency.observe(time.perf_counter() - started)
            if not ok:
                errors.inc()

    async def submit(request: web.Request) -> web.Response:
        txs: list[SignedTx] = pickle.loads(await request.read())
        # the tasks start in order, and each is admitted before its first wait (the journal)
        outcomes = await asyncio.gather(*(one(tx) for tx in txs))
        return web.Response(body=pickle.dumps(outcomes), content_type="application/octet-stream")

    app.router.add_post(SUBMIT_PATH, submit)
