"""Block parameters: what a tag, a number or a hash (EIP-1898) means for each kind of query.

* State queries (balance, nonce, code, storage, call, estimateGas) with ``latest``, ``pending``,
  ``safe`` or ``finalized`` read the state after the newest sealed mini-block, in the
  environment the next transaction meets (the open block's, or the next block's); ``earliest``
  is genesis; a block number or hash reads the state after that EVM block from the history
  tables, in that block's environment; the open block's number reads the newest state.
* Block queries with ``latest``/``safe``/``finalized``/``pending`` name the newest sealed EVM
  block; ``earliest`` is block 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sequencer.chain import Chain
from sequencer.errors import BlockNotFound
from sequencer.jsonrpc.encoding import BlockRef, parse_block_ref
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.state import StateReader
from sequencer.storage.history import HistoricalState
from sequencer.types import BlockEnv, EvmBlock


@dataclass(frozen=True, slots=True)
class StateView:
    """The state a query reads, and the block context a call runs in."""

    state: StateReader
    env: BlockEnv
    prev_hashes: list[bytes]


def env_of(block: EvmBlock) -> BlockEnv:
    """The environment a sealed block's transactions ran in."""
    return BlockEnv(
        block.number,
        block.timestamp,
        block.parent_hash,
        block.base_fee,
        block.gas_limit,
        block.coinbase,
        block.prev_randao,
    )


def state_view(chain: Chain, ref: BlockRef) -> StateView:
    """The state and environment a state query with ``ref`` reads (see the module docstring)."""
    head = chain.head
    newest = ref.tag is not None and ref.tag != "earliest"
    if newest or (ref.number is not None and ref.number == head.number + 1):
        return StateView(chain.world, chain.next_env(), list(chain.prev_hashes))
    block = resolve_block(chain, ref)
    if block is None:
        if ref.hash is not None:
            raise BlockNotFound(f"block 0x{ref.hash.hex()} not found")
        raise BlockNotFound(f"block {ref.number} not found: the newest block is {head.number}")
    seq = block.last_mini_block + 1
    prev = chain.recent_hashes(block.number)
    if seq == chain.head_mini_number + 1:
        return StateView(chain.world, env_of(block), prev)
    return StateView(HistoricalState(chain.store, seq), env_of(block), prev)


def resolve_block(chain: Chain, ref: BlockRef) -> EvmBlock | None:
    """The sealed block a block query with ``ref`` names, or ``None``."""
    if ref.hash is not None:
        return chain.get_block_by_hash(ref.hash)
    if ref.tag is not None:
        return chain.get_block(0) if ref.tag == "earliest" else chain.head
    assert ref.number is not None
    return chain.get_block(ref.number)


def block_number_param(chain: Chain, value: Any, name: str) -> int:
    """A block number or tag (no hash) as a number: ``earliest`` 0, other tags the head."""
    ref = parse_block_ref(value, name)
    if ref.hash is not None:
        raise InvalidParams(f"invalid {name}: a block hash is not allowed here")
    if ref.tag is not None:
        return 0 if ref.tag == "earliest" else chain.head.number
    assert ref.number is not None
    return ref.number


def block_param(chain: Chain, value: Any, name: str) -> EvmBlock | None:
    """The block a number or tag (no hash) names, or ``None``."""
    ref = parse_block_ref(value, name)
    if ref.hash is not None:
        raise InvalidParams(f"invalid {name}: expected a block number or tag")
    return resolve_block(chain, ref)
