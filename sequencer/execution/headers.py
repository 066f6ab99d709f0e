"""Standard Ethereum (Prague) block headers: building, encoding and hashing (py-evm adapter)."""

from __future__ import annotations

from hashlib import sha256
from typing import Any

import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_UNCLE_HASH
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth_hash.auto import keccak
from eth_typing import Address, BlockNumber, Hash32

__all__ = ["EMPTY_REQUESTS_HASH", "EMPTY_UNCLE_HASH", "POST_MERGE_NONCE", "ZERO_HASH"]

ZERO_HASH = b"\x00" * 32
POST_MERGE_NONCE = b"\x00" * 8
EMPTY_REQUESTS_HASH = sha256(b"").digest()


def genesis_header_params(
    *, gas_limit: int, timestamp: int, base_fee: int, state_root: bytes
) -> dict[str, Any]:
    """The genesis header fields; also what py-evm's ``Chain.from_genesis`` takes."""
    return {
        "difficulty": 0,
        "block_number": 0,
        "gas_limit": gas_limit,
        "timestamp": timestamp,
        "coinbase": b"\x00" * 20,
        "parent_hash": ZERO_HASH,
        "state_root": state_root,
        "extra_data": b"",
        "mix_hash": ZERO_HASH,
        "nonce": POST_MERGE_NONCE,
        "base_fee_per_gas": base_fee,
        "withdrawals_root": BLANK_ROOT_HASH,
        "blob_gas_used": 0,
        "excess_blob_gas": 0,
        "parent_beacon_block_root": ZERO_HASH,
        "requests_hash": EMPTY_REQUESTS_HASH,
    }


def make_header(
    *,
    number: int,
    parent_hash: bytes,
    coinbase: bytes,
    state_root: bytes,
    transactions_root: bytes,
    receipts_root: bytes,
    logs_bloom: int,
    gas_limit: int,
    gas_used: int,
    timestamp: int,
    prev_randao: bytes,
    base_fee: int,
) -> tuple[bytes, bytes]:
    """Build a Prague header; returns ``(header_rlp, block_hash)``."""
    header = PragueBlockHeader(
        difficulty=0,
        block_number=BlockNumber(number),
        gas_limit=gas_limit,
        timestamp=timestamp,
        coinbase=Address(coinbase),
        parent_hash=Hash32(parent_hash),
        uncles_hash=EMPTY_UNCLE_HASH,
        state_root=Hash32(state_root),
        transaction_root=Hash32(transactions_root),
        receipt_root=Hash32(receipts_root),
        bloom=logs_bloom,
        gas_used=gas_used,
        extra_data=b"",
        mix_hash=Hash32(prev_randao),
        nonce=POST_MERGE_NONCE,
        base_fee_per_gas=base_fee,
        withdrawals_root=BLANK_ROOT_HASH,
        blob_gas_used=0,
        excess_blob_gas=0,
        parent_beacon_block_root=Hash32(ZERO_HASH),
        requests_hash=Hash32(EMPTY_REQUESTS_HASH),
    )
    encoded = rlp.encode(header)
    return encoded, keccak(encoded)


def make_genesis_header(
    *, gas_limit: int, timestamp: int, base_fee: int, state_root: bytes
) -> tuple[bytes, bytes]:
    """The genesis block's header; returns ``(header_rlp, block_hash)``."""
    params = genesis_header_params(
        gas_limit=gas_limit, timestamp=timestamp, base_fee=base_fee, state_root=state_root
    )
    header = PragueBlockHeader(**params)
    encoded = rlp.encode(header)
    return encoded, keccak(encoded)
