"""Operator view of the pool, in geth's formats: ``txpool_status``, ``txpool_content``,
``txpool_inspect``. ``pending`` are the ready transactions, ``queued`` those waiting for a
missing nonce."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from eth_utils.address import to_checksum_address

from sequencer.execution.transactions import SignedTx
from sequencer.mempool.pool import Mempool
from sequencer.rpc.encoding import params_list, q

FormatTx = Callable[[bytes], dict[str, Any]]


def _by_sender(txs: Iterable[SignedTx], render: Callable[[SignedTx], Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for tx in sorted(txs, key=lambda t: (t.sender, t.nonce)):
        out.setdefault(to_checksum_address(tx.sender), {})[str(tx.nonce)] = render(tx)
    return out


def txpool_methods(pool: Mempool, format_tx: FormatTx) -> dict[str, Callable[[list[Any]], Any]]:
    def status(params: list[Any]) -> dict[str, str]:
        params_list(params, "txpool_status", 0, 0)
        return {"pending": q(pool.ready_count()), "queued": q(pool.queued_count())}

    def content(params: list[Any]) -> dict[str, Any]:
        params_list(params, "txpool_content", 0, 0)
        render: Callable[[SignedTx], Any] = lambda tx: format_tx(tx.raw)  # noqa: E731
        return {
            "pending": _by_sender(pool.ready_transactions(), render),
            "queued": _by_sender(pool.queued_transactions(), render),
        }

    def inspect(params: list[Any]) -> dict[str, Any]:
        params_list(params, "txpool_inspect", 0, 0)

        def summary(tx: SignedTx) -> str:
            to = to_checksum_address(tx.to) if tx.to else "contract creation"
            return f"{to}: {tx.value} wei + {tx.gas} gas x {tx.max_fee_per_gas} wei"

        return {
            "pending": _by_sender(pool.ready_transactions(), summary),
            "queued": _by_sender(pool.queued_transactions(), summary),
        }

    return {"txpool_status": status, "txpool_content": content, "txpool_inspect": inspect}
