"""JSON-RPC 2.0 protocol handling, free of I/O: bytes in, bytes out.

Every failure becomes a JSON-RPC error object; nothing a client sends can raise out of here.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from sequencer.errors import (
    InternalError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    ParseError,
    RpcError,
    jsonrpc_code,
)

log = logging.getLogger("sequencer.rpc")
Handler = Callable[[list[Any]], Any | Awaitable[Any]]
BatchHook = Callable[[list[Any]], Awaitable[Callable[[], None]]]
"""Called with a batch before its requests are handled; returns the cleanup for after them."""
DEFAULT_MAX_BATCH = 1000


def error_object(exc: RpcError, request_id: Any) -> dict[str, Any]:
    err: dict[str, Any] = {"code": jsonrpc_code(exc), "message": exc.message}
    if exc.data is not None:
        err["data"] = exc.data
    return {"jsonrpc": "2.0", "id": request_id, "error": err}


class Dispatcher:
    def __init__(
        self,
        methods: Mapping[str, Handler],
        max_batch: int = DEFAULT_MAX_BATCH,
        observe: Callable[[str, float, bool], None] | None = None,
        before_batch: BatchHook | None = None,
    ) -> None:
        self.methods = dict(methods)
        self.max_batch = max_batch
        self._observe = observe
        self._before_batch = before_batch

    def with_methods(self, extra: Mapping[str, Handler]) -> Dispatcher:
        """A dispatcher that also answers ``extra`` (e.g. a WebSocket session's methods)."""
        return Dispatcher({**self.methods, **extra}, self.max_batch, self._observe, self._before_batch)

    async def handle_body(self, body: bytes | str) -> bytes | None:
        """Answer a request body; ``None`` when nothing is to be sent (only notifications)."""
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return orjson.dumps(error_object(ParseError(f"parse error: {exc}"), None))
        result = await self.handle_payload(payload)
        if result is None:
            return None
        try:
            return orjson.dumps(result)
        except TypeError:
            log.exception("unserializable JSON-RPC result")
            return orjson.dumps(error_object(InternalError("internal error"), None))

    async def handle_payload(self, payload: Any) -> Any:
        if isinstance(payload, list):
            if not payload:
                return error_object(InvalidRequest("empty batch"), None)
            if len(payload) > self.max_batch:
                return error_object(
                    InvalidRequest(f"batch too large: {len(payload)} > {self.max_batch}"), None
                )
            cleanup = await self._prepare(payload)
            responses = []
            try:
                for item in payload:
                    responses.append(await self.handle_request(item))
                    # let the block producer run between items: a large batch must not delay a seal
                    await asyncio.sleep(0)
            finally:
                cleanup()
            answered = [r for r in responses if r is not None]
            return answered or None
        return await self.handle_request(payload)

    async def _prepare(self, payload: list[Any]) -> Callable[[], None]:
        if self._before_batch is None:
            return _nothing
        try:
            return await self._before_batch(payload)
        except Exception:  # a failed preparation only loses the shortcut, not the requests
            log.exception("batch preparation failed")
            return _nothing

    async def handle_request(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict):
            return error_object(InvalidRequest("invalid request: expected an object"), None)
        request_id = request.get("id")
        is_notification = "id" not in request
        if request.get("jsonrpc") != "2.0":
            return error_object(
                InvalidRequest('invalid request: "jsonrpc" must be "2.0"'), _safe_id(request_id)
            )
        if isinstance(request_id, bool) or (
            request_id is not None and not isinstance(request_id, str | int | float)
        ):
            return error_object(InvalidRequest("invalid request: id must be a string, number or null"), None)
        method = request.get("method")
        if not isinstance(method, str):
            return error_object(InvalidRequest('invalid request: "method" must be a string'), request_id)
        params = request.get("params", [])
        if not isinstance(params, list | dict):
            return error_object(InvalidParams("invalid params: must be an array or object"), request_id)
        handler = self.methods.get(method)
        started = _now()
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
        except RpcError as exc:
            response = error_object(exc, request_id)
        except KeyError as exc:
            response = error_object(InvalidParams(f"{method}: missing field {exc}"), request_id)
        except Exception:
            log.exception("internal error in %s", method)
            response = error_object(InternalError("internal error"), request_id)
        if self._observe is not None:
            self._observe(method if handler is not None else "<unknown>", _now() - started, ok)
        return None if is_notification else response


def _nothing() -> None:
    return None


def _safe_id(value: Any) -> Any:
    if isinstance(value, bool):
        return None
    return value if isinstance(value, str | int | float) or value is None else None


def _now() -> float:
    import time

    return time.perf_counter()
