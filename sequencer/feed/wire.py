"""Feed messages, version 1 (normative description: docs/feed.md).

Positions (``seq``) number every chain event contiguously: genesis is 0, then every mini-block
and every sealed EVM block in the order they were produced (a block's mini-blocks come before
the block). They are derived from the chain, not stored:

    seq(mini-block m of block B) = m + B
    seq(block B)                 = last_mini_block(B) + 1 + B
"""

from __future__ import annotations

from typing import Any

from sequencer.config import ChainConfig
from sequencer.genesis import GENERATED_BALANCE, GENERATED_DOMAIN
from sequencer.jsonrpc.encoding import d, q
from sequencer.types import EvmBlock, MiniBlock

WIRE_VERSION = 1


def seq_of_mini(mb: MiniBlock) -> int:
    """A mini-block's position."""
    return mb.number + mb.block_number


def seq_of_block(block: EvmBlock) -> int:
    """An EVM block's position."""
    return block.last_mini_block + 1 + block.number


def mini_block_message(mb: MiniBlock) -> dict[str, Any]:
    """The ``miniBlock`` message of a mini-block."""
    env = mb.block_env
    return {
        "version": WIRE_VERSION,
        "seq": seq_of_mini(mb),
        "type": "miniBlock",
        "miniBlock": {
            "number": q(mb.number),
            "blockNumber": q(mb.block_number),
            "index": q(mb.index),
            "timestampUs": q(mb.timestamp_us),
            "hash": d(mb.hash),
            "parentHash": d(mb.parent_hash),
            "env": {
                "number": q(env.number),
                "timestamp": q(env.timestamp),
                "parentHash": d(env.parent_hash),
                "baseFee": q(env.base_fee),
                "gasLimit": q(env.gas_limit),
                "coinbase": d(env.coinbase),
                "prevRandao": d(env.prev_randao),
            },
            "gasUsed": q(mb.gas_used),
            "transactions": [d(raw) for raw in mb.raw_txs],
            "receipts": [
                {
                    "transactionHash": d(r.tx_hash),
                    "type": q(r.tx_type),
                    "status": q(r.status),
                    "gasUsed": q(r.gas_used),
                    "cumulativeGasUsed": q(r.cumulative_gas_used),
                    "effectiveGasPrice": q(r.effective_gas_price),
                    "contractAddress": d(r.contract_address) if r.contract_address else None,
                    "transactionIndex": q(r.tx_index),
                    "firstLogIndex": q(r.first_log_index),
                    "logs": [
                        {"address": d(log.address), "topics": [d(t) for t in log.topics], "data": d(log.data)}
                        for log in r.logs
                    ],
                }
                for r in mb.receipts
            ],
            "stateDiff": [
                {
                    "address": d(a.address),
                    "nonce": q(a.nonce),
                    "balance": q(a.balance),
                    "codeHash": d(a.code_hash),
                    "code": d(a.code) if a.code is not None else None,
                    "storage": [[q(slot), q(value)] for slot, value in a.storage],
                    "deleted": a.deleted,
                }
                for a in mb.diff.accounts
            ],
        },
    }


def block_message(block: EvmBlock) -> dict[str, Any]:
    """The ``block`` message of a sealed EVM block."""
    return {
        "version": WIRE_VERSION,
        "seq": seq_of_block(block),
        "type": "block",
        "block": {
            "number": q(block.number),
            "hash": d(block.hash),
            "header": d(block.header_rlp),
            "firstMiniBlock": q(block.first_mini_block),
            "miniBlockCount": q(block.last_mini_block - block.first_mini_block + 1),
            "transactions": [d(h) for h in block.tx_hashes],
        },
    }


def genesis_alloc(chain: ChainConfig) -> list[dict[str, Any]]:
    """The configured genesis allocation, as the genesis message lists it."""
    return [
        {
            "address": d(a.address),
            "balance": q(a.balance),
            "nonce": q(a.nonce),
            "code": d(a.code),
            "storage": [[q(s), q(v)] for s, v in a.storage],
        }
        for a in chain.genesis
    ]


def genesis_message(block: EvmBlock, chain: ChainConfig) -> dict[str, Any]:
    """The genesis message: block 0 and the allocation it was made from (the ``--accounts``
    rule, count, balance and domain, instead of listing every generated account)."""
    genesis: dict[str, Any] = {
        "hash": d(block.hash),
        "header": d(block.header_rlp),
        "alloc": genesis_alloc(chain),
    }
    if chain.generated_accounts:
        genesis["generatedAccounts"] = {
            "count": q(chain.generated_accounts),
            "balance": q(GENERATED_BALANCE),
            "domain": d(GENERATED_DOMAIN),
        }
    return {"version": WIRE_VERSION, "seq": 0, "type": "genesis", "genesis": genesis}
