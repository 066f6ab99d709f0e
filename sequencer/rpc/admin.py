"""Operator methods (``admin_*``, ``debug_*``). Served on the admin port (``--admin-port``) or, on
the public port, only to requests carrying the admin token (``Authorization: Bearer TOKEN``);
on a devnet (``chain.devnet = true``) the ``debug_*`` methods are on the public port too (the
developer's own chain: traces for ``cast run``, hardhat and explorers)."""

from __future__ import annotations

from typing import Any

from sequencer.codec import encode_block_rlp
from sequencer.jsonrpc.dispatch import Handler
from sequencer.jsonrpc.encoding import d, params_list, parse_block_ref, parse_hash
from sequencer.rpc.blocktags import resolve_sealed
from sequencer.rpc.context import RpcContext
from sequencer.rpc.debug import trace_methods
from sequencer.types import EvmBlock


def admin_methods(ctx: RpcContext) -> dict[str, Handler]:
    """The operator handlers over ``ctx``: ``admin_nodeInfo`` and the ``debug_*`` methods."""

    def node_info(params: list[Any]) -> dict[str, Any]:
        params_list(params, "admin_nodeInfo", 0, 0)
        return ctx.status()

    return {"admin_nodeInfo": node_info, **debug_methods(ctx)}


def debug_methods(ctx: RpcContext) -> dict[str, Handler]:
    """The ``debug_*`` handlers: raw data and traces."""
    chain = ctx.chain

    def block_of(params: list[Any], method: str) -> EvmBlock | None:
        (ref,) = params_list(params, method, 1, 1)
        return resolve_sealed(chain, parse_block_ref(ref, "block"))

    def raw_header(params: list[Any]) -> str | None:
        block = block_of(params, "debug_getRawHeader")
        return d(block.header_rlp) if block is not None else None

    def raw_block(params: list[Any]) -> str | None:
        block = block_of(params, "debug_getRawBlock")
        if block is None:
            return None
        return d(encode_block_rlp(block.header_rlp, chain.block_transactions(block)))

    def raw_receipts(params: list[Any]) -> list[str] | None:
        block = block_of(params, "debug_getRawReceipts")
        if block is None:
            return None
        return [d(r.encoded) for r, _raw in chain.block_receipts(block)]

    def raw_transaction(params: list[Any]) -> str | None:
        (h,) = params_list(params, "debug_getRawTransaction", 1, 1)
        view = chain.find_receipt(parse_hash(h, "transaction hash"))
        return d(view.raw_tx) if view is not None else None

    return {
        **trace_methods(ctx),
        "debug_getRawHeader": raw_header,
        "debug_getRawBlock": raw_block,
        "debug_getRawReceipts": raw_receipts,
        "debug_getRawTransaction": raw_transaction,
    }
