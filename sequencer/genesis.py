"""The genesis of a chain: its allocation as a state diff, its fingerprint and its block.

Everything here is a pure function of the chain config, so the sequencer, the feed's genesis
message and anyone rebuilding the genesis agree on it.
"""

from __future__ import annotations

import time

from eth_hash.auto import keccak

from sequencer import fastrlp
from sequencer.bridge.withdrawals import genesis_allocation, predeploys
from sequencer.config import ChainConfig
from sequencer.execution.headers import make_genesis_header
from sequencer.state import EMPTY_CODE_HASH
from sequencer.trie.mpt import EMPTY_ROOT
from sequencer.types import AccountDiff, EvmBlock, StateDiff

GENERATED_BALANCE = 10**21  # 1,000 ether
GENERATED_DOMAIN = b"sequencer/generated-account/"


def generated_address(index: int) -> bytes:
    """The address of generated genesis account ``index`` (``--accounts``): a hash, not a key."""
    return keccak(GENERATED_DOMAIN + index.to_bytes(8, "big"))[12:]


def genesis_diff(chain: ChainConfig) -> StateDiff:
    """The genesis allocation (configured accounts and the predeploys, then generated ones) in
    canonical order."""
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
        for a in genesis_allocation(chain.genesis)
    }
    for i in range(chain.generated_accounts):
        address = generated_address(i)
        if address not in accounts:
            accounts[address] = AccountDiff(address, 0, GENERATED_BALANCE, EMPTY_CODE_HASH, None, (), False)
    return StateDiff(tuple(accounts[a] for a in sorted(accounts)))


def genesis_timestamp(chain: ChainConfig) -> int:
    """Block 0's timestamp; the config's ``None`` must have been resolved by start-up first."""
    if chain.genesis_timestamp is None:
        raise ValueError("the genesis timestamp is resolved when the data dir is opened")
    return chain.genesis_timestamp


def genesis_spec_hash(chain: ChainConfig, *, devnet: bool | None = None) -> bytes:
    """A fingerprint of the chain's identity: everything the genesis block is made of, and
    whether the chain is a devnet (``chain.devnet`` allows developer features such as the
    ``--dev-fault`` fire drill, so a data dir made for a production chain must never be opened
    as a devnet). A restart compares it instead of rebuilding the genesis state (which takes
    seconds with a million generated accounts). ``devnet`` overrides the config's flag (to
    tell a flipped flag from another genesis)."""
    flag = chain.devnet if devnet is None else devnet
    return keccak(fastrlp.encode([b"genesis-spec/2", *_genesis_fields(chain), 1 if flag else 0]))


def genesis_spec_hash_v1(chain: ChainConfig) -> bytes:
    """The fingerprint data dirs recorded before ``devnet`` was part of it (without it)."""
    return keccak(fastrlp.encode([b"genesis-spec/1", *_genesis_fields(chain)]))


def _genesis_fields(chain: ChainConfig) -> list[object]:
    alloc = [[a.address, a.balance, a.nonce, a.code, [list(x) for x in a.storage]] for a in chain.genesis]
    return [
        chain.chain_id,
        chain.block_gas_limit,
        genesis_timestamp(chain),
        chain.initial_base_fee,
        alloc,
        chain.generated_accounts,
        GENERATED_BALANCE,
        [[p.address, p.code] for p in predeploys()],
    ]


def genesis_block(chain: ChainConfig, state_root: bytes) -> EvmBlock:
    """Block 0 over a genesis state with root ``state_root``."""
    timestamp = genesis_timestamp(chain)
    header_rlp, block_hash = make_genesis_header(
        gas_limit=chain.block_gas_limit,
        timestamp=timestamp,
        base_fee=chain.initial_base_fee,
        state_root=state_root,
    )
    return EvmBlock(
        number=0,
        hash=block_hash,
        parent_hash=b"\x00" * 32,
        timestamp=timestamp,
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
