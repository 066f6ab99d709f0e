"""The producer's deposit hook: where the L1 deposits an EVM block must start with come from.

A :class:`DepositSource` (the L1 deposit follower, ``sequencer/settlement/``) offers the
deposits not yet known to be included; the producer executes them first in an EVM block's first
mini-block (``builder/producer.py``). Deposits never enter the mempool. The source learns what
was included from the producer's ``on_mini_block`` callback (deposit hashes in
``MiniBlock.tx_hashes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sequencer.types import BlockEnv, SignedTx


class DepositSource(Protocol):
    """Offers the L1 deposits an EVM block must include."""

    def pending(self, env: BlockEnv) -> Sequence[SignedTx]:
        """The deposits not yet known to be included, in L1 order (L1 block, log index),
        eligible for a block with this environment (deposit transactions, type 0x7E).

        Offering one already in the chain is harmless (after a crash the source may not know
        yet): the producer skips any deposit whose hash the chain has. It is called on the
        producer's path as each EVM block opens: answer from memory, without I/O; an exception
        is logged and the block goes on without deposits (the next block asks again).
        """
        ...
