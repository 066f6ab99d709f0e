"""Block queries: the head's number, blocks by number or hash, their transactions and receipts.

The open EVM block asked for as ``pending`` has a null ``hash`` (geth's pending block). Asked for
by its number, or by the placeholder hash its transactions and receipts carry
(:data:`~sequencer.types.PENDING_HASH`), it carries that placeholder as its ``hash``: clients
that look up a fresh receipt's block (ethers' ``receipt.getBlock()`` asks by ``blockHash``;
foundry's alloy refuses a null hash in a block asked for by number) get the block they named.
"""

from __future__ import annotations

from typing import Any

from sequencer.chain import Chain
from sequencer.jsonrpc.dispatch import Handler
from sequencer.jsonrpc.encoding import (
    BlockRef,
    d,
    params_list,
    parse_block_ref,
    parse_bool,
    parse_hash,
    parse_quantity,
    q,
)
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.rpc.blocktags import AnyBlock, block_by_hash, block_param, resolve_block
from sequencer.rpc.context import RpcContext
from sequencer.rpc.formatting import format_block, format_included, format_receipt
from sequencer.types import PENDING_HASH, PendingBlock


def _format(
    chain: Chain, block: AnyBlock | None, full: bool, ref: BlockRef | None = None
) -> dict[str, Any] | None:
    """``ref``: how a block query named it (``None``: by hash)."""
    if block is None:
        return None
    out = format_block(block, chain.block_receipts(block), full)
    return _named(out, block, ref)


def _named(out: dict[str, Any], block: AnyBlock, ref: BlockRef | None) -> dict[str, Any]:
    """``out`` with the placeholder hash when the open block was named by number or hash."""
    if isinstance(block, PendingBlock) and (ref is None or ref.tag is None):
        out["hash"] = d(PENDING_HASH)
    return out


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
        return _format(chain, resolve_block(chain, ref), parse_bool(full, "hydrated"), ref)

    def eth_get_block_by_hash(params: list[Any]) -> dict[str, Any] | None:
        h, full = params_list(params, "eth_getBlockByHash", 2, 2)
        return _format(chain, block_by_hash(chain, parse_hash(h, "block hash")), parse_bool(full, "hydrated"))

    def eth_get_block_transaction_count_by_hash(params: list[Any]) -> str | None:
        (h,) = params_list(params, "eth_getBlockTransactionCountByHash", 1, 1)
        block = block_by_hash(chain, parse_hash(h, "block hash"))
        return q(len(block.tx_hashes)) if block is not None else None

    def eth_get_block_transaction_count_by_number(params: list[Any]) -> str | None:
        (number,) = params_list(params, "eth_getBlockTransactionCountByNumber", 1, 1)
        block = block_param(chain, number, "block")
        return q(len(block.tx_hashes)) if block is not None else None

    def eth_get_transaction_by_block_hash_and_index(params: list[Any]) -> dict[str, Any] | None:
        h, index = params_list(params, "eth_getTransactionByBlockHashAndIndex", 2, 2)
        block = block_by_hash(chain, parse_hash(h, "block hash"))
        return _transaction_at(chain, block, parse_quantity(index, "index", 64))

    def eth_get_transaction_by_block_number_and_index(params: list[Any]) -> dict[str, Any] | None:
        number, index = params_list(params, "eth_getTransactionByBlockNumberAndIndex", 2, 2)
        block = block_param(chain, number, "block")
        return _transaction_at(chain, block, parse_quantity(index, "index", 64))

    def eth_get_block_receipts(params: list[Any]) -> list[dict[str, Any]] | None:
        (block_ref,) = params_list(params, "eth_getBlockReceipts", 1, 1)
        block: AnyBlock | None
        if isinstance(block_ref, str) and len(block_ref) == 66:
            block = block_by_hash(chain, parse_hash(block_ref, "block hash"))
        else:
            block = resolve_block(chain, parse_block_ref(block_ref, "block"))
        if block is None:
            return None
        return [format_receipt(r, block.hash, block.timestamp) for r, _raw in chain.block_receipts(block)]

    def header_of(block: AnyBlock | None, ref: BlockRef | None = None) -> dict[str, Any] | None:
        if block is None:
            return None
        header = _named(format_block(block, [], False), block, ref)
        for key in ("transactions", "uncles", "withdrawals", "size"):
            header.pop(key, None)
        return header

    def eth_get_header_by_number(params: list[Any]) -> dict[str, Any] | None:
        (block,) = params_list(params, "eth_getHeaderByNumber", 1, 1)
        ref = parse_block_ref(block)
        if ref.hash is not None:
            raise InvalidParams("eth_getHeaderByNumber: expected a block number or tag")
        return header_of(resolve_block(chain, ref), ref)

    def eth_get_header_by_hash(params: list[Any]) -> dict[str, Any] | None:
        (h,) = params_list(params, "eth_getHeaderByHash", 1, 1)
        return header_of(block_by_hash(chain, parse_hash(h, "block hash")))

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
