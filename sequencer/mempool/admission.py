"""Admission of a decoded transaction into the pool: the checks against the chain's state."""

from __future__ import annotations

from sequencer.chain import Chain
from sequencer.config import ChainConfig
from sequencer.errors import ExceedsBlockGasLimit, InsufficientFunds, NonceTooLow, Underpriced
from sequencer.mempool.pool import Mempool
from sequencer.types import SignedTx


def admit(tx: SignedTx, chain: Chain, pool: Mempool, config: ChainConfig, base_fee: int) -> bool:
    """Check ``tx`` against the newest state and add it to the pool.

    Returns True when it was newly pooled (so it must be journaled), False when it is already
    pooled or already included (answered idempotently). ``base_fee`` is what the block it would
    join charges at the least. Raises the rule's :class:`~sequencer.errors.InvalidTransaction`.
    """
    if tx.hash in pool or chain.store.get_tx_location(tx.hash) is not None:
        return False
    if tx.gas > config.block_gas_limit:
        raise ExceedsBlockGasLimit()
    if tx.max_fee_per_gas < base_fee:
        raise Underpriced(f"max fee per gas {tx.max_fee_per_gas} less than block base fee {base_fee}")
    account = chain.world.get_account(tx.sender)
    nonce = account.nonce if account else 0
    balance = account.balance if account else 0
    if tx.nonce < nonce:
        raise NonceTooLow()
    if balance < tx.max_cost():
        raise InsufficientFunds()
    pool.add(tx)
    return True
