"""One L2 block from one batch: its environment, its execution and its standard header.

The environment follows the chain's rules from the parent (``verifier/rules.py``: number + 1,
the batch's timestamp, EIP-1559 base fee with the chain's floor, the config's gas limit and
coinbase, ``prevRandao`` = the parent's hash); the transactions run on the verifier's own flat
state through its py-evm adapter (``verifier/execution/``), as one mini-block; the header is a
standard Prague header (``verifier/header.py``), so the block hash is comparable with the
sequencer's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sequencer.bridge.withdrawals import MESSAGE_PASSER
from sequencer.config import ChainConfig
from verifier.commitments import index_root, keccak, receipt_encoding
from verifier.execution import MiniBlockExecutor
from verifier.header import (
    EMPTY_OMMERS_HASH,
    EMPTY_REQUESTS_HASH,
    EMPTY_TRIE_ROOT,
    ZERO_HASH,
    ZERO_NONCE,
    Header,
)
from verifier.open_block import executed_receipt
from verifier.rules import Parent, next_base_fee
from verifier.state import FlatState
from verifier.wire import Env


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
    message_passer_root: bytes = EMPTY_TRIE_ROOT
    """The storage root of the bridge's message passer after this block (its output root's)."""

    def as_parent(self) -> Parent:
        """What the chain's rules need of it as a parent."""
        return Parent(self.number, self.hash, self.timestamp, self.base_fee, self.gas_used, self.gas_limit)


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


def build_block(
    state: FlatState,
    chain: ChainConfig,
    parent: L2Head,
    recent_hashes: Sequence[bytes],
    timestamp: int,
    transactions: Sequence[bytes],
    epoch_number: int,
) -> Built:
    """The block after ``parent`` with these transactions (``recent_hashes``: newest first, for
    BLOCKHASH). Its state diff is applied to ``state`` only when every transaction is valid."""
    env = Env(
        number=parent.number + 1,
        timestamp=timestamp,
        parent_hash=parent.hash,
        base_fee=next_base_fee(parent.as_parent(), chain.base_fee_floor),
        gas_limit=chain.block_gas_limit,
        coinbase=chain.coinbase,
        prev_randao=parent.hash,
    )
    executor = MiniBlockExecutor(
        state, chain.chain_id, env, recent_hashes, allow_unprotected=chain.allow_unprotected_txs
    )
    executed = executor.run(transactions, 0)
    receipts: list[bytes] = []
    bloom = 0
    gas = 0
    for i, tx in enumerate(executed.txs):
        if not tx.valid:
            return Built(None, InvalidTransaction(i, tx.error or "invalid"))
        encoding, tx_bloom = receipt_encoding(executed_receipt(tx))
        receipts.append(encoding)
        bloom |= tx_bloom
        gas = tx.cumulative_gas_used
    state.apply(executed.diff)
    state_root = state.root()
    header = Header(
        parent_hash=env.parent_hash,
        ommers_hash=EMPTY_OMMERS_HASH,
        coinbase=env.coinbase,
        state_root=state_root,
        transactions_root=index_root(transactions),
        receipts_root=index_root(receipts),
        logs_bloom=bloom.to_bytes(256, "big"),
        difficulty=0,
        number=env.number,
        gas_limit=env.gas_limit,
        gas_used=gas,
        timestamp=timestamp,
        extra_data=b"",
        prev_randao=env.prev_randao,
        nonce=ZERO_NONCE,
        base_fee=env.base_fee,
        withdrawals_root=EMPTY_TRIE_ROOT,
        blob_gas_used=0,
        excess_blob_gas=0,
        parent_beacon_block_root=ZERO_HASH,
        requests_hash=EMPTY_REQUESTS_HASH,
    )
    return Built(
        L2Head(
            env.number,
            keccak(header.encode()),
            state_root,
            timestamp,
            env.base_fee,
            gas,
            env.gas_limit,
            epoch_number,
            len(transactions),
            state.trie.storage_root(MESSAGE_PASSER),
        )
    )
