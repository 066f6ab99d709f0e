"""One L2 block from one batch: its environment, its execution and its standard header.

The environment follows the chain's rules from the parent (number + 1, the batch's timestamp,
EIP-1559 base fee with the chain's floor, the config's gas limit and coinbase, ``prevRandao`` =
the parent's hash); the transactions run on the verifier's own py-evm state; the header is a
standard Prague header, so the block hash is comparable with the sequencer's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sequencer.config import ChainConfig
from verifier.execution import Env, Executor, Header, encode_header, keccak, trie_root

ELASTICITY_MULTIPLIER = 2
BASE_FEE_MAX_CHANGE_DENOMINATOR = 8


@dataclass(frozen=True, slots=True)
class L2Head:
    """A derived L2 block: what the next block and the output roots need of it."""

    number: int
    hash: bytes
    state_root: bytes
    timestamp: int
    base_fee: int
    gas_used: int
    gas_limit: int
    epoch_number: int
    """Its L1 origin's number (-1 for genesis)."""
    txs: int = 0


@dataclass(frozen=True, slots=True)
class InvalidTransaction:
    """A batch transaction that cannot be included: its index and why."""

    index: int
    error: str


@dataclass(frozen=True, slots=True)
class Built:
    """What building a block gave: the block, or the transaction that makes the batch invalid."""

    head: L2Head | None
    invalid: InvalidTransaction | None = None


def next_base_fee(parent_base_fee: int, parent_gas_used: int, parent_gas_limit: int, floor: int) -> int:
    """EIP-1559's base fee of a child block, never below the chain's floor."""
    target = parent_gas_limit // ELASTICITY_MULTIPLIER
    if parent_gas_used == target:
        fee = parent_base_fee
    elif parent_gas_used > target:
        change = max(
            parent_base_fee * (parent_gas_used - target) // target // BASE_FEE_MAX_CHANGE_DENOMINATOR, 1
        )
        fee = parent_base_fee + change
    else:
        change = parent_base_fee * (target - parent_gas_used) // target // BASE_FEE_MAX_CHANGE_DENOMINATOR
        fee = max(parent_base_fee - change, 0)
    return max(fee, floor)


def build_block(
    executor: Executor,
    chain: ChainConfig,
    parent: L2Head,
    recent_hashes: Sequence[bytes],
    timestamp: int,
    transactions: Sequence[bytes],
    epoch_number: int,
) -> Built:
    """The block after ``parent`` with these transactions (``recent_hashes``: newest first, for
    BLOCKHASH). Its state is written to the executor's store; nothing else is kept."""
    env = Env(
        number=parent.number + 1,
        timestamp=timestamp,
        parent_hash=parent.hash,
        base_fee=next_base_fee(parent.base_fee, parent.gas_used, parent.gas_limit, chain.base_fee_floor),
        gas_limit=chain.block_gas_limit,
        coinbase=chain.coinbase,
        prev_randao=parent.hash,
    )
    state = executor.block_state(parent.state_root, env, recent_hashes)
    executed = executor.execute(state, transactions, 0)
    gas = 0
    bloom = 0
    for i, ex in enumerate(executed):
        if not ex.valid:
            return Built(None, InvalidTransaction(i, ex.error or "invalid"))
        gas += ex.gas_used
        if gas > env.gas_limit:
            return Built(None, InvalidTransaction(i, f"block gas limit {env.gas_limit} exceeded"))
        bloom |= ex.bloom
    state_root = executor.commit(state)
    header = Header(
        number=env.number,
        parent_hash=env.parent_hash,
        state_root=state_root,
        transactions_root=trie_root(transactions),
        receipts_root=trie_root([ex.encoded_receipt for ex in executed]),
        bloom=bloom,
        gas_used=gas,
        timestamp=timestamp,
        base_fee=env.base_fee,
        gas_limit=env.gas_limit,
        coinbase=env.coinbase,
        prev_randao=env.prev_randao,
    )
    block_hash = keccak(encode_header(header))
    return Built(
        L2Head(
            env.number,
            block_hash,
            state_root,
            timestamp,
            env.base_fee,
            gas,
            env.gas_limit,
            epoch_number,
            len(transactions),
        )
    )
