"""The genesis a verifier trusts: built from its own config, never from the stream.

The allocation is ``chain.genesis`` and the predeploys (the L2ToL1MessagePasser,
:func:`sequencer.bridge.withdrawals.predeploys`, which wins its address) plus, with
``chain.generated_accounts = N``, N accounts of :data:`GENERATED_BALANCE` at
``keccak(GENERATED_DOMAIN || i as 8 big-endian bytes)[12:]`` (docs/operations.md, "Generated
accounts"; a configured account at the same address wins).
The genesis header follows from it and the config (``verifier/rules.py:genesis_header``), and so
does its hash: a stream whose ``genesis`` names another hash is a verdict, not a new truth.
"""

from __future__ import annotations

from sequencer.bridge.withdrawals import genesis_allocation
from sequencer.config import ChainConfig
from verifier.commitments import keccak
from verifier.header import Header
from verifier.rules import genesis_header
from verifier.state import EMPTY_CODE_HASH, Account, FlatState

GENERATED_BALANCE = 10**21
GENERATED_DOMAIN = b"sequencer/generated-account/"


def generated_address(index: int) -> bytes:
    """The address of generated genesis account ``index``."""
    return keccak(GENERATED_DOMAIN + index.to_bytes(8, "big"))[12:]


def build_genesis(chain: ChainConfig, state: FlatState) -> Header:
    """Fill the empty ``state`` with the genesis allocation; the genesis header."""
    allocation = genesis_allocation(chain.genesis)
    configured = {a.address for a in allocation}
    generated = Account(0, GENERATED_BALANCE, EMPTY_CODE_HASH)
    for i in range(chain.generated_accounts):
        address = generated_address(i)
        if address not in configured:
            state.set_account(address, generated)
    for entry in allocation:
        code_hash = state.add_code(entry.code) if entry.code else EMPTY_CODE_HASH
        state.set_account(entry.address, Account(entry.nonce, entry.balance, code_hash))
        for slot, value in entry.storage:
            if value:
                state.set_slot(entry.address, slot, value)
    return genesis_header(chain, state.root())
