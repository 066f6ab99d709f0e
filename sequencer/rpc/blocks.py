"""Block queries: the head's number, blocks by number or hash, their transactions and receipts."""

from __future__ import annotations

from typing import Any

from sequencer.chain import Chain
from sequencer.jsonrpc.dispatch import Handler
from sequencer.jsonrpc.encoding import params_list, parse_block_ref, parse_bool, parse_hash, parse_quantity, q
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.rpc.blocktags import AnyBlock, block_param, resolve_block
from sequencer.rpc.context import RpcContext
from sequencer.rpc.formatting import format_block, format_included, format_receipt


def _format(chain: Chain, block: AnyBlock | None, full: bool) -> dict[str, Any] | None:
    return format_block(block, chain.block_receipts(block), full) if block is not None else None


def _transaction_at(chain: Chain, block: AnyBlock | None, index: int) -> dict[str, Any] | None:
    if block is None or index >= len(block.tx_hashes):
        return None
    receipt, raw = chain.block_receipts(block)[index]
    return format_included(raw, receipt, block.hash, block.base_fee, block.timestamp)


def block_methods(ctx: RpcContext) -> dict[str, Handler]:
    """The block handlers over ``ctx``."""
    chain = ctx.chain

    def eth_block_number(params: list[Any]) -> str:
        params_list(params, "eth_blockNumber", 0, 0)
        return q(chain.head.number)

    def eth_get_block_by_number(params: list[Any]) -> dict[str, Any] | None:
        block, full = params_list(params, "eth_getBlockByNumber", 2, 2)
        ref = parse_block_ref(block)
        if ref.hash is not None:
            raise InvalidParams("eth_getBlockByNumber: expected a block number or tag")
        return _format(chain, resolve_block(chain, ref), parse_bool(full, "hydrated"))

    def eth_get_block_by_hash(params: list[Any]) -> dict[str, Any] | None:
        h, full = params_list(params, "eth_getBlockByHash", 2, 2)
        return _format(
            chain, chain.get_block_by_hash(parse_hash(h, "block hash")), parse_bool(full, "hydrated")
        )

    def eth_get_block_transaction_count_by_hash(params: list[Any]) -> str | None:
        (h,) = params_list(params, "eth_getBlockTransactionCountByHash", 1, 1)
        block = chain.get_block_by_hash(parse_hash(h, "block hash"))
        return q(len(block.tx_hashes)) if block is not None else None

    def eth_get_block_transaction_count_by_number(params: list[Any]) -> str | None:
        (number,) = params_list(params, "eth_getBlockTransactionCountByNumber", 1, 1)
        block = block_param(chain, number, "block")
        return q(len(block.tx_hashes)) if block is not None else None

    def eth_get_transaction_by_block_hash_and_index(params: list[Any]) -> dict[str, Any] | None:
        h, index = params_list(params, "eth_getTransactionByBlockHashAndIndex", 2, 2)
        block = chain.get_block_by_hash(parse_hash(h, "block hash"))
        return _transaction_at(chain, block, parse_quantity(index, "index", 64))

    def eth_get_transaction_by_block_number_and_index(params: list[Any]) -> dict[str, Any] | None:
        number, index = params_list(params, "eth_getTransactionByBlockNumberAndIndex", 2, 2)
        block = block_param(chain, number, "block")
        return _transaction_at(chain, block, parse_quantity(index, "index", 64))

    def eth_get_block_receipts(params: list[Any]) -> list[dict[str, Any]] | None:
        (block_ref,) = params_list(params, "eth_getBlockReceipts", 1, 1)
        block: AnyBlock | None
        if isinstance(block_ref, str) and len(block_ref) == 66:
            block = chain.get_block_by_hash(parse_hash(block_ref, "block hash"))
        else:
            block = resolve_block(chain, parse_block_ref(block_ref, "block"))
        if block is None:
            return None
        return [format_receipt(r, block.hash, block.timestamp) for r, _raw in chain.block_receipts(block)]

    def header_of(block: AnyBlock | None) -> dict[str, Any] | None:
        if block is None:
            return None
        header = format_block(block, [], False)
        for key in ("transactions", "uncles", "withdrawals", "size"):
            header.pop(key, None)
        return header

    def eth_get_header_by_number(params: list[Any]) -> dict[str, Any] | None:
        (block,) = params_list(params, "eth_getHeaderByNumber", 1, 1)
        ref = parse_block_ref(block)
        if ref.hash is not None:
            raise InvalidParams("eth_getHeaderByNumber: expected a block number or tag")
        return header_of(resolve_block(chain, ref))

    def eth_get_header_by_hash(params: list[Any]) -> dict[str, Any] | None:
        (h,) = params_list(params, "eth_getHeaderByHash", 1, 1)
        return header_of(chain.get_block_by_hash(parse_hash(h, "block hash")))

    return {
        "eth_getHeaderByNumber": eth_get_header_by_number,
        "eth_getHeaderByHash": eth_get_header_by_hash,
        "eth_blockNumber": eth_block_number,
        "eth_getBlockByNumber": eth_get_block_by_number,
        "eth_getBlockByHash": eth_get_block_by_hash,
        "eth_getBlockTransactionCountByHash": eth_get_block_transaction_count_by_hash,
        "eth_getBlockTransactionCountByNumber": eth_get_block_transaction_count_by_number,
        "eth_getTransactionByBlockHashAndIndex": eth_get_transaction_by_block_hash_and_index,
        "eth_getTransactionByBlockNumberAndIndex": eth_get_transaction_by_block_number_and_index,
        "eth_getBlockReceipts": eth_get_block_receipts,
    }
