"""Transactions: submitting them (``eth_sendRawTransaction`` and send-and-wait) and reading them
and their receipts back.

A receipt is served as soon as its mini-block is durable. Send-and-wait
(``eth_sendRawTransactionSync``, EIP-7966, and MegaETH's ``realtime_sendRawTransaction``)
registers its waiter before it submits, so a receipt published in between is never missed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from eth_hash.auto import keccak

from sequencer.chain import ReceiptView
from sequencer.errors import OversizedTransaction
from sequencer.execution.transactions import MAX_TX_SIZE
from sequencer.jsonrpc.dispatch import Handler
from sequencer.jsonrpc.encoding import d, params_list, parse_data, parse_hash, parse_quantity, q
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.rpc.context import RpcContext
from sequencer.rpc.errors import (
    RealtimeExpired,
    RealtimeNotProcessed,
    ReceiptTimeout,
    TransactionNotProcessed,
)
from sequencer.rpc.formatting import format_included, format_pooled, format_receipt

SYNC_DEFAULT_TIMEOUT_MS = 2_000  # EIP-7966's recommendation
SYNC_MAX_TIMEOUT_MS = 10_000


def sync_timeout_ms(
    value: Any, default: int = SYNC_DEFAULT_TIMEOUT_MS, maximum: int = SYNC_MAX_TIMEOUT_MS
) -> int:
    """The client's timeout (a number or a hex quantity of milliseconds) if it is valid and at most
    ``maximum``, else ``default``."""
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        ms = value
    elif isinstance(value, str):
        try:
            ms = parse_quantity(value, "timeoutMs", 64)
        except InvalidParams:
            return default
    else:
        return default
    if ms <= 0 or ms > maximum:
        return default
    return ms


def parse_raw_transaction(value: Any) -> bytes:
    """The raw transaction param, its size checked before its digits: hex longer than the
    largest transaction (geth's txMaxSize) is refused as ``oversized data`` unread."""
    if isinstance(value, str) and len(value) > 2 + 2 * MAX_TX_SIZE:
        raise OversizedTransaction()
    return parse_data(value, "transaction")


def _receipt(view: ReceiptView) -> dict[str, Any]:
    return format_receipt(view.receipt, view.block_hash, view.env.timestamp)


def transaction_methods(ctx: RpcContext) -> dict[str, Handler]:
    """The transaction handlers over ``ctx``."""
    chain, pool = ctx.chain, ctx.pool

    async def eth_send_raw_transaction(params: list[Any]) -> str:
        (raw_hex,) = params_list(params, "eth_sendRawTransaction", 1, 1)
        return d((await ctx.submitter.submit(parse_raw_transaction(raw_hex))).hash)

    async def send_and_wait(raw: bytes, timeout_ms: int, realtime: bool) -> dict[str, Any]:
        """Submit, then wait for the receipt or the timeout (the waiter is registered first)."""
        tx_hash = keccak(raw)
        fut = ctx.waiters.register(tx_hash)
        try:
            tx = await ctx.submitter.submit(raw)
            view = chain.find_receipt(tx.hash)
            if view is not None:
                return _receipt(view)
            # (not pooled and not included: it was dropped at execution meanwhile, and the
            # waiter hears why once the drop is journaled)
            if tx.hash in pool and not pool.is_ready(tx.hash):
                reason = f"it waits for a missing nonce (next expected nonce {q(pool.next_nonce(tx.sender))})"
                if realtime:
                    raise RealtimeNotProcessed(
                        f"realtime transaction not processed: {reason}", data=d(tx.hash)
                    )
                raise TransactionNotProcessed(
                    f"The transaction was added to the mempool but wasn't processed: {reason}",
                    data=d(tx.hash),
                )
            try:
                outcome = await asyncio.wait_for(asyncio.shield(fut), timeout_ms / 1000)
            except TimeoutError:
                if realtime:
                    raise RealtimeExpired("realtime transaction expired", data=d(tx.hash)) from None
                raise ReceiptTimeout(
                    f"The transaction was added to the mempool but wasn't processed in {timeout_ms} ms.",
                    data=d(tx.hash),
                ) from None
        finally:
            ctx.waiters.release(tx_hash, fut)
        if outcome.receipt is None:
            if realtime:
                raise RealtimeNotProcessed(
                    f"realtime transaction not processed: {outcome.rejection}", data=d(tx_hash)
                )
            raise TransactionNotProcessed(
                f"The transaction was added to the mempool but wasn't processed: {outcome.rejection}",
                data=d(tx_hash),
            )
        view = chain.find_receipt(tx_hash)
        assert view is not None, "a published receipt is always indexed"
        return _receipt(view)

    async def eth_send_raw_transaction_sync(params: list[Any]) -> dict[str, Any]:
        """EIP-7966: codes 4 (timeout) and 5 (not processed), with the transaction hash as data."""
        raw_hex, timeout_raw = params_list(params, "eth_sendRawTransactionSync", 1, 2)
        return await send_and_wait(parse_raw_transaction(raw_hex), sync_timeout_ms(timeout_raw), False)

    async def realtime_send_raw_transaction(params: list[Any]) -> dict[str, Any]:
        """MegaETH: a 5 s default wait, a configurable maximum, -32000 "realtime transaction expired"."""
        raw_hex, timeout_raw = params_list(params, "realtime_sendRawTransaction", 1, 2)
        policy = ctx.policy
        timeout = sync_timeout_ms(timeout_raw, policy.realtime_timeout_ms, policy.realtime_max_timeout_ms)
        return await send_and_wait(parse_raw_transaction(raw_hex), timeout, True)

    def eth_get_transaction_by_hash(params: list[Any]) -> dict[str, Any] | None:
        (h,) = params_list(params, "eth_getTransactionByHash", 1, 1)
        tx_hash = parse_hash(h, "transaction hash")
        view = chain.find_receipt(tx_hash)
        if view is not None:
            return format_included(
                view.raw_tx, view.receipt, view.block_hash, view.env.base_fee, view.env.timestamp
            )
        pooled = pool.get(tx_hash)
        return format_pooled(pooled) if pooled is not None else None

    def eth_get_raw_transaction_by_hash(params: list[Any]) -> str | None:
        (h,) = params_list(params, "eth_getRawTransactionByHash", 1, 1)
        tx_hash = parse_hash(h, "transaction hash")
        view = chain.find_receipt(tx_hash)
        if view is not None:
            return d(view.raw_tx)
        pooled = pool.get(tx_hash)
        return d(pooled.raw) if pooled is not None else None

    def eth_get_transaction_receipt(params: list[Any]) -> dict[str, Any] | None:
        (h,) = params_list(params, "eth_getTransactionReceipt", 1, 1)
        view = chain.find_receipt(parse_hash(h, "transaction hash"))
        return _receipt(view) if view is not None else None

    return {
        "eth_sendRawTransaction": eth_send_raw_transaction,
        "eth_sendRawTransactionSync": eth_send_raw_transaction_sync,
        "realtime_sendRawTransaction": realtime_send_raw_transaction,
        "eth_getTransactionByHash": eth_get_transaction_by_hash,
        "eth_getRawTransactionByHash": eth_get_raw_transaction_by_hash,
        "eth_getTransactionReceipt": eth_get_transaction_receipt,
    }
