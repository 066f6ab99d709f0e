"""Feed messages, version 2 (normative description: docs/feed.md).

Positions (``seq``) number every chain event contiguously: genesis is 0, then every mini-block
and every sealed EVM block in the order they were produced (a block's mini-blocks come before
the block). They are derived from the chain, not stored:

    seq(mini-block m of block B) = m + B
    seq(block B)                 = last_mini_block(B) + 1 + B
"""

from __future__ import annotations

from typing import Any

from eth_hash.auto import keccak

from sequencer import fastrlp
from sequencer.bloom import bloom_bits
from sequencer.bridge.deposits import DEPOSIT_RECEIPT_VERSION
from sequencer.config import ChainConfig
from sequencer.genesis import GENERATED_BALANCE, GENERATED_DOMAIN
from sequencer.jsonrpc.encoding import d, q
from sequencer.trie.mpt import compute_root
from sequencer.types import DevEdit, EvmBlock, MiniBlock

WIRE_VERSION = 2


def seq_of_mini(mb: MiniBlock) -> int:
    """A mini-block's position."""
    return mb.number + mb.block_number


def seq_of_block(block: EvmBlock) -> int:
    """An EVM block's position."""
    return block.last_mini_block + 1 + block.number


def mini_block_message(mb: MiniBlock, signature: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``miniBlock`` message of a mini-block (with the sequencer's ``signature`` when the
    chain is signed)."""
    env = mb.block_env
    message: dict[str, Any] = {
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
                    **({} if r.deposit_nonce is None else {"depositNonce": q(r.deposit_nonce)}),
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
    if mb.dev_edits:  # a devnet's state edits or impersonated senders (docs/feed.md, "Devnet events")
        message["miniBlock"]["devEdits"] = [dev_edit_json(e) for e in mb.dev_edits]
    if signature is not None:
        message["miniBlock"]["signature"] = signature
    return message


def dev_edit_json(edit: DevEdit) -> dict[str, Any]:
    """A dev edit as the feed sends it: ``{kind, address, value, slot}`` (``value`` data for
    ``code`` and ``impersonated``, else a quantity; ``slot`` a quantity for ``storage``, else
    null)."""
    value = d(edit.value) if isinstance(edit.value, bytes) else q(edit.value)
    slot = q(edit.slot) if edit.slot is not None else None
    return {"kind": edit.kind, "address": d(edit.address), "value": value, "slot": slot}


def block_message(block: EvmBlock, signature: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``block`` message of a sealed EVM block (signed over its hash when the chain is)."""
    message: dict[str, Any] = {
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
    if signature is not None:
        message["block"]["signature"] = signature
    return message


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


# -- hashes over a message's own fields (docs/feed.md), for the fire drill ------------------------
def _qi(text: str) -> int:
    return int(text, 16)


def _bi(text: str) -> bytes:
    return bytes.fromhex(text[2:])


def wire_mini_block_hash(mb: dict[str, Any]) -> bytes:
    """The mini-block hash (version 2) of a ``miniBlock`` body, from its own fields."""
    env = mb["env"]
    receipts = [
        [
            _bi(r["transactionHash"]),
            _qi(r["type"]),
            _qi(r["status"]),
            _qi(r["gasUsed"]),
            _qi(r["cumulativeGasUsed"]),
            _qi(r["effectiveGasPrice"]),
            _bi(r["contractAddress"]) if r["contractAddress"] else b"",
            _qi(r["transactionIndex"]),
            _qi(r["firstLogIndex"]),
            [[_bi(lg["address"]), [_bi(t) for t in lg["topics"]], _bi(lg["data"])] for lg in r["logs"]],
            *([_qi(r["depositNonce"])] if "depositNonce" in r else []),  # a deposit's, last
        ]
        for r in mb["receipts"]
    ]
    diff = [
        [
            _bi(a["address"]),
            _qi(a["nonce"]),
            _qi(a["balance"]),
            _bi(a["codeHash"]),
            [] if a["code"] is None else [_bi(a["code"])],
            [[_qi(slot), _qi(value)] for slot, value in a["storage"]],
            1 if a["deleted"] else 0,
        ]
        for a in mb["stateDiff"]
    ]
    env_list = [
        _qi(env["number"]),
        _qi(env["timestamp"]),
        _bi(env["parentHash"]),
        _qi(env["baseFee"]),
        _qi(env["gasLimit"]),
        _bi(env["coinbase"]),
        _bi(env["prevRandao"]),
    ]
    header = [_qi(mb[k]) for k in ("number", "blockNumber", "index", "timestampUs")]
    items: list[object] = [
        *header,
        _bi(mb["parentHash"]),
        env_list,
        _qi(mb["gasUsed"]),
        [_bi(t) for t in mb["transactions"]],
        receipts,
        diff,
    ]
    if mb.get("devEdits"):
        items.append([_wire_dev_edit(e) for e in mb["devEdits"]])
    return bytes(keccak(fastrlp.encode(items)))


def _wire_dev_edit(e: dict[str, Any]) -> list[object]:
    value = _bi(e["value"]) if e["kind"] in ("code", "impersonated") else _qi(e["value"])
    slot = e["slot"]
    return [
        e["kind"].encode(),
        _bi(e["address"]),
        value,
        0 if slot is None else 1,
        0 if slot is None else _qi(slot),
    ]


def wire_receipt_encoding(r: dict[str, Any]) -> bytes:
    """A receipt's consensus encoding (EIP-2718 type byte + RLP) from its feed fields."""
    bloom = 0
    logs = []
    for lg in r["logs"]:
        address, topics = _bi(lg["address"]), [_bi(t) for t in lg["topics"]]
        bloom |= bloom_bits(address)
        for topic in topics:
            bloom |= bloom_bits(topic)
        logs.append([address, topics, _bi(lg["data"])])
    fields: list[object] = [
        b"\x01" if _qi(r["status"]) else b"",
        _qi(r["cumulativeGasUsed"]),
        bloom.to_bytes(256, "big"),
        logs,
    ]
    if "depositNonce" in r:  # a deposit's (OP's Canyon): depositNonce, depositReceiptVersion
        fields += [_qi(r["depositNonce"]), DEPOSIT_RECEIPT_VERSION]
    body = fastrlp.encode(fields)
    tx_type = _qi(r["type"])
    return bytes((tx_type,)) + body if tx_type else body


def wire_signing_hash(mb: dict[str, Any]) -> bytes:
    """MegaETH's mini-block header digest of a ``miniBlock`` body, from its own fields."""
    tx_root = compute_root((fastrlp.encode(i), _bi(t)) for i, t in enumerate(mb["transactions"]))
    receipt_root = compute_root(
        (fastrlp.encode(i), wire_receipt_encoding(r)) for i, r in enumerate(mb["receipts"])
    )
    return bytes(
        keccak(
            fastrlp.encode(
                [
                    _qi(mb["blockNumber"]),
                    _qi(mb["env"]["timestamp"]),
                    _qi(mb["index"]),
                    _qi(mb["number"]),
                    _qi(mb["timestampUs"]),
                    _qi(mb["gasUsed"]),
                    tx_root,
                    receipt_root,
                ]
            )
        )
    )
