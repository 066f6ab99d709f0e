"""Deposits for tests: 0x7E transactions made as the L1 follower makes them, and a deposit source
that offers a fixed list (the producer hook's ``DepositSource``) without any L1."""

from __future__ import annotations

from collections.abc import Sequence

from eth_hash.auto import keccak

from sequencer.bridge.deposits import DepositEvent, deposit_tx
from sequencer.types import BlockEnv, SignedTx

L1_BLOCK_HASH = keccak(b"an L1 block")


def make_deposit(
    sender: bytes,
    to: bytes | None,
    *,
    mint: int = 0,
    value: int = 0,
    gas: int = 100_000,
    data: bytes = b"",
    log_index: int = 0,
) -> SignedTx:
    """The deposit transaction of a portal event at ``log_index`` of one made-up L1 block."""
    event = DepositEvent(
        l1_block_number=1,
        l1_block_hash=L1_BLOCK_HASH,
        l1_tx_hash=keccak(log_index.to_bytes(32, "big")),
        log_index=log_index,
        sender=sender,
        to=to,
        mint=mint,
        value=value,
        gas=gas,
        data=data,
    )
    return deposit_tx(event)


class ListDepositSource:
    """Offers every deposit of its list to every block, included or not (as a source does
    after a crash, before it learns what the chain has): the producer must skip those included."""

    def __init__(self, deposits: Sequence[SignedTx] = ()) -> None:
        self.deposits = list(deposits)
        self.asked: list[int] = []

    def pending(self, env: BlockEnv) -> Sequence[SignedTx]:
        """All of the list (the block numbers asked for are kept in ``asked``)."""
        self.asked.append(env.number)
        return list(self.deposits)
