"""Block 0 from the chain config alone: the genesis state on py-evm and its header.

The generated accounts (``chain.generated_accounts``) are funded as the sequencer funds them:
:data:`GENERATED_BALANCE` each at ``keccak(GENERATED_DOMAIN ++ index as 8 bytes)[12:]``, then the
configured accounts on top. The sequencer's own definition is ``sequencer/genesis.py``; this is
a deliberate copy (the verifier does not import the sequencer's execution path), and a drift
would show as a genesis hash other than the settlement file's.
"""

from __future__ import annotations

from typing import Any

from sequencer.config import ChainConfig
from verifier.derivation.blocks import L2Head
from verifier.execution import Executor, Header, encode_header, keccak, trie_root

GENERATED_DOMAIN = b"sequencer/generated-account/"
GENERATED_BALANCE = 10**21


def _alloc(chain: ChainConfig) -> list[dict[str, Any]]:
    return [
        {
            "address": "0x" + a.address.hex(),
            "balance": hex(a.balance),
            "nonce": hex(a.nonce),
            "code": "0x" + a.code.hex(),
            "storage": [[hex(slot), hex(value)] for slot, value in a.storage],
        }
        for a in chain.genesis
    ]


def build_genesis(executor: Executor, chain: ChainConfig) -> L2Head:
    """Write the genesis state to the executor's store; block 0."""
    generated = None
    if chain.generated_accounts:
        generated = {
            "domain": "0x" + GENERATED_DOMAIN.hex(),
            "balance": hex(GENERATED_BALANCE),
            "count": hex(chain.generated_accounts),
        }
    state_root = executor.genesis(_alloc(chain), generated)
    header = Header(
        number=0,
        parent_hash=b"\x00" * 32,
        state_root=state_root,
        transactions_root=trie_root([]),
        receipts_root=trie_root([]),
        bloom=0,
        gas_used=0,
        timestamp=chain.genesis_timestamp,
        base_fee=chain.initial_base_fee,
        gas_limit=chain.block_gas_limit,
        coinbase=b"\x00" * 20,
        prev_randao=b"\x00" * 32,
    )
    return L2Head(
        0,
        keccak(encode_header(header)),
        state_root,
        chain.genesis_timestamp,
        chain.initial_base_fee,
        0,
        chain.block_gas_limit,
        -1,
    )
