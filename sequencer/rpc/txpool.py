"""Operator view of the pool, in geth's formats: ``txpool_status``, ``txpool_content``,
``txpool_contentFrom``, ``txpool_inspect``.

``pending`` are the ready transactions, ``queued`` those waiting for a missing nonce. Content
is grouped by checksummed sender address, then by decimal nonce; each transaction is rendered
as a transaction object with null block fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from eth_utils.address import to_checksum_address

from sequencer.jsonrpc.encoding import params_list, parse_address, q
from sequencer.mempool.pool import Mempool
from sequencer.rpc.formatting import format_pooled
from sequencer.types import SignedTx


def _by_sender(txs: Iterable[SignedTx], render: Callable[[SignedTx], Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for tx in sorted(txs, key=lambda t: (t.sender, t.nonce)):
        out.setdefault(to_checksum_address(tx.sender), {})[str(tx.nonce)] = render(tx)
    return out


def _by_nonce(txs: Iterable[SignedTx], render: Callable[[SignedTx], Any]) -> dict[str, Any]:
    return {str(tx.nonce): render(tx) for tx in sorted(txs, key=lambda t: t.nonce)}


def _summary(tx: SignedTx) -> str:
    """geth's txpool_inspect line (the fee is the fee cap, geth's ``GasPrice()`` of a typed tx)."""
    to = to_checksum_address(tx.to) if tx.to is not None else "contract creation"
    return f"{to}: {tx.value} wei + {tx.gas} gas \u00d7 {tx.max_fee_per_gas} wei"


def txpool_methods(pool: Mempool) -> dict[str, Callable[[list[Any]], Any]]:
    """The ``txpool_*`` handlers over ``pool``."""
    render = format_pooled

    def status(params: list[Any]) -> dict[str, str]:
        params_list(params, "txpool_status", 0, 0)
        return {"pending": q(pool.ready_count()), "queued": q(pool.queued_count())}

    def content(params: list[Any]) -> dict[str, Any]:
        params_list(params, "txpool_content", 0, 0)
        return {
            "pending": _by_sender(pool.ready_transactions(), render),
            "queued": _by_sender(pool.queued_transactions(), render),
        }

    def content_from(params: list[Any]) -> dict[str, Any]:
        (raw_address,) = params_list(params, "txpool_contentFrom", 1, 1)
        address = parse_address(raw_address)
        return {
            "pending": _by_nonce((t for t in pool.ready_transactions() if t.sender == address), render),
            "queued": _by_nonce((t for t in pool.queued_transactions() if t.sender == address), render),
        }

    def inspect(params: list[Any]) -> dict[str, Any]:
        params_list(params, "txpool_inspect", 0, 0)
        return {
            "pending": _by_sender(pool.ready_transactions(), _summary),
            "queued": _by_sender(pool.queued_transactions(), _summary),
        }

    return {
        "txpool_status": status,
        "txpool_content": content,
        "txpool_contentFrom": content_from,
        "txpool_inspect": inspect,
    }
