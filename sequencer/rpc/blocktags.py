"""Block parameters: what a tag, a number or a hash (EIP-1898) means for each kind of query
(the two-tier model, docs/rpc.md "Block tags").

* State queries (balance, nonce, code, storage, call, estimateGas) with ``latest``, ``pending``,
  ``safe`` or ``finalized`` read the state after the newest sealed mini-block, in the
  environment the next transaction meets (the open block's, or the next block's); ``earliest``
  is genesis; a sealed block's number or hash reads the state after that EVM block from the
  history tables, in that block's environment. The open block's number reads the state
  *before* it (MegaETH's answer: that block is not sealed yet), in its environment.
* Block queries with ``latest``/``safe``/``finalized`` name the newest sealed EVM block;
  ``pending``, the open block's number and the placeholder hash its transactions carry
  (:data:`~sequencer.types.PENDING_HASH`) name the open block as it stands
  (:class:`~sequencer.types.PendingBlock`: no hash yet); ``earliest`` is block 0.
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
from sequencer.types import PENDING_HASH, BlockEnv, EvmBlock, PendingBlock

AnyBlock = EvmBlock | PendingBlock


@dataclass(frozen=True, slots=True)
class StateView:
    """The state a query reads, and the block context a call runs in."""

    state: StateReader
    env: BlockEnv
    prev_hashes: list[bytes]
    seq: int
    """The history position of ``state`` (``n + 1`` after mini-block ``n``): how a call worker
    with its own view of the store names the same state."""


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
    if ref.tag is not None and ref.tag != "earliest" and settled is None:
        return StateView(chain.world, chain.next_env(), list(chain.prev_hashes), chain.head_mini_number + 1)
    if ref.number is not None and ref.number == head.number + 1:
        # the open block: the state before it (after the head), in its environment
        seq = head.last_mini_block + 1
        return StateView(_state_after(chain, head), chain.next_env(), list(chain.prev_hashes), seq)
    block = settled or resolve_sealed(chain, ref)
    if block is None:
        if ref.hash is not None:
            raise BlockNotFound(f"block 0x{ref.hash.hex()} not found")
        raise BlockNotFound(f"block {ref.number} not found: the newest block is {head.number}")
    return StateView(
        _state_after(chain, block),
        env_of(block),
        chain.recent_hashes(block.number),
        block.last_mini_block + 1,
    )


def _state_after(chain: Chain, block: EvmBlock) -> StateReader:
    seq = block.last_mini_block + 1
    if seq == chain.head_mini_number + 1:
        return chain.world
    return HistoricalState(chain.store, seq)


def resolve_sealed(chain: Chain, ref: BlockRef) -> EvmBlock | None:
    """The sealed block ``ref`` names (``pending`` names the newest sealed one here), or ``None``."""
    if ref.hash is not None:
        return chain.get_block_by_hash(ref.hash)
    if ref.tag is not None:
        return chain.get_block(0) if ref.tag == "earliest" else settled_block(chain, ref.tag) or chain.head
    assert ref.number is not None
    return chain.get_block(ref.number)


def resolve_block(chain: Chain, ref: BlockRef) -> AnyBlock | None:
    """The block a block query with ``ref`` names: a sealed block, the open block (``pending``,
    or its number), or ``None``."""
    if ref.tag == "pending" or (ref.number is not None and ref.number == chain.head.number + 1):
        pending = chain.pending_block()
        if pending is not None:
            return pending
        return chain.head if ref.tag == "pending" else None
    return resolve_sealed(chain, ref)


def block_by_hash(chain: Chain, block_hash: bytes) -> AnyBlock | None:
    """The block a block query by ``block_hash`` names: a sealed one, or the open one by the
    placeholder hash its transactions, receipts and logs carry."""
    if block_hash == PENDING_HASH:
        return chain.pending_block()
    return chain.get_block_by_hash(block_hash)


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


def block_param(chain: Chain, value: Any, name: str) -> AnyBlock | None:
    """The block a number or tag (no hash) names, or ``None``."""
    ref = parse_block_ref(value, name)
    if ref.hash is not None:
        raise InvalidParams(f"invalid {name}: expected a block number or tag")
    return resolve_block(chain, ref)
