"""Operator methods (``admin_*``, ``debug_*``). Never on the public RPC: they are served on the
admin port (``--admin-port``) or, on the public port, only to requests carrying the admin
token (``Authorization: Bearer TOKEN``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import rlp

from sequencer.rpc.encoding import d, params_list, parse_block_ref, parse_hash

if TYPE_CHECKING:
    from sequencer.rpc.methods import EthApi


def admin_methods(api: EthApi) -> dict[str, Callable[[list[Any]], Any]]:
    chain = api.chain

    def block_of(params: list[Any], method: str) -> Any:
        (ref,) = params_list(params, method, 1, 1)
        return api._resolve_block(parse_block_ref(ref, "block"))

    def node_info(params: list[Any]) -> dict[str, Any]:
        params_list(params, "admin_nodeInfo", 0, 0)
        return api.node.status()

    def raw_header(params: list[Any]) -> str | None:
        block = block_of(params, "debug_getRawHeader")
        return d(block.header_rlp) if block is not None else None

    def raw_block(params: list[Any]) -> str | None:
        block = block_of(params, "debug_getRawBlock")
        if block is None:
            return None
        raws = [raw for mb in chain.block_mini_blocks(block) for raw in mb.raw_txs]
        txs = [rlp.decode(raw) if raw[0] >= 0xC0 else raw for raw in raws]
        return d(rlp.encode([rlp.decode(block.header_rlp), txs, [], []]))

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
        "admin_nodeInfo": node_info,
        "debug_getRawHeader": raw_header,
        "debug_getRawBlock": raw_block,
        "debug_getRawReceipts": raw_receipts,
        "debug_getRawTransaction": raw_transaction,
    }
