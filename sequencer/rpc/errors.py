"""The one table from the node's domain errors to JSON-RPC answers (code, message, data).

Protocol errors (parse error, invalid request, unknown method, invalid params, internal error)
carry the codes JSON-RPC 2.0 gives them (``sequencer/jsonrpc/errors.py``). Everything the
chain, the pool or the execution raises is translated here, by type, first match wins; an
exception the table does not know is an internal error (logged, answered without details).

| domain error | code | message | data |
|---|---|---|---|
| ``ExecutionReverted`` | 3 | geth's ``execution reverted[: reason]`` | the revert output, hex |
| ``InvalidTransaction`` (every rule) | -32000 | geth's wording | |
| ``CallFailed`` | -32000 | geth's wording (``out of gas``...) | |
| ``NodeUnavailable`` | -32000 | ``node is shutting down``, ``node is unhealthy...``, backlog full | |
| ``FilterNotFound`` | -32000 | ``filter not found`` (geth) | |
| ``BlockNotFound`` | -32001 | which block (EIP-1474 resource not found) | |
| ``LimitExceeded`` | -32005 | which limit (EIP-1474 limit exceeded) | |
| ``SimulationRefused`` | its execution-apis code (-38010...) | the rule | |
| ``DevChainUnavailable`` | -32601 | the method needs ``chain.devnet = true`` | |
| ``DevChainRefused`` | -32000 | why | |

Send-and-wait's own outcomes are RPC errors raised by the handler itself, with the transaction
hash as ``data``: for ``eth_sendRawTransactionSync`` (EIP-7966) :class:`ReceiptTimeout` (code 4)
and :class:`TransactionNotProcessed` (code 5); for MegaETH's ``realtime_sendRawTransaction``
:class:`RealtimeExpired` (-32000 ``realtime transaction expired``) and
:class:`RealtimeNotProcessed` (-32000).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sequencer.errors import (
    BlockNotFound,
    CallFailed,
    DevChainRefused,
    DevChainUnavailable,
    ExecutionReverted,
    FilterNotFound,
    InvalidTransaction,
    LimitExceeded,
    NodeUnavailable,
    SimulationRefused,
)
from sequencer.jsonrpc.encoding import d
from sequencer.jsonrpc.errors import JsonRpcError

CODE_REVERTED = 3
CODE_SERVER = -32000
CODE_RESOURCE_NOT_FOUND = -32001
CODE_LIMIT_EXCEEDED = -32005
CODE_METHOD_NOT_FOUND = -32601
CODE_RECEIPT_TIMEOUT = 4
CODE_NOT_PROCESSED = 5


class ReceiptTimeout(JsonRpcError):
    """Send-and-wait: the transaction was accepted but not sealed in time (EIP-7966 code 4)."""

    code = CODE_RECEIPT_TIMEOUT


class TransactionNotProcessed(JsonRpcError):
    """Send-and-wait: accepted but it cannot be processed now (EIP-7966 code 5): it waits for a
    missing nonce, or it was dropped at execution."""

    code = CODE_NOT_PROCESSED


class RealtimeExpired(JsonRpcError):
    """``realtime_sendRawTransaction``: no receipt before the wait expired (MegaETH: -32000)."""

    code = CODE_SERVER


class RealtimeNotProcessed(JsonRpcError):
    """``realtime_sendRawTransaction``: accepted, but it waits for a missing nonce or was dropped."""

    code = CODE_SERVER


def _message(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc)


def _revert_data(exc: Exception) -> Any:
    assert isinstance(exc, ExecutionReverted)
    return d(exc.output)


def _no_data(_exc: Exception) -> Any:
    return None


ERROR_TABLE: tuple[tuple[type[Exception], int, Callable[[Exception], Any]], ...] = (
    (ExecutionReverted, CODE_REVERTED, _revert_data),
    (InvalidTransaction, CODE_SERVER, _no_data),
    (CallFailed, CODE_SERVER, _no_data),
    (NodeUnavailable, CODE_SERVER, _no_data),
    (FilterNotFound, CODE_SERVER, _no_data),
    (BlockNotFound, CODE_RESOURCE_NOT_FOUND, _no_data),
    (LimitExceeded, CODE_LIMIT_EXCEEDED, _no_data),
    (SimulationRefused, CODE_SERVER, _no_data),  # its own code, below
    (DevChainUnavailable, CODE_METHOD_NOT_FOUND, _no_data),
    (DevChainRefused, CODE_SERVER, _no_data),
)


def translate(exc: Exception) -> JsonRpcError | None:
    """The JSON-RPC error answered for a domain error; ``None`` for anything else."""
    for kind, code, data in ERROR_TABLE:
        if isinstance(exc, kind):
            if isinstance(exc, SimulationRefused):
                code = exc.code
            return JsonRpcError(_message(exc), data(exc), code=code)
    return None
