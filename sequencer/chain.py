"""The node's view of its chain: sealed EVM blocks, the open block's mini-blocks, and state.

Only the block producer mutates it, and only after the data is durable; the RPC layer, the
mempool and the feed read it.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from sequencer.config import ChainConfig
from sequencer.rules import next_base_fee, next_block_env
from sequencer.state import WorldState
from sequencer.storage.store import ChainStore
from sequencer.types import PENDING_HASH, BlockEnv, EvmBlock, MiniBlock, PendingBlock, Receipt

MAX_PREV_HASHES = 256
MINI_CACHE_SIZE = 4096


class ChainClock:
    """Unix seconds as the chain's new blocks see them: the wall clock plus a devnet offset
    (``evm_increaseTime``), and a one-shot timestamp for the next block to open
    (``evm_setNextBlockTimestamp``). On every other chain the offset stays 0."""

    def __init__(self) -> None:
        self.offset = 0
        self.next_timestamp: int | None = None

    def now(self) -> int:
        """The chain's "now"."""
        return int(time.time()) + self.offset

    def block_time(self) -> int:
        """The time the next block opens at (the one-shot timestamp if set)."""
        return self.next_timestamp if self.next_timestamp is not None else self.now()


@dataclass(frozen=True, slots=True)
class ReceiptView:
    """A receipt as served: with its block's hash, environment and the raw transaction."""

    receipt: Receipt
    block_hash: bytes
    """The EVM block's hash, or ``PENDING_HASH`` while that block is still open."""
    env: BlockEnv
    """The EVM block's environment (number, timestamp, base fee...), known when it opened."""
    raw_tx: bytes


class Chain:
    """Sealed blocks (the head), the open block's published mini-blocks, and the newest state."""

    def __init__(self, store: ChainStore, world: WorldState, config: ChainConfig) -> None:
        self.store = store
        self.world = world
        self.config = config
        self.chain_id = config.chain_id
        self.head_block: EvmBlock | None = None
        self.open_env: BlockEnv | None = None
        self.open_minis: list[MiniBlock] = []
        self.head_mini: MiniBlock | None = None
        self._pending_view: Callable[[], PendingBlock] | None = None
        self._pending_cache: PendingBlock | None = None
        self.prev_hashes: deque[bytes] = deque(maxlen=MAX_PREV_HASHES)
        self._mini_cache: OrderedDict[int, MiniBlock] = OrderedDict()
        self.clock = ChainClock()
        self.nonce_lowered = False
        """A devnet edit (``anvil_setNonce``) set an account's nonce below its own in this process:
        an included transaction may then pass admission's nonce rule again (``mempool/admission``)."""
        self.safe_number: int | None = None
        """The newest block derivable from L1 (``safe``); ``None`` without L1 settlement."""
        self.finalized_number: int | None = None
        """The newest block derivable from finalized L1 (``finalized``); ``None`` without settlement."""

    # -- devnet rollback (block producer only) ------------------------------------------------
    def roll_back_to(self, block: EvmBlock) -> None:
        """The chain after ``block`` is gone (already so in the store): ``block`` is the head,
        no block is open, and the newest mini-block is ``block``'s last one (or an earlier
        block's)."""
        self.head_block = block
        self.open_env = None
        self.open_minis = []
        self._mini_cache.clear()
        self._pending_cache = None
        self.prev_hashes.clear()
        for n in range(block.number, max(-1, block.number - MAX_PREV_HASHES), -1):
            h = block.hash if n == block.number else self.store.get_block_hash(n)
            if h is None:
                break
            self.prev_hashes.append(h)
        head_mini = self.store.head_mini_block_number()
        self.head_mini = self.store.get_mini_block(head_mini) if head_mini is not None else None

    # -- mutation (block producer only) ------------------------------------------------------
    def publish_mini_block(self, mb: MiniBlock) -> None:
        """A durable mini-block of the open block becomes visible."""
        self.head_mini = mb
        self.open_minis.append(mb)
        self._cache(mb)

    def publish_block(self, block: EvmBlock) -> None:
        """A durable sealed EVM block becomes the head; no block is open until the next one."""
        self.head_block = block
        self.prev_hashes.appendleft(block.hash)
        self.open_env = None
        self.open_minis = []

    def open_block(self, env: BlockEnv) -> None:
        """The next EVM block opens with this environment."""
        self.open_env = env

    def set_settled(self, safe: int, finalized: int) -> None:
        """The settlement's view of L1: blocks up to ``safe`` are derivable from L1, up to
        ``finalized`` from finalized L1 (never beyond the head)."""
        self.safe_number = min(safe, self.head.number)
        self.finalized_number = min(finalized, self.safe_number)

    def follow_open_block(self, view: Callable[[], PendingBlock]) -> None:
        """Where the open block's current view comes from (the producer's accumulator)."""
        self._pending_view = view
        self._pending_cache = None

    def pending_block(self) -> PendingBlock | None:
        """The open EVM block as it stands after its newest mini-block, or ``None``."""
        if self.open_env is None or self._pending_view is None:
            return None
        cached = self._pending_cache
        if cached is None or cached.env != self.open_env or cached.mini_block_count != len(self.open_minis):
            cached = self._pending_cache = self._pending_view()
        return cached

    def _cache(self, mb: MiniBlock) -> None:
        self._mini_cache[mb.number] = mb
        if len(self._mini_cache) > MINI_CACHE_SIZE:
            self._mini_cache.popitem(last=False)

    # -- reads ------------------------------------------------------------------------------
    @property
    def head(self) -> EvmBlock:
        """The newest sealed EVM block."""
        assert self.head_block is not None, "chain not loaded"
        return self.head_block

    @property
    def head_mini_number(self) -> int:
        """The newest published mini-block's number (-1 before the first)."""
        return self.head_mini.number if self.head_mini is not None else -1

    def next_env(self, now: int | None = None) -> BlockEnv:
        """The environment the next transaction meets: the open block's, else the one the next
        block will open with (:func:`~sequencer.rules.next_block_env`, at ``now``)."""
        if self.open_env is not None:
            return self.open_env
        cfg = self.config
        return next_block_env(
            self.head,
            gas_limit=cfg.block_gas_limit,
            coinbase=cfg.coinbase,
            base_fee_floor=cfg.base_fee_floor,
            now=self.clock.block_time() if now is None else now,
        )

    def following_env(self, now: int | None = None) -> BlockEnv:
        """The environment of the block after the open one (the open block's own, when none is
        open yet): a transaction sent now may land there, so calls are estimated in both."""
        env = self.open_env
        if env is None:
            return self.next_env(now)
        now = self.clock.now() if now is None else now
        pending = self.pending_block()
        gas_used = pending.gas_used if pending is not None else 0
        return BlockEnv(
            number=env.number + 1,
            timestamp=max(env.timestamp + 1, now),
            parent_hash=PENDING_HASH,
            base_fee=next_base_fee(env.base_fee, gas_used, env.gas_limit, self.config.base_fee_floor),
            gas_limit=env.gas_limit,
            coinbase=env.coinbase,
            prev_randao=PENDING_HASH,
        )

    def pending_base_fee(self) -> int:
        """The base fee a transaction admitted now will pay at the least."""
        return self.next_env().base_fee

    def recent_hashes(self, number: int) -> list[bytes]:
        """The hashes of the up to 256 blocks before block ``number``, newest first (BLOCKHASH)."""
        if number == self.head.number + 1:
            return list(self.prev_hashes)
        return [
            h
            for n in range(number - 1, max(-1, number - 257), -1)
            if (h := self.store.get_block_hash(n)) is not None
        ]

    def get_mini_block(self, number: int) -> MiniBlock | None:
        """A published mini-block, or ``None``."""
        if number > self.head_mini_number:
            return None  # written but not yet published
        mb = self._mini_cache.get(number)
        if mb is None:
            mb = self.store.get_mini_block(number)
            if mb is not None:
                self._cache(mb)
        return mb

    def get_block(self, number: int) -> EvmBlock | None:
        """A sealed EVM block by number, or ``None``."""
        if number > self.head.number:
            return None
        if number == self.head.number:
            return self.head
        return self.store.get_block(number)

    def get_block_hash(self, number: int) -> bytes | None:
        """The hash of sealed EVM block ``number`` (``None`` while it is open), without decoding the
        block: a receipt lookup needs only this, and decoding a block of thousands of transactions
        for each lookup kept the node busy for seconds after a burst (issue #15)."""
        if number > self.head.number:
            return None
        if number == self.head.number:
            return self.head.hash
        return self.store.get_block_hash(number)

    def get_block_by_hash(self, block_hash: bytes) -> EvmBlock | None:
        """A sealed EVM block by hash, or ``None``."""
        if block_hash == self.head.hash:
            return self.head
        number = self.store.get_block_number_by_hash(block_hash)
        return self.get_block(number) if number is not None else None

    def block_mini_blocks(self, block: EvmBlock | PendingBlock) -> list[MiniBlock]:
        """The mini-blocks of a sealed block (or of the open one, so far), in order."""
        if isinstance(block, PendingBlock):
            return [mb for mb in self.open_minis if mb.block_number == block.number]
        out = []
        for n in range(block.first_mini_block, block.last_mini_block + 1):
            mb = self.get_mini_block(n)
            if mb is None:
                raise LookupError(f"mini-block {n} of block {block.number} is missing")
            out.append(mb)
        return out

    def block_receipts(self, block: EvmBlock | PendingBlock) -> list[tuple[Receipt, bytes]]:
        """(receipt, raw tx) pairs of a sealed block, in order."""
        out: list[tuple[Receipt, bytes]] = []
        for mb in self.block_mini_blocks(block):
            out.extend(zip(mb.receipts, mb.raw_txs, strict=True))
        return out

    def block_transactions(self, block: EvmBlock | PendingBlock) -> list[bytes]:
        """The raw transactions of a sealed block, in order."""
        return [raw for mb in self.block_mini_blocks(block) for raw in mb.raw_txs]

    def find_receipt(self, tx_hash: bytes) -> ReceiptView | None:
        """An included transaction's receipt (``None`` while pooled or unknown)."""
        loc = self.store.get_tx_location(tx_hash)
        if loc is None or loc.mini_block_number > self.head_mini_number:
            return None
        mb = self.get_mini_block(loc.mini_block_number)
        if mb is None:
            return None
        receipt = mb.receipts[loc.index_in_mini_block]
        block_hash = self.get_block_hash(loc.block_number) or PENDING_HASH
        return ReceiptView(receipt, block_hash, mb.block_env, mb.raw_txs[loc.index_in_mini_block])
