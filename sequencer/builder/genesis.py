"""Genesis: the allocation as a state diff, the genesis header, and start-up from disk."""

from __future__ import annotations

import logging
import time

from eth_hash.auto import keccak

from sequencer import fastrlp
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


GENERATED_BALANCE = 10**21  # 1,000 ether
GENERATED_DOMAIN = b"sequencer/generated-account/"


def generated_address(index: int) -> bytes:
    """The address of generated genesis account ``index`` (``--accounts``): a hash, not a key."""
    return keccak(GENERATED_DOMAIN + index.to_bytes(8, "big"))[12:]


def genesis_diff(chain: ChainConfig) -> StateDiff:
    """The genesis allocation (configured accounts, then generated ones) in canonical order."""
    accounts = {
        a.address: AccountDiff(
            address=a.address,
            nonce=a.nonce,
            balance=a.balance,
            code_hash=keccak(a.code) if a.code else EMPTY_CODE_HASH,
            code=a.code or None,
            storage=tuple((s, v) for s, v in a.storage if v),
            deleted=False,
        )
        for a in chain.genesis
    }
    for i in range(chain.generated_accounts):
        address = generated_address(i)
        if address not in accounts:
            accounts[address] = AccountDiff(address, 0, GENERATED_BALANCE, EMPTY_CODE_HASH, None, (), False)
    return StateDiff(tuple(accounts[a] for a in sorted(accounts)))


def genesis_spec_hash(chain: ChainConfig) -> bytes:
    """A fingerprint of everything the genesis block is made of: a restart compares it instead
    of rebuilding the genesis state (which takes seconds with a million generated accounts)."""
    alloc = [[a.address, a.balance, a.nonce, a.code, [list(x) for x in a.storage]] for a in chain.genesis]
    return keccak(
        fastrlp.encode(
            [
                b"genesis-spec/1",
                chain.chain_id,
                chain.block_gas_limit,
                chain.genesis_timestamp,
                chain.initial_base_fee,
                alloc,
                chain.generated_accounts,
                GENERATED_BALANCE,
            ]
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
    fresh_trie: StateTrie | None = None
    spec = genesis_spec_hash(config)
    if not store.is_initialized():
        if config.generated_accounts:
            log.info("building genesis with %d generated accounts", config.generated_accounts)
        diff = genesis_diff(config)
        fresh_trie = StateTrie()
        fresh_trie.apply_diff(diff)
        expected_genesis = genesis_block(config, fresh_trie.root())
        db.commit_genesis(expected_genesis, diff, config.chain_id)
        store.put_meta("genesis_spec", spec)
        del diff
        log.info(
            "genesis written hash=0x%s state_root=0x%s accounts=%d",
            expected_genesis.hash.hex(),
            expected_genesis.state_root.hex(),
            len(fresh_trie),
        )
    else:
        stored_chain_id = store.get_meta("chain_id")
        if stored_chain_id != u64(config.chain_id):
            raise StorageError(
                f"data dir {store.path} belongs to chain id "
                f"{int.from_bytes(stored_chain_id or b'', 'big')}, config says {config.chain_id}"
            )
        stored_spec = store.get_meta("genesis_spec")
        if stored_spec is not None:
            same = stored_spec == spec
        else:  # a data dir from before the fingerprint: rebuild the genesis to compare
            trie = StateTrie()
            trie.apply_diff(genesis_diff(config))
            same = store.get_meta("genesis_hash") == genesis_block(config, trie.root()).hash
            del trie
            if same:
                store.put_meta("genesis_spec", spec)
        if not same:
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

    if fresh_trie is not None and head_number == 0:
        trie = fresh_trie  # the state is the genesis state just built
    else:
        fresh_trie = None
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
