"""Admission of raw transactions into the pool: stateless checks, then checks against state."""

from __future__ import annotations

from sequencer.chain import Chain
from sequencer.config import ChainConfig
from sequencer.errors import InvalidTransaction
from sequencer.execution.transactions import SignedTx, decode_transaction
from sequencer.mempool.pool import Mempool


def admit(
    raw: bytes,
    chain: Chain,
    pool: Mempool,
    config: ChainConfig,
    next_base_fee: int,
    decoded: SignedTx | InvalidTransaction | None = None,
) -> SignedTx:
    """Validate ``raw`` and add it to the pool; return the decoded transaction.

    ``decoded``: what decoding ``raw`` gave already (the ingress worker), if anything.
    A transaction that is already pooled or already included is answered idempotently.
    Raises :class:`InvalidTransaction` with geth's message otherwise.
    """
    if isinstance(decoded, InvalidTransaction):
        raise decoded
    tx = decoded or decode_transaction(raw, config.chain_id, config.allow_unprotected_txs)
    if tx.hash in pool or chain.store.get_tx_location(tx.hash) is not None:
        return tx
    if tx.gas > config.block_gas_limit:
        raise InvalidTransaction("exceeds block gas limit")
    if tx.max_fee_per_gas < next_base_fee:
        raise InvalidTransaction(
            f"transaction underpriced: max fee per gas {tx.max_fee_per_gas} "
            f"less than block base fee {next_base_fee}"
        )
    account = chain.world.get_account(tx.sender)
    nonce = account.nonce if account else 0
    balance = account.balance if account else 0
    if tx.nonce < nonce:
        raise InvalidTransaction("nonce too low")
    if balance < tx.max_cost():
        raise InvalidTransaction("insufficient funds for gas * price + value")
    pool.add(tx)
    return tx
