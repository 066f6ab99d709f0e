"""Canonical byte encodings of mini-blocks, EVM blocks and state diffs (disk and wire).

Everything is RLP: lists of byte strings and big-endian integers. The mini-block hash commits
to the header fields, the transactions, the receipts and the state diff, so a follower can
check a streamed mini-block against its hash.
"""

from __future__ import annotations

import struct

from eth_hash.auto import keccak

from sequencer import fastrlp
from sequencer.types import AccountDiff, BlockEnv, EvmBlock, Log, MiniBlock, Receipt, StateDiff, TxLocation

CODEC_VERSION = 1


_rlp = fastrlp.encode


def _int(b: bytes) -> int:
    return int.from_bytes(b, "big")


def _opt(b: bytes) -> bytes | None:
    return b if b else None


# -- state diffs ----------------------------------------------------------------------------
def diff_to_list(diff: StateDiff) -> list[object]:
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


def diff_from_list(items: list[list[object]]) -> StateDiff:
    out = []
    for item in items:
        address, nonce, balance, code_hash, code, storage, deleted = item
        out.append(
            AccountDiff(
                address=address,  # type: ignore[arg-type]
                nonce=_int(nonce),  # type: ignore[arg-type]
                balance=_int(balance),  # type: ignore[arg-type]
                code_hash=code_hash,  # type: ignore[arg-type]
                code=_opt(code),  # type: ignore[arg-type]
                storage=tuple((_int(s), _int(v)) for s, v in storage),  # type: ignore[attr-defined]
                deleted=bool(_int(deleted)),  # type: ignore[arg-type]
            )
        )
    return StateDiff(tuple(out))


def encode_diff(diff: StateDiff) -> bytes:
    return _rlp(diff_to_list(diff))


# -- receipts -------------------------------------------------------------------------------
def receipt_to_list(r: Receipt) -> list[object]:
    return [
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


def receipt_from_list(item: list[object]) -> Receipt:
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
    ) = item
    return Receipt(
        tx_hash=tx_hash,  # type: ignore[arg-type]
        tx_type=_int(tx_type),  # type: ignore[arg-type]
        sender=sender,  # type: ignore[arg-type]
        to=_opt(to),  # type: ignore[arg-type]
        status=_int(status),  # type: ignore[arg-type]
        gas_used=_int(gas_used),  # type: ignore[arg-type]
        cumulative_gas_used=_int(cumulative),  # type: ignore[arg-type]
        effective_gas_price=_int(egp),  # type: ignore[arg-type]
        logs=tuple(Log(a, tuple(t), d) for a, t, d in logs),  # type: ignore[attr-defined]
        bloom=bloom,  # type: ignore[arg-type]
        contract_address=_opt(contract),  # type: ignore[arg-type]
        block_number=_int(block_number),  # type: ignore[arg-type]
        mini_block_number=_int(mini),  # type: ignore[arg-type]
        tx_index=_int(tx_index),  # type: ignore[arg-type]
        first_log_index=_int(first_log_index),  # type: ignore[arg-type]
        encoded=encoded,  # type: ignore[arg-type]
    )


# -- mini-blocks ----------------------------------------------------------------------------
def env_to_list(env: BlockEnv) -> list[object]:
    return [
        env.number,
        env.timestamp,
        env.parent_hash,
        env.base_fee,
        env.gas_limit,
        env.coinbase,
        env.prev_randao,
    ]


def env_from_list(item: list[bytes]) -> BlockEnv:
    number, timestamp, parent_hash, base_fee, gas_limit, coinbase, prev_randao = item
    return BlockEnv(
        _int(number), _int(timestamp), parent_hash, _int(base_fee), _int(gas_limit), coinbase, prev_randao
    )


def mini_block_hash(
    number: int,
    block_number: int,
    index: int,
    timestamp_us: int,
    parent_hash: bytes,
    block_env: BlockEnv,
    tx_hashes: tuple[bytes, ...],
    receipts: tuple[Receipt, ...],
    diff: StateDiff,
    gas_used: int,
) -> bytes:
    """keccak(rlp([number, block_number, index, timestamp_us, parent_hash, env, gas_used,
    keccak(concat(tx_hashes)), keccak(rlp(receipts)), keccak(rlp(diff))])): commits to every
    field a follower is sent, including the block environment and all receipt fields."""
    digest: bytes = keccak(
        _rlp(
            [
                number,
                block_number,
                index,
                timestamp_us,
                parent_hash,
                env_to_list(block_env),
                gas_used,
                keccak(b"".join(tx_hashes)),
                keccak(_rlp([receipt_to_list(r) for r in receipts])),
                keccak(encode_diff(diff)),
            ]
        )
    )
    return digest


def encode_mini_block(mb: MiniBlock) -> bytes:
    return _rlp(
        [
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
    )


def decode_mini_block(data: bytes) -> MiniBlock:
    item = fastrlp.decode(data)
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
    )


# -- EVM blocks -----------------------------------------------------------------------------
def encode_evm_block(block: EvmBlock) -> bytes:
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
    from sequencer.execution.headers import decode_header

    version, header_rlp, tx_hashes, first, last_plus_one, sealed_at = fastrlp.decode(data)
    if _int(version) != CODEC_VERSION:
        raise ValueError(f"unsupported block encoding version {_int(version)}")
    h = decode_header(header_rlp)
    return EvmBlock(
        number=h.block_number,
        hash=keccak(header_rlp),
        parent_hash=h.parent_hash,
        timestamp=h.timestamp,
        state_root=h.state_root,
        transactions_root=h.transaction_root,
        receipts_root=h.receipt_root,
        logs_bloom=h.bloom.to_bytes(256, "big"),
        gas_used=h.gas_used,
        gas_limit=h.gas_limit,
        base_fee=h.base_fee_per_gas or 0,
        coinbase=h.coinbase,
        prev_randao=h.mix_hash,
        header_rlp=header_rlp,
        tx_hashes=tuple(tx_hashes),
        first_mini_block=_int(first),
        last_mini_block=_int(last_plus_one) - 1,
        sealed_at_us=_int(sealed_at),
    )


_LOC = struct.Struct(">QQII")


def encode_location(loc: TxLocation) -> bytes:
    return _LOC.pack(loc.block_number, loc.mini_block_number, loc.index_in_block, loc.index_in_mini_block)


def decode_location(data: bytes) -> TxLocation:
    return TxLocation(*_LOC.unpack(data))
