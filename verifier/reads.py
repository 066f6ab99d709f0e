"""Read-only JSON-RPC on the last verified state (``--replica``, on the status port).

``eth_blockNumber``, ``eth_getBalance``, ``eth_getTransactionCount``, ``eth_getCode`` and
``eth_getStorageAt``, answered through the sequencer's JSON-RPC 2.0 dispatcher
(``sequencer.jsonrpc``) with its strict parameter decoding: malformed JSON is a parse error,
an unknown method "method not found", a bad address or quantity "invalid params"; batches work.

The replica keeps one state: the one after its last verified EVM block. ``latest``,
``pending``, ``safe`` and ``finalized`` read it; so do that block's number and hash
(EIP-1898), and ``earliest`` while that block is genesis. Any other block is answered with an
invalid-params error naming the one block served.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sequencer.jsonrpc.dispatch import Dispatcher, Handler
from sequencer.jsonrpc.encoding import (
    BlockRef,
    d,
    params_list,
    parse_address,
    parse_block_ref,
    parse_slot,
    q,
)
from sequencer.jsonrpc.errors import InvalidParams, JsonRpcError
from verifier.checkpoint import Boundary
from verifier.state import BoundaryView, FlatState


class StateNotKept(Exception):
    """The request names a state the replica does not keep."""


@dataclass(frozen=True, slots=True)
class VerifiedState:
    """What the reads answer from: the last verified boundary and the flat state (read as of
    that boundary, whatever the block being verified has changed since)."""

    boundary: Boundary
    state: FlatState


def translate(exc: Exception) -> JsonRpcError | None:
    """The replica's errors as JSON-RPC answers (``Dispatcher(translate=...)``)."""
    if isinstance(exc, StateNotKept):
        return InvalidParams(str(exc))
    return None


def _served(boundary: Boundary, ref: BlockRef) -> None:
    """Raise :class:`StateNotKept` unless ``ref`` names the state after ``boundary``'s block."""
    if not boundary.started:
        raise StateNotKept("no state yet: the replica has not verified genesis")
    number = boundary.block_number
    if ref.tag is not None:
        if ref.tag != "earliest" or number == 0:
            return
    elif ref.number == number or ref.hash == boundary.block_hash:
        return
    asked = ref.tag or (f"0x{ref.hash.hex()}" if ref.hash is not None else str(ref.number))
    raise StateNotKept(
        f"block {asked} is not kept: this replica serves only the state after its last verified "
        f"block, {number} (0x{boundary.block_hash.hex()})"
    )


def read_methods(current: Callable[[], VerifiedState]) -> dict[str, Handler]:
    """The read handlers, each over ``current()`` at the time of the request."""

    def state(block: Any) -> BoundaryView:
        now = current()
        _served(now.boundary, parse_block_ref(block))
        return now.state.at_boundary()

    def eth_block_number(params: list[Any]) -> str:
        params_list(params, "eth_blockNumber", 0, 0)
        boundary = current().boundary
        if not boundary.started:
            raise StateNotKept("no block yet: the replica has not verified genesis")
        return q(boundary.block_number)

    def eth_get_balance(params: list[Any]) -> str:
        address, block = params_list(params, "eth_getBalance", 1, 2)
        addr = parse_address(address)
        account = state(block).get_account(addr)
        return q(account.balance if account else 0)

    def eth_get_transaction_count(params: list[Any]) -> str:
        address, block = params_list(params, "eth_getTransactionCount", 1, 2)
        addr = parse_address(address)
        account = state(block).get_account(addr)
        return q(account.nonce if account else 0)

    def eth_get_code(params: list[Any]) -> str:
        address, block = params_list(params, "eth_getCode", 1, 2)
        addr = parse_address(address)
        view = state(block)
        account = view.get_account(addr)
        return d(view.get_code_by_hash(account.code_hash) if account else b"")

    def eth_get_storage_at(params: list[Any]) -> str:
        address, slot, block = params_list(params, "eth_getStorageAt", 2, 3)
        addr = parse_address(address)
        key = parse_slot(slot)
        return d(state(block).get_storage(addr, key).to_bytes(32, "big"))

    return {
        "eth_blockNumber": eth_block_number,
        "eth_getBalance": eth_get_balance,
        "eth_getTransactionCount": eth_get_transaction_count,
        "eth_getCode": eth_get_code,
        "eth_getStorageAt": eth_get_storage_at,
    }


def read_dispatcher(current: Callable[[], VerifiedState]) -> Dispatcher:
    """A JSON-RPC dispatcher answering :func:`read_methods`."""
    return Dispatcher(read_methods(current), translate=translate)
