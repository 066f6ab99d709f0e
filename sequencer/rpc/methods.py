"""The public JSON-RPC method table, assembled from the handler modules by domain.

``rpc/state.py`` (balances, nonces, code, storage, calls), ``rpc/fees.py``, ``rpc/blocks.py``,
``rpc/transactions.py`` (submission, send-and-wait, lookups), ``rpc/logs.py``,
``rpc/filters.py``, ``rpc/txpool.py``, ``rpc/node_info.py``, ``rpc/proofs.py`` and
``rpc/withdrawals.py`` (the bridge's reads at past blocks). WebSocket sessions add
``eth_subscribe``/``eth_unsubscribe`` (``rpc/subscriptions.py``); the admin port adds
``rpc/admin.py``. The ``debug_*`` methods (raw data and traces, ``rpc/debug.py``) are on the
admin port, and on the public port too when the chain is a devnet.
"""

from __future__ import annotations

from sequencer.jsonrpc.dispatch import Handler
from sequencer.rpc.admin import debug_methods
from sequencer.rpc.blocks import block_methods
from sequencer.rpc.context import RpcContext
from sequencer.rpc.devaccounts import dev_account_methods
from sequencer.rpc.devchain import dev_chain_methods
from sequencer.rpc.fees import fee_methods
from sequencer.rpc.filters import FilterManager
from sequencer.rpc.logs import log_methods
from sequencer.rpc.node_info import node_methods
from sequencer.rpc.proofs import proof_methods
from sequencer.rpc.simulate import simulate_methods
from sequencer.rpc.state import state_methods
from sequencer.rpc.transactions import transaction_methods
from sequencer.rpc.txpool import txpool_methods
from sequencer.rpc.withdrawals import withdrawal_methods


def public_methods(ctx: RpcContext, filters: FilterManager) -> dict[str, Handler]:
    """Every method of the public port (on a devnet, the ``debug_*`` methods too)."""
    return {
        **(debug_methods(ctx) if ctx.chain.config.devnet else {}),
        **node_methods(ctx),
        **state_methods(ctx),
        **fee_methods(ctx),
        **block_methods(ctx),
        **transaction_methods(ctx),
        **log_methods(ctx),
        **filters.methods(),
        **txpool_methods(ctx.pool),
        **dev_account_methods(ctx),
        **dev_chain_methods(ctx),
        **simulate_methods(ctx),
        **proof_methods(ctx),
        **withdrawal_methods(ctx),
    }
