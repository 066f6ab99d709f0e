"""Canonical byte encodings of the node's records: mini-blocks, EVM blocks, state diffs, and
transactions read back from them (disk and wire).

Everything is RLP: lists of byte strings and big-endian integers, encoded and decoded with the
fast plain-data codec (``fastrlp``). The mini-block hash (docs/feed.md, version 2) commits to
the header fields, the transactions, the receipts and the state diff *as the feed sends them*,
so a follower can recompute it from the stream alone; the signing hash is MegaETH's mini-block
header digest.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_hash.auto import keccak

from sequencer import fastrlp
from sequencer.bridge.deposits import DEPOSIT_TX_TYPE, decode_deposit
from sequencer.trie.mpt import compute_root
from sequencer.types import (
    AccountDiff,
    BlockEnv,
    DevEdit,
    EvmBlock,
    Log,
    MiniBlock,
    Receipt,
    SignedTx,
    StateDiff,
    TxLocation,
)

CODEC_VERSION = 1


_rlp = fastrlp.encode


def _int(b: Any) -> int:
    return int.from_bytes(b, "big")


def _opt(b: Any) -> bytes | None:
    return b if b else None


# -- state diffs ----------------------------------------------------------------------------
def diff_to_list(diff: StateDiff) -> list[object]:
    """A state diff as plain RLP items."""
    return [
        [
            a.address,
            a.nonce,
            a.balance,
            a.code_hash,
            a.code if a.code is not None else b"",
            [[slot, value] for slot, value in a.storage],
            1 if a.deleted else 0,
        ]
        for a in diff.accounts
    ]


def diff_from_list(items: list[Any]) -> StateDiff:
    """The inverse of :func:`diff_to_list`."""
    out = []
    for item in items:
        address, nonce, balance, code_hash, code, storage, deleted = item
        out.append(
            AccountDiff(
                address=address,
                nonce=_int(nonce),
                balance=_int(balance),
                code_hash=code_hash,
                code=_opt(code),
                storage=tuple((_int(s), _int(v)) for s, v in storage),
                deleted=bool(_int(deleted)),
            )
        )
    return StateDiff(tuple(out))


def encode_diff(diff: StateDiff) -> bytes:
    """A state diff's RLP."""
    return _rlp(diff_to_list(diff))


# -- receipts -------------------------------------------------------------------------------
def receipt_to_list(r: Receipt) -> list[object]:
    """A receipt (every field the node keeps) as plain RLP items; a deposit's appends its
    ``depositNonce`` (a 17th item: the records of other receipts are unchanged)."""
    items: list[object] = [
        r.tx_hash,
        r.tx_type,
        r.sender,
        r.to or b"",
        r.status,
        r.gas_used,
        r.cumulative_gas_used,
        r.effective_gas_price,
        [[log.address, list(log.topics), log.data] for log in r.logs],
        r.bloom,
        r.contract_address or b"",
        r.block_number,
        r.mini_block_number,
        r.tx_index,
        r.first_log_index,
        r.encoded,
    ]
    if r.deposit_nonce is not None:
        items.append(r.deposit_nonce)
    return items


def receipt_from_list(item: list[Any]) -> Receipt:
    """The inverse of :func:`receipt_to_list`."""
    deposit_nonce = _int(item[16]) if len(item) == 17 else None
    (
        tx_hash,
        tx_type,
        sender,
        to,
        status,
        gas_used,
        cumulative,
        egp,
        logs,
        bloom,
        contract,
        block_number,
        mini,
        tx_index,
        first_log_index,
        encoded,
    ) = item[:16]
    return Receipt(
        tx_hash=tx_hash,
        tx_type=_int(tx_type),
        sender=sender,
        to=_opt(to),
        status=_int(status),
        gas_used=_int(gas_used),
        cumulative_gas_used=_int(cumulative),
        effective_gas_price=_int(egp),
        logs=tuple(Log(a, tuple(t), d) for a, t, d in logs),
        bloom=bloom,
        contract_address=_opt(contract),
        block_number=_int(block_number),
        mini_block_number=_int(mini),
        tx_index=_int(tx_index),
        first_log_index=_int(first_log_index),
        encoded=encoded,
        deposit_nonce=deposit_nonce,
    )


# -- mini-blocks ----------------------------------------------------------------------------
def env_to_list(env: BlockEnv) -> list[object]:
    """A block environment as plain RLP items."""
    return [
        env.number,
        env.timestamp,
        env.parent_hash,
        env.base_fee,
        env.gas_limit,
        env.coinbase,
        env.prev_randao,
    ]


def env_from_list(item: list[Any]) -> BlockEnv:
    """The inverse of :func:`env_to_list`."""
    number, timestamp, parent_hash, base_fee, gas_limit, coinbase, prev_randao = item
    return BlockEnv(
        _int(number), _int(timestamp), parent_hash, _int(base_fee), _int(gas_limit), coinbase, prev_randao
    )


def dev_edits_to_list(edits: Sequence[DevEdit]) -> list[object]:
    """Dev edits as plain RLP items: ``[kind, address, value, has_slot, slot]``."""
    return [[e.kind.encode(), e.address, e.value, 1 if e.slot is not None else 0, e.slot or 0] for e in edits]


def dev_edits_from_list(items: list[Any]) -> tuple[DevEdit, ...]:
    """The inverse of :func:`dev_edits_to_list`."""
    out = []
    for kind, address, value, has_slot, slot in items:
        name = bytes(kind).decode()
        typed: int | bytes = bytes(value) if name in ("code", "impersonated") else _int(value)
        out.append(DevEdit(name, address, typed, _int(slot) if _int(has_slot) else None))
    return tuple(out)


MINI_BLOCK_HASH_VERSION = 2
"""The mini-block hash of docs/feed.md, version 2: over the fields a follower is sent, only."""


def receipt_wire_list(r: Receipt) -> list[object]:
    """A receipt's feed fields as RLP items (docs/feed.md, "the mini-block hash"); a deposit's
    appends its ``depositNonce`` (an 11th item)."""
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


def diff_wire_list(diff: StateDiff) -> list[object]:
    """A state diff's feed fields as RLP items: ``code`` is ``[]`` when null, ``[code]`` when sent."""
    return [
        [
            a.address,
            a.nonce,
            a.balance,
            a.code_hash,
            [] if a.code is None else [a.code],
            [[slot, value] for slot, value in a.storage],
            1 if a.deleted else 0,
        ]
        for a in diff.accounts
    ]


def mini_block_hash(mb: MiniBlock) -> bytes:
    """keccak(rlp([number, blockNumber, index, timestampUs, parentHash, env, gasUsed,
    transactions, receipts, stateDiff])) over the feed's fields only (docs/feed.md defines the
    encoding, version 2), so a follower recomputes it from what it is sent. ``mb.hash`` itself
    is not an input. A devnet mini-block with dev edits appends them (:func:`dev_edits_to_list`)
    as an 11th item; an ordinary mini-block's hash is unchanged."""
    items: list[object] = [
        mb.number,
        mb.block_number,
        mb.index,
        mb.timestamp_us,
        mb.parent_hash,
        env_to_list(mb.block_env),
        mb.gas_used,
        list(mb.raw_txs),
        [receipt_wire_list(r) for r in mb.receipts],
        diff_wire_list(mb.diff),
    ]
    if mb.dev_edits:
        items.append(dev_edits_to_list(mb.dev_edits))
    digest: bytes = keccak(_rlp(items))
    return digest


def mini_block_roots(mb: MiniBlock) -> tuple[bytes, bytes]:
    """The mini-block's own transaction and receipt roots: Merkle-Patricia tries keyed by
    ``rlp(index within the mini-block)`` over the raw transactions and the receipts' consensus
    encodings (MegaETH's ``transaction_root`` and ``receipt_root``)."""
    tx_root = compute_root((_rlp(i), raw) for i, raw in enumerate(mb.raw_txs))
    receipt_root = compute_root((_rlp(i), r.encoded) for i, r in enumerate(mb.receipts))
    return tx_root, receipt_root


def mini_block_signing_hash(mb: MiniBlock) -> bytes:
    """What the sequencer signs, as MegaETH does: ``keccak256(rlp([block_number,
    block_timestamp, index, mini_block_number, mini_block_timestamp, gas_used,
    transaction_root, receipt_root]))`` (integers minimal big-endian, no EIP-191 prefix)."""
    tx_root, receipt_root = mini_block_roots(mb)
    digest: bytes = keccak(
        _rlp(
            [
                mb.block_number,
                mb.block_env.timestamp,
                mb.index,
                mb.number,
                mb.timestamp_us,
                mb.gas_used,
                tx_root,
                receipt_root,
            ]
        )
    )
    return digest


def encode_mini_block(mb: MiniBlock) -> bytes:
    """A mini-block's record (log and index); a devnet mini-block's dev edits are a 13th item."""
    items: list[object] = [
        CODEC_VERSION,
        mb.number,
        mb.block_number,
        mb.index,
        mb.timestamp_us,
        mb.parent_hash,
        mb.hash,
        env_to_list(mb.block_env),
        list(mb.raw_txs),
        [receipt_to_list(r) for r in mb.receipts],
        diff_to_list(mb.diff),
        mb.gas_used,
    ]
    if mb.dev_edits:
        items.append(dev_edits_to_list(mb.dev_edits))
    return _rlp(items)


def decode_mini_block(data: bytes) -> MiniBlock:
    """The inverse of :func:`encode_mini_block` (transaction hashes recomputed)."""
    item = fastrlp.decode(data)
    edits = dev_edits_from_list(item.pop()) if len(item) == 13 else ()
    (version, number, block_number, index, ts, parent, h, env, raw_txs, receipts, diff, gas_used) = item
    if _int(version) != CODEC_VERSION:
        raise ValueError(f"unsupported mini-block encoding version {_int(version)}")
    raws = tuple(raw_txs)
    return MiniBlock(
        number=_int(number),
        block_number=_int(block_number),
        index=_int(index),
        timestamp_us=_int(ts),
        parent_hash=parent,
        hash=h,
        block_env=env_from_list(env),
        raw_txs=raws,
        tx_hashes=tuple(keccak(raw) for raw in raws),
        receipts=tuple(receipt_from_list(r) for r in receipts),
        diff=diff_from_list(diff),
        gas_used=_int(gas_used),
        dev_edits=edits,
    )


# -- EVM blocks -----------------------------------------------------------------------------
def encode_evm_block(block: EvmBlock) -> bytes:
    """A sealed EVM block's record: its header RLP, transaction hashes and mini-block range."""
    return _rlp(
        [
            CODEC_VERSION,
            block.header_rlp,
            list(block.tx_hashes),
            block.first_mini_block,
            block.last_mini_block + 1,  # +1 keeps an empty block's "first - 1" non-negative
            block.sealed_at_us,
        ]
    )


def decode_evm_block(data: bytes) -> EvmBlock:
    """Decode :func:`encode_evm_block`'s output (the header fields come from its RLP)."""
    version, header_rlp, tx_hashes, first, last_plus_one, sealed_at = fastrlp.decode(data)
    if _int(version) != CODEC_VERSION:
        raise ValueError(f"unsupported block encoding version {_int(version)}")
    h = decode_header(header_rlp)
    return EvmBlock(
        number=h.number,
        hash=keccak(header_rlp),
        parent_hash=h.parent_hash,
        timestamp=h.timestamp,
        state_root=h.state_root,
        transactions_root=h.transactions_root,
        receipts_root=h.receipts_root,
        logs_bloom=h.logs_bloom,
        gas_used=h.gas_used,
        gas_limit=h.gas_limit,
        base_fee=h.base_fee,
        coinbase=h.coinbase,
        prev_randao=h.prev_randao,
        header_rlp=header_rlp,
        tx_hashes=tuple(tx_hashes),
        first_mini_block=_int(first),
        last_mini_block=_int(last_plus_one) - 1,
        sealed_at_us=_int(sealed_at),
    )


# -- headers --------------------------------------------------------------------------------
HEADER_FIELDS = 21
"""A Prague header: the London fields (16), then withdrawals root, blob gas used, excess blob
gas, parent beacon block root and requests hash."""


@dataclass(frozen=True, slots=True)
class HeaderFields:
    """The header fields the node reads back (the rest are constants of this chain)."""

    parent_hash: bytes
    coinbase: bytes
    state_root: bytes
    transactions_root: bytes
    receipts_root: bytes
    logs_bloom: bytes
    number: int
    gas_limit: int
    gas_used: int
    timestamp: int
    prev_randao: bytes
    base_fee: int


def decode_header(header_rlp: bytes) -> HeaderFields:
    """Read a Prague header's fields from its RLP (strict: canonical RLP, 21 fields)."""
    fields = fastrlp.decode(header_rlp)
    if not isinstance(fields, list) or len(fields) != HEADER_FIELDS:
        raise ValueError(f"not a Prague header: expected {HEADER_FIELDS} fields")
    return HeaderFields(
        parent_hash=fields[0],
        coinbase=fields[2],
        state_root=fields[3],
        transactions_root=fields[4],
        receipts_root=fields[5],
        logs_bloom=fields[6],
        number=_int(fields[8]),
        gas_limit=_int(fields[9]),
        gas_used=_int(fields[10]),
        timestamp=_int(fields[11]),
        prev_randao=fields[13],
        base_fee=_int(fields[15]),
    )


def encode_block_rlp(header_rlp: bytes, raw_txs: Sequence[bytes]) -> bytes:
    """The standard block encoding, ``rlp([header, transactions, uncles, withdrawals])``: legacy
    transactions embedded as lists, typed ones as byte strings (EIP-2718)."""
    txs = b"".join(raw if raw[0] >= 0xC0 else _rlp(raw) for raw in raw_txs)
    body = header_rlp + fastrlp.list_prefix(len(txs)) + txs + b"\xc0\xc0"
    return fastrlp.list_prefix(len(body)) + body


# -- transactions read back from the chain -------------------------------------------------------
def _access_list(items: list[Any]) -> tuple[tuple[bytes, tuple[int, ...]], ...]:
    return tuple((bytes(address), tuple(_int(slot) for slot in slots)) for address, slots in items)


def decode_signed_tx(raw: bytes, sender: bytes) -> SignedTx:
    """Read a transaction that was validated when it was admitted, for display.

    ``sender`` comes from its receipt (recovered once, at ingress); nothing is re-verified.
    Legacy: ``[nonce, gasPrice, gas, to, value, data, v, r, s]``; EIP-2930:
    ``0x01 || [chainId, nonce, gasPrice, gas, to, value, data, accessList, yParity, r, s]``;
    EIP-1559: ``0x02 || [chainId, nonce, tip, feeCap, gas, to, value, data, accessList, yParity, r, s]``;
    a deposit: ``0x7E || [sourceHash, from, to, mint, value, gas, isSystemTx, data]``
    (:func:`~sequencer.bridge.deposits.decode_deposit`; its ``nonce`` is 0, the receipt has the
    sender's nonce).
    """
    if raw[0] == DEPOSIT_TX_TYPE:
        return decode_deposit(raw)
    tx_type = raw[0] if raw[0] < 0x7F else 0
    f = fastrlp.decode(raw[1:] if tx_type else raw)
    access: tuple[tuple[bytes, tuple[int, ...]], ...] = ()
    if tx_type == 0:
        nonce, price, gas, to, value, data, v, r, s = f
        v_int = _int(v)
        chain_id: int | None = (v_int - 35) // 2 if v_int >= 35 else None
        fee_cap = tip = _int(price)
    elif tx_type == 1:
        cid, nonce, price, gas, to, value, data, items, v, r, s = f
        chain_id, v_int, fee_cap, tip, access = (
            _int(cid),
            _int(v),
            _int(price),
            _int(price),
            _access_list(items),
        )
    else:
        cid, nonce, tip_b, cap_b, gas, to, value, data, items, v, r, s = f
        chain_id, v_int, access = _int(cid), _int(v), _access_list(items)
        fee_cap, tip = _int(cap_b), _int(tip_b)
    return SignedTx(
        hash=keccak(raw),
        raw=raw,
        sender=sender,
        type=tx_type,
        chain_id=chain_id,
        nonce=_int(nonce),
        gas=_int(gas),
        to=to or None,
        value=_int(value),
        data=data,
        max_fee_per_gas=fee_cap,
        max_priority_fee_per_gas=tip,
        access_list=access,
        v=v_int,
        r=_int(r),
        s=_int(s),
    )


_LOC = struct.Struct(">QQII")


def encode_location(loc: TxLocation) -> bytes:
    """A transaction's location, 24 bytes."""
    return _LOC.pack(loc.block_number, loc.mini_block_number, loc.index_in_block, loc.index_in_mini_block)


def decode_location(data: bytes) -> TxLocation:
    """The inverse of :func:`encode_location`."""
    return TxLocation(*_LOC.unpack(data))
