"""JSON-RPC 2.0 protocol errors, each with the code the specification gives it.

Application errors (a rejected transaction, a reverted call, an unknown block...) are not here:
they belong to the domain that raises them, and each server translates them with its own table
into a :class:`JsonRpcError` with the code, message and data it answers.
"""

from __future__ import annotations

from typing import Any


class JsonRpcError(Exception):
    """An error answered to a JSON-RPC client: ``{"code", "message", "data"?}``."""

    code: int = -32603

    def __init__(self, message: str, data: Any = None, *, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data
        if code is not None:
            self.code = code

    def as_object(self) -> dict[str, Any]:
        """The JSON-RPC ``error`` member."""
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


class ParseError(JsonRpcError):
    """The request body is not valid JSON."""

    code = -32700


class InvalidRequest(JsonRpcError):
    """The JSON is not a valid JSON-RPC 2.0 request object."""

    code = -32600


class MethodNotFound(JsonRpcError):
    """The method does not exist or is not available."""

    code = -32601


class InvalidParams(JsonRpcError):
    """The parameters are malformed (wrong count, type or encoding)."""

    code = -32602


class InternalError(JsonRpcError):
    """An unexpected server-side failure (its details are logged, never answered)."""

    code = -32603
