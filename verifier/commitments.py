"""What a follower recomputes from a message's own fields (docs/feed.md, version 2).

* :func:`mini_block_hash`: the mini-block hash, over the feed's fields only.
* :func:`receipt_encoding`: a receipt's consensus encoding (EIP-2718 type byte + RLP of status,
  cumulative gas, logs bloom, logs) and its bloom, from the claimed fields.
* :func:`signing_hash`: MegaETH's mini-block header digest, the one the sequencer signs.
* :func:`index_root`: the root of a trie keyed by ``rlp(index)`` (transactions, receipts).

RLP is the shared plain-data codec (``sequencer.fastrlp``) and the trie the shared
Merkle-Patricia trie (``sequencer.trie``): pure primitives, property-tested against pyrlp and
py-trie; the verifier's audit mode recomputes state roots with py-trie itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from sequencer import fastrlp
from sequencer.bridge.deposits import DEPOSIT_RECEIPT_VERSION
from sequencer.trie.mpt import compute_root
from verifier.wire import AccountChange, ClaimedReceipt, LogEntry, MiniBlockMessage


def _load_keccak() -> Callable[[bytes], bytes]:
    try:  # the pysha3 backend is ~6x faster than eth_hash's default (pycryptodome)
        from eth_hash.backends.pysha3 import keccak256

        return keccak256
    except ImportError:  # pragma: no cover - depends on installed extras
        from eth_hash.auto import keccak

        return keccak


keccak: Callable[[bytes], bytes] = _load_keccak()
_rlp = fastrlp.encode


def bloom_bits(item: bytes) -> int:
    """The three bits an address or topic sets in a 2048-bit logs bloom."""
    h = keccak(item)
    return (
        (1 << (((h[0] << 8) | h[1]) & 2047))
        | (1 << (((h[2] << 8) | h[3]) & 2047))
        | (1 << (((h[4] << 8) | h[5]) & 2047))
    )


def logs_bloom(logs: Iterable[LogEntry]) -> int:
    """The bloom of the logs' addresses and topics."""
    bloom = 0
    for log in logs:
        bloom |= bloom_bits(log.address)
        for topic in log.topics:
            bloom |= bloom_bits(topic)
    return bloom


def receipt_encoding(r: ClaimedReceipt) -> tuple[bytes, int]:
    """The consensus encoding of a claimed receipt, and its bloom."""
    bloom = logs_bloom(r.logs)
    fields: list[object] = [
        b"\x01" if r.status else b"",
        r.cumulative_gas_used,
        bloom.to_bytes(256, "big"),
        [[log.address, list(log.topics), log.data] for log in r.logs],
    ]
    if r.deposit_nonce is not None:  # a deposit's (OP's Canyon): depositNonce, depositReceiptVersion
        fields += [r.deposit_nonce, DEPOSIT_RECEIPT_VERSION]
    body = _rlp(fields)
    return (bytes((r.tx_type,)) + body if r.tx_type else body), bloom


def index_root(items: Sequence[bytes]) -> bytes:
    """The root of the trie ``rlp(i) -> items[i]``."""
    return compute_root((_rlp(i), item) for i, item in enumerate(items))


def _receipt_list(r: ClaimedReceipt) -> list[object]:
    items: list[object] = [
        r.tx_hash,
        r.tx_type,
        r.status,
        r.gas_used,
        r.cumulative_gas_used,
        r.effective_gas_price,
        r.contract_address or b"",
        r.tx_index,
        r.first_log_index,
        [[log.address, list(log.topics), log.data] for log in r.logs],
    ]
    if r.deposit_nonce is not None:
        items.append(r.deposit_nonce)
    return items


def _account_list(a: AccountChange) -> list[object]:
    return [
        a.address,
        a.nonce,
        a.balance,
        a.code_hash,
        [] if a.code is None else [a.code],
        [[slot, value] for slot, value in a.storage],
        1 if a.deleted else 0,
    ]


def mini_block_hash(mb: MiniBlockMessage) -> bytes:
    """``keccak(rlp([number, blockNumber, index, timestampUs, parentHash, env, gasUsed,
    transactions, receipts, stateDiff]))`` (docs/feed.md, "The mini-block hash"); a devnet
    mini-block with ``devEdits`` appends them as an 11th item, ``[[kind, address, value,
    hasSlot, slot], ...]``."""
    env = mb.env
    items: list[object] = [
        mb.number,
        mb.block_number,
        mb.index,
        mb.timestamp_us,
        mb.parent_hash,
        [
            env.number,
            env.timestamp,
            env.parent_hash,
            env.base_fee,
            env.gas_limit,
            env.coinbase,
            env.prev_randao,
        ],
        mb.gas_used,
        list(mb.transactions),
        [_receipt_list(r) for r in mb.receipts],
        [_account_list(a) for a in mb.state_diff],
    ]
    if mb.dev_edits:
        items.append(
            [
                [e.kind.encode(), e.address, e.value, 0 if e.slot is None else 1, e.slot or 0]
                for e in mb.dev_edits
            ]
        )
    return keccak(_rlp(items))


def signing_hash(mb: MiniBlockMessage, receipt_encodings: Sequence[bytes]) -> bytes:
    """``keccak256(rlp([block_number, block_timestamp, index, mini_block_number,
    mini_block_timestamp, gas_used, transaction_root, receipt_root]))``."""
    return keccak(
        _rlp(
            [
                mb.block_number,
                mb.env.timestamp,
                mb.index,
                mb.number,
                mb.timestamp_us,
                mb.gas_used,
                index_root(mb.transactions),
                index_root(receipt_encodings),
            ]
        )
    )
