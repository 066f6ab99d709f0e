"""The sequencer's exception tree, and the one table that maps it to JSON-RPC error codes.

An invalid transaction raises (it never enters a block); a reverted one is data in its receipt.
"""

from __future__ import annotations

from typing import Any


class SequencerError(Exception):
    """Root of every error the sequencer raises on purpose."""


class ConfigError(SequencerError):
    """The configuration is invalid; the message names the key and the problem."""


class StorageError(SequencerError):
    """The data directory cannot be read or written, or its content is inconsistent."""


class RpcError(SequencerError):
    """An error that is answered to a JSON-RPC client (see :data:`JSONRPC_CODES`)."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class ParseError(RpcError):
    """The request body is not valid JSON."""


class InvalidRequest(RpcError):
    """The JSON is not a valid JSON-RPC 2.0 request object."""


class MethodNotFound(RpcError):
    """The method does not exist or is not available."""


class InvalidParams(RpcError):
    """The parameters are malformed (wrong count, type or encoding)."""


class InternalError(RpcError):
    """An unexpected server-side failure."""


class ResourceNotFound(RpcError):
    """A requested block or object does not exist (EIP-1474 -32001)."""


class ExecutionReverted(RpcError):
    """eth_call / eth_estimateGas hit a REVERT; ``data`` carries the revert bytes (code 3)."""


class CallFailed(RpcError):
    """eth_call / eth_estimateGas failed without revert data (out of gas, invalid opcode...)."""


class FilterNotFound(RpcError):
    """An unknown, expired or uninstalled filter id (geth: -32000 "filter not found")."""


class InvalidTransaction(RpcError):
    """A submitted transaction is rejected; the message follows geth's wording."""


class NodeUnavailable(RpcError):
    """The node cannot accept work right now (shutting down, storage unhealthy)."""


class LimitExceeded(RpcError):
    """A per-connection or per-request limit was hit (EIP-1474 -32005)."""


class ReceiptTimeout(RpcError):
    """Send-and-wait: the transaction was accepted but not sealed in time (EIP-7966 code 4)."""


class TransactionNotProcessed(RpcError):
    """Send-and-wait: the transaction cannot be processed now (EIP-7966 code 5), e.g. it waits
    for a missing nonce or was dropped at execution."""


# One place maps exceptions to JSON-RPC codes. Order matters: first match wins.
JSONRPC_CODES: tuple[tuple[type[RpcError], int], ...] = (
    (ParseError, -32700),
    (InvalidRequest, -32600),
    (MethodNotFound, -32601),
    (InvalidParams, -32602),
    (ExecutionReverted, 3),
    (InvalidTransaction, -32000),
    (CallFailed, -32000),
    (FilterNotFound, -32000),
    (ResourceNotFound, -32001),
    (LimitExceeded, -32005),
    (NodeUnavailable, -32000),
    (ReceiptTimeout, 4),
    (TransactionNotProcessed, 5),
    (InternalError, -32603),
)


def jsonrpc_code(exc: RpcError) -> int:
    """The JSON-RPC error code for ``exc``."""
    for kind, code in JSONRPC_CODES:
        if isinstance(exc, kind):
            return code
    return -32603
