"""JSON shapes of blocks, transactions, receipts and logs (as in ethereum/execution-apis).

L1 deposits (type 0x7E) are shaped as op-geth shapes them: ``sourceHash``, ``mint``,
``isSystemTx`` (only when true), ``v``/``r``/``s`` and ``gasPrice`` 0, no ``chainId``,
``accessList`` or ``yParity``; once included, ``nonce`` is the sender's nonce before it ran (its
receipt's ``depositNonce``: the encoding has none) and ``depositReceiptVersion`` is given; the
receipt adds ``depositNonce`` and ``depositReceiptVersion``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sequencer.bridge.deposits import DEPOSIT_RECEIPT_VERSION
from sequencer.codec import decode_signed_tx, encode_block_rlp
from sequencer.execution.headers import EMPTY_REQUESTS_HASH, EMPTY_UNCLE_HASH, POST_MERGE_NONCE, make_header
from sequencer.jsonrpc.encoding import d, q
from sequencer.trie.mpt import EMPTY_ROOT
from sequencer.types import ZERO_HASH, EvmBlock, Log, PendingBlock, Receipt, SignedTx

JSON = dict[str, Any]


def format_pooled(tx: SignedTx) -> JSON:
    """A pooled transaction: block fields null."""
    return format_transaction(tx, None, None, None, None)


def format_included(raw: bytes, receipt: Receipt, block_hash: bytes, base_fee: int, timestamp: int) -> JSON:
    """An included transaction, read back from its raw bytes (the sender from its receipt)."""
    tx = decode_signed_tx(raw, receipt.sender)
    out = format_transaction(tx, block_hash, receipt.block_number, receipt.tx_index, base_fee, timestamp)
    if receipt.deposit_nonce is not None:
        out["nonce"] = q(receipt.deposit_nonce)
        out["depositReceiptVersion"] = q(DEPOSIT_RECEIPT_VERSION)
    return out


def format_transaction(
    tx: SignedTx,
    block_hash: bytes | None,
    block_number: int | None,
    index: int | None,
    base_fee: int | None,
    block_timestamp: int | None = None,
) -> JSON:
    """A transaction object (execution-apis ``TransactionInfo``)."""
    out: JSON = {
        "type": q(tx.type),
        "hash": d(tx.hash),
        "nonce": q(tx.nonce),
        "blockHash": d(block_hash) if block_hash is not None else None,
        "blockNumber": q(block_number) if block_number is not None else None,
        "transactionIndex": q(index) if index is not None else None,
        "blockTimestamp": q(block_timestamp) if block_timestamp is not None else None,
        "from": d(tx.sender),
        "to": d(tx.to) if tx.to is not None else None,
        "value": q(tx.value),
        "gas": q(tx.gas),
        "input": d(tx.data),
        "v": q(tx.v),
        "r": q(tx.r),
        "s": q(tx.s),
    }
    if tx.chain_id is not None:
        out["chainId"] = q(tx.chain_id)
    if tx.type == 2:
        out["maxFeePerGas"] = q(tx.max_fee_per_gas)
        out["maxPriorityFeePerGas"] = q(tx.max_priority_fee_per_gas)
        if base_fee is not None:
            price = min(tx.max_fee_per_gas, tx.max_priority_fee_per_gas + base_fee)
        else:
            price = tx.max_fee_per_gas
        out["gasPrice"] = q(price)
    else:
        out["gasPrice"] = q(tx.max_fee_per_gas)
    if tx.is_deposit:
        assert tx.source_hash is not None
        out["sourceHash"] = d(tx.source_hash)
        out["mint"] = q(tx.mint)
        if tx.is_system_tx:
            out["isSystemTx"] = True
    elif tx.type != 0:
        out["accessList"] = [
            {"address": d(address), "storageKeys": [d(slot.to_bytes(32, "big")) for slot in slots]}
            for address, slots in tx.access_list
        ]
        out["yParity"] = q(tx.v)
    return out


def format_log(log: Log, receipt: Receipt, block_hash: bytes, log_index: int, block_timestamp: int) -> JSON:
    """A log object of an included transaction."""
    return {
        "address": d(log.address),
        "topics": [d(t) for t in log.topics],
        "data": d(log.data),
        "blockNumber": q(receipt.block_number),
        "blockHash": d(block_hash),
        "blockTimestamp": q(block_timestamp),
        "transactionHash": d(receipt.tx_hash),
        "transactionIndex": q(receipt.tx_index),
        "logIndex": q(log_index),
        "removed": False,
    }


def format_receipt(receipt: Receipt, block_hash: bytes, block_timestamp: int) -> JSON:
    """A receipt object (execution-apis ``ReceiptInfo``; a deposit's with op-geth's fields)."""
    out: JSON = {
        "type": q(receipt.tx_type),
        "transactionHash": d(receipt.tx_hash),
        "transactionIndex": q(receipt.tx_index),
        "blockHash": d(block_hash),
        "blockNumber": q(receipt.block_number),
        "from": d(receipt.sender),
        "to": d(receipt.to) if receipt.to is not None else None,
        "cumulativeGasUsed": q(receipt.cumulative_gas_used),
        "gasUsed": q(receipt.gas_used),
        "contractAddress": d(receipt.contract_address) if receipt.contract_address else None,
        "logs": [
            format_log(log, receipt, block_hash, receipt.first_log_index + i, block_timestamp)
            for i, log in enumerate(receipt.logs)
        ],
        "logsBloom": d(receipt.bloom),
        "status": q(receipt.status),
        "effectiveGasPrice": q(receipt.effective_gas_price),
    }
    if receipt.deposit_nonce is not None:
        out["depositNonce"] = q(receipt.deposit_nonce)
        out["depositReceiptVersion"] = q(DEPOSIT_RECEIPT_VERSION)
    return out


def format_block(block: EvmBlock | PendingBlock, txs: Sequence[tuple[Receipt, bytes]], full: bool) -> JSON:
    """A block object; ``txs`` are its (receipt, raw transaction) pairs, for the size and, when
    ``full``, the transaction objects. The open block (a :class:`PendingBlock`) has a null
    ``hash``; its transactions carry the placeholder block hash."""
    if isinstance(block, PendingBlock):
        return _format_pending(block, txs, full)
    transactions: list[Any]
    raw_txs = [raw for _receipt, raw in txs]
    if full:
        transactions = [
            format_included(raw, receipt, block.hash, block.base_fee, block.timestamp) for receipt, raw in txs
        ]
    else:
        transactions = [d(h) for h in block.tx_hashes]
    return {
        "number": q(block.number),
        "hash": d(block.hash),
        "parentHash": d(block.parent_hash),
        **_header_fields(
            bloom=block.logs_bloom,
            transactions_root=block.transactions_root,
            state_root=block.state_root,
            receipts_root=block.receipts_root,
            coinbase=block.coinbase,
        ),
        "size": q(len(encode_block_rlp(block.header_rlp, raw_txs))),
        "gasLimit": q(block.gas_limit),
        "gasUsed": q(block.gas_used),
        "timestamp": q(block.timestamp),
        "mixHash": d(block.prev_randao),
        "baseFeePerGas": q(block.base_fee),
        **_POST_PRAGUE,
        "transactions": transactions,
        "uncles": [],
        "miniBlockCount": q(block.last_mini_block - block.first_mini_block + 1),
    }


_POST_PRAGUE: JSON = {
    "withdrawalsRoot": d(EMPTY_ROOT),
    "withdrawals": [],
    "blobGasUsed": "0x0",
    "excessBlobGas": "0x0",
    "parentBeaconBlockRoot": d(ZERO_HASH),
    "requestsHash": d(EMPTY_REQUESTS_HASH),
}


def _header_fields(
    *, bloom: bytes, transactions_root: bytes, state_root: bytes, receipts_root: bytes, coinbase: bytes
) -> JSON:
    return {
        "nonce": d(POST_MERGE_NONCE),
        "sha3Uncles": d(EMPTY_UNCLE_HASH),
        "logsBloom": d(bloom),
        "transactionsRoot": d(transactions_root),
        "stateRoot": d(state_root),
        "receiptsRoot": d(receipts_root),
        "miner": d(coinbase),
        "difficulty": "0x0",
        "totalDifficulty": "0x0",
        "extraData": "0x",
    }


def _format_pending(block: PendingBlock, txs: Sequence[tuple[Receipt, bytes]], full: bool) -> JSON:
    env = block.env
    transactions: list[Any]
    if full:
        transactions = [format_included(raw, r, block.hash, env.base_fee, env.timestamp) for r, raw in txs]
    else:
        transactions = [d(h) for h in block.tx_hashes]
    header_rlp, _hash = make_header(
        number=env.number,
        parent_hash=env.parent_hash,
        coinbase=env.coinbase,
        state_root=block.state_root,
        transactions_root=block.transactions_root,
        receipts_root=block.receipts_root,
        logs_bloom=int.from_bytes(block.logs_bloom, "big"),
        gas_limit=env.gas_limit,
        gas_used=block.gas_used,
        timestamp=env.timestamp,
        prev_randao=env.prev_randao,
        base_fee=env.base_fee,
    )
    return {
        "number": q(env.number),
        "hash": None,
        "parentHash": d(env.parent_hash),
        **_header_fields(
            bloom=block.logs_bloom,
            transactions_root=block.transactions_root,
            state_root=block.state_root,
            receipts_root=block.receipts_root,
            coinbase=env.coinbase,
        ),
        "size": q(len(encode_block_rlp(header_rlp, [raw for _r, raw in txs]))),
        "gasLimit": q(env.gas_limit),
        "gasUsed": q(block.gas_used),
        "timestamp": q(env.timestamp),
        "mixHash": d(env.prev_randao),
        "baseFeePerGas": q(env.base_fee),
        **_POST_PRAGUE,
        "transactions": transactions,
        "uncles": [],
        "miniBlockCount": q(block.mini_block_count),
    }
