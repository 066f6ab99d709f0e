"""Start-up: one function opens a data dir and gives back a chain ready to serve and extend.

:func:`open_chain` recovers the data dir (the log is scanned, a torn tail repaired, the index
store caught up or rebuilt: ``storage/durable.py``), writes the genesis into a new data dir or
checks that an existing one was made from the same genesis, loads the flat state, rebuilds the
state trie, checks the state root against the head block, and resumes an open EVM block from
its durable mini-blocks.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

from sequencer.chain import Chain
from sequencer.config import ChainConfig
from sequencer.errors import StorageError
from sequencer.genesis import genesis_block, genesis_diff, genesis_spec_hash, genesis_spec_hash_v1
from sequencer.logs import fields
from sequencer.storage.durable import ChainDB, RecoveryReport
from sequencer.storage.log import SEGMENT_BYTES
from sequencer.storage.store import u64
from sequencer.trie.state import StateTrie

log = logging.getLogger("sequencer.genesis")


@dataclass(frozen=True, slots=True)
class LoadedChain:
    """An opened data dir: its database, what recovery found, the chain and its state trie.

    ``chain.config`` is the config with the genesis timestamp resolved (the data dir's).
    """

    db: ChainDB
    recovery: RecoveryReport
    chain: Chain
    trie: StateTrie


def open_chain(config: ChainConfig, data_dir: str | Path, segment_bytes: int = SEGMENT_BYTES) -> LoadedChain:
    """Open (or create) the data dir of the chain ``config`` describes; see the module docstring.

    Takes the data dir's lock (held until ``db.close()``). Raises
    :class:`~sequencer.errors.StorageError` when the data dir cannot serve this chain, or is in
    use by another process.
    """
    db = ChainDB(Path(data_dir), segment_bytes)
    try:
        recovery = db.recover()
        chain, trie = _load_chain(config, db)
    except BaseException:
        db.close()
        raise
    return LoadedChain(db, recovery, chain, trie)


def _resolve_genesis_timestamp(config: ChainConfig, db: ChainDB) -> ChainConfig:
    """The config with a timestamp for block 0: the configured one, else the one the data dir
    was created with, else (a new data dir) now."""
    if config.genesis_timestamp is not None:
        return config
    genesis = db.index.get_block(0) if db.index.is_initialized() else None
    timestamp = genesis.timestamp if genesis is not None else int(time.time())
    return replace(config, genesis_timestamp=timestamp)


def _load_chain(config: ChainConfig, db: ChainDB) -> tuple[Chain, StateTrie]:
    """Open the chain in ``db`` (already recovered), writing genesis first if the data dir is new."""
    store = db.index
    config = _resolve_genesis_timestamp(config, db)
    fresh_trie: StateTrie | None = None
    spec = genesis_spec_hash(config)
    if not store.is_initialized():
        if config.generated_accounts:
            log.info("building genesis", extra=fields(generated_accounts=config.generated_accounts))
        diff = genesis_diff(config)
        fresh_trie = StateTrie()
        fresh_trie.apply_diff(diff)
        expected_genesis = genesis_block(config, fresh_trie.root())
        db.commit_genesis(expected_genesis, diff, config.chain_id)
        store.put_meta("genesis_spec", spec)
        del diff
        log.info(
            "genesis written",
            extra=fields(
                hash=expected_genesis.hash, state_root=expected_genesis.state_root, accounts=len(fresh_trie)
            ),
        )
    else:
        stored_chain_id = store.get_meta("chain_id")
        if stored_chain_id != u64(config.chain_id):
            raise StorageError(
                f"data dir {store.path} belongs to chain id "
                f"{int.from_bytes(stored_chain_id or b'', 'big')}, config says {config.chain_id}"
            )
        _check_identity(config, db)

    world = store.load_state()
    chain = Chain(store, world, config)
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
        log.info("resuming open block", extra=fields(number=head.number + 1, mini_blocks=len(minis)))
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


def _check_identity(config: ChainConfig, db: ChainDB) -> None:
    """Refuse a config whose chain is not the data dir's: another genesis, or the devnet flag
    flipped (``chain.devnet`` is part of the fingerprint: a production data dir never becomes a
    devnet, so ``--dev-fault`` can never be armed on it). A data dir from before the devnet flag
    was fingerprinted (or before any fingerprint) is upgraded, recording the config's flag."""
    store = db.index
    spec = genesis_spec_hash(config)
    stored = store.get_meta("genesis_spec")
    if stored == spec:
        return
    if stored is not None and stored == genesis_spec_hash(config, devnet=not config.devnet):
        was, says = ("true", "false") if not config.devnet else ("false", "true")
        made = "a devnet" if was == "true" else "a production chain"
        raise StorageError(
            f"data dir {store.path} was created for {made} (chain.devnet = {was}); the config says "
            f"chain.devnet = {says}. The devnet flag is part of the chain's identity and cannot be "
            "changed on an existing data dir"
        )
    if stored is not None:
        same = stored == genesis_spec_hash_v1(config)
    else:  # a data dir from before the fingerprint: rebuild the genesis to compare
        trie = StateTrie()
        trie.apply_diff(genesis_diff(config))
        same = store.get_meta("genesis_hash") == genesis_block(config, trie.root()).hash
        del trie
    if not same:
        raise StorageError(f"data dir {store.path} was created from a different genesis than the config's")
    store.put_meta("genesis_spec", spec)
    log.warning(
        "data dir identity upgraded: chain.devnet recorded in its genesis fingerprint "
        "(it cannot be changed from now on)",
        extra=fields(devnet=config.devnet),
    )
