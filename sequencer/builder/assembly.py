"""Block assembly: receipts from execution outcomes, mini-blocks, and the sealed EVM block.

Pure functions over typed values, plus :class:`OpenBlock`, the accumulator of the EVM block
being built: its transactions and receipts tries grow mini-block by mini-block (so sealing only
finishes their hashing), with its gas, bloom and transaction and log counters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sequencer import fastrlp
from sequencer.codec import mini_block_hash
from sequencer.execution.engine import TxOutcome
from sequencer.execution.headers import make_header
from sequencer.trie.mpt import MerklePatriciaTrie
from sequencer.types import BlockEnv, DevEdit, EvmBlock, MiniBlock, PendingBlock, Receipt, StateDiff


class OpenBlock:
    """The EVM block being built: its environment and what its mini-blocks add up to so far."""

    def __init__(self, env: BlockEnv, minis: Sequence[MiniBlock] = ()) -> None:
        self.env = env
        self.mini_count = 0
        self.tx_count = 0
        self.log_count = 0
        self.gas_used = 0
        self.bloom = 0
        self.first_mini: int | None = None
        self.tx_hashes: list[bytes] = []
        self._tx_trie = MerklePatriciaTrie()
        self._receipt_trie = MerklePatriciaTrie()
        for mb in minis:
            self.add(mb)

    def add(self, mb: MiniBlock) -> None:
        """A sealed mini-block of this block joins it."""
        if self.first_mini is None:
            self.first_mini = mb.number
        index = self.tx_count
        for raw, receipt in zip(mb.raw_txs, mb.receipts, strict=True):
            key = fastrlp.encode(index)
            self._tx_trie.set(key, raw)
            self._receipt_trie.set(key, receipt.encoded)
            index += 1
            if receipt.logs:
                self.log_count += len(receipt.logs)
                self.bloom |= int.from_bytes(receipt.bloom, "big")
        self.tx_count = index
        self.tx_hashes.extend(mb.tx_hashes)
        self.gas_used += mb.gas_used
        self.mini_count += 1

    def hash_pending(self) -> None:
        """Hash the tries' new paths now (after a mini-block is out), rather than all at the seal."""
        self._tx_trie.root_hash()
        self._receipt_trie.root_hash()

    def roots(self) -> tuple[bytes, bytes]:
        """The transactions root and the receipts root."""
        return self._tx_trie.root_hash(), self._receipt_trie.root_hash()

    def pending(self, next_mini: int, state_root: bytes) -> PendingBlock:
        """The block as it stands, for readers (``next_mini``: the next mini-block's number)."""
        tx_root, receipts_root = self.roots()
        return PendingBlock(
            env=self.env,
            first_mini_block=self.first_mini if self.first_mini is not None else next_mini,
            mini_block_count=self.mini_count,
            tx_hashes=tuple(self.tx_hashes),
            gas_used=self.gas_used,
            logs_bloom=self.bloom.to_bytes(256, "big"),
            transactions_root=tx_root,
            receipts_root=receipts_root,
            state_root=state_root,
        )


def make_receipts(
    outcomes: Sequence[TxOutcome], block: OpenBlock, mini_block_number: int
) -> tuple[Receipt, ...]:
    """The receipts of a mini-block's transactions, indexed within the open block."""
    receipts = []
    log_index = block.log_count
    for i, o in enumerate(outcomes):
        tx = o.tx
        receipts.append(
            Receipt(
                tx_hash=tx.hash,
                tx_type=tx.type,
                sender=tx.sender,
                to=tx.to,
                status=o.status,
                gas_used=o.gas_used,
                cumulative_gas_used=o.cumulative_gas_used,
                effective_gas_price=o.effective_gas_price,
                logs=o.logs,
                bloom=o.bloom,
                contract_address=o.contract_address,
                block_number=block.env.number,
                mini_block_number=mini_block_number,
                tx_index=block.tx_count + i,
                first_log_index=log_index,
                encoded=o.encoded_receipt,
                deposit_nonce=o.deposit_nonce,
            )
        )
        log_index += len(o.logs)
    return tuple(receipts)


def make_mini_block(
    *,
    number: int,
    parent_hash: bytes,
    block: OpenBlock,
    timestamp_us: int,
    outcomes: Sequence[TxOutcome],
    diff: StateDiff,
    dev_edits: tuple[DevEdit, ...] = (),
) -> MiniBlock:
    """The next mini-block of ``block``, from its executed transactions and their state diff
    (and, on a devnet, the state edits it carries)."""
    unhashed = MiniBlock(
        number=number,
        block_number=block.env.number,
        index=block.mini_count,
        timestamp_us=timestamp_us,
        parent_hash=parent_hash,
        hash=b"",
        block_env=block.env,
        raw_txs=tuple(o.tx.raw for o in outcomes),
        tx_hashes=tuple(o.tx.hash for o in outcomes),
        receipts=make_receipts(outcomes, block, number),
        diff=diff,
        gas_used=sum(o.gas_used for o in outcomes),
        dev_edits=dev_edits,
    )
    return dataclasses.replace(unhashed, hash=mini_block_hash(unhashed))


def seal_block(block: OpenBlock, *, state_root: bytes, next_mini: int, sealed_at_us: int) -> EvmBlock:
    """The sealed EVM block: a standard Prague header over ``block``'s mini-blocks.

    ``next_mini`` is the number the next mini-block would get (an empty block's range starts
    there and is empty).
    """
    env = block.env
    tx_root, receipts_root = block.roots()
    header_rlp, block_hash = make_header(
        number=env.number,
        parent_hash=env.parent_hash,
        coinbase=env.coinbase,
        state_root=state_root,
        transactions_root=tx_root,
        receipts_root=receipts_root,
        logs_bloom=block.bloom,
        gas_limit=env.gas_limit,
        gas_used=block.gas_used,
        timestamp=env.timestamp,
        prev_randao=env.prev_randao,
        base_fee=env.base_fee,
    )
    first = block.first_mini if block.first_mini is not None else next_mini
    return EvmBlock(
        number=env.number,
        hash=block_hash,
        parent_hash=env.parent_hash,
        timestamp=env.timestamp,
        state_root=state_root,
        transactions_root=tx_root,
        receipts_root=receipts_root,
        logs_bloom=block.bloom.to_bytes(256, "big"),
        gas_used=block.gas_used,
        gas_limit=env.gas_limit,
        base_fee=env.base_fee,
        coinbase=env.coinbase,
        prev_randao=env.prev_randao,
        header_rlp=header_rlp,
        tx_hashes=tuple(block.tx_hashes),
        first_mini_block=first,
        last_mini_block=first + block.mini_count - 1,
        sealed_at_us=sealed_at_us,
    )
