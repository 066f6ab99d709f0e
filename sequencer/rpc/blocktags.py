"""Block parameters: what a tag, a number or a hash (EIP-1898) means for each kind of query.

* State queries (balance, nonce, code, storage, call, estimateGas) with ``latest``, ``pending``,
  ``safe`` or ``finalized`` read the state after the newest sealed mini-block, in the
  environment the next transaction meets (the open block's, or the next block's); ``earliest``
  is genesis; a block number or hash reads the state after that EVM block from the history
  tables, in that block's environment; the open block's number reads the newest state.
* Block queries with ``latest``/``safe``/``finalized``/``pending`` name the newest sealed EVM
  block; ``earliest`` is block 0.
* With L1 settlement on (``sequencer run --l1``), ``safe`` and ``finalized`` name the newest block
  derivable from L1 and from finalized L1 (OP's definitions, :func:`settled_block`), for block
  and state queries alike: a state query reads the state after that block.
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


def settled_block(chain: Chain, tag: str | None) -> EvmBlock | None:
    """The block ``safe`` or ``finalized`` names when the chain settles on L1; ``None`` otherwise."""
    number = chain.safe_number if tag == "safe" else chain.finalized_number if tag == "finalized" else None
    return chain.get_block(number) if number is not None else None


def state_view(chain: Chain, ref: BlockRef) -> StateView:
    """The state and environment a state query with ``ref`` reads (see the module docstring)."""
    head = chain.head
    settled = settled_block(chain, ref.tag)
    newest = ref.tag is not None and ref.tag != "earliest" and settled is None
    if newest or (ref.number is not None and ref.number == head.number + 1):
        return StateView(chain.world, chain.next_env(), list(chain.prev_hashes))
    block = settled or resolve_block(chain, ref)
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
        return chain.get_block(0) if ref.tag == "earliest" else settled_block(chain, ref.tag) or chain.head
    assert ref.number is not None
    return chain.get_block(ref.number)


def block_number_param(chain: Chain, value: Any, name: str) -> int:
    """A block number or tag (no hash) as a number: ``earliest`` 0, other tags the head."""
    ref = parse_block_ref(value, name)
    if ref.hash is not None:
        raise InvalidParams(f"invalid {name}: a block hash is not allowed here")
    if ref.tag is not None:
        settled = settled_block(chain, ref.tag)
        return 0 if ref.tag == "earliest" else settled.number if settled is not None else chain.head.number
    assert ref.number is not None
    return ref.number


def block_param(chain: Chain, value: Any, name: str) -> EvmBlock | None:
    """The block a number or tag (no hash) names, or ``None``."""
    ref = parse_block_ref(value, name)
    if ref.hash is not None:
        raise InvalidParams(f"invalid {name}: expected a block number or tag")
    return resolve_block(chain, ref)
