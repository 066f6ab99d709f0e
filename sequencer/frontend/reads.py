"""The reads a front end answers itself, from its read-only view of the node's store.

The store (LMDB) is written by the executor after the block log is fsync'd, and a reader in
another process sees each write once it is committed: so a receipt found here is durable, the
same rule the executor's own answer follows. Answers are built by the same formatting code as
the executor's (``rpc/formatting.py``). The methods are those clients poll hardest:
``eth_getTransactionReceipt`` (a client waiting for its transactions), ``eth_blockNumber``,
``eth_chainId`` and ``net_version``. Everything else is the executor's.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from sequencer.jsonrpc.dispatch import Handler
from sequencer.jsonrpc.encoding import params_list, parse_hash, q
from sequencer.rpc.formatting import format_receipt
from sequencer.rpc.node_info import chain_id_methods
from sequencer.storage.store import ChainStore
from sequencer.types import PENDING_HASH, MiniBlock

MINI_CACHE = 256
"""Decoded mini-blocks kept: the receipts of one burst are looked up many times each."""


class StoreReads:
    """Read methods over a read-only :class:`ChainStore`."""

    def __init__(self, store: ChainStore, chain_id: int) -> None:
        self.store = store
        self.chain_id = chain_id
        self._minis: OrderedDict[int, MiniBlock] = OrderedDict()
        self._rollbacks = store.rollbacks()

    def _mini_block(self, number: int) -> MiniBlock | None:
        rollbacks = self.store.rollbacks()  # a devnet revert rewrites mini-blocks past its block
        if rollbacks != self._rollbacks:
            self._rollbacks = rollbacks
            self._minis.clear()
        mb = self._minis.get(number)
        if mb is not None:
            self._minis.move_to_end(number)
            return mb
        mb = self.store.get_mini_block(number)
        if mb is not None:
            self._minis[number] = mb
            if len(self._minis) > MINI_CACHE:
                self._minis.popitem(last=False)
        return mb

    def receipt(self, tx_hash: bytes) -> dict[str, Any] | None:
        """An included transaction's receipt as ``eth_getTransactionReceipt`` answers it."""
        loc = self.store.get_tx_location(tx_hash)
        if loc is None:
            return None
        mb = self._mini_block(loc.mini_block_number)
        if mb is None:
            return None
        block_hash = self.store.get_block_hash(loc.block_number) or PENDING_HASH
        return format_receipt(mb.receipts[loc.index_in_mini_block], block_hash, mb.block_env.timestamp)

    def methods(self) -> dict[str, Handler]:
        """The handlers, by JSON-RPC method name."""

        def eth_block_number(params: list[Any]) -> str:
            params_list(params, "eth_blockNumber", 0, 0)
            return q(self.store.head_block_number() or 0)

        def eth_get_transaction_receipt(params: list[Any]) -> dict[str, Any] | None:
            (h,) = params_list(params, "eth_getTransactionReceipt", 1, 1)
            return self.receipt(parse_hash(h, "transaction hash"))

        return {
            **chain_id_methods(self.chain_id),
            "eth_blockNumber": eth_block_number,
            "eth_getTransactionReceipt": eth_get_transaction_receipt,
        }
