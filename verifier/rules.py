"""The chain's rules a verifier checks every block against, in the spirit of execution-specs'
``validate_header`` (docs/feed.md, "Environment and header rules").

Everything comes from the verifier's own config (``--config``) and the parent block it verified,
never from the stream: the block number and parent hash follow the parent; the timestamp is
strictly after the parent's and not far in the future (on a devnet, whose clock the dev-chain
controls move ahead, only after the parent's); the base fee follows EIP-1559 from the
parent, never below the configured floor; the gas limit, the coinbase are the configured ones;
``prevRandao`` is the parent's hash (a single sequencer has no beacon chain); gas used is within
the limit; the fields Prague has no use for here (ommers, difficulty, nonce, withdrawals, blobs,
beacon root, requests) hold their empty values.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sequencer.config import ChainConfig
from verifier.header import (
    EMPTY_OMMERS_HASH,
    EMPTY_REQUESTS_HASH,
    EMPTY_TRIE_ROOT,
    ZERO_HASH,
    ZERO_NONCE,
    Header,
)
from verifier.wire import Env

ELASTICITY_MULTIPLIER = 2
BASE_FEE_MAX_CHANGE_DENOMINATOR = 8
MAX_FUTURE_S = 15
"""How far ahead of the verifier's clock a block may be stamped (geth allows 15 s)."""

Problem = tuple[str, str, str]
"""``(field, claimed, expected)``."""


@dataclass(frozen=True, slots=True)
class Parent:
    """What the rules need of the verified parent block."""

    number: int
    hash: bytes
    timestamp: int
    base_fee: int
    gas_used: int
    gas_limit: int


def next_base_fee(parent: Parent, floor: int) -> int:
    """EIP-1559's base fee of the child of ``parent``, never below ``floor``."""
    target = parent.gas_limit // ELASTICITY_MULTIPLIER
    if parent.gas_used == target:
        fee = parent.base_fee
    elif parent.gas_used > target:
        delta = parent.gas_used - target
        fee = parent.base_fee + max(parent.base_fee * delta // target // BASE_FEE_MAX_CHANGE_DENOMINATOR, 1)
    else:
        delta = target - parent.gas_used
        fee = max(parent.base_fee - parent.base_fee * delta // target // BASE_FEE_MAX_CHANGE_DENOMINATOR, 0)
    return max(fee, floor)


def _h(b: bytes) -> str:
    return "0x" + b.hex()


def timestamp_problem(timestamp: int, parent: Parent, now: float | None) -> tuple[str, str] | None:
    """Strictly after the parent's, and no later than the verifier's clock allows (a block may
    also be exactly one second after its parent, however early: blocks shorter than a second
    run ahead of the clock by design). ``now`` None: no bound ahead (a devnet, whose clock the
    dev-chain controls move: ``evm_increaseTime``, ``evm_setNextBlockTimestamp``)."""
    if now is None:
        if timestamp <= parent.timestamp:
            return str(timestamp), f"> {parent.timestamp} (the parent's)"
        return None
    latest = max(parent.timestamp + 1, int(now) + MAX_FUTURE_S)
    if timestamp <= parent.timestamp:
        return str(timestamp), f"> {parent.timestamp} (the parent's)"
    if timestamp > latest:
        return str(timestamp), f"<= {latest} (now + {MAX_FUTURE_S} s)"
    return None


def env_problems(env: Env, parent: Parent, chain: ChainConfig, now: float) -> Iterator[Problem]:
    """Every rule an EVM block's environment breaks, as ``(field, claimed, expected)``."""
    if env.number != parent.number + 1:
        yield "number", str(env.number), str(parent.number + 1)
    if env.parent_hash != parent.hash:
        yield "parentHash", _h(env.parent_hash), _h(parent.hash)
    stamp = timestamp_problem(env.timestamp, parent, None if chain.devnet else now)
    if stamp is not None:
        yield "timestamp", *stamp
    base_fee = next_base_fee(parent, chain.base_fee_floor)
    if env.base_fee != base_fee:
        yield "baseFee", str(env.base_fee), str(base_fee)
    if env.gas_limit != chain.block_gas_limit:
        yield "gasLimit", str(env.gas_limit), str(chain.block_gas_limit)
    if env.coinbase != chain.coinbase:
        yield "coinbase", _h(env.coinbase), _h(chain.coinbase)
    if env.prev_randao != parent.hash:
        yield "prevRandao", _h(env.prev_randao), _h(parent.hash)


def empty_field_problems(header: Header) -> Iterator[Problem]:
    """The Prague fields this chain leaves empty, as ``(field, claimed, expected)``."""
    fixed: tuple[tuple[str, object, object], ...] = (
        ("ommersHash", header.ommers_hash, EMPTY_OMMERS_HASH),
        ("difficulty", header.difficulty, 0),
        ("nonce", header.nonce, ZERO_NONCE),
        ("withdrawalsRoot", header.withdrawals_root, EMPTY_TRIE_ROOT),
        ("blobGasUsed", header.blob_gas_used, 0),
        ("excessBlobGas", header.excess_blob_gas, 0),
        ("parentBeaconBlockRoot", header.parent_beacon_block_root, ZERO_HASH),
        ("requestsHash", header.requests_hash, EMPTY_REQUESTS_HASH),
    )
    for name, claimed, expected in fixed:
        if claimed != expected:
            yield name, _show(claimed), _show(expected)


def header_env(header: Header) -> Env:
    """The environment a header names."""
    return Env(
        header.number,
        header.timestamp,
        header.parent_hash,
        header.base_fee,
        header.gas_limit,
        header.coinbase,
        header.prev_randao,
    )


def _show(value: object) -> str:
    return _h(value) if isinstance(value, bytes) else str(value)


def genesis_header(chain: ChainConfig, state_root: bytes) -> Header:
    """The genesis header of the chain ``chain`` describes, over a state with ``state_root``."""
    return Header(
        parent_hash=ZERO_HASH,
        ommers_hash=EMPTY_OMMERS_HASH,
        coinbase=b"\x00" * 20,
        state_root=state_root,
        transactions_root=EMPTY_TRIE_ROOT,
        receipts_root=EMPTY_TRIE_ROOT,
        logs_bloom=b"\x00" * 256,
        difficulty=0,
        number=0,
        gas_limit=chain.block_gas_limit,
        gas_used=0,
        # unset (a devnet whose launch time is its sequencer's data dir's): the replay takes it
        # from the stream's genesis header
        timestamp=chain.genesis_timestamp if chain.genesis_timestamp is not None else 0,
        extra_data=b"",
        prev_randao=ZERO_HASH,
        nonce=ZERO_NONCE,
        base_fee=chain.initial_base_fee,
        withdrawals_root=EMPTY_TRIE_ROOT,
        blob_gas_used=0,
        excess_blob_gas=0,
        parent_beacon_block_root=ZERO_HASH,
        requests_hash=EMPTY_REQUESTS_HASH,
    )
