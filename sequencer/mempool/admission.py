"""Admission of a decoded transaction into the pool: the checks against the chain's state."""

from __future__ import annotations

from sequencer.chain import Chain
from sequencer.config import ChainConfig
from sequencer.errors import (
    ExceedsBlockGasLimit,
    InsufficientFunds,
    NonceTooLow,
    TxGasLimitTooHigh,
    Underpriced,
)
from sequencer.mempool.pool import Admitted, Mempool
from sequencer.types import SignedTx


def admit(
    tx: SignedTx,
    chain: Chain,
    pool: Mempool,
    config: ChainConfig,
    base_fee: int,
    max_tx_gas: int | None = None,
    *,
    durable: bool = True,
) -> Admitted:
    """Check ``tx`` against the newest state and add it to the pool.

    Returns what the pool did: ``new`` is True when it was newly pooled (so it must be
    journaled), False when it is already pooled or already included (answered idempotently).
    ``base_fee`` is what the block it would join charges at the least; ``max_tx_gas`` the
    per-transaction gas cap (``execution.max_tx_gas``). ``durable=False``: its journal write is
    still to come (see :meth:`Mempool.admit`). Raises the rule's
    :class:`~sequencer.errors.InvalidTransaction`.
    """
    if tx.hash in pool or chain.store.get_tx_location(tx.hash) is not None:
        return Admitted(False)
    if tx.gas > config.block_gas_limit:
        raise ExceedsBlockGasLimit()
    if max_tx_gas is not None and tx.gas > max_tx_gas:
        raise TxGasLimitTooHigh(f"cap {max_tx_gas} (execution.max_tx_gas), tx {tx.gas}")
    if tx.max_fee_per_gas < base_fee:
        raise Underpriced(f"max fee per gas {tx.max_fee_per_gas} less than block base fee {base_fee}")
    account = chain.world.get_account(tx.sender)
    nonce = account.nonce if account else 0
    balance = account.balance if account else 0
    if tx.nonce < nonce:
        raise NonceTooLow()
    if balance < tx.max_cost():
        raise InsufficientFunds()
    return pool.admit(tx, durable=durable, balance=balance)
