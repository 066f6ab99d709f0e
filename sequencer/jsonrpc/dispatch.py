"""JSON-RPC 2.0 request handling, free of I/O: bytes in, bytes out.

Every failure becomes a JSON-RPC error object; nothing a client sends can raise out of here.
Application errors are answered through the ``translate`` table the server passes in; anything
else is an internal error, logged with its traceback and answered without details.

A batch's requests are started in order, each one running until it has to wait, with a yield to
the event loop between them (so a large batch never delays the block producer); their answers
come back in request order. Requests that wait (a transaction submission waiting for its
decoding and journal write, say) wait together, as JSON-RPC 2.0 allows: a batch is a set of
requests, not a script.

Answers are bounded in size (``max_response_bytes``, geth's 25 MB for a batch): a single answer
larger than that, and every batch item answered after the batch's answers reached it, is
replaced by a ``-32005`` error naming the limit; each answer is encoded as soon as it is ready,
so a batch never holds its answers as objects.

Ids are echoed exactly. orjson reads an integer beyond 64 bits as a float and cannot write one,
so a body with a non-integer id is read again by Python's decoder (integers of any size), and
an answer orjson cannot write is written by Python's encoder: both only on that rare path.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from sequencer.jsonrpc.errors import (
    InternalError,
    InvalidParams,
    InvalidRequest,
    JsonRpcError,
    MethodNotFound,
    ParseError,
)
from sequencer.logs import fields

log = logging.getLogger("sequencer.rpc")
Handler = Callable[[list[Any]], Any | Awaitable[Any]]
Translate = Callable[[Exception], JsonRpcError | None]
"""Maps an application exception to the error answered for it; ``None``: not an answerable one."""
Observe = Callable[[str, float, bool], None]
DEFAULT_MAX_BATCH = 1000
DEFAULT_MAX_RESPONSE_BYTES = 25 * 1024 * 1024  # geth's BatchResponseMaxSize
CODE_LIMIT_EXCEEDED = -32005


def error_response(exc: JsonRpcError, request_id: Any) -> dict[str, Any]:
    """A JSON-RPC 2.0 error response object."""
    return {"jsonrpc": "2.0", "id": request_id, "error": exc.as_object()}


def _no_translation(_exc: Exception) -> JsonRpcError | None:
    return None


class Dispatcher:
    """Answers JSON-RPC request bodies with the handlers of ``methods``."""

    def __init__(
        self,
        methods: Mapping[str, Handler],
        max_batch: int = DEFAULT_MAX_BATCH,
        observe: Observe | None = None,
        translate: Translate = _no_translation,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.methods = dict(methods)
        self.max_batch = max_batch
        self.max_response_bytes = max_response_bytes
        self._observe = observe
        self._translate = translate

    def with_methods(self, extra: Mapping[str, Handler]) -> Dispatcher:
        """A dispatcher that also answers ``extra`` (e.g. a WebSocket session's methods)."""
        return Dispatcher(
            {**self.methods, **extra}, self.max_batch, self._observe, self._translate, self.max_response_bytes
        )

    async def handle_body(self, body: bytes | str) -> bytes | None:
        """Answer a request body; ``None`` when nothing is to be sent (only notifications)."""
        try:
            payload = decode_body(body)
        except orjson.JSONDecodeError as exc:
            return orjson.dumps(error_response(ParseError(f"parse error: {exc}"), None))
        return await self.handle_payload(payload)

    async def handle_payload(self, payload: Any) -> bytes | None:
        """Answer a decoded request body (:func:`decode_body`): one request or a batch."""
        if not isinstance(payload, list):
            return self._encode(await self.handle_request(payload), [0])
        if not payload:
            return orjson.dumps(error_response(InvalidRequest("empty batch"), None))
        if len(payload) > self.max_batch:
            return orjson.dumps(
                error_response(InvalidRequest(f"batch too large: {len(payload)} > {self.max_batch}"), None)
            )
        spent = [0]  # the batch's answer bytes so far

        async def answer(item: Any) -> bytes | None:
            return self._encode(await self.handle_request(item), spent)

        tasks = []
        for item in payload:
            tasks.append(asyncio.ensure_future(answer(item)))
            await asyncio.sleep(0)  # it runs until it waits; the producer gets a turn too
        answered = [r for r in await asyncio.gather(*tasks) if r is not None]
        return b"[" + b",".join(answered) + b"]" if answered else None

    def _encode(self, response: dict[str, Any] | None, spent: list[int]) -> bytes | None:
        """One answer's bytes, or a limit error when it would take the answers past the limit."""
        if response is None:
            return None
        try:
            encoded = _dumps(response)
        except (TypeError, ValueError, RecursionError):
            log.exception("unserializable JSON-RPC result")
            return orjson.dumps(error_response(InternalError("internal error"), response.get("id")))
        if spent[0] + len(encoded) > self.max_response_bytes:
            limit = self.max_response_bytes
            error = JsonRpcError(
                f"response too large: over rpc.max_response_bytes ({limit} bytes); "
                "ask for less (a narrower range, fewer requests per batch)",
                code=CODE_LIMIT_EXCEEDED,
            )
            encoded = orjson.dumps(error_response(error, response.get("id")))
        spent[0] += len(encoded)
        return encoded

    async def handle_request(self, request: Any) -> dict[str, Any] | None:
        """Answer one request object; ``None`` for a notification."""
        if not isinstance(request, dict):
            return error_response(InvalidRequest("invalid request: expected an object"), None)
        request_id = request.get("id")
        is_notification = "id" not in request
        if request.get("jsonrpc") != "2.0":
            return error_response(
                InvalidRequest('invalid request: "jsonrpc" must be "2.0"'), _safe_id(request_id)
            )
        if isinstance(request_id, bool) or (
            request_id is not None and not isinstance(request_id, str | int | float)
        ):
            return error_response(
                InvalidRequest("invalid request: id must be a string, number or null"), None
            )
        method = request.get("method")
        if not isinstance(method, str):
            return error_response(InvalidRequest('invalid request: "method" must be a string'), request_id)
        params = request.get("params", [])
        if not isinstance(params, list | dict):
            return error_response(InvalidParams("invalid params: must be an array or object"), request_id)
        handler = self.methods.get(method)
        started = time.perf_counter()
        ok = False
        try:
            if handler is None:
                raise MethodNotFound(f"the method {method} does not exist/is not available")
            if isinstance(params, dict):
                raise InvalidParams(f"{method}: params must be an array")
            result = handler(params)
            if inspect.isawaitable(result):
                result = await result
            ok = True
            response: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "result": result}
        except JsonRpcError as exc:
            response = error_response(exc, request_id)
        except KeyError as exc:
            response = error_response(InvalidParams(f"{method}: missing field {exc}"), request_id)
        except Exception as exc:
            answer = self._translate(exc)
            if answer is None:
                log.exception("internal error", extra=fields(method=method))
                answer = InternalError("internal error")
            response = error_response(answer, request_id)
        if self._observe is not None:
            self._observe(method if handler is not None else "<unknown>", time.perf_counter() - started, ok)
        return None if is_notification else response


def decode_body(body: bytes | str) -> Any:
    """The request body; ids exactly as sent (see the module docstring). Raises
    ``orjson.JSONDecodeError`` when it is not JSON."""
    payload = orjson.loads(body)
    requests = payload if isinstance(payload, list) else (payload,)
    if any(isinstance(r, dict) and isinstance(r.get("id"), float) for r in requests):
        with contextlib.suppress(RecursionError, ValueError):  # what Python's refuses: orjson's stands
            payload = json.loads(body)
    return payload


def _dumps(answer: Any) -> bytes:
    """The answer as JSON; Python's encoder for what orjson cannot write (a 30-digit id)."""
    try:
        return orjson.dumps(answer)
    except TypeError:
        return json.dumps(answer, separators=(",", ":"), allow_nan=False).encode()


def _safe_id(value: Any) -> Any:
    if isinstance(value, bool):
        return None
    return value if isinstance(value, str | int | float) or value is None else None
