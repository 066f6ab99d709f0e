"""Admission of a decoded transaction into the pool: the checks against the chain's state."""

from __future__ import annotations

from sequencer.chain import Chain
from sequencer.config import ChainConfig
from sequencer.errors import (
    ExceedsBlockGasLimit,
    InsufficientFunds,
    InvalidTransaction,
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
    if tx.hash in pool:
        return Admitted(False)
    try:
        balance = _check(tx, chain, config, base_fee, max_tx_gas)
    except InvalidTransaction:
        # an included transaction always breaks a rule by now (its nonce is used): only then is
        # the index asked, so an admission costs no index read (~25 µs) and a duplicate of an
        # included transaction is still answered idempotently, whatever rule it breaks first
        if chain.store.get_tx_location(tx.hash) is not None:
            return Admitted(False)
        raise
    if chain.nonce_lowered and chain.store.get_tx_location(tx.hash) is not None:
        return Admitted(False)  # a devnet nonce edit let an included transaction pass
    return pool.admit(tx, durable=durable, balance=balance)


def _check(tx: SignedTx, chain: Chain, config: ChainConfig, base_fee: int, max_tx_gas: int | None) -> int:
    """The rules a transaction must meet to be pooled, in geth's order; the sender's balance."""
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
    return balance
