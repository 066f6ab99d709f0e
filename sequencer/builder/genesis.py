"""Genesis: the allocation as a state diff, the genesis header, and start-up from disk."""

from __future__ import annotations

import logging
import time

from eth_hash.auto import keccak

from sequencer.chain import Chain
from sequencer.config import ChainConfig
from sequencer.errors import StorageError
from sequencer.execution.headers import make_genesis_header
from sequencer.storage.durable import ChainDB
from sequencer.storage.store import u64
from sequencer.trie.mpt import EMPTY_ROOT
from sequencer.trie.state import StateTrie
from sequencer.types import AccountDiff, EvmBlock, StateDiff

log = logging.getLogger("sequencer.genesis")
EMPTY_CODE_HASH = keccak(b"")


def genesis_diff(chain: ChainConfig) -> StateDiff:
    return StateDiff(
        tuple(
            AccountDiff(
                address=a.address,
                nonce=a.nonce,
                balance=a.balance,
                code_hash=keccak(a.code) if a.code else EMPTY_CODE_HASH,
                code=a.code or None,
                storage=tuple((s, v) for s, v in a.storage if v),
                deleted=False,
            )
            for a in chain.genesis
        )
    )


def genesis_block(chain: ChainConfig, state_root: bytes) -> EvmBlock:
    header_rlp, block_hash = make_genesis_header(
        gas_limit=chain.block_gas_limit,
        timestamp=chain.genesis_timestamp,
        base_fee=chain.initial_base_fee,
        state_root=state_root,
    )
    return EvmBlock(
        number=0,
        hash=block_hash,
        parent_hash=b"\x00" * 32,
        timestamp=chain.genesis_timestamp,
        state_root=state_root,
        transactions_root=EMPTY_ROOT,
        receipts_root=EMPTY_ROOT,
        logs_bloom=b"\x00" * 256,
        gas_used=0,
        gas_limit=chain.block_gas_limit,
        base_fee=chain.initial_base_fee,
        coinbase=b"\x00" * 20,
        prev_randao=b"\x00" * 32,
        header_rlp=header_rlp,
        tx_hashes=(),
        first_mini_block=0,
        last_mini_block=-1,
        sealed_at_us=time.time_ns() // 1000,
    )


def load_chain(config: ChainConfig, db: ChainDB) -> tuple[Chain, StateTrie]:
    """Open the chain in ``db`` (already recovered), writing genesis first if the data dir is new."""
    store = db.index
    diff = genesis_diff(config)
    trie = StateTrie()
    trie.apply_diff(diff)
    expected_genesis = genesis_block(config, trie.root())
    if not store.is_initialized():
        db.commit_genesis(expected_genesis, diff, config.chain_id)
        log.info(
            "genesis written hash=0x%s state_root=0x%s",
            expected_genesis.hash.hex(),
            expected_genesis.state_root.hex(),
        )
    else:
        stored_chain_id = store.get_meta("chain_id")
        if stored_chain_id != u64(config.chain_id):
            raise StorageError(
                f"data dir {store.path} belongs to chain id "
                f"{int.from_bytes(stored_chain_id or b'', 'big')}, config says {config.chain_id}"
            )
        if store.get_meta("genesis_hash") != expected_genesis.hash:
            raise StorageError(
                f"data dir {store.path} was created from a different genesis than the config's"
            )

    world = store.load_state()
    chain = Chain(store, world, config.chain_id)
    head_number = store.head_block_number()
    if head_number is None:
        raise StorageError(f"data dir {store.path} has no blocks")
    head = store.get_block(head_number)
    assert head is not None
    chain.head_block = head
    for n in range(head_number, max(-1, head_number - 256), -1):
        block = store.get_block(n) if n != head_number else head
        if block is None:
            raise StorageError(f"block {n} is missing from {store.path}")
        chain.prev_hashes.append(block.hash)

    trie = StateTrie()
    for address, record in world.accounts.items():
        trie.set_account(address, record.nonce, record.balance, record.code_hash)
    for address, slots in world.storage.items():
        for slot, value in slots.items():
            trie.set_storage(address, slot, value)

    head_mini_number = store.head_mini_block_number()
    if head_mini_number is not None and head_mini_number > head.last_mini_block:
        minis = list(store.iter_mini_blocks(head.last_mini_block + 1, head_mini_number))
        if not minis or minis[0].number != head.last_mini_block + 1:
            raise StorageError("mini-blocks after the head block are not contiguous")
        chain.open_env = minis[0].block_env
        for mb in minis:
            if mb.block_number != head.number + 1:
                raise StorageError(
                    f"mini-block {mb.number} belongs to block {mb.block_number}, expected {head.number + 1}"
                )
            chain.publish_mini_block(mb)
        log.info("resuming open block number=%d mini_blocks=%d", head.number + 1, len(minis))
    else:
        root = trie.root()
        if root != head.state_root:
            raise StorageError(
                f"state on disk does not match block {head.number}: root 0x{root.hex()} "
                f"!= header 0x{head.state_root.hex()}"
            )
        if head_mini_number is not None:
            chain.head_mini = store.get_mini_block(head_mini_number)
    return chain, trie
