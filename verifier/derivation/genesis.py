"""Block 0 from the chain config alone, as the derivation verifier's first L2 head.

The allocation and the header are the verifier's trust-anchor genesis (``verifier/genesis.py``:
the configured accounts, the generated ones, ``verifier/rules.py:genesis_header``); a drift from
the sequencer's would show as a genesis hash other than the settlement file's.
"""

from __future__ import annotations

from sequencer.config import ChainConfig
from verifier.commitments import keccak
from verifier.derivation.blocks import L2Head
from verifier.genesis import build_genesis as build_genesis_state
from verifier.state import FlatState


def build_genesis(state: FlatState, chain: ChainConfig) -> L2Head:
    """Fill the empty ``state`` with the genesis allocation; block 0."""
    header = build_genesis_state(chain, state)
    return L2Head(
        0,
        keccak(header.encode()),
        header.state_root,
        header.timestamp,
        header.base_fee,
        0,
        header.gas_limit,
        -1,
    )
