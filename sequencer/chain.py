"""The node's view of its chain: sealed EVM blocks, the open block's mini-blocks, and state.

Only the block producer mutates it, and only after the data is durable; the RPC layer reads it.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass

from sequencer.execution.flatdb import WorldState
from sequencer.storage.store import ChainStore
from sequencer.types import ZERO_HASH, BlockEnv, EvmBlock, MiniBlock, Receipt

MAX_PREV_HASHES = 256
MINI_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class ReceiptView:
    receipt: Receipt
    block_hash: bytes
    """The EVM block's hash, or ``ZERO_HASH`` while that block is still open."""
    env: BlockEnv
    """The EVM block's environment (number, timestamp, base fee...), known when it opened."""
    raw_tx: bytes


class Chain:
    def __init__(self, store: ChainStore, world: WorldState, chain_id: int) -> None:
        self.store = store
        self.world = world
        self.chain_id = chain_id
        self.head_block: EvmBlock | None = None
        self.open_env: BlockEnv | None = None
        self.open_minis: list[MiniBlock] = []
        self.head_mini: MiniBlock | None = None
        self.prev_hashes: deque[bytes] = deque(maxlen=MAX_PREV_HASHES)
        self._mini_cache: OrderedDict[int, MiniBlock] = OrderedDict()

    # -- mutation (block producer only) ------------------------------------------------------
    def publish_mini_block(self, mb: MiniBlock) -> None:
        self.head_mini = mb
        self.open_minis.append(mb)
        self._cache(mb)

    def publish_block(self, block: EvmBlock) -> None:
        self.head_block = block
        self.prev_hashes.appendleft(block.hash)
        self.open_env = None
        self.open_minis = []

    def open_block(self, env: BlockEnv) -> None:
        self.open_env = env

    def _cache(self, mb: MiniBlock) -> None:
        self._mini_cache[mb.number] = mb
        if len(self._mini_cache) > MINI_CACHE_SIZE:
            self._mini_cache.popitem(last=False)

    # -- reads ------------------------------------------------------------------------------
    @property
    def head(self) -> EvmBlock:
        assert self.head_block is not None, "chain not loaded"
        return self.head_block

    @property
    def head_mini_number(self) -> int:
        return self.head_mini.number if self.head_mini is not None else -1

    def get_mini_block(self, number: int) -> MiniBlock | None:
        if number > self.head_mini_number:
            return None  # written but not yet published
        mb = self._mini_cache.get(number)
        if mb is None:
            mb = self.store.get_mini_block(number)
            if mb is not None:
                self._cache(mb)
        return mb

    def get_block(self, number: int) -> EvmBlock | None:
        if number > self.head.number:
            return None
        if number == self.head.number:
            return self.head
        return self.store.get_block(number)

    def get_block_by_hash(self, block_hash: bytes) -> EvmBlock | None:
        if block_hash == self.head.hash:
            return self.head
        number = self.store.get_block_number_by_hash(block_hash)
        return self.get_block(number) if number is not None else None

    def block_mini_blocks(self, block: EvmBlock) -> list[MiniBlock]:
        out = []
        for n in range(block.first_mini_block, block.last_mini_block + 1):
            mb = self.get_mini_block(n)
            if mb is None:
                raise LookupError(f"mini-block {n} of block {block.number} is missing")
            out.append(mb)
        return out

    def block_receipts(self, block: EvmBlock) -> list[tuple[Receipt, bytes]]:
        """(receipt, raw tx) pairs of a sealed block, in order."""
        out: list[tuple[Receipt, bytes]] = []
        for mb in self.block_mini_blocks(block):
            out.extend(zip(mb.receipts, mb.raw_txs, strict=True))
        return out

    def find_receipt(self, tx_hash: bytes) -> ReceiptView | None:
        loc = self.store.get_tx_location(tx_hash)
        if loc is None or loc.mini_block_number > self.head_mini_number:
            return None
        mb = self.get_mini_block(loc.mini_block_number)
        if mb is None:
            return None
        receipt = mb.receipts[loc.index_in_mini_block]
        block = self.get_block(loc.block_number)
        block_hash = block.hash if block is not None else ZERO_HASH
        return ReceiptView(receipt, block_hash, mb.block_env, mb.raw_txs[loc.index_in_mini_block])
