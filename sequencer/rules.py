"""The chain's rules that are not EVM semantics: fees, the next block's environment, gas floors.

Pure functions over plain values, in the spirit of execution-specs' ``fork.py``. The block
producer and the RPC's simulated calls use the same :func:`next_block_env`, so a call runs in
the environment its transaction will meet.
"""

from __future__ import annotations

from sequencer.types import BlockEnv, EvmBlock

ELASTICITY_MULTIPLIER = 2
BASE_FEE_MAX_CHANGE_DENOMINATOR = 8
TX_GAS = 21_000
TOTAL_COST_FLOOR_PER_TOKEN = 10  # EIP-7623
STANDARD_TOKEN_COST = 4


def next_base_fee(parent_base_fee: int, parent_gas_used: int, parent_gas_limit: int, floor: int) -> int:
    """EIP-1559's base fee for a child block, never below the chain's configured floor."""
    target = parent_gas_limit // ELASTICITY_MULTIPLIER
    if parent_gas_used == target:
        fee = parent_base_fee
    elif parent_gas_used > target:
        delta = parent_gas_used - target
        change = max(parent_base_fee * delta // target // BASE_FEE_MAX_CHANGE_DENOMINATOR, 1)
        fee = parent_base_fee + change
    else:
        delta = target - parent_gas_used
        change = parent_base_fee * delta // target // BASE_FEE_MAX_CHANGE_DENOMINATOR
        fee = max(parent_base_fee - change, 0)
    return max(fee, floor)


def next_block_env(
    parent: EvmBlock, *, gas_limit: int, coinbase: bytes, base_fee_floor: int, now: int
) -> BlockEnv:
    """The environment of the block after ``parent``, opened at unix time ``now``.

    Its timestamp is ``now``, but always after the parent's; its base fee follows EIP-1559 from
    the parent; ``prevRandao`` is the parent's hash (a single sequencer has no beacon chain).
    """
    return BlockEnv(
        number=parent.number + 1,
        timestamp=max(parent.timestamp + 1, now),
        parent_hash=parent.hash,
        base_fee=next_base_fee(parent.base_fee, parent.gas_used, parent.gas_limit, base_fee_floor),
        gas_limit=gas_limit,
        coinbase=coinbase,
        prev_randao=parent.hash,
    )


def data_floor_gas(data: bytes) -> int:
    """EIP-7623: the minimum gas a transaction pays for its calldata."""
    zeros = data.count(0)
    tokens = zeros + (len(data) - zeros) * STANDARD_TOKEN_COST
    return TX_GAS + TOTAL_COST_FLOOR_PER_TOKEN * tokens
